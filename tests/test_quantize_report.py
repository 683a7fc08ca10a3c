"""``quantize report``, ``catalog-entry`` and ``nllb-bench``: measurements and their records."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.errors import InputError
from edge.synthetic.ct2_transformer import build_nllb_like
from edge.vad import bundled_model_path
from quantize.bench import run_bench
from quantize.catalog import catalog_entry, to_json, to_toml
from quantize.convert import convert_ct2
from quantize.metrics import dtw_cost, normalize_text, spectral_distance, word_error_rate
from quantize.report import Settings, build_report

ROOT = Path(__file__).resolve().parent.parent
BECKETT_TEXT = "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better."


def test_wer_ignores_case_and_punctuation() -> None:
    assert (
        normalize_text("Ever tried. Ever FAILED, no-matter!") == "ever tried ever failed no matter"
    )
    assert word_error_rate(["It's the best of times."], ["it's the best of times"]) == 0.0
    assert word_error_rate(["one two three four"], ["one two four"]) == pytest.approx(25.0)


def _dtw_reference(cost: np.ndarray) -> float:
    total = np.full((cost.shape[0] + 1, cost.shape[1] + 1), np.inf)
    total[0, 0] = 0.0
    for i in range(1, total.shape[0]):
        for j in range(1, total.shape[1]):
            best = min(total[i - 1, j], total[i - 1, j - 1], total[i, j - 1])
            total[i, j] = cost[i - 1, j - 1] + best
    return float(total[-1, -1])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 7), st.integers(1, 7), st.integers(0, 2**31 - 1))
def test_row_vectorized_dtw_equals_the_textbook_recursion(rows: int, cols: int, seed: int) -> None:
    cost = np.random.default_rng(seed).random((rows, cols))
    assert dtw_cost(cost) == pytest.approx(_dtw_reference(cost))


def test_spectral_distance_tolerates_timing_but_not_different_sound() -> None:
    rate = 22050
    t = np.arange(rate) / rate
    tone = np.sin(2 * np.pi * 440 * t) * np.hanning(rate)
    slower = np.sin(2 * np.pi * 440 * t[: int(rate * 0.9)] * 1.0) * np.hanning(int(rate * 0.9))
    other = np.sin(2 * np.pi * 1500 * t) * np.hanning(rate)
    assert spectral_distance(tone, tone, rate) < 0.05
    assert spectral_distance(tone, slower, rate) < 3.0
    assert spectral_distance(tone, other, rate) > 10.0


@pytest.fixture(scope="module")
def whisper_tiny_dir(store) -> Path:  # noqa: ANN001
    from edge.errors import ModelError

    try:
        return store.get("whisper-tiny-en-ct2").path
    except ModelError:
        return store.pull("whisper-tiny-en-ct2", progress=False).path


@pytest.fixture(scope="module")
def asr_data(
    tmp_path_factory: pytest.TempPathFactory, beckett_wav: Path, english_recording: tuple
) -> Path:
    """A real read recording and six sentences spoken by the Piper voice, with transcripts."""
    data = tmp_path_factory.mktemp("asr-data")
    shutil.copy(beckett_wav, data / "beckett.flac")
    (data / "beckett.txt").write_text(BECKETT_TEXT)
    shutil.copy(english_recording[0], data / "sentences.wav")
    (data / "sentences.txt").write_text(" ".join(english_recording[1]))
    return data


def test_whisper_int8_report_on_real_recordings(
    whisper_tiny_dir: Path, asr_data: Path, tmp_path: Path
) -> None:
    convert_ct2(whisper_tiny_dir, tmp_path / "f32", "float32")
    convert_ct2(whisper_tiny_dir, tmp_path / "int8", "int8")
    report = build_report(
        tmp_path / "f32",
        [tmp_path / "int8"],
        asr_data,
        tmp_path / "report",
        Settings(repeat=1, compute_type="default"),
    )
    reference, candidate = report["variants"]
    assert candidate["size_ratio"] < 0.30
    assert reference["wer"] < 15.0 and candidate["wer"] < 15.0
    assert candidate["quality_delta"] == pytest.approx(candidate["wer"] - reference["wer"])
    assert candidate["load_rss_mb"] < reference["load_rss_mb"]
    hypotheses = {i["hypothesis"] for i in report["outputs"][1]["items"]}
    assert any("fail better" in h.lower() for h in hypotheses)
    assert "| int8 |" in (tmp_path / "report" / "report.md").read_text()


def test_report_rejects_mixed_kinds_in_one_line(whisper_tiny_dir: Path, tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable, "-m", "quantize", "report",
            "--reference", str(bundled_model_path()),
            "--candidate", str(whisper_tiny_dir),
            "--data", str(tmp_path),
        ],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and "not the same kind" in completed.stderr


def test_mt_report_counts_tokens_and_scores_bleu(tmp_path: Path) -> None:
    float_dir = build_nllb_like(tmp_path / "f32", quantization="float32")
    convert_ct2(float_dir, tmp_path / "int8", "int8")
    data = tmp_path / "data"
    data.mkdir()
    (data / "source.txt").write_text("Where is the station?\nThank you very much.\n")
    (data / "reference.txt").write_text("¿Dónde está la estación?\nMuchas gracias.\n")
    settings = Settings(repeat=1, source_lang="eng_Latn", target_lang="spa_Latn")
    report = build_report(float_dir, [tmp_path / "int8"], data, tmp_path / "r", settings)
    for variant in report["variants"]:
        assert variant["tokens_per_s"] > 0 and 0.0 <= variant["bleu"] <= 100.0
    assert report["variants"][1]["size_ratio"] < 0.6  # the directory: spm model included
    with pytest.raises(InputError, match="reference.txt has 1"):
        (data / "reference.txt").write_text("Muchas gracias.\n")
        build_report(float_dir, [tmp_path / "int8"], data, tmp_path / "r2", settings)


def test_catalog_entry_loads_in_edges_catalog(tmp_path: Path) -> None:
    from edge.models.catalog import Catalog, tomllib

    vad = tmp_path / "vad"
    vad.mkdir()
    shutil.copy(bundled_model_path(), vad / "silero_vad.onnx")
    entry = catalog_entry(
        vad / "silero_vad.onnx",
        model_id="silero-vad-test",
        license="MIT",
        url_base="https://example.org/models/vad/",
    )
    digest = hashlib.sha256((vad / "silero_vad.onnx").read_bytes()).hexdigest()
    assert entry["files"] == [
        {"name": "silero_vad.onnx", "size": (vad / "silero_vad.onnx").stat().st_size,
         "sha256": digest}
    ]  # fmt: skip
    assert 0.5 < entry["ram_mb"] < 200 and entry["quantization"] == "float32"
    catalog = Catalog.from_documents([("test", tomllib.loads(to_toml(entry)))])
    loaded = catalog.get("silero-vad-test")
    assert loaded.backend == "silero-vad" and loaded.kinds == ("vad",)
    assert loaded.files[0].sha256 == digest and loaded.ram_mb == entry["ram_mb"]
    assert loaded.sources[0].urls["silero_vad.onnx"].endswith("/models/vad/silero_vad.onnx")
    flat = json.loads(to_json(entry))
    assert flat["kind"] == "vad" and flat["files"][0]["path"] == "silero_vad.onnx"
    assert flat["disk_mb"] == pytest.approx(entry["files"][0]["size"] / 2**20, abs=0.05)


def test_catalog_entry_of_a_converted_translation_model(tmp_path: Path) -> None:
    from edge.models.catalog import Catalog, tomllib

    model_dir = build_nllb_like(tmp_path / "f32", quantization="float32")
    convert_ct2(model_dir, tmp_path / "nllb-int8", "int8", model_id="nllb-tiny-int8")
    entry = catalog_entry(tmp_path / "nllb-int8", license="CC-BY-NC-4.0", measure_ram=False)
    loaded = Catalog.from_documents([("t", tomllib.loads(to_toml(entry)))]).get("nllb-tiny-int8")
    assert loaded.backend == "ct2-nllb" and loaded.quantization == "int8"
    assert {f.name for f in loaded.files} == {
        "model.bin", "config.json", "shared_vocabulary.json", "sentencepiece.bpe.model"
    }  # fmt: skip
    assert "fra_Latn" in loaded.languages and loaded.sources[0].type == "local"


def test_nllb_bench_measures_every_cpu_compute_type_and_both_reductions(tmp_path: Path) -> None:
    report = run_bench(
        tmp_path / "bench", preset="tiny", length=8, sentences=2, reduced_size=500, repeat=1
    )
    rows = {(r["model"], r["compute_type"]): r for r in report["rows"]}
    assert {
        ("int8", "int8"),
        ("int8", "float32"),
        ("int8-vmap", "int8"),
        ("int8-trim", "int8"),
    } <= set(rows)
    for row in rows.values():
        assert row["tokens"] == 2 * 8 and row["tokens_per_s"] > 0
    assert (
        rows[("int8-vmap", "int8")]["use_vmap"]
        and rows[("int8-vmap", "int8")]["output_vocabulary"] == 500
    )
    assert rows[("int8-trim", "int8")]["output_vocabulary"] == 500
    assert report["float32_model_bin_mb"] > 2 * rows[("int8", "int8")]["disk_mb"]
    assert "| int8-trim | int8 | 500 |" in (tmp_path / "bench" / "bench.md").read_text()


def test_smoke_measurement_of_a_voice_without_data(joe_dir: Path, tmp_path: Path) -> None:
    voice = next(joe_dir.glob("*.onnx"))
    entry = catalog_entry(voice, license="MIT", model_id="joe-test")
    assert entry["languages"] == ["eng_Latn"] and entry["kinds"] == ["tts"]
    assert 30 < entry["ram_mb"] < 1000
    assert {f["name"] for f in entry["files"]} == {voice.name, voice.name + ".json"}
