"""Device selection, CUDA fallback, thread defaults and memory settings (edge.hardware).

On a machine without a GPU the runtimes' CUDA queries are replaced to say there is one, and
the real CPU-only builds then fail to load or run on CUDA, which must end on CPU with one
log line and a working model. The tests that load real models follow the host: where a
runtime really runs on CUDA (the PyPI x86_64 CTranslate2 wheel on an NVIDIA machine,
onnxruntime-gpu), the stage must land there instead; the runtime is asked directly, not
through edge.hardware, so a CPU-only machine still checks that nothing claims CUDA.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge import hardware
from edge.errors import EdgeError
from edge.hardware import RuntimeSupport, StageThreads
from edge.translator import RuntimeOptions, load_mt, load_recognizer, load_voice

CUDA_OK = RuntimeSupport("fake", "1", True, "1 CUDA device(s)", compute_types=("float32",))
NO_CUDA = RuntimeSupport("fake", "1", False, "CPU-only build", "install the CUDA build")


@functools.cache
def ct2_runs_on_cuda() -> bool:
    """Whether this host's CTranslate2 really has a CUDA device (asked before any faking)."""
    import ctranslate2

    try:
        return ctranslate2.get_cuda_device_count() > 0 and bool(
            ctranslate2.get_supported_compute_types("cuda")
        )
    except (RuntimeError, OSError, ValueError):
        return False


@functools.cache
def ort_lists_cuda() -> bool:
    """Whether the installed onnxruntime is a CUDA build (onnxruntime-gpu)."""
    import onnxruntime as ort

    return hardware.ORT_CUDA in ort.get_available_providers()


@pytest.fixture(autouse=True)
def fresh_support() -> Iterator[None]:
    ct2_runs_on_cuda(), ort_lists_cuda()  # the real answers, before a test fakes them
    hardware.clear_support_cache()
    yield
    hardware.clear_support_cache()


@pytest.fixture(scope="module")
def tiny_nllb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edge.synthetic.ct2_transformer import build_nllb_like

    return build_nllb_like(
        tmp_path_factory.mktemp("mt") / "nllb", languages=("eng_Latn", "spa_Latn")
    )


def hardware_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "edge.hardware"]


# --- compute types ----------------------------------------------------------------------


def test_cuda_compute_type_prefers_int8_with_half_precision() -> None:
    volta_and_newer = {"float32", "int8", "int8_float32", "int8_float16", "float16"}
    assert hardware.ct2_compute_type("cuda", "auto", volta_and_newer) == "int8_float16"
    pascal_61 = {"float32", "int8", "int8_float32"}  # compute capability 6.1
    assert hardware.ct2_compute_type("cuda", "auto", pascal_61) == "int8_float32"
    assert hardware.ct2_compute_type("cuda", "auto", {"float32"}) == "float32"


def test_cpu_compute_type_is_int8() -> None:
    assert hardware.ct2_compute_type("cpu", "auto", hardware.cpu_compute_types()) == "int8"


def test_unsupported_compute_type_is_replaced_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        chosen = hardware.ct2_compute_type("cuda", "bfloat16", {"float32", "int8_float16"})
    assert chosen == "int8_float16"
    assert "bfloat16 is not supported" in caplog.text
    assert hardware.ct2_compute_type("cuda", "float32", {"float32", "int8_float16"}) == "float32"


# --- place(): the fallback rules --------------------------------------------------------


def test_cpu_request_never_tries_cuda() -> None:
    asked: list[str] = []
    model, device, why = hardware.place("mt", "cpu", CUDA_OK, lambda d: asked.append(d) or d)
    assert (asked, device, why) == (["cpu"], "cpu", "")


@pytest.mark.parametrize(
    ("requested", "level"), [("auto", logging.INFO), ("cuda", logging.WARNING)]
)
def test_runtime_without_cuda_falls_back_with_one_line(
    requested: str, level: int, caplog: pytest.LogCaptureFixture
) -> None:
    asked: list[str] = []
    with caplog.at_level(logging.INFO, logger="edge.hardware"):
        _, device, why = hardware.place("tts", requested, NO_CUDA, lambda d: asked.append(d))
    assert (asked, device) == (["cpu"], "cpu")
    assert "CPU-only build" in why
    [line] = hardware_lines(caplog)
    assert line.levelno == level
    assert "tts: using CPU" in line.getMessage() and "install the CUDA build" in line.getMessage()


def test_failing_probe_falls_back_to_cpu(caplog: pytest.LogCaptureFixture) -> None:
    def probe(model: str) -> None:
        if model == "cuda":
            raise RuntimeError("no kernel image is available for execution on the device\nmore")

    with caplog.at_level(logging.INFO, logger="edge.hardware"):
        model, device, why = hardware.place("asr", "auto", CUDA_OK, lambda d: d, probe)
    assert (model, device) == ("cpu", "cpu")
    assert why == "CUDA failed with fake: no kernel image is available for execution on the device"
    assert len(hardware_lines(caplog)) == 1


