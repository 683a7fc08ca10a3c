"""PCM as Wyoming carries it <-> the float32 mono audio the models use.

Incoming audio is any rate, 8/16/32-bit signed PCM, interleaved channels; the recognizers
want 16 kHz mono float32. soxr's stream resampler converts chunk by chunk, so a request
never holds more than its (limited) 16 kHz audio.
"""

from __future__ import annotations

import numpy as np
import soxr

from ..asr.base import SAMPLE_RATE

# Sample widths in bytes -> numpy type. Wyoming converts audio with audioop, for which
# 8-bit PCM is signed too.
_DTYPES = {1: np.int8, 2: np.int16, 4: np.int32}
MIN_RATE, MAX_RATE = 8000, 192000
MAX_CHANNELS = 8


class AudioFormatError(ValueError):
    """The declared format of an audio event cannot be decoded."""


def check_format(rate: object, width: object, channels: object) -> tuple[int, int, int]:
    """The format of an audio event as ints; raises AudioFormatError when unusable."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (rate, width, channels)):
        raise AudioFormatError(
            f"rate, width and channels must be whole numbers, got {rate!r}, {width!r}, {channels!r}"
        )
    assert isinstance(rate, int) and isinstance(width, int) and isinstance(channels, int)
    if width not in _DTYPES:
        raise AudioFormatError(f"sample width {width} bytes is not supported (use 1, 2 or 4)")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioFormatError(f"sample rate {rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioFormatError(f"{channels} channels is outside 1-{MAX_CHANNELS}")
    return rate, width, channels


class PcmTo16k:
    """Decodes one request's PCM chunks to 16 kHz mono float32, chunk by chunk.

    A chunk may end inside a frame (a client splitting bytes arbitrarily): the partial
    frame is kept for the next chunk.
    """

    def __init__(self, rate: int, width: int, channels: int) -> None:
        self.rate, self.width, self.channels = check_format(rate, width, channels)
        self._frame_bytes = width * channels
        self._leftover = b""
        self._resampler = (
            None if rate == SAMPLE_RATE else soxr.ResampleStream(rate, SAMPLE_RATE, 1, "float32")
        )
        self.input_frames = 0  # frames received, for the length limit

    def same_format(self, rate: object, width: object, channels: object) -> bool:
        return (rate, width, channels) == (self.rate, self.width, self.channels)

    def seconds_after(self, payload_bytes: int) -> float:
        """Input seconds this request would hold after a chunk of ``payload_bytes``."""
        frames = (len(self._leftover) + payload_bytes) // self._frame_bytes
        return (self.input_frames + frames) / self.rate

    def decode(self, payload: bytes) -> np.ndarray:
        data = self._leftover + payload
        usable = len(data) - len(data) % self._frame_bytes
        self._leftover = data[usable:]
        frames = usable // self._frame_bytes
        self.input_frames += frames
        if frames == 0:
            return np.zeros(0, np.float32)
        dtype = _DTYPES[self.width]
        samples = np.frombuffer(data[:usable], dtype=dtype).astype(np.float32)
        samples /= float(-np.iinfo(dtype).min)  # full scale -> [-1, 1)
        if self.channels > 1:
            samples = samples.reshape(-1, self.channels).mean(axis=1)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        return np.ascontiguousarray(samples, np.float32)

    def finish(self) -> np.ndarray:
        """What the resampler still holds (the end of the audio)."""
        if self._resampler is None:
            return np.zeros(0, np.float32)
        return np.ascontiguousarray(
            self._resampler.resample_chunk(np.zeros(0, np.float32), last=True), np.float32
        )


def to_pcm16(samples: np.ndarray) -> bytes:
    """float32 in [-1, 1] -> little-endian 16-bit PCM bytes."""
    clipped = np.clip(np.asarray(samples, np.float32), -1.0, 1.0)
    return (clipped * 32767.0).astype("<i2").tobytes()
