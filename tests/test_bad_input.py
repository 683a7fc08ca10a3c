"""Bad input to `edge translate`, `transcribe` and `live`, as a user meets it.

The rule: one line on stderr naming the problem and the fix, the exit code of README's table
(1 usage or runtime, 2 bad input, 3 model, 4 language), no traceback, and nothing left
behind: no output file, no `.part` file. A truncated WAV is the exception that still runs:
it is used as far as it goes, with one warning line. Also here: abandoning
`SpeechTranslator.stream()` stops the engine's threads.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edge.asr.base import Recognition
from edge.audio import audio_info, check_output_path, iter_audio, read_audio
from edge.engine import Stages
from edge.errors import InputError
from edge.translator import SpeechTranslator
from tests.conftest import SAMPLES
from tests.test_cli import edge

RATE = 16000


def refused(proc: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """The one stderr line of a refused command, checked."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]
    return lines[0]


def left_in(directory: Path) -> set[str]:
    """Everything under ``directory``, hidden `.part` files included."""
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


def tone(seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.fixture
def good_wav(tmp_path: Path) -> Path:
    path = tmp_path / "in.wav"
    sf.write(path, tone(1.0), RATE)
    return path


# --- fakes: an engine with no models ------------------------------------------------------


class EchoRecognizer:
    """Hears the same sentence in any speech segment."""

    languages = ("eng_Latn",)

    def recognize(self, audio: np.ndarray, lang: str | None = None) -> Recognition:
        return Recognition("Hello there, how are you today.", "eng_Latn")


class ChattyVoice:
    """A voice that speaks in thousands of tiny chunks: more events than the queue holds."""

    sample_rate = RATE
    language = "eng_Latn"

    def __init__(self, chunks: int = 5000) -> None:
        self.chunks = chunks

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        for _ in range(self.chunks):
            yield np.zeros(8, np.float32)


def repeater(chunks: int = 5000) -> SpeechTranslator:
    """English in, English out (a voice repeater), with the fakes above."""
    stages = Stages(segment_asr=EchoRecognizer(), tts=ChattyVoice(chunks))
    return SpeechTranslator("eng_Latn", "eng_Latn", stages)


ENGINE_THREADS = ("edge-source", "edge-listener", "edge-translator", "edge-speaker")


def edge_threads(ignore: set[threading.Thread] | None = None) -> list[threading.Thread]:
    """The engine's stage threads alive now, but for those in ``ignore``."""
    return [
        t
        for t in threading.enumerate()
        if t.name in ENGINE_THREADS and t.is_alive() and t not in (ignore or set())
    ]


def wait_for_no_edge_threads(limit_s: float, ignore: set[threading.Thread] | None = None) -> float:
    """Seconds until every engine thread (not in ``ignore``) has ended; fails after ``limit_s``."""
    start = time.monotonic()
    while edge_threads(ignore):
        assert time.monotonic() - start < limit_s, [t.name for t in edge_threads(ignore)]
        time.sleep(0.02)
    return time.monotonic() - start


# --- output sample rate (--sample-rate) ---------------------------------------------------


@pytest.mark.parametrize("value", ["-5", "0", "100", "1000000", "44.1k"])
def test_bad_output_sample_rate_is_refused_before_any_work(
    tmp_path: Path, good_wav: Path, models_dir: Path, value: str
) -> None:
    out = tmp_path / "out.wav"
    proc = edge(
        "translate", str(good_wav), "--from", "en", "--to", "en", "-o", str(out),
        "--sample-rate", value, cwd=tmp_path, models_dir=models_dir,
    )  # fmt: skip
    line = refused(proc, 2, "--sample-rate")
    assert line.startswith("edge translate: error: argument --sample-rate:")
    assert left_in(tmp_path) == {"in.wav"}


def test_bad_output_sample_rate_through_the_api(tmp_path: Path, good_wav: Path) -> None:
    before = set(edge_threads())
    with pytest.raises(InputError, match="sample rate -5 Hz"):
        repeater().translate_file(good_wav, tmp_path / "out.wav", sample_rate=-5)
    assert left_in(tmp_path) == {"in.wav"}
    assert not edge_threads(before)  # refused before the engine started


# --- the output path (-o) -------------------------------------------------------------------


def _output_cases() -> list[tuple[str, str, tuple[str, ...]]]:
    cases = [
        ("a_directory", "a_directory", ("is a directory", "a_directory")),
        ("missing_parent", "nowhere/out.wav", ("does not exist", "nowhere")),
        ("parent_is_a_file", "in.wav/out.wav", ("not a directory",)),
        ("mp3", "out.mp3", ("WAV", "out.wav")),
        ("no_suffix", "out", ("WAV", "out.wav")),
        ("the_input_itself", "in.wav", ("overwrite the input",)),
    ]
    if Path("/proc/self").is_dir():  # a place nobody can create files, not even root
        cases.append(("unwritable", "/proc/out.wav", ("cannot write", "/proc")))
    return cases


@pytest.mark.parametrize(
    ("output", "words"),
    [(out, words) for _, out, words in _output_cases()],
    ids=[name for name, _, _ in _output_cases()],
)
def test_bad_output_path_is_refused_before_any_work(
    tmp_path: Path, good_wav: Path, models_dir: Path, output: str, words: tuple[str, ...]
) -> None:
    (tmp_path / "a_directory").mkdir()
    before = left_in(tmp_path)
    start = time.monotonic()
    proc = edge(
        "translate", str(good_wav), "--from", "en", "--to", "en", "-o", output,
        cwd=tmp_path, models_dir=models_dir,
    )  # fmt: skip
    refused(proc, 2, *words)
    assert left_in(tmp_path) == before  # no .part, no output, the input untouched
    assert sf.info(str(good_wav)).frames == RATE
    assert time.monotonic() - start < 20  # refused up front, not after the run


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere"
)
def test_read_only_output_directory(tmp_path: Path, good_wav: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        proc = edge(
            "translate", str(good_wav), "--from", "en", "--to", "en",
            "-o", str(locked / "out.wav"), cwd=tmp_path,
        )  # fmt: skip
        refused(proc, 2, "cannot write")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_output_directory_through_the_api(tmp_path: Path, good_wav: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(InputError, match="output is a directory"):
        repeater().translate_file(good_wav, tmp_path / "d")
    assert left_in(tmp_path) == {"in.wav", "d"}
    with pytest.raises(InputError, match="WAV"):
        check_output_path(tmp_path / "out.ogg")


def test_live_output_file_checks(tmp_path: Path, good_wav: Path) -> None:
    for output, words in (("out.flac", ("WAV", "out.wav")), ("in.wav", ("overwrite",))):
        proc = edge(
            "live", "--from", "en", "--to", "en", "--input", str(good_wav), "--output", output,
            cwd=tmp_path,
        )  # fmt: skip
        refused(proc, 2, *words)
        assert left_in(tmp_path) == {"in.wav"}


# --- truncated WAV: used as far as it goes, with a warning ----------------------------------


def _truncate(source: Path, path: Path, keep_s: float) -> Path:
    """``source`` as 16-bit WAV, cut after ``keep_s`` seconds with its header unchanged."""
    audio, rate = sf.read(source, dtype="float32")
    sf.write(path, audio, rate, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: 44 + int(keep_s * rate) * 2])
    return path


def test_truncated_wav_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    sf.write(path, tone(3.0), RATE, subtype="PCM_16")
    whole = audio_info(path)
    assert not whole.truncated and whole.declared_seconds == whole.seconds == 3.0
    path.write_bytes(path.read_bytes()[: 44 + int(0.1 * RATE) * 2])
    info = audio_info(path)
    assert info.truncated
    assert (round(info.seconds, 2), round(info.declared_seconds, 2)) == (0.1, 3.0)
    assert "promises 3.0 s" in info.truncation_warning()


@pytest.mark.parametrize("declared", [0xFFFFFFFF, 0x7FFFF000])
def test_unknown_length_placeholder_is_not_truncation(tmp_path: Path, declared: int) -> None:
    # Recorders streaming to a pipe cannot know the length: they write a placeholder.
    path = tmp_path / "streamed.wav"
    sf.write(path, tone(0.5), RATE, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[40:44] = struct.pack("<I", declared)
    path.write_bytes(bytes(data))
    assert not audio_info(path).truncated
    assert len(read_audio(path)) == RATE // 2


def test_truncated_wav_warns_once_and_is_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cut.wav"
    sf.write(path, tone(3.0), RATE, subtype="PCM_16")
    path.write_bytes(path.read_bytes()[: 44 + RATE * 2])
    with caplog.at_level(logging.WARNING, logger="edge.audio"):
        audio = np.concatenate(list(iter_audio(path)))
    assert len(audio) == RATE
    warnings = [r for r in caplog.records if r.name == "edge.audio"]
    assert len(warnings) == 1 and "truncated" in warnings[0].getMessage()


def test_truncated_recording_is_transcribed_with_one_warning(
    tmp_path: Path, models_dir: Path, moonshine_dir: Path
) -> None:
    cut = _truncate(SAMPLES / "beckett.flac", tmp_path / "cut.wav", keep_s=5.0)
    proc = edge("transcribe", str(cut), "--lang", "en", "--json", cwd=tmp_path,
                models_dir=models_dir)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    [line] = proc.stderr.splitlines()
    assert "truncated" in line and "promises 10.0 s" in line and "5.0 s is there" in line
    events = [json.loads(text) for text in proc.stdout.splitlines()]
    warning = events[0]
    assert (warning["event"], warning["kind"]) == ("warning", "truncated_input")
    assert warning["declared_s"] == pytest.approx(9.96, abs=0.01)
    assert warning["audio_s"] == pytest.approx(5.0, abs=0.01)
    transcripts = [e for e in events if e["event"] == "transcript"]
    assert transcripts and all(e["end_s"] <= 5.0 for e in transcripts)
    assert events[-1]["event"] == "metrics" and events[-1]["audio_s"] == pytest.approx(5.0, 0.01)


def test_truncated_recording_is_translated_with_a_warning(
    tmp_path: Path, models_dir: Path, moonshine_dir: Path, joe_dir: Path
) -> None:
    cut = _truncate(SAMPLES / "beckett.flac", tmp_path / "cut.wav", keep_s=5.0)
    out = tmp_path / "out.wav"
    proc = edge("translate", str(cut), "--from", "en", "--to", "en", "-o", str(out),
                cwd=tmp_path, models_dir=models_dir)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "cut.wav is truncated:" in line]
    assert len(warnings) == 1
    assert sf.info(str(out)).duration > 0.5
    assert left_in(tmp_path) == {"cut.wav", "out.wav"}


# --- NaN and infinite samples: refused ------------------------------------------------------


def _float_wav(path: Path, bad: slice | None, value: float) -> Path:
    audio = tone(1.0)
    if bad is not None:
        audio[bad] = value
    sf.write(path, audio, RATE, subtype="FLOAT")
    return path


@pytest.mark.parametrize(
    ("bad", "value", "at"),
    [
        (slice(None), np.nan, "0.00 s"),  # all NaN
        (slice(8000, 8003), np.nan, "0.50 s"),  # a few NaN in good audio
        (slice(4000, 4001), np.inf, "0.25 s"),
        (slice(4000, 4001), -np.inf, "0.25 s"),
    ],
    ids=["all-nan", "few-nan", "inf", "minus-inf"],
)
def test_non_finite_samples_are_refused(
    tmp_path: Path, models_dir: Path, bad: slice, value: float, at: str
) -> None:
    source = _float_wav(tmp_path / "in.wav", bad, value)
    out = tmp_path / "out.wav"
    proc = edge("translate", str(source), "--from", "en", "--to", "en", "-o", str(out),
                cwd=tmp_path, models_dir=models_dir)  # fmt: skip
    refused(proc, 2, "not numbers", at, "re-export")
    assert left_in(tmp_path) == {"in.wav"}
    with pytest.raises(InputError, match="not numbers"):
        audio_info(source, scan=True)
    with pytest.raises(InputError, match="not numbers"):  # also when read without the scan
        read_audio(source)


def test_non_finite_input_for_transcribe_and_live(tmp_path: Path) -> None:
    source = _float_wav(tmp_path / "in.wav", slice(None), np.nan)
    refused(edge("transcribe", str(source), "--lang", "en", cwd=tmp_path), 2, "not numbers")
    proc = edge("live", "--from", "en", "--to", "en", "--input", str(source),
                "--output", "out.wav", cwd=tmp_path)  # fmt: skip
    refused(proc, 2, "not numbers")
    assert left_in(tmp_path) == {"in.wav"}


def test_non_finite_samples_stop_the_api_without_output(tmp_path: Path) -> None:
    source = _float_wav(tmp_path / "in.wav", slice(12000, 12001), np.nan)
    before = set(edge_threads())
    with pytest.raises(InputError, match="not numbers"):
        repeater(chunks=10).translate_file(source, tmp_path / "out.wav")
    assert left_in(tmp_path) == {"in.wav"}
    wait_for_no_edge_threads(2.0, before)


# --- numeric options --------------------------------------------------------------------------

TRANSLATE = ("translate", "in.wav", "--from", "en", "--to", "es")
TRANSCRIBE = ("transcribe", "in.wav", "--lang", "en")
LIVE = ("live", "--from", "en", "--to", "es")

BAD_NUMBERS = [
    (TRANSLATE, "--threads", "-3"),
    (TRANSLATE, "--threads", "0"),
    (TRANSLATE, "--threads", "two"),
    (TRANSLATE, "--beam-size", "0"),
    (TRANSLATE, "--beam-size", "1.5"),
    (TRANSLATE, "--first-phrase", "-1"),
    (TRANSLATE, "--vad-threshold", "1.5"),
    (TRANSLATE, "--vad-threshold", "nan"),
    (TRANSLATE, "--min-speech", "-1"),
    (TRANSLATE, "--min-speech", "nan"),
    (TRANSLATE, "--min-silence", "0"),
    (TRANSLATE, "--speech-pad", "inf"),
    (TRANSLATE, "--max-segment", "0.5"),
    (TRANSCRIBE, "--threads", "-3"),
    (TRANSCRIBE, "--beam-size", "0"),
    (TRANSCRIBE, "--max-segment", "nan"),
    (LIVE, "--threads", "-3"),
    (LIVE, "--beam-size", "0"),
    (LIVE, "--first-phrase", "-2"),
    (LIVE, "--input-rate", "0"),
    (LIVE, "--output-rate", "-44100"),
    (LIVE, "--volume", "101"),
    (LIVE, "--echo-guard", "-1"),
    (LIVE, "--max-backlog", "0.5"),
    (LIVE, "--speed", "0"),
    (LIVE, "--simulate-echo", "nan"),
    (LIVE, "--vad-threshold", "0"),
    (LIVE, "--min-speech", "-0.1"),
    (LIVE, "--hangover", "inf"),
    (LIVE, "--max-utterance", "0"),
    (LIVE, "--speech-pad", "-1"),
    (LIVE, "--partial-interval", "-1"),
    (LIVE, "--ptt-pre-roll", "-1"),
    (LIVE, "--ptt-tail", "nan"),
    (LIVE, "--max-seconds", "0"),
]


@pytest.mark.parametrize(
    ("command", "flag", "value"),
    BAD_NUMBERS,
    ids=[f"{c[0]}{f}={v}" for c, f, v in BAD_NUMBERS],
)
def test_bad_numeric_option_is_one_line(
    tmp_path: Path, command: tuple[str, ...], flag: str, value: str
) -> None:
    proc = edge(*command, f"{flag}={value}", cwd=tmp_path)
    line = refused(proc, 2, flag, value)
    assert line.startswith(f"edge {command[0]}: error: argument {flag}:"), line
    assert left_in(tmp_path) == set()


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    [subparsers] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return subparsers.choices[name]


def _subcommand(name: str) -> argparse.ArgumentParser:
    from edge.cli import build_parser

    return _subparser(build_parser(), name)


def _quantize(name: str) -> argparse.ArgumentParser:
    from quantize.cli import _parser

    return _subparser(_parser(), name)


NUMERIC_PARSERS = {
    "translate": lambda: _subcommand("translate"),
    "transcribe": lambda: _subcommand("transcribe"),
    "live": lambda: _subcommand("live"),
    "bench": lambda: _subcommand("bench"),
    "quantize onnx": lambda: _quantize("onnx"),
    "quantize report": lambda: _quantize("report"),
    "quantize vocab": lambda: _quantize("vocab"),
}


@pytest.mark.parametrize("name", list(NUMERIC_PARSERS))
def test_every_numeric_option_is_bounded(name: str) -> None:
    numeric = [
        a for a in NUMERIC_PARSERS[name]()._actions if a.type is not None and a.type is not Path
    ]
    assert numeric
    for action in numeric:
        assert action.type not in (int, float), f"{action.option_strings} takes any number"
        for text in ("nan", "inf", "-1e9"):
            with pytest.raises(argparse.ArgumentTypeError):
                action.type(text)
        if action.default is not None:  # the default is a value the option accepts
            assert action.type(str(action.default)) == action.default


def test_good_numbers_still_parse() -> None:
    from edge.cli import build_parser

    args = build_parser().parse_args(
        [*TRANSLATE, "--threads", "2", "--beam-size", "4", "--sample-rate", "22050",
         "--vad-threshold", "0.3", "--min-silence", "0.2", "--first-phrase", "0"]
    )  # fmt: skip
    assert (args.threads, args.beam_size, args.sample_rate) == (2, 4, 22050)
    assert (args.vad_threshold, args.min_silence, args.first_phrase) == (0.3, 0.2, 0)


BAD_CONFIG = [
    ("[runtime]\nthreads = -3\n", "threads"),
    ("[runtime]\nbeam_size = 0\n", "beam_size"),
    ("[vad]\nhangover_s = nan\n", "hangover_s"),
    ("[vad]\nthreshold = 1.0\n", "vad_threshold"),
    ("[audio]\nvolume = 101\n", "volume"),
    ("[audio]\ninput_rate = 0\n", "input_rate"),
    ("[runtime]\nmax_seconds = -1\n", "max_seconds"),
    ("first_phrase_words = -1\n", "first_phrase_words"),
]


@pytest.mark.parametrize(("text", "field"), BAD_CONFIG, ids=[f for _, f in BAD_CONFIG])
def test_live_config_file_numbers_are_checked(tmp_path: Path, text: str, field: str) -> None:
    from edge.live.config import ConfigError, load_config

    path = tmp_path / "live.toml"
    path.write_text('from = "en"\nto = "es"\n' + text)
    with pytest.raises(ConfigError, match=f"{field} = .* is out of range"):
        load_config(path).validate()
    proc = edge("live", "--config", str(path), cwd=tmp_path)
    refused(proc, 2, field, "out of range")


# --- abandoning a stream ----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["close", "drop"])
def test_abandoned_stream_stops_the_engine_threads(how: str) -> None:
    translator = repeater()
    engines = []
    make_engine = translator.engine

    def engine():  # noqa: ANN202
        engines.append(make_engine())
        return engines[-1]

    translator.engine = engine  # type: ignore[method-assign]
    before = set(edge_threads())
    events = translator.stream(SAMPLES / "beckett.flac")
    next(events)
    deadline = time.monotonic() + 20
    while not engines[0]._events.full():  # the speaker now waits for room in the queue
        assert time.monotonic() < deadline, "the event queue never filled"
        time.sleep(0.01)
    assert edge_threads(before)
    start = time.monotonic()
    if how == "close":
        events.close()
    else:
        del events
        gc.collect()
    waited = time.monotonic() - start  # close() itself joins the threads
    assert waited + wait_for_no_edge_threads(2.0, before) < 2.0


def test_failing_event_handler_stops_the_engine_and_leaves_no_output(tmp_path: Path) -> None:
    def handler(event: object) -> None:
        raise RuntimeError("the caller failed")

    before = set(edge_threads())
    with pytest.raises(RuntimeError, match="the caller failed"):
        repeater().translate_file(SAMPLES / "beckett.flac", tmp_path / "out.wav", on_event=handler)
    wait_for_no_edge_threads(2.0, before)
    assert left_in(tmp_path) == set()


def test_consumed_stream_still_delivers_every_event() -> None:
    # Backpressure, not loss: a caller that reads slowly still gets all the audio.
    voice_chunks = 3000
    before = set(edge_threads())
    events = repeater(voice_chunks).stream(SAMPLES / "beckett.flac")
    audio = 0
    for index, event in enumerate(events):
        if index == 5:
            time.sleep(0.5)  # the queue fills meanwhile
        audio += type(event).__name__ == "AudioOut"
    phrases = audio / voice_chunks
    assert audio and phrases == int(phrases)
    wait_for_no_edge_threads(2.0, before)


# --- the rest of the sweep: already one line, kept that way -----------------------------------


def _sweep_cases() -> list[tuple[str, tuple[str, ...], int, tuple[str, ...]]]:
    t = ("--from", "en", "--to", "en")
    files = ("--input", "in.wav", "--output", "out.wav")
    return [
        ("missing input", ("translate", "missing.wav", *t), 2, ("not found",)),
        ("text as .wav", ("translate", "text.wav", *t), 2, ("cannot read audio",)),
        ("empty file", ("translate", "empty.wav", *t), 2, ("empty",)),
        ("directory input", ("translate", "folder", *t), 2, ("directory",)),
        ("transcribe missing", ("transcribe", "missing.wav", "--lang", "en"), 2, ("not found",)),
        ("transcribe text", ("transcribe", "text.wav", "--lang", "en"), 2, ("cannot read",)),
        ("unknown --from", ("translate", "in.wav", "--from", "xx", "--to", "en"), 4, ("'xx'",)),
        ("unknown --to", ("translate", "in.wav", "--from", "en", "--to", "zz"), 4, ("'zz'",)),
        ("unknown --lang", ("transcribe", "in.wav", "--lang", "qq"), 4, ("'qq'",)),
        ("live unknown", ("live", "--from", "xx", "--to", "en", *files), 4, ("'xx'",)),
        (
            "live missing",
            ("live", *t, "--input", "missing.wav", "--output", "o.wav"),
            2,
            ("not found",),
        ),
        (
            "live text",
            ("live", *t, "--input", "text.wav", "--output", "o.wav"),
            2,
            ("cannot read",),
        ),
        ("missing --to", ("translate", "in.wav", "--from", "en"), 2, ("required", "--to")),
        ("unknown model", ("models", "info", "no-such-model"), 3, ("no-such-model",)),
    ]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [case[1:] for case in _sweep_cases()],
    ids=[case[0] for case in _sweep_cases()],
)
def test_other_bad_input_is_one_line(
    tmp_path: Path, models_dir: Path, args: tuple[str, ...], code: int, words: tuple[str, ...]
) -> None:
    sf.write(tmp_path / "in.wav", tone(0.5), RATE)
    (tmp_path / "text.wav").write_text("this is not audio\n")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "folder").mkdir()
    before = left_in(tmp_path)
    proc = edge(*args, cwd=tmp_path, models_dir=models_dir)
    refused(proc, code, *words)
    assert left_in(tmp_path) == before