def test_working_cuda_is_used() -> None:
    probed: list[str] = []
    model, device, why = hardware.place("mt", "auto", CUDA_OK, lambda d: d, probed.append)
    assert (model, device, why, probed) == ("cuda", "cuda", "", ["cuda"])


def test_cpu_load_errors_are_not_hidden() -> None:
    def load(device: str) -> None:
        raise EdgeError("model.bin is missing", "download it again")

    with pytest.raises(EdgeError, match="model.bin is missing"):
        hardware.place("mt", "auto", CUDA_OK, load)


def test_unknown_device_is_a_user_error() -> None:
    with pytest.raises(EdgeError, match="unknown device 'gpu'"):
        RuntimeOptions(device="gpu").device_for("mt")


# --- the real runtimes, told there is a GPU ---------------------------------------------


def test_ctranslate2_support_reports_the_host() -> None:
    support = hardware.ctranslate2_support()
    assert support.to_dict()["runtime"] == "ctranslate2"
    if ct2_runs_on_cuda():  # an NVIDIA host: the PyPI x86_64 wheel includes CUDA
        assert support.cuda and support.compute_types and not support.fix
    else:  # no GPU, or a CPU-only build: say why, and how to get CUDA
        assert support.cuda is False and support.fix


def test_ctranslate2_gpu_query(monkeypatch: pytest.MonkeyPatch) -> None:
    import ctranslate2

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)
    monkeypatch.setattr(
        ctranslate2, "get_supported_compute_types", lambda device: {"float32", "int8_float16"}
    )
    support = hardware.ctranslate2_support()
    assert support.cuda and support.compute_types == ("float32", "int8_float16")


def test_ctranslate2_driver_mismatch_is_no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    import ctranslate2

    def fail(device: str) -> set[str]:
        raise RuntimeError("CUDA driver version is insufficient for CUDA runtime version")

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)
    monkeypatch.setattr(ctranslate2, "get_supported_compute_types", fail)
    support = hardware.ctranslate2_support()
    assert not support.cuda and "driver version is insufficient" in support.detail


def test_mt_on_a_fake_gpu_ends_on_cpu_and_translates(
    monkeypatch: pytest.MonkeyPatch, tiny_nllb: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import ctranslate2

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)
    real_types = ctranslate2.get_supported_compute_types
    monkeypatch.setattr(
        ctranslate2,
        "get_supported_compute_types",
        lambda device: {"float32", "int8_float16"} if device == "cuda" else real_types(device),
    )
    options = RuntimeOptions(device="auto", mt_threads=1)
    with caplog.at_level(logging.INFO, logger="edge.hardware"):
        mt = load_mt(tiny_nllb, options)
    placement = options.placements["mt"]
    if ct2_runs_on_cuda():  # the GPU is real: the model runs there, in the best int8 type
        assert (placement.device, placement.compute_type) == ("cuda", "int8_float16")
        assert placement.fallback == ""
    else:
        assert (placement.device, placement.compute_type, placement.threads) == ("cpu", "int8", 1)
        assert placement.fallback.startswith("CUDA failed with ctranslate2")
    assert len(hardware_lines(caplog)) == 1  # "using CPU, ..." or "running on CUDA"
    assert len(mt.translate(["Hello."], "eng_Latn", "spa_Latn")) == 1


def test_onnxruntime_without_cuda_provider(joe_dir: Path) -> None:
    options = RuntimeOptions(device="cuda", tts_threads=1)
    voice = load_voice(joe_dir, options)
    placement = options.placements["tts"]
    if ort_lists_cuda():  # onnxruntime-gpu: CUDA where it attaches, else CPU saying why
        assert (placement.device, placement.fallback) == ("cuda", "") or (
            placement.device == "cpu" and "CUDA failed with onnxruntime" in placement.fallback
        )
    else:
        assert placement.device == "cpu"
        assert "no CUDA execution provider" in placement.fallback
    assert next(iter(voice.synthesize("Hello."))).size > 0


