"""Audio in and out: any WAV/FLAC/OGG file to 16 kHz mono float32, and atomic WAV output.

Bad input is refused with an ``InputError`` naming the problem and the fix, except where
the audio that is there can still be used:

* a WAV file shorter than its header says (a recording cut off while it was being written
  or copied) is read as far as it goes, with one warning (``AudioInfo.truncated``);
* samples that are not numbers (NaN or infinity, only possible in float WAV files) are
  refused, even a few: they come from a broken conversion or effect, and guessing what
  they should have been would hide that;
* a valid file with no samples is silence: no speech in, none out.
"""

from __future__ import annotations

import logging
import os
import struct
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf
import soxr

from .errors import InputError

if TYPE_CHECKING:
    from .engine import AudioBlock

log = logging.getLogger(__name__)

ASR_RATE = 16000
# Bound on input length: a day of audio is a mistake, not a meeting.
MAX_INPUT_SECONDS = 12 * 3600
# Output files: WAV only, at a rate some player or device actually uses.
OUTPUT_SUFFIX = ".wav"
MIN_OUTPUT_RATE = 8000
MAX_OUTPUT_RATE = 192000
# Subtypes whose samples can be NaN or infinite (integer PCM and the codecs cannot).
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")
# WAV data sizes that stand for "length unknown" (written by recorders streaming to a pipe).
_UNKNOWN_WAV_SIZE = 0x7FFF0000


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


@dataclass(frozen=True)
class AudioInfo:
    """What an input file holds, as far as its header and its size tell."""

    path: Path
    sample_rate: int
    channels: int
    seconds: float  # audio that is there
    declared_seconds: float  # audio the header promises (more than ``seconds``: truncated)

    @property
    def truncated(self) -> bool:
        return self.declared_seconds > self.seconds

    def truncation_warning(self) -> str:
        return (
            f"{self.path} is truncated: its header promises {self.declared_seconds:.1f} s of "
            f"audio but only {self.seconds:.1f} s is there (using the {self.seconds:.1f} s "
            "that is there; export or copy the file again for the rest)"
        )


def audio_info(path: str | os.PathLike[str], *, scan: bool = False) -> AudioInfo:
    """Check an input file before any work; ``scan`` also reads float files for NaN/inf."""
    path = Path(path)
    with _open(path) as handle:
        seconds = handle.frames / handle.samplerate
        declared = _wav_declared_seconds(path) if handle.format in ("WAV", "WAVEX") else None
        if scan and handle.subtype in FLOAT_SUBTYPES:
            position = 0
            for block in handle.blocks(blocksize=65536, dtype="float32", always_2d=True):
                _check_finite(path, block, position, handle.samplerate)
                position += len(block)
        info = AudioInfo(path, handle.samplerate, handle.channels, seconds, seconds)
    if declared is not None and declared > seconds + 1.0 / info.sample_rate:
        info = AudioInfo(path, info.sample_rate, info.channels, seconds, declared)
    return info


def audio_duration(path: str | os.PathLike[str]) -> float:
    with _open(Path(path)) as handle:
        return handle.frames / handle.samplerate


