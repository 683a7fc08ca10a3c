"""``quantize catalog-entry``: the catalog record of a produced model, ready to publish.

The record follows edge's catalog (``edge/models/catalog.py``: TOML ``[[model]]`` tables with
``files = [{name, size, sha256}]`` and ``[[model.sources]]``); ``--format json`` gives a
flat JSON record instead. ``ram_mb`` is measured: the model is loaded and run once on a
built-in input in a fresh process, and the peak RSS above the imported runtime is recorded
(edge adds the runtime's own share separately).
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

from edge.errors import InputError
from edge.models.record import BACKENDS, RECORD_FILE, read_record

from . import kinds
from .report import Settings, run_worker

_BACKEND = {kinds.WHISPER: "ct2-whisper", kinds.PIPER: "piper", kinds.VAD: "silero-vad"}
_CATALOG_KINDS = {
    kinds.WHISPER: ["asr-segment"],
    kinds.SHERPA_ASR: ["asr-segment"],
    kinds.MT: ["mt"],
    kinds.PIPER: ["tts"],
    kinds.VAD: ["vad"],
}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _metadata(path: Path) -> dict[str, Any]:
    record = read_record(path if path.is_dir() else path.parent)
    return record.to_dict() if record is not None else {}


def _piper_language(path: Path) -> list[str]:
    from edge.languages import to_flores

    config = json.loads(path.with_name(path.name + ".json").read_text(encoding="utf-8"))
    code = config.get("language", {}).get("code") or config.get("espeak", {}).get("voice")
    return [to_flores(code)] if code else []


def _onnx_quantization(path: Path) -> str:
    """'int8' or 'float32' for a single ONNX model, from its operators; '' otherwise."""
    if not path.is_file():
        return ""
    import onnx

    from .onnx_quant import count_quantized

    return "int8" if count_quantized(onnx.load(str(path))) else "float32"


def catalog_entry(
    model: str | Path,
    *,
    model_id: str | None = None,
    license: str,
    url_base: str | None = None,
    backend: str | None = None,
    languages: list[str] | None = None,
    measure_ram: bool = True,
    threads: int = 2,
) -> dict[str, Any]:
    """The record as a dict with catalog field names."""
    from edge.languages import to_flores

    path = Path(model)
    kind = kinds.detect_kind(path)
    if kind == kinds.PIPER:
        path = kinds.piper_model(path)
    meta = _metadata(path)
    files = [f for f in kinds.model_files(path) if f.name != RECORD_FILE]
    if path.is_dir():
        nested = [f for f in files if f.parent != path]
        if nested:
            raise InputError(
                f"{nested[0]} is in a subdirectory; catalog models are flat directories",
                "move the file next to the others",
            )
    codes = [to_flores(c) for c in languages] if languages else list(meta.get("languages", []))
    if not codes and kind == kinds.PIPER:
        codes = _piper_language(path)
    if not codes and kind != kinds.VAD:
        raise InputError(f"no languages known for {path}", "pass --languages")
    backend = backend or meta.get("backend") or _BACKEND.get(kind)
    if backend is None:
        raise InputError(f"cannot tell the backend of {path}", "pass --backend")
    if backend not in BACKENDS:  # the catalog would refuse the entry when it loads
        raise InputError(f"unknown backend {backend!r}", f"use one of {', '.join(BACKENDS)}")
    # Multilingual Whisper also translates speech into English directly.
    multilingual_whisper = kind == kinds.WHISPER and len(codes) > 1
    entry: dict[str, Any] = {
        "id": model_id or meta.get("id") or (path.stem if path.is_file() else path.name),
        "kinds": _CATALOG_KINDS[kind] + (["direct-st"] if multilingual_whisper else []),
        "backend": backend,
        "languages": codes,
        "license": license,
        "quantization": meta.get("quantization") or _onnx_quantization(path),
    }
    if meta.get("options"):
        entry["options"] = meta["options"]
    if measure_ram:
        result = run_worker(kind, path, None, Settings(threads=threads, repeat=1))
        entry["ram_mb"] = round(result["peak_rss_mb"] - result["rss_imports_mb"], 1)
        entry["ram_note"] = (
            f"peak RSS of loading and one inference above the imported runtime, {threads} "
            f"threads, measured by quantize catalog-entry on {platform.machine()}"
        )
    entry["files"] = [
        {"name": f.name, "size": f.stat().st_size, "sha256": sha256(f)} for f in files
    ]
    if url_base:
        base = url_base.rstrip("/")
        entry["sources"] = [{"type": "https", "urls": {f.name: f"{base}/{f.name}" for f in files}}]
    else:
        directory = path if path.is_dir() else path.parent
        entry["sources"] = [{"type": "local", "path": str(directory.resolve())}]
    return entry


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def to_toml(entry: dict[str, Any]) -> str:
    lines = ["[[model]]"]
    for key, value in entry.items():
        if key in ("files", "sources"):
            continue
        lines.append(f"{key} = {_toml_value(value)}")
    lines.append("files = [")
    lines += [f"  {_toml_value(f)}," for f in entry["files"]]
    lines.append("]")
    for source in entry["sources"]:
        lines += ["", "[[model.sources]]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in source.items()]
    return "\n".join(lines) + "\n"


def to_json(entry: dict[str, Any]) -> str:
    """The flat JSON form: id, kind, backend, languages, license, quantization, files, sizes."""
    files = [{"path": f["name"], "size": f["size"], "sha256": f["sha256"]} for f in entry["files"]]
    flat = {
        "id": entry["id"],
        "kind": entry["kinds"][0],
        "backend": entry["backend"],
        "languages": entry["languages"],
        "license": entry["license"],
        "quantization": entry["quantization"],
        "files": files,
        "disk_mb": round(sum(f["size"] for f in files) / 2**20, 1),
        "ram_mb": entry.get("ram_mb"),
    }
    return json.dumps(flat, indent=2) + "\n"
