"""tools/bench_hardware.py: its workers measure real runs and its tables report them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_hardware", ROOT / "tools" / "bench_hardware.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edge.synthetic.ct2_transformer import build_marian_like

    root = tmp_path_factory.mktemp("hw-bench")
    build_marian_like(root / "opus-mt", source_lang="eng_Latn", target_lang="spa_Latn")
    return root


def test_mt_worker_times_a_real_decode(bench: ModuleType, cache: Path) -> None:
    spec = {"cache": str(cache), "model": "opus-mt", "device": "cpu", "threads": 1}
    result = bench.measure_mt(spec)
    assert (result["device"], result["compute_type"], result["threads"]) == ("cpu", "int8", 1)
    assert result["tokens_per_s"] > 0 and result["sentence_ms_p50"] > 0


def test_cuda_rows_without_a_gpu_are_skipped_not_timed(bench: ModuleType, cache: Path) -> None:
    spec = {"cache": str(cache), "model": "opus-mt", "device": "cuda", "threads": 1}
    result = bench.measure_mt(spec)
    assert set(result) == {"skipped"} and "ctranslate2 has no CUDA" in result["skipped"]
    assert bench.devices() == ["cpu"]


def test_workers_run_in_their_own_process(bench: ModuleType) -> None:
    vad = bench.run_worker("vad", {"device": "cpu"})
    assert 0 < vad["ms_per_frame"] < 32
    memory = bench.run_worker("model-memory", {"model": "silero", "device": "cpu"})
    # The child's own peak, not the pytest process's (which getrusage would report).
    assert 5 < memory["resident_after_mb"] < 100
    assert memory["runtime_mb"] < 400
    assert "error" in bench.run_worker("vad", {"device": "tpu"})


def test_markdown_tables(bench: ModuleType) -> None:
    report = {
        "machine": "test CPU",
        "load_average": [0.1, 0.2],
        "stages": [
            {
                "stage": "tts",
                "model": "joe",
                "device": "cpu",
                "threads": 1,
                "low_memory": True,
                "rtf": 0.05,
                "first_chunk_ms_p50": 90.0,
            },
            {"stage": "mt", "model": "nllb-600m", "skipped": "ctranslate2 has no CUDA"},
        ],
        "threads": [
            {
                "pipeline": "tiny-cascade",
                "split": "2/2/1",
                "utterances": "6/6",
                "latency_ms_p50": 700.0,
                "latency_ms_max": 900.0,
                "rtf": {"asr": 0.03},
            }
        ],
    }
    text = bench.markdown(report)
    assert "| tts | joe | cpu | - | 1 | on | RTF 0.05; first audio 90.0 ms |" in text
    assert "ctranslate2 has no CUDA" in text
    assert "| tiny-cascade | 2/2/1 | 1 | 6/6 | 700.0 | 900.0 | asr 0.03 |" in text
