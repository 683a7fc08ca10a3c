"""The `edge` command as a user runs it: real process, exit codes, one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jiwer
import numpy as np
import pytest
import soundfile as sf

from tests.conftest import SAMPLES
from tests.test_asr import BECKETT, normalized


def edge(
    *args: str, models_dir: Path | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if models_dir is not None:
        env["EDGE_MODELS_DIR"] = str(models_dir)
    return subprocess.run(
        [sys.executable, "-m", "edge", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode not in (0, None)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]


def test_version_and_help() -> None:
    assert edge("--version").stdout.startswith("edge ")
    out = edge("--help").stdout
    for command in ("translate", "transcribe", "models", "bench"):
        assert command in out


def _translate_station(output: Path, models_dir: Path, *flags: str) -> subprocess.CompletedProcess:
    """The Spanish sample into English speech, with the demo models."""
    sample = str(SAMPLES / "es_station.flac")
    return edge(
        "translate", sample, "--from", "es", "--to", "en", "-o", str(output), *flags,
        models_dir=models_dir,
    )  # fmt: skip


def test_translate_json_events(tmp_path: Path, models_dir: Path, whisper_base_dir, joe_dir) -> None:
    output = tmp_path / "out.wav"
    proc = _translate_station(output, models_dir, "--json")
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert "transcript" in kinds and "translation" in kinds
    assert kinds[-1] == "metrics"
    transcript = next(e for e in events if e["event"] == "transcript")
    assert {"text", "lang", "start_s", "end_s"} <= transcript.keys()
    translation = next(e for e in events if e["event"] == "translation")
    assert translation["lang"] == "eng_Latn" and translation["text"]
    metrics = events[-1]
    assert {"asr", "tts"} <= metrics["stage_ms"].keys()
    assert len(metrics["end_of_speech_to_first_audio_ms"]) == metrics["utterances"] > 0
    audio, rate = sf.read(output)
    assert rate == 22050 and len(audio) > rate


def test_translate_prints_each_translation_under_its_source(
    tmp_path: Path, models_dir: Path, whisper_base_dir, joe_dir
) -> None:  # noqa: ANN001
    proc = _translate_station(tmp_path / "out.wav", models_dir)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    sources = [i for i, line in enumerate(lines) if line.startswith("[")]
    assert len(sources) == 3 and sources[0] == 0, lines  # three utterances in the sample
    for i in sources:  # direct translation: the source line, then its English
        assert "spa_Latn:" in lines[i] and lines[i + 1].strip().startswith("-> eng_Latn:"), lines


def test_transcribe_prints_text(models_dir: Path, moonshine_dir) -> None:
    proc = edge("transcribe", str(SAMPLES / "beckett.flac"), "--lang", "en", models_dir=models_dir)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 6  # one line per phrase of the recording
    heard = normalized(" ".join(line.split(":", 1)[1] for line in lines))
    assert jiwer.wer(BECKETT, heard) <= 0.2, heard


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: None, ("not found",)),
        (lambda p: p.write_bytes(b""), ("empty",)),
        (lambda p: p.write_bytes(os.urandom(5000)), ("cannot read audio",)),
    ],
)
def test_bad_input_files(
    tmp_path: Path, models_dir: Path, moonshine_dir, joe_dir, make, words
) -> None:
    source = tmp_path / "in.wav"
    make(source)
    output = tmp_path / "out.wav"
    proc = edge(
        "translate",
        str(source),
        "--from",
        "en",
        "--to",
        "en",
        "-o",
        str(output),
        models_dir=models_dir,
    )
    assert_one_line_error(proc, *words)
    assert not output.exists()
    assert [p.name for p in tmp_path.iterdir()] == (["in.wav"] if source.exists() else [])


def test_zero_channel_and_header_only_wav(tmp_path: Path, models_dir: Path, moonshine_dir) -> None:
    header_only = tmp_path / "header.wav"
    sf.write(header_only, np.zeros(0, np.float32), 16000)
    proc = edge("transcribe", str(header_only), "--lang", "en", models_dir=models_dir)
    # A valid file with no samples is silence: no speech, clean exit.
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_silent_input_gives_no_speech_and_exit_zero(
    tmp_path: Path, models_dir: Path, moonshine_dir, joe_dir
) -> None:
    source = tmp_path / "silence.wav"
    sf.write(source, np.zeros(16000 * 2, np.float32), 16000)
    output = tmp_path / "out.wav"
    proc = edge(
        "translate",
        str(source),
        "--from",
        "en",
        "--to",
        "en",
        "-o",
        str(output),
        "--json",
        models_dir=models_dir,
    )
    assert proc.returncode == 0, proc.stderr
    kinds = [json.loads(line)["event"] for line in proc.stdout.splitlines()]
    assert "transcript" not in kinds and kinds[-1] == "metrics"


def test_unknown_language_code(models_dir: Path) -> None:
    proc = edge(
        "translate",
        str(SAMPLES / "beckett.flac"),
        "--from",
        "en",
        "--to",
        "xx",
        models_dir=models_dir,
    )
    assert_one_line_error(proc, "unknown language", "xx")


def test_language_pair_with_no_model(tmp_path: Path) -> None:
    proc = edge(
        "translate",
        str(SAMPLES / "beckett.flac"),
        "--from",
        "fi",
        "--to",
        "sw",
        models_dir=tmp_path,
    )
    assert_one_line_error(proc, "edge models")


def test_model_directory_missing_a_file(tmp_path: Path, joe_dir: Path, moonshine_dir: Path) -> None:
    broken = tmp_path / "voice"
    broken.mkdir()
    onnx = next(joe_dir.glob("*.onnx"))
    (broken / onnx.name).write_bytes(onnx.read_bytes())  # the .onnx.json is missing
    output = tmp_path / "out.wav"
    proc = edge(
        "translate",
        str(SAMPLES / "beckett.flac"),
        "--from",
        "en",
        "--to",
        "en",
        "--asr",
        str(moonshine_dir),
        "--tts",
        str(broken),
        "-o",
        str(output),
    )
    assert_one_line_error(proc, ".onnx.json")
    assert not output.exists()
