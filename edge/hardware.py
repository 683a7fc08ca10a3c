"""Where each stage runs: CPU or CUDA, its compute type and its threads, and memory settings.

Device selection per stage (``auto``, ``cpu`` or ``cuda``):

* CTranslate2 (MT, Whisper): CUDA when ``ctranslate2.get_cuda_device_count()`` sees a GPU;
  the compute type is the requested one if the GPU supports it, else the first of
  :data:`CUDA_COMPUTE_TYPES` that ``ctranslate2.get_supported_compute_types`` lists.
* sherpa-onnx (ASR): ``provider="cuda"`` only with a CUDA build of sherpa-onnx (the PyPI
  wheels are CPU-only and would silently fall back inside C++).
* onnxruntime (Piper TTS, Silero VAD): the CUDA execution provider of ``onnxruntime-gpu``.

A provider being listed proves little: a wheel built for other GPU architectures lists CUDA
and fails at the first kernel launch. So a stage is placed on CUDA only after its model has
loaded there *and* run once (a tiny probe); any failure puts the stage on CPU with one log
line (info for ``auto``, warning when CUDA was asked for), never an exception.

The CUDA path is unverified on real hardware: the machines this was built on have no GPU.
Tests cover the selection and fallback logic with the runtimes' CUDA queries replaced.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.metadata
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import EdgeError

log = logging.getLogger(__name__)

T = TypeVar("T")

DEVICES = ("auto", "cpu", "cuda")
# CTranslate2 compute types in order of preference. On a GPU int8 weights come first: memory
# is what edge boards (Jetson: shared with the CPU) run out of; activations in half precision.
CUDA_COMPUTE_TYPES = (
    "int8_float16",
    "int8_bfloat16",
    "int8_float32",
    "float16",
    "bfloat16",
    "float32",
)
CPU_COMPUTE_TYPES = ("int8", "int8_float32", "float32")
ORT_CUDA = "CUDAExecutionProvider"
ORT_CPU = "CPUExecutionProvider"
# Options of onnxruntime's CUDA provider: grow the GPU arena by what is asked for rather than
# doubling it (on Jetson the GPU arena is carved out of system RAM), and skip cuDNN's
# exhaustive convolution search, rerun for every new input shape (Piper: every sentence
# length); piper-tts sets the same.
ORT_CUDA_OPTIONS = {
    "arena_extend_strategy": "kSameAsRequested",
    "cudnn_conv_algo_search": "HEURISTIC",
}
# Below this much RAM (MemTotal) the low-memory settings are on by default: they cut a
# pipeline's peak by 3-11% and its resident size after use by 7-22% (a third for Piper or
# Whisper alone), but slow Piper about 1.8x and Whisper about 1.3x (docs/hardware.md), a
# price only boards with 512 MB should pay.
LOW_MEMORY_BELOW_MB = 768.0
# Allocations at least this large get their own mmap and go back to the system when freed.
_MMAP_THRESHOLD = 128 * 1024
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


def check_device(device: str) -> str:
    if device not in DEVICES:
        raise EdgeError(f"unknown device '{device}'", f"use one of {', '.join(DEVICES)}")
    return device


# --- what each runtime can do ------------------------------------------------------------


@dataclass(frozen=True)
class RuntimeSupport:
    """Whether one runtime, as installed, can run models on an NVIDIA GPU.

    ``cuda`` True means "worth trying": the load-and-run probe of each model decides.
    """

    runtime: str  # ctranslate2 | onnxruntime | sherpa-onnx
    version: str
    cuda: bool
    detail: str  # what was found: devices, compute types, providers; or why there is no CUDA
    fix: str = ""  # how to get a CUDA build of this runtime, when there is none
    compute_types: tuple[str, ...] = ()  # CTranslate2 on CUDA

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "runtime": self.runtime,
            "version": self.version,
            "cuda": self.cuda,
            "detail": self.detail,
        }
        if self.fix:
            out["fix"] = self.fix
        if self.compute_types:
            out["compute_types"] = list(self.compute_types)
        return out


@functools.cache
def ctranslate2_support() -> RuntimeSupport:
    import ctranslate2

    version = ctranslate2.__version__
    try:
        count = ctranslate2.get_cuda_device_count()
    except (RuntimeError, OSError) as exc:
        return RuntimeSupport("ctranslate2", version, False, f"CUDA query failed: {_first(exc)}")
    if count < 1:
        return RuntimeSupport(
            "ctranslate2",
            version,
            False,
            "no CUDA device visible to CTranslate2 (no NVIDIA driver, or a CPU-only build: "
            "the PyPI aarch64 wheels are CPU-only)",
            "on Jetson build CTranslate2 with -DWITH_CUDA=ON or use a jetson-containers "
            "image (docs/jetson.md)",
        )
    try:
        types = tuple(sorted(ctranslate2.get_supported_compute_types("cuda")))
    except (RuntimeError, ValueError) as exc:
        # The driver is older than the CUDA runtime the wheel was built with, or similar.
        return RuntimeSupport(
            "ctranslate2",
            version,
            False,
            f"{count} CUDA device(s) but CTranslate2 cannot use them: {_first(exc)}",
            "install the NVIDIA driver and CUDA 12 libraries this CTranslate2 wheel needs",
        )
    return RuntimeSupport(
        "ctranslate2", version, True, f"{count} CUDA device(s)", compute_types=types
    )


@functools.cache
def onnxruntime_support() -> RuntimeSupport:
    import onnxruntime as ort

    providers = tuple(ort.get_available_providers())
    if ORT_CUDA not in providers:
        return RuntimeSupport(
            "onnxruntime",
            ort.__version__,
            False,
            f"no CUDA execution provider (providers: {', '.join(providers)})",
            "pip uninstall onnxruntime && pip install onnxruntime-gpu "
            "(Jetson: the JetPack build, docs/jetson.md)",
        )
    return RuntimeSupport(
        "onnxruntime", ort.__version__, True, f"providers: {', '.join(providers)}"
    )


@functools.cache
def sherpa_onnx_support() -> RuntimeSupport:
    import sherpa_onnx

    try:
        version = importlib.metadata.version("sherpa-onnx")  # "1.12.0+cuda" for CUDA wheels
    except importlib.metadata.PackageNotFoundError:  # a source build on the path
        version = str(getattr(sherpa_onnx, "__version__", "unknown"))
    # sherpa-onnx carries its own onnxruntime; only its CUDA builds (versions "+cuda" from
    # k2-fsa's wheel index, or a source build with -DSHERPA_ONNX_ENABLE_GPU=ON) ship the
    # CUDA provider library next to it. The CPU wheels accept provider="cuda" and log a
    # fallback from C++, so asking them proves nothing.
    lib_dir = Path(sherpa_onnx.__file__).parent / "lib"
    has_provider = any(lib_dir.glob("libonnxruntime_providers_cuda*")) or "cuda" in version
    if not has_provider:
        return RuntimeSupport(
            "sherpa-onnx",
            version,
            False,
            "CPU-only build (no CUDA provider library in the sherpa-onnx package)",
            "pip install sherpa-onnx==VERSION+cuda -f https://k2-fsa.github.io/sherpa/onnx/cuda.html "
            "(Jetson: build with -DSHERPA_ONNX_ENABLE_GPU=ON, docs/jetson.md)",
        )
    return RuntimeSupport("sherpa-onnx", version, True, "CUDA build")


def sherpa_on_cuda(load: Callable[[], T]) -> T:
    """Run a sherpa-onnx load with ``provider="cuda"`` and raise if it fell back to CPU.

    sherpa-onnx reports a missing CUDA provider only by writing "Fallback to cpu!" to
    stderr from C++, so the file descriptor is captured while the model loads; everything
    else it wrote is passed on.
    """
    with tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            model = load()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        text = captured.read().decode("utf-8", errors="replace")
    fallback = [line for line in text.splitlines() if "allback to cpu" in line]
    others = "".join(line + "\n" for line in text.splitlines() if line not in fallback)
    if others:
        sys.stderr.write(others)
    if fallback:
        raise RuntimeError(f"sherpa-onnx fell back to CPU: {fallback[0].strip()}")
    return model


def clear_support_cache() -> None:
    """Forget what the runtimes said (tests that fake a GPU)."""
    for check in (ctranslate2_support, onnxruntime_support, sherpa_onnx_support):
        check.cache_clear()


# --- placing one stage ---------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where one stage ended up and why."""

    stage: str
    device: str  # cpu | cuda
    requested: str  # auto | cpu | cuda
    compute_type: str = ""  # CTranslate2 stages
    threads: int = 0
    fallback: str = ""  # why a stage that could have used CUDA runs on CPU

    def describe(self) -> str:
        extra = f" {self.compute_type}" if self.compute_type else ""
        threads = f", {self.threads} threads" if self.device == "cpu" and self.threads else ""
        reason = f" ({self.fallback})" if self.fallback else ""
        return f"{self.stage}: {self.device}{extra}{threads}{reason}"


