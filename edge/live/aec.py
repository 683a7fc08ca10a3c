"""Acoustic echo cancellation for full duplex: WebRTC's audio processing module (AEC3).

The speaker's sound reaches the microphone again, delayed and smeared by the room. AEC3
learns that path from the far-end reference (what was played, ``process_render``) and
removes it from the capture (``process_capture``), so VAD, ASR and barge-in hear only the
user, even while the device speaks. Noise suppression and the high-pass filter of the same
module clean the residue. The module comes from the ``livekit`` wheel (Apache-2.0,
manylinux x86_64 and aarch64): ``pip install 'edge-translator[aec]'``.

Both streams are 16 kHz mono float32 here, cut into the 10 ms frames the module takes.
The capture side is delayed by one frame (10 ms) so every call returns as many samples as
it was given: the engine's timeline stays exact.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..asr.base import SAMPLE_RATE

FRAME = SAMPLE_RATE // 100  # 10 ms: the only frame length the module accepts
ADDED_LATENCY_S = FRAME / SAMPLE_RATE
INSTALL_HINT = "pip install 'edge-translator[aec]' (the livekit wheel), or use --duplex half"


def unavailable_reason() -> str | None:
    """None when echo cancellation can run here, else why not (for errors and doctor)."""
    try:
        from livekit import rtc
    except ImportError as exc:
        return f"the livekit package is not installed ({exc})"
    except Exception as exc:  # a wheel whose native library does not load on this machine
        return f"the livekit package does not load: {exc}"
    if not hasattr(rtc, "AudioProcessingModule"):
        return "this livekit version has no AudioProcessingModule (needs livekit>=1.0)"
    return None


def available() -> bool:
    return unavailable_reason() is None


class EchoCanceller:
    """AEC3 + noise suppression + high-pass on 16 kHz mono float32, any block length.

    ``process_render`` takes what the speaker plays, ``process_capture`` returns the
    microphone signal without it. Render must be fed before the capture that holds its echo
    (the controller interleaves both by wall time). ``cpu_s`` counts the time spent in the
    module, for the measurements.
    """

    def __init__(self, delay_ms: int = 0, noise_suppression: bool = True) -> None:
        from livekit import rtc

        self._rtc = rtc
        self._apm: Any = rtc.AudioProcessingModule(
            echo_cancellation=True, noise_suppression=noise_suppression, high_pass_filter=True
        )
        self._render_pending = np.zeros(0, np.int16)
        # One frame of zeros primes the capture side: output length == input length.
        self._capture_out = np.zeros(FRAME, np.float32)
        self._capture_pending = np.zeros(0, np.int16)
        self.delay_ms = 0
        self.set_delay_ms(delay_ms)
        self.cpu_s = 0.0
        self.frames = 0

    def set_delay_ms(self, delay_ms: float) -> None:
        """The expected delay from playing a frame to capturing its echo (a hint: AEC3
        estimates the true delay itself)."""
        self.delay_ms = max(0, min(500, int(round(delay_ms))))
        self._apm.set_stream_delay_ms(self.delay_ms)

    def process_render(self, samples: np.ndarray) -> None:
        """The far-end reference: 16 kHz mono, as played (silence included)."""
        started = time.perf_counter()
        pending = np.concatenate([self._render_pending, _to_int16(samples)])
        whole = len(pending) - len(pending) % FRAME
        for i in range(0, whole, FRAME):
            frame = self._frame(pending[i : i + FRAME])
            self._apm.process_reverse_stream(frame)
        self._render_pending = pending[whole:]
        self.cpu_s += time.perf_counter() - started

    def process_capture(self, samples: np.ndarray) -> np.ndarray:
        """The microphone block without the echo: as many samples, 10 ms later."""
        started = time.perf_counter()
        pending = np.concatenate([self._capture_pending, _to_int16(samples)])
        whole = len(pending) - len(pending) % FRAME
        cleaned = []
        for i in range(0, whole, FRAME):
            frame = self._frame(pending[i : i + FRAME])
            self._apm.set_stream_delay_ms(self.delay_ms)  # required before every frame
            self._apm.process_stream(frame)
            cleaned.append(np.frombuffer(frame.data, np.int16).astype(np.float32) / 32768.0)
            self.frames += 1
        self._capture_pending = pending[whole:]
        out = np.concatenate([self._capture_out, *cleaned])
        n = len(samples)
        result, self._capture_out = out[:n], out[n:]
        self.cpu_s += time.perf_counter() - started
        return result

    def _frame(self, samples: np.ndarray) -> Any:
        return self._rtc.AudioFrame(bytearray(samples.tobytes()), SAMPLE_RATE, 1, FRAME)


def _to_int16(samples: np.ndarray) -> np.ndarray:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)
