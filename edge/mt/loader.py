"""Open a machine translation model directory with the backend that serves it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.errors import ModelError
from edge.mt.base import TextTranslator
from edge.mt.bergamot_onnx import BACKEND as BACKEND_BERGAMOT
from edge.mt.bergamot_onnx import BergamotTranslator
from edge.mt.ctranslate2_mt import (
    BACKEND_MARIAN,
    BACKEND_NLLB,
    MODEL_METADATA_FILE,
    CTranslate2Translator,
    read_model_metadata,
)

_BACKENDS: dict[str, Callable[..., TextTranslator]] = {
    BACKEND_NLLB: CTranslate2Translator.load,
    BACKEND_MARIAN: CTranslate2Translator.load,
    BACKEND_BERGAMOT: BergamotTranslator.load,
}


def load_text_translator(model_dir: str | Path, **options: Any) -> TextTranslator:
    """Load the translator in ``model_dir``; ``options`` go to the backend's ``load``.

    The backend is the ``backend`` of the directory's edge_model.json, or, without one,
    CTranslate2 when the directory holds a converted model (``model.bin``).
    """
    root = Path(model_dir)
    if not root.is_dir():
        raise ModelError(
            f"model directory {root} does not exist",
            "download the model with the model manager or give the right path",
        )
    metadata = read_model_metadata(root)
    # The model manager records "kinds" (a list); hand-written files may say "kind".
    kinds = metadata.get("kinds") or ([metadata["kind"]] if "kind" in metadata else ["mt"])
    if "mt" not in kinds:
        raise ModelError(
            f"{root} holds a {'/'.join(map(str, kinds))} model, not a translation model",
            "choose a model of kind mt",
        )
    backend = metadata.get("backend")
    if backend is None:
        if not (root / "model.bin").is_file():
            raise ModelError(
                f"no translation model in {root}: no {MODEL_METADATA_FILE} and no model.bin",
                "download a model with the model manager or convert one with CTranslate2",
            )
        return CTranslate2Translator.load(root, **options)
    if backend not in _BACKENDS:
        raise ModelError(
            f"unknown translation backend '{backend}' in {root / MODEL_METADATA_FILE}",
            f"supported backends: {', '.join(sorted(_BACKENDS))}; update edge",
        )
    return _BACKENDS[backend](root, **options)