def place(
    stage: str,
    requested: str,
    support: RuntimeSupport,
    load: Callable[[str], T],
    probe: Callable[[T], object] | None = None,
) -> tuple[T, str, str]:
    """Load a stage's model on CUDA when asked for and proven to work, else on CPU.

    ``load(device)`` builds the model on ``"cuda"`` or ``"cpu"``; ``probe(model)`` runs it
    once on a tiny input. Returns (model, device, why it is on CPU or ""). Errors of the CPU
    load are the caller's (a broken model is broken on any device).
    """
    check_device(requested)
    if requested == "cpu":
        return load("cpu"), "cpu", ""
    if not support.cuda:
        reason = f"{support.runtime} has no CUDA: {support.detail}"
        _fallback_line(stage, requested, reason, support.fix)
        return load("cpu"), "cpu", reason
    try:
        model = load("cuda")
        if probe is not None:
            probe(model)
    except Exception as exc:  # any failure on the GPU path means: run on CPU
        reason = f"CUDA failed with {support.runtime}: {_first(exc)}"
        _fallback_line(stage, requested, reason, "")
        return load("cpu"), "cpu", reason
    log.info("%s: running on CUDA (%s)", stage, support.runtime)
    return model, "cuda", ""


def _fallback_line(stage: str, requested: str, reason: str, fix: str) -> None:
    level = logging.WARNING if requested == "cuda" else logging.INFO
    log.log(level, "%s: using CPU, %s%s", stage, reason, f" (fix: {fix})" if fix else "")


