"""The user's evaluation data: one directory, read the same way by every subcommand.

* speech recognition: ``NAME.wav`` with its transcript in ``NAME.txt``
* voice activity detection: ``*.wav`` (no transcripts needed)
* translation: ``source.txt`` and ``reference.txt``, one sentence per line, aligned
* speech synthesis: ``sentences.txt``, one sentence per line
* output-vocabulary reduction: any UTF-8 text in the target language
"""

from __future__ import annotations

from pathlib import Path

from edge.errors import InputError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


def _require_dir(data: Path) -> None:
    if not data.is_dir():
        raise InputError(f"data directory not found: {data}", "pass --data DIR")


def wav_files(data: Path) -> list[Path]:
    _require_dir(data)
    files = sorted(p for p in data.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise InputError(f"no audio files in {data}", "add WAV, FLAC or OGG recordings")
    return files


def transcribed_audio(data: Path) -> list[tuple[Path, str]]:
    """(audio, transcript) pairs; every recording needs its transcript."""
    pairs = []
    for audio in wav_files(data):
        transcript = audio.with_suffix(".txt")
        if not transcript.is_file():
            raise InputError(
                f"{audio.name} has no transcript {transcript.name}",
                "write what is said in a .txt file with the same name",
            )
        pairs.append((audio, transcript.read_text(encoding="utf-8").strip()))
    return pairs


def read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise InputError(f"{path} not found", "put one sentence per line in it")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise InputError(f"{path} is empty", "put one sentence per line in it")
    return lines


def read_sentences(data: Path) -> list[str]:
    _require_dir(data)
    return read_lines(data / "sentences.txt")


def parallel_text(data: Path) -> tuple[list[str], list[str]]:
    _require_dir(data)
    source = read_lines(data / "source.txt")
    reference = read_lines(data / "reference.txt")
    if len(source) != len(reference):
        raise InputError(
            f"source.txt has {len(source)} sentences but reference.txt has {len(reference)}",
            "align the two files line by line",
        )
    return source, reference
