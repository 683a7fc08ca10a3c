"""Audio in and out: any WAV/FLAC/OGG file to 16 kHz mono float32, and atomic WAV output."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import numpy as np
import soundfile as sf
import soxr

from .errors import InputError

ASR_RATE = 16000
# Bound on input length: a day of audio is a mistake, not a meeting.
MAX_INPUT_SECONDS = 12 * 3600


def _open(path: Path) -> sf.SoundFile:
    if not path.exists():
        raise InputError(f"input file not found: {path}", "check the path")
    if path.is_dir():
        raise InputError(
            f"input is a directory, not an audio file: {path}", "pass a WAV or FLAC file"
        )
    if path.stat().st_size == 0:
        raise InputError(f"input file is empty: {path}", "record or export the audio again")
    try:
        handle = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise InputError(
            f"cannot read audio from {path}: {exc}",
            "use a WAV, FLAC or OGG file (convert other formats with ffmpeg or sox)",
        ) from None
    if handle.channels < 1 or handle.samplerate < 1:
        handle.close()
        raise InputError(
            f"{path} has no audio channels", "export the audio with at least one channel"
        )
    if handle.frames / handle.samplerate > MAX_INPUT_SECONDS:
        handle.close()
        raise InputError(
            f"{path} is {handle.frames / handle.samplerate / 3600:.1f} h long; the limit is "
            f"{MAX_INPUT_SECONDS // 3600} h",
            "split the file into shorter parts",
        )
    return handle


def audio_duration(path: str | os.PathLike[str]) -> float:
    with _open(Path(path)) as handle:
        return handle.frames / handle.samplerate


def iter_audio(
    path: str | os.PathLike[str], rate: int = ASR_RATE, block_s: float = 0.5
) -> Iterator[np.ndarray]:
    """Yield mono float32 blocks at ``rate``, read and resampled incrementally.

    Streaming keeps memory flat for long recordings; soxr's stream resampler gives the same
    result as resampling the whole file at once.
    """
    path = Path(path)
    with _open(path) as handle:
        source_rate = handle.samplerate
        resampler = (
            None if source_rate == rate else soxr.ResampleStream(source_rate, rate, 1, "float32")
        )
        frames = max(1, int(block_s * source_rate))
        try:
            for block in handle.blocks(blocksize=frames, dtype="float32", always_2d=True):
                mono = block.mean(axis=1, dtype=np.float32)
                yield mono if resampler is None else resampler.resample_chunk(mono)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise InputError(
                f"{path} is corrupt or truncated: {exc}", "export the audio again"
            ) from None
        if resampler is not None:
            tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            if len(tail):
                yield tail


def read_audio(path: str | os.PathLike[str], rate: int = ASR_RATE) -> np.ndarray:
    """Whole file as mono float32 at ``rate``."""
    blocks = list(iter_audio(path, rate))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    if source_rate == target_rate or len(audio) == 0:
        return audio.astype(np.float32, copy=False)
    return soxr.resample(audio.astype(np.float32, copy=False), source_rate, target_rate)


class AtomicWavWriter:
    """Writes a WAV file that appears at its path only when complete.

    Samples go to a temporary file in the same directory, renamed over the target on a
    clean close; on an error or interruption the temporary file is removed, so a failed run
    never leaves a half-written output behind.
    """

    def __init__(self, path: str | os.PathLike[str], sample_rate: int) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.frames_written = 0
        directory = self.path.parent if str(self.path.parent) else Path(".")
        if not directory.is_dir():
            raise InputError(f"output directory does not exist: {directory}", "create it first")
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=directory)
        os.close(fd)
        self._tmp = Path(tmp)
        self._file = sf.SoundFile(
            tmp, "w", samplerate=sample_rate, channels=1, subtype="PCM_16", format="WAV"
        )

    def write(self, samples: np.ndarray, rate: int | None = None) -> None:
        if rate is not None and rate != self.sample_rate:
            samples = resample(samples, rate, self.sample_rate)
        self._file.write(np.clip(samples, -1.0, 1.0))
        self.frames_written += len(samples)

    def write_silence(self, seconds: float) -> None:
        self.write(np.zeros(int(round(seconds * self.sample_rate)), np.float32))

    def commit(self) -> None:
        self._file.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicWavWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