def ct2_compute_type(device: str, requested: str, supported: Iterable[str]) -> str:
    """The compute type to load a CTranslate2 model with on ``device``.

    ``auto`` picks the first supported type of :data:`CUDA_COMPUTE_TYPES` or
    :data:`CPU_COMPUTE_TYPES`; a requested type the device lacks is replaced the same way,
    with a warning, instead of CTranslate2's error.
    """
    available = set(supported)
    if requested != "auto" and requested in available:
        return requested
    order = CUDA_COMPUTE_TYPES if device == "cuda" else CPU_COMPUTE_TYPES
    best = next((t for t in order if t in available), "default")
    if requested != "auto":
        log.warning(
            "compute type %s is not supported on %s here; using %s", requested, device, best
        )
    return best


def cpu_compute_types() -> tuple[str, ...]:
    import ctranslate2

    return tuple(sorted(ctranslate2.get_supported_compute_types("cpu")))


# --- onnxruntime sessions ------------------------------------------------------------------


def ort_session_options(threads: int, *, memory_arena: bool = False) -> Any:
    """Session options for one model: its own thread count, with or without the CPU arena.

    The arena keeps the largest working set a model ever needed (Piper: grows with the
    longest sentence) resident for the life of the session; without it, and with
    :func:`limit_heap_retention`, memory goes back after each run, at a cost in speed
    (docs/hardware.md).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(0, threads)
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = memory_arena
    return options


def ort_providers(device: str) -> list[Any]:
    if device == "cuda":
        return [(ORT_CUDA, dict(ORT_CUDA_OPTIONS)), ORT_CPU]
    return [ORT_CPU]


def ort_session(model: str | bytes, device: str, options: Any) -> Any:
    """An onnxruntime session on ``device``; raises if CUDA was asked for and not attached.

    onnxruntime drops a CUDA provider it cannot create with only a log line, so the
    session's providers are checked.
    """
    import onnxruntime as ort

    session = ort.InferenceSession(model, sess_options=options, providers=ort_providers(device))
    if device == "cuda" and session.get_providers()[0] != ORT_CUDA:
        raise RuntimeError("onnxruntime could not create its CUDA execution provider")
    return session


# --- threads ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StageThreads:
    """Threads per stage: ASR and TTS intra-op threads, MT intra threads, VAD threads."""

    asr: int
    mt: int
    tts: int
    vad: int = 1


# Measured with tools/bench_hardware.py threads on 2 cores (docs/hardware.md): end of speech
# to first audio was lowest, or within noise of the lowest, with two threads for every stage:
# MT and TTS sit on the critical path and gain about 1.4x from a second thread, Whisper ASR
# needs it to keep up, and the engine's stages overlap too little for the oversubscription
# to cost more than that. Machines with more cores keep two threads per stage (not measured
# beyond 2 cores): single-sentence decoding gains little from more, and the stages overlap.
THREAD_DEFAULTS: dict[int, StageThreads] = {
    1: StageThreads(asr=1, mt=1, tts=1),
    2: StageThreads(asr=2, mt=2, tts=2),
}


def usable_cores() -> int:
    """CPUs this process may run on (respects taskset and container CPU sets)."""
    with contextlib.suppress(AttributeError, OSError):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_threads(cores: int | None = None) -> StageThreads:
    cores = usable_cores() if cores is None else max(1, cores)
    row = max(c for c in THREAD_DEFAULTS if c <= cores)
    return THREAD_DEFAULTS[row]


# --- memory ----------------------------------------------------------------------------


def meminfo_mb(text: str | None = None) -> dict[str, float]:
    """/proc/meminfo (or ``text``) in MB; empty when it cannot be read."""
    if text is None:
        try:
            text = Path("/proc/meminfo").read_text(encoding="ascii", errors="replace")
        except OSError:
            return {}
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        with contextlib.suppress(ValueError, IndexError):
            values[key.strip()] = int(rest.split()[0]) / 1024
    return values


def peak_rss_mb() -> float | None:
    """This process's own peak resident size (VmHWM).

    Not ``ru_maxrss``: on Linux a child started from a large parent inherits the parent's
    high-water mark there.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except (ImportError, OSError):
        return None


def low_memory_default(total_mb: float | None = None) -> bool:
    """Whether this device is small enough to trade speed for memory (see LOW_MEMORY_BELOW_MB)."""
    total = meminfo_mb().get("MemTotal") if total_mb is None else total_mb
    return total is not None and total < LOW_MEMORY_BELOW_MB


@functools.cache
def limit_heap_retention() -> bool:
    """Make glibc give large freed blocks back to the system (True if applied).

    glibc raises its mmap threshold after the first large free, up to 32 MB, so the
    next large tensors come from the heap and stay resident after use; a fixed threshold
    keeps them as separate mappings that are unmapped when freed. Process-wide, once.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD))
    except (OSError, AttributeError):  # not glibc (musl, Android)
        return False


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