def _wav_declared_seconds(path: Path) -> float | None:
    """Seconds of audio a WAV header's data chunk promises, when more than the file holds.

    libsndfile quietly reads what is there; this reads the RIFF chunks itself. None when the
    file holds all it promises or the size is a placeholder for an unknown length.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as raw:
            head = raw.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            byte_rate = 0
            while True:
                chunk = raw.read(8)
                if len(chunk) < 8:
                    return None
                name, length = struct.unpack("<4sI", chunk)
                if name == b"fmt ":
                    fmt = raw.read(min(length, 16))
                    if len(fmt) >= 12:
                        byte_rate = struct.unpack("<I", fmt[8:12])[0]
                    raw.seek(length + (length & 1) - len(fmt), os.SEEK_CUR)
                elif name == b"data":
                    present = size - raw.tell()
                    if byte_rate <= 0 or length == 0 or length >= _UNKNOWN_WAV_SIZE:
                        return None
                    return length / byte_rate if length > present else None
                else:
                    raw.seek(length + (length & 1), os.SEEK_CUR)
                if raw.tell() >= size:
                    return None
    except OSError:
        return None


def _check_finite(path: Path, block: np.ndarray, position: int, rate: int) -> None:
    finite = np.isfinite(block)
    if finite.all():
        return
    bad = np.flatnonzero(~finite.all(axis=1))
    raise InputError(
        f"{path} has samples that are not numbers (NaN or infinity), the first at "
        f"{(position + int(bad[0])) / rate:.2f} s",
        "re-export the audio: such samples come from a broken conversion or effect",
    )


def check_output_path(
    path: str | os.PathLike[str], source: str | os.PathLike[str] | None = None
) -> Path:
    """Fail before any work on an output file that could not be written (or would destroy
    ``source``): a directory, a missing or unwritable directory, a suffix other than .wav."""
    path = Path(path)
    if path.is_dir():
        raise InputError(
            f"output is a directory: {path}", f"name a file in it, e.g. {path / 'out.wav'}"
        )
    if path.suffix.lower() != OUTPUT_SUFFIX:
        raise InputError(
            f"cannot write {path}: the output is a WAV file",
            f"name it {path.with_suffix(OUTPUT_SUFFIX).name}",
        )
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.exists():
        raise InputError(f"output directory does not exist: {directory}", "create it first")
    if not directory.is_dir():
        raise InputError(f"output directory is not a directory: {directory}", "fix the path")
    if source is not None and path.exists() and path.resolve() == Path(source).resolve():
        raise InputError(f"the output would overwrite the input: {path}", "write to another file")
    os.unlink(_part_file(path, directory))
    return path


def _part_file(path: Path, directory: Path) -> str:
    """A new empty ``.NAME.*.part`` next to ``path``: where its content is written first."""
    try:
        fd, part = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=directory)
    except OSError as exc:
        raise InputError(
            f"cannot write to {directory}: {exc.strerror or exc}",
            "choose a directory you can write to",
        ) from None
    os.close(fd)
    return part


def check_output_rate(sample_rate: int) -> int:
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, (int, np.integer))
        or not MIN_OUTPUT_RATE <= sample_rate <= MAX_OUTPUT_RATE
    ):
        raise InputError(
            f"output sample rate {sample_rate} Hz is out of range",
            f"use {MIN_OUTPUT_RATE} to {MAX_OUTPUT_RATE} Hz",
        )
    return int(sample_rate)


def iter_audio(
    path: str | os.PathLike[str], rate: int = ASR_RATE, block_s: float = 0.5
) -> Iterator[np.ndarray]:
    """Yield mono float32 blocks at ``rate``, read and resampled incrementally.

    Streaming keeps memory flat for long recordings; soxr's stream resampler gives the same
    result as resampling the whole file at once.
    """
    path = Path(path)
    info = audio_info(path)
    if info.truncated:
        log.warning("%s", info.truncation_warning())
    with _open(path) as handle:
        source_rate = handle.samplerate
        resampler = (
            None if source_rate == rate else soxr.ResampleStream(source_rate, rate, 1, "float32")
        )
        frames = max(1, int(block_s * source_rate))
        floats = handle.subtype in FLOAT_SUBTYPES
        position = 0
        try:
            for block in handle.blocks(blocksize=frames, dtype="float32", always_2d=True):
                if floats:
                    _check_finite(path, block, position, source_rate)
                position += len(block)
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
        self.sample_rate = check_output_rate(sample_rate)
        self.path = check_output_path(path)
        self.frames_written = 0
        directory = self.path.parent if str(self.path.parent) else Path(".")
        tmp = _part_file(self.path, directory)
        self._tmp = Path(tmp)
        try:
            self._file = sf.SoundFile(
                tmp, "w", samplerate=self.sample_rate, channels=1, subtype="PCM_16", format="WAV"
            )
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise

    def write(self, samples: np.ndarray, rate: int | None = None) -> None:
        if rate is not None and rate != self.sample_rate:
            samples = resample(samples, rate, self.sample_rate)
        self._file.write(np.clip(samples, -1.0, 1.0))
        self.frames_written += len(samples)

    def write_silence(self, seconds: float) -> None:
        self.write(np.zeros(int(round(seconds * self.sample_rate)), np.float32))

    def commit(self) -> None:
        self._file.close()
        try:
            os.replace(self._tmp, self.path)
        except OSError as exc:  # the target became a directory or unwritable meanwhile
            self._tmp.unlink(missing_ok=True)
            raise InputError(
                f"cannot write {self.path}: {exc.strerror or exc}", "choose another output path"
            ) from None

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


def file_blocks(
    blocks: Iterable[np.ndarray], *, realtime: bool = False, block_s: float = 0.032
) -> Iterator[AudioBlock]:
    """Audio blocks stamped with their arrival time; ``realtime`` paces them like a microphone."""
    from .engine import AudioBlock  # here: the engine's models are no import cost of edge.audio

    start = time.perf_counter()
    sent = 0
    block = int(block_s * ASR_RATE)
    for chunk in blocks:
        for offset in range(0, len(chunk), block):
            piece = chunk[offset : offset + block]
            sent += len(piece)
            if realtime:
                due = start + sent / ASR_RATE
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            yield AudioBlock(piece, time.perf_counter())
