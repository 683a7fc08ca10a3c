"""Model manager: catalog, downloads, sideloading, verification and device profiles.

The names below are imported when first used, so that ``edge.models.record`` (read by every
model loader) does not pull in the download and install machinery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .catalog import Catalog, CatalogEntry
    from .memory import check_memory
    from .store import InstalledModel, ModelStore, models_dir

_EXPORTS = {
    "Catalog": ".catalog",
    "CatalogEntry": ".catalog",
    "InstalledModel": ".store",
    "ModelStore": ".store",
    "check_memory": ".memory",
    "models_dir": ".store",
}

__all__ = [
    "Catalog",
    "CatalogEntry",
    "InstalledModel",
    "ModelStore",
    "check_memory",
    "models_dir",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
