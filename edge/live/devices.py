"""Sound devices through PortAudio (PyAudio): listing, choosing, opening, recovering.

Devices are opened at their native rate and a channel count they accept (44.1/48 kHz
stereo is common) and converted in software: to 16 kHz mono for the engine, from the
voice's rate for playback. Both directions run in PortAudio callbacks that never block:
they only move samples between a lock-free queue and the device.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import soxr

from ..asr.base import SAMPLE_RATE
from ..errors import EdgeError
from .streams import CaptureQueue, PlaybackQueue

log = logging.getLogger(__name__)

# PortAudio error codes (portaudio.h) that a user can act on.
PA_INVALID_CHANNEL_COUNT = -9998
PA_INVALID_SAMPLE_RATE = -9997
PA_INVALID_DEVICE = -9996
PA_DEVICE_UNAVAILABLE = -9985
PA_SAMPLE_FORMAT_NOT_SUPPORTED = -9994
PA_INPUT_OVERFLOWED = 0x2  # paInputOverflow status flag in a callback
FALLBACK_RATES = (48000, 44100, 32000, 22050, 16000, 96000)
CALLBACK_S = 0.02  # device buffer: the latency floor of capture and barge-in


class DeviceError(EdgeError):
    """A sound device is missing, busy, unplugged or cannot run in the asked format."""

    exit_code = 5


@dataclass(frozen=True)
class DeviceInfo:
    index: int
    name: str
    host_api: str
    input_channels: int
    output_channels: int
    default_rate: int
    is_default_input: bool = False
    is_default_output: bool = False

    def channels(self, kind: str) -> int:
        return self.input_channels if kind == "input" else self.output_channels


def _pyaudio() -> Any:
    try:
        import pyaudio
    except ImportError as exc:
        raise DeviceError(
            f"sound devices need PyAudio ({exc})",
            "pip install pyaudio (build needs portaudio19-dev), or use --input/--output FILE.wav",
        ) from None
    return pyaudio


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Hide what ALSA and JACK print on stderr while PortAudio probes every backend."""
    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class PortAudio:
    """One PortAudio session. Re-created to see devices plugged in since it started."""

    def __init__(self) -> None:
        self.module = _pyaudio()
        with _quiet_stderr():
            self.pa = self.module.PyAudio()

    def close(self) -> None:
        with _quiet_stderr():
            self.pa.terminate()

    def devices(self) -> list[DeviceInfo]:
        default_in = self._default_index("input")
        default_out = self._default_index("output")
        found = []
        for index in range(self.pa.get_device_count()):
            info = self.pa.get_device_info_by_index(index)
            api = self.pa.get_host_api_info_by_index(info["hostApi"])["name"]
            found.append(
                DeviceInfo(
                    index=index,
                    name=str(info["name"]),
                    host_api=str(api),
                    input_channels=int(info["maxInputChannels"]),
                    output_channels=int(info["maxOutputChannels"]),
                    default_rate=int(info["defaultSampleRate"]),
                    is_default_input=index == default_in,
                    is_default_output=index == default_out,
                )
            )
        return found

    def _default_index(self, kind: str) -> int | None:
        try:
            getter = (
                self.pa.get_default_input_device_info
                if kind == "input"
                else self.pa.get_default_output_device_info
            )
            return int(getter()["index"])
        except OSError:
            return None

    def resolve(self, spec: str | int | None, kind: str) -> DeviceInfo:
        """A device by index, by (case-insensitive) name substring, or the default one."""
        usable = [d for d in self.devices() if d.channels(kind) > 0]
        listing = "see `edge devices`"
        if not usable:
            raise DeviceError(
                f"no {kind} sound device found",
                f"connect a {'microphone' if kind == 'input' else 'speaker'}, "
                f"or use --{kind} FILE.wav",
            )
        if spec is None or spec == "" or spec == "default":
            default = self._default_index(kind)
            for device in usable:
                if device.index == default:
                    return device
            return usable[0]
        text = str(spec).strip()
        if text.isdigit():
            for device in usable:
                if device.index == int(text):
                    return device
            raise DeviceError(f"no {kind} device with index {text}", listing)
        matches = [d for d in usable if text.lower() in d.name.lower()]
        exact = [d for d in matches if d.name.lower() == text.lower()]
        if exact or matches:
            return (exact or matches)[0]
        names = ", ".join(repr(d.name) for d in usable)
        raise DeviceError(f"no {kind} device matches {text!r} (found: {names})", listing)

    def negotiate(self, device: DeviceInfo, kind: str, rate: int | None) -> tuple[int, int]:
        """(rate, channels) the device accepts: its native rate unless one is asked for."""
        rates = [rate] if rate else [device.default_rate, *FALLBACK_RATES]
        most = device.channels(kind)
        channel_options = list(dict.fromkeys(c for c in (min(2, most), 1, most) if c > 0))
        for candidate in dict.fromkeys(r for r in rates if r > 0):
            for channels in channel_options:
                if self._supported(device, kind, candidate, channels):
                    return candidate, channels
        if rate:
            raise DeviceError(
                f"{device.name!r} does not support {rate} Hz for {kind}",
                f"leave the rate unset to use its native {device.default_rate} Hz",
            )
        raise DeviceError(
            f"{device.name!r} accepts none of the usual formats for {kind}",
            "choose another device (edge devices)",
        )

    def _supported(self, device: DeviceInfo, kind: str, rate: int, channels: int) -> bool:
        fmt = self.module.paFloat32
        try:
            with _quiet_stderr():
                if kind == "input":
                    return bool(
                        self.pa.is_format_supported(
                            rate,
                            input_device=device.index,
                            input_channels=channels,
                            input_format=fmt,
                        )
                    )
                return bool(
                    self.pa.is_format_supported(
                        rate,
                        output_device=device.index,
                        output_channels=channels,
                        output_format=fmt,
                    )
                )
        except ValueError:
            return False

    def open(self, device: DeviceInfo, kind: str, rate: int, channels: int, callback: Any) -> Any:
        try:
            with _quiet_stderr():
                stream = self.pa.open(
                    rate=rate,
                    channels=channels,
                    format=self.module.paFloat32,
                    input=kind == "input",
                    output=kind == "output",
                    input_device_index=device.index if kind == "input" else None,
                    output_device_index=device.index if kind == "output" else None,
                    frames_per_buffer=max(64, int(rate * CALLBACK_S)),
                    stream_callback=callback,
                    start=False,
                )
        except OSError as exc:
            raise open_error(exc, device, kind, rate) from None
        return stream


