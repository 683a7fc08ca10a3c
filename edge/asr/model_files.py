"""Finding a backend's files in a model directory, with or without ``edge_model.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ModelError

METADATA_FILE = "edge_model.json"


def read_metadata(model_dir: Path) -> dict[str, Any]:
    """The model manager's record for an installed model, or {} for a bare directory."""
    path = model_dir / METADATA_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} is unreadable: {exc}", "run: edge models verify") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path} is not a model record", "run: edge models verify")
    return data


def require_dir(model_dir: str | Path) -> Path:
    path = Path(model_dir)
    if not path.is_dir():
        raise ModelError(
            f"model directory not found: {path}",
            "pull it with `edge models pull ID` or import it with `edge models import PATH`",
        )
    return path


def pick_file(model_dir: Path, name: str | None, patterns: tuple[str, ...], role: str) -> Path:
    """The file named in the metadata, else the first match of ``patterns`` (int8 first)."""
    if name:
        path = model_dir / name
        if not path.is_file():
            raise ModelError(
                f"model file missing: {path}",
                "re-download the model with `edge models pull ID` or run `edge models verify`",
            )
        return path
    for pattern in patterns:
        matches = sorted(model_dir.glob(pattern))
        if matches:
            return matches[0]
    raise ModelError(
        f"{model_dir} has no {role} file ({', '.join(patterns)})",
        "re-download the model with `edge models pull ID` or run `edge models verify`",
    )