@pytest.mark.filterwarnings("ignore:Specified provider .CUDAExecutionProvider.")
def test_listed_cuda_provider_that_cannot_attach_falls_back(
    monkeypatch: pytest.MonkeyPatch, joe_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import onnxruntime as ort

    monkeypatch.setattr(
        ort, "get_available_providers", lambda: [hardware.ORT_CUDA, hardware.ORT_CPU]
    )
    options = RuntimeOptions(device="auto")
    with caplog.at_level(logging.INFO, logger="edge.hardware"):
        voice = load_voice(joe_dir, options)
    placement = options.placements["tts"]
    attached = ort_lists_cuda() and placement.device == "cuda"  # onnxruntime-gpu and a GPU
    if attached:
        assert placement.fallback == ""
    else:
        assert placement.device == "cpu"
        assert "could not create its CUDA execution provider" in placement.fallback
    assert len(hardware_lines(caplog)) == 1
    assert next(iter(voice.synthesize("Hello."))).size > 0


def test_sherpa_cpu_build_told_cuda_is_caught(
    monkeypatch: pytest.MonkeyPatch, moonshine_dir: Path, capfd: pytest.CaptureFixture
) -> None:
    import sherpa_onnx

    real = hardware.sherpa_onnx_support()
    lib = Path(sherpa_onnx.__file__).parent / "lib"
    if "cuda" in real.version or any(lib.glob("libonnxruntime_providers_cuda*")):
        pytest.skip("a CUDA build of sherpa-onnx: there is no CPU build to catch")
    assert not real.cuda  # the PyPI wheel, CPU-only on every host
    monkeypatch.setattr(
        hardware, "sherpa_onnx_support", lambda: dataclasses.replace(real, cuda=True)
    )
    options = RuntimeOptions(device="cuda", asr_threads=1)
    recognizer = load_recognizer(moonshine_dir, options)
    assert options.placements["asr"].device == "cpu"
    assert "fell back to CPU" in options.placements["asr"].fallback
    assert "Fallback to cpu" not in capfd.readouterr().err  # replaced by one clean line
    assert recognizer.recognize(np.zeros(16000, np.float32)).text == ""


def test_whisper_placement_and_compute_type(whisper_base_dir: Path) -> None:
    options = RuntimeOptions(device="auto", asr_threads=1)
    load_recognizer(whisper_base_dir, options)
    placement = options.placements["asr"]
    if ct2_runs_on_cuda():  # auto takes the GPU, in the best type it supports
        types = hardware.ctranslate2_support().compute_types
        best = hardware.ct2_compute_type("cuda", "auto", types)
        assert (placement.device, placement.compute_type) == ("cuda", best)
        assert placement.describe() == f"asr: cuda {best}"
    else:
        assert (placement.device, placement.compute_type) == ("cpu", "int8")
        assert placement.describe().startswith("asr: cpu int8, 1 threads")


# --- threads and options --------------------------------------------------------------------


def test_thread_defaults_by_core_count() -> None:
    assert hardware.default_threads(1) == StageThreads(asr=1, mt=1, tts=1)
    assert hardware.default_threads(2) == StageThreads(asr=2, mt=2, tts=2)
    assert hardware.default_threads(4) == hardware.default_threads(16) == StageThreads(2, 2, 2)
    for cores, row in hardware.THREAD_DEFAULTS.items():
        # Stages overlap in the engine: none may take more cores than there are.
        assert max(row.asr, row.mt, row.tts) <= cores


def test_runtime_options_resolve_per_stage() -> None:
    options = RuntimeOptions(device="cpu", mt_device="cuda", asr_threads=3)
    assert [options.device_for(s) for s in ("asr", "mt", "tts")] == ["cpu", "cuda", "cpu"]
    assert options.threads_for("asr") == 3
    assert options.threads_for("tts") == hardware.default_threads().tts
    assert RuntimeOptions(tts_threads=0).threads_for("tts") == 0


def test_old_style_options_still_work(moonshine_dir: Path, beckett_wav: Path) -> None:
    from edge.audio import read_audio

    options = RuntimeOptions(device="cpu", compute_type="int8", asr_threads=2, mt_threads=2)
    text = load_recognizer(moonshine_dir, options).recognize(read_audio(beckett_wav)).text
    assert "ever tried" in text.lower()
    assert (options.placements["asr"].requested, options.placements["asr"].threads) == ("cpu", 2)


# --- memory ---------------------------------------------------------------------------------


def test_session_options_turn_the_arena_off() -> None:
    options = hardware.ort_session_options(2)
    assert (options.enable_cpu_mem_arena, options.intra_op_num_threads) == (False, 2)
    assert hardware.ort_session_options(0, memory_arena=True).enable_cpu_mem_arena


def test_heap_retention_limit_applies_on_glibc() -> None:
    import platform
    import subprocess
    import sys

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    # In a child: the setting is process-wide and would slow every later test here.
    code = "from edge import hardware; print(hardware.limit_heap_retention())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "True", result.stderr


def test_low_memory_mode_is_for_small_boards() -> None:
    assert hardware.low_memory_default(430.0)  # Raspberry Pi Zero 2 W, 512 MB
    assert not hardware.low_memory_default(906.0)  # a 1 GB Raspberry Pi
    total = hardware.meminfo_mb("MemTotal:  441344 kB\nMemAvailable: 300000 kB\n")["MemTotal"]
    assert total == 431.0 and hardware.meminfo_mb("garbage") == {}
    assert RuntimeOptions().uses_low_memory() == hardware.low_memory_default()
    assert RuntimeOptions(low_memory=True).uses_low_memory()


@pytest.mark.parametrize("low_memory", [True, False])
def test_voice_session_follows_low_memory_mode(
    joe_dir: Path, low_memory: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    heap_limited: list[bool] = []
    monkeypatch.setattr(hardware, "limit_heap_retention", lambda: heap_limited.append(True))
    voice = load_voice(joe_dir, RuntimeOptions(device="cpu", tts_threads=1, low_memory=low_memory))
    assert heap_limited == ([True] if low_memory else [])
    options = voice._voice.session.get_session_options()
    assert options.enable_cpu_mem_arena is not low_memory
    assert options.intra_op_num_threads == 1
