"""Open a machine translation model directory with the backend that serves it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.errors import ModelError
from edge.models.record import BACKENDS, RECORD_FILE, backends_of, read_record
from edge.mt.base import TextTranslator
from edge.mt.ctranslate2_mt import CTranslate2Translator


def load_text_translator(model_dir: str | Path, **options: Any) -> TextTranslator:
    """Load the translator in ``model_dir``; ``options`` go to the backend's ``load``.

    The backend is the ``backend`` of the directory's model record, or, without one,
    CTranslate2 when the directory holds a converted model (``model.bin``). Its loader is
    the registry's (``edge.models.record.BACKENDS``).
    """
    root = Path(model_dir)
    if not root.is_dir():
        raise ModelError(
            f"model directory {root} does not exist",
            "download the model with the model manager or give the right path",
        )
    record = read_record(root)
    # The model manager records "kinds" (a list); hand-written files may say "kind".
    kinds = (record.kinds if record is not None else ()) or ("mt",)
    if "mt" not in kinds:
        raise ModelError(
            f"{root} holds a {'/'.join(map(str, kinds))} model, not a translation model",
            "choose a model of kind mt",
        )
    backend = record.backend if record is not None else ""
    if not backend:
        if not (root / "model.bin").is_file():
            raise ModelError(
                f"no translation model in {root}: no {RECORD_FILE} and no model.bin",
                "download a model with the model manager or convert one with CTranslate2",
            )
        return CTranslate2Translator.load(root, **options)
    spec = BACKENDS.get(backend)
    if spec is None or "mt" not in spec.kinds:
        raise ModelError(
            f"unknown translation backend '{backend}' in {root / RECORD_FILE}",
            f"supported backends: {', '.join(sorted(backends_of('mt')))}; update edge",
        )
    load: Any = spec.load()
    translator: TextTranslator = load(root, **options)
    return translator
