"""Finding a backend's files in a model directory, with or without a model record.

The record itself is read by ``edge.models.record.read_record``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError


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
