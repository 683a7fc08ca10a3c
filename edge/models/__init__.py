"""Model manager: catalog, downloads, sideloading, verification and device profiles."""

from .catalog import Catalog, CatalogEntry
from .memory import check_memory
from .store import InstalledModel, ModelStore, models_dir

__all__ = [
    "Catalog",
    "CatalogEntry",
    "InstalledModel",
    "ModelStore",
    "check_memory",
    "models_dir",
]