def open_error(exc: OSError, device: DeviceInfo, kind: str, rate: int) -> DeviceError:
    """What PortAudio's failure to open a stream means for the user."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else exc.errno
    name = repr(device.name)
    if code == PA_DEVICE_UNAVAILABLE:
        return DeviceError(
            f"{kind} device {name} is busy",
            "close the program that uses it, or choose another device (edge devices)",
        )
    if code == PA_INVALID_SAMPLE_RATE:
        return DeviceError(
            f"{kind} device {name} does not support {rate} Hz",
            f"leave the rate unset to use its native {device.default_rate} Hz",
        )
    if code in (PA_INVALID_CHANNEL_COUNT, PA_SAMPLE_FORMAT_NOT_SUPPORTED):
        return DeviceError(
            f"{kind} device {name} rejects the stream format ({exc})",
            "choose another device (edge devices)",
        )
    if code == PA_INVALID_DEVICE:
        return DeviceError(f"{kind} device {name} is gone", "plug it back in, or choose another")
    return DeviceError(
        f"cannot open {kind} device {name}: {exc}", "check that it is connected and not in use"
    )


def list_devices() -> list[DeviceInfo]:
    host = PortAudio()
    try:
        return host.devices()
    finally:
        host.close()


class _DeviceStream:
    """What a capture and a playback stream share: start, health (callbacks still coming), close."""

    _stream: Any
    last_callback: float

    def start(self) -> None:
        self.last_callback = time.perf_counter()
        self._stream.start_stream()

    def healthy(self, stall_s: float) -> bool:
        """False once the device stopped delivering audio (unplugged, server gone)."""
        try:
            active = bool(self._stream.is_active())
        except OSError:
            return False
        return active and time.perf_counter() - self.last_callback < stall_s

    def close(self) -> None:
        with contextlib.suppress(OSError), _quiet_stderr():
            self._stream.stop_stream()
            self._stream.close()


class DeviceCapture(_DeviceStream):
    """A microphone: native-rate callback -> 16 kHz mono blocks in a ``CaptureQueue``."""

    def __init__(self, host: PortAudio, device: DeviceInfo, queue: CaptureQueue, rate: int | None):
        self.device = device
        self.rate, self.channels = host.negotiate(device, "input", rate)
        self.queue = queue
        self.overflows = 0  # blocks PortAudio reported as lost before we got them
        self.last_callback = 0.0
        self._resampler = (
            None
            if self.rate == SAMPLE_RATE
            else soxr.ResampleStream(self.rate, SAMPLE_RATE, 1, "float32")
        )
        self._continue = host.module.paContinue
        self._stream = host.open(device, "input", self.rate, self.channels, self._callback)
        self.input_latency_s = float(self._stream.get_input_latency())  # the AEC's delay hint
        queue.converter = self._convert

    def _callback(self, data: bytes, frames: int, _time: Any, status: int) -> tuple[None, int]:
        now = time.perf_counter()
        self.last_callback = now
        if status & PA_INPUT_OVERFLOWED:
            self.overflows += 1
        self.queue.push_audio(data, now)
        return None, self._continue

    def _convert(self, data: bytes) -> np.ndarray:
        frames = np.frombuffer(data, np.float32)
        if self.channels > 1:
            frames = frames.reshape(-1, self.channels).mean(axis=1, dtype=np.float32)
        if self._resampler is None:
            return frames.astype(np.float32, copy=True)
        return self._resampler.resample_chunk(frames)


class DevicePlayback(_DeviceStream):
    """A speaker: the callback pulls from a ``PlaybackQueue`` (silence when it is empty)."""

    def __init__(self, host: PortAudio, device: DeviceInfo, queue: PlaybackQueue, rate: int | None):
        self.device = device
        self.rate, self.channels = host.negotiate(device, "output", rate)
        self.queue = queue
        self.queue.sample_rate = self.rate
        self.last_callback = 0.0
        self._continue = host.module.paContinue
        self._stream = host.open(device, "output", self.rate, self.channels, self._callback)
        queue.output_latency_s = float(self._stream.get_output_latency())

    def _callback(self, _data: None, frames: int, _time: Any, _status: int) -> tuple[bytes, int]:
        now = time.perf_counter()
        self.last_callback = now
        mono = self.queue.render(frames, now)
        out = np.repeat(mono[:, None], self.channels, axis=1) if self.channels > 1 else mono
        return out.astype(np.float32, copy=False).tobytes(), self._continue
