"""Memory budgets: refuse to load models that do not fit instead of meeting the OOM killer."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from ..errors import EdgeError, ModelError

# Resident memory of Python with numpy, onnxruntime, sherpa-onnx, ctranslate2 and piper
# imported, before any model: 67 MB measured on x86_64 (Python 3.11).
RUNTIME_BASE_MB = 70.0
# Kept free for audio buffers, the page cache of memory-mapped weights and the OS.
HEADROOM_MB = 64.0
SKIP_ENV = "EDGE_SKIP_MEMORY_CHECK"


class InsufficientMemoryError(ModelError):
    """The models of a pipeline need more memory than the device has available."""


# (factor on the weights, fixed MB) fitted to the peak RSS measured for the demo models:
# Piper keeps its weights once (joe: 63 MB file, 115 MB peak); sherpa-onnx and CTranslate2
# hold extra buffers (Moonshine tiny 42 -> 135 MB, Whisper base 139 -> 257 MB int8).
# Bergamot students (onnxruntime graphs plus the Marian .bin they came from on disk, 46 MB):
# 66-69 MB peak measured for the en<->pt pair.
_ESTIMATE = {"piper": (1.0, 50.0), "bergamot-onnx": (1.0, 22.0)}
_DEFAULT_ESTIMATE = (1.3, 60.0)


class SizedModel(Protocol):
    id: str
    backend: str
    ram_mb: float | None

    @property
    def disk_bytes(self) -> int: ...


def estimated_ram_mb(model: SizedModel) -> tuple[float, bool]:
    """(peak resident MB, measured?) for a catalog entry or an installed model.

    Without a measurement, a linear estimate from the size of the weights that is within
    20% of every demo model's measured peak.
    """
    if model.ram_mb:
        return float(model.ram_mb), True
    factor, fixed = _ESTIMATE.get(model.backend, _DEFAULT_ESTIMATE)
    return factor * model.disk_bytes / 2**20 + fixed, False


def available_memory_mb(meminfo: Path = Path("/proc/meminfo")) -> float | None:
    """MemAvailable (what can be allocated without swapping), None if it cannot be read."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil
    except ImportError:
        return None
    return psutil.virtual_memory().available / 2**20


def parse_size_mb(text: str) -> float:
    """Megabytes from ``512M``, ``1G``, ``1.5GB``, ``2048`` (MB) or ``900MiB``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", text)
    if not match:
        raise EdgeError(f"cannot read size {text!r}", "write it like 512M or 2G")
    value = float(match.group(1))
    scale = {"k": 1 / 1024, "": 1, "m": 1, "g": 1024, "t": 1024**2}[match.group(2).lower()]
    return value * scale


def check_memory(models: Sequence[SizedModel], available_mb: float | None = None) -> None:
    """Raise when the models, with the runtime, would not fit in available memory.

    Silent when available memory cannot be read, or when EDGE_SKIP_MEMORY_CHECK=1 (for
    devices with zram or swap where the user accepts the risk).
    """
    if os.environ.get(SKIP_ENV) == "1":
        return
    available = available_mb if available_mb is not None else available_memory_mb()
    if available is None:
        return
    parts = []
    need = RUNTIME_BASE_MB
    for model in models:
        mb, measured = estimated_ram_mb(model)
        need += mb
        parts.append(f"{model.id} {'' if measured else '~'}{mb:.0f}")
    if need + HEADROOM_MB <= available:
        return
    raise InsufficientMemoryError(
        f"not enough memory: the models need about {need + HEADROOM_MB:.0f} MB "
        f"({', '.join(parts)}, runtime {RUNTIME_BASE_MB:.0f}, headroom {HEADROOM_MB:.0f}) "
        f"but only {available:.0f} MB is available",
        f"close other programs, pick smaller models (edge models recommend --ram "
        f"{available:.0f}M --from L --to L), or set {SKIP_ENV}=1 to try anyway",
    )
