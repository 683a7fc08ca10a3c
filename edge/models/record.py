"""The model record and the backend registry: what a model directory is and who loads it.

Every model directory may hold one JSON file, the model record, named :data:`RECORD_FILE`.
The model manager writes it last when it installs a model (``edge.models.store``), the
``quantize`` tools write it next to what they convert, and people write small ones by hand
(``{"kind": "asr-streaming", "backend": ..., "files": {...}}``). This module is the only
place that names the file, reads it (:func:`read_record`, with one clear ``ModelError`` line
for a broken record) and writes it (:func:`write_record`, atomically).

:data:`BACKENDS` is the one table of backends: for each, the kinds of model it serves, the
runtime it runs on (which decides where the model may be placed), its loader (imported only
when asked for, so reading the table stays cheap), and how to recognize its files in a
directory without a record. The catalog, the runtime's routing (``edge.translator``), the
MT loader and the recognizers all read it, so a backend is added here and nowhere else.
"""

from __future__ import annotations

import importlib
import json
import math
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ModelError

RECORD_FILE = "edge_model.json"
# Version of the records the model manager writes ("format" in the record).
FORMAT = 1
KINDS = ("vad", "asr-streaming", "asr-segment", "mt", "tts", "direct-st")
_FIX = f"fix or delete {RECORD_FILE}; for an installed model run: edge models verify"


# -- the record ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InstalledFile:
    """One file of an installed model, as the model manager recorded it at install."""

    name: str
    size: int
    sha256: str
    # "catalog": matched the catalog's sha256; "pinned": matched the pin of an earlier
    # download; "first-use": the catalog has no checksum, this download set the pin after
    # the model loaded and ran (edge.models.check); "derived": made here by the post step
    # ``post`` from the model's verified files.
    checksum: str = "catalog"
    post: str = ""
    pinned_at: str = ""  # first-use and pinned: when the local pin was taken

    def to_dict(self) -> dict[str, Any]:
        # "post" and "pinned_at" only where they apply: older records stay as they were.
        return {k: v for k, v in asdict(self).items() if k not in ("post", "pinned_at") or v}


@dataclass(frozen=True)
class ModelRecord:
    """A parsed, type-checked model record.

    ``kinds`` comes from ``"kinds"`` (the model manager's list) or ``"kind"`` (quantize and
    hand-written records). ``files`` are the installed files of a model-manager record;
    ``roles`` is a hand-written ``"files"`` object (role -> file name). Keys this class does
    not know are kept in ``extra``; :meth:`to_dict` writes a read record back with the keys,
    spelling and order it had.
    """

    id: str = ""
    kinds: tuple[str, ...] = ()
    backend: str = ""
    languages: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()  # "src>tgt" of a one-way MT model; empty: any pair
    options: Mapping[str, Any] = field(default_factory=dict)
    files: tuple[InstalledFile, ...] = ()
    roles: Mapping[str, str] = field(default_factory=dict)
    name: str = ""
    license: str = ""
    non_commercial: bool = False
    quantization: str = ""
    ram_mb: float | None = None
    source: str = ""
    format: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Where it was read from (for messages), and the keys it had in the file, in order.
    path: Path | None = field(default=None, compare=False, repr=False)
    keys: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def kind(self) -> str:
        """The primary kind; empty when the record names none."""
        return self.kinds[0] if self.kinds else ""

    def has(self, key: str) -> bool:
        """Whether the record as read had ``key`` (a made record: whether it is set)."""
        return key in self.keys if self.keys else key in self.to_dict()

    @classmethod
    def from_dict(cls, data: Any, path: Path | None = None) -> ModelRecord:
        """Check the types of a record's fields; raises ModelError naming the bad field."""
        where = str(path) if path is not None else "model record"
        if not isinstance(data, dict):
            raise ModelError(f"{where} is not a model record: not a JSON object", _FIX)

        def bad(key: str, what: str, example: str) -> ModelError:
            return ModelError(f"{where}: {key!r} must be {what}", f"write e.g. {example}")

        def text(key: str) -> str:
            value = data.get(key, "")
            if value is None:
                return ""
            if not isinstance(value, str):
                raise bad(key, "a string", f'"{key}": "..."')
            return value

        def strings(key: str, what: str, example: str) -> tuple[str, ...]:
            value = data.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise bad(key, what, example)
            return tuple(value)

        if data.get("kinds"):
            kinds = strings("kinds", "a list of kinds", '"kinds": ["mt"]')
        elif "kind" in data:
            if not isinstance(data["kind"], str):
                raise bad("kind", "a string", '"kind": "mt"')
            kinds = (data["kind"],)
        else:
            kinds = ()
        options = data.get("options") or {}
        if not isinstance(options, dict):
            raise bad("options", "an object", '"options": {"model": "model.onnx"}')
        files: tuple[InstalledFile, ...] = ()
        roles: dict[str, str] = {}
        raw_files = data.get("files") or []
        if isinstance(raw_files, dict):
            if not all(isinstance(v, str) for v in raw_files.values()):
                raise bad("files", "an object of file names", '"files": {"encoder": "enc.onnx"}')
            roles = dict(raw_files)
        elif isinstance(raw_files, list):
            files = tuple(_installed_file(f, where) for f in raw_files)
        else:
            raise bad("files", "an object", '"files": {"encoder": "encoder.int8.onnx", ...}')
        ram_mb = data.get("ram_mb")
        if ram_mb is not None and (
            isinstance(ram_mb, bool) or not isinstance(ram_mb, (int, float)) or math.isnan(ram_mb)
        ):
            raise bad("ram_mb", "a number of megabytes", '"ram_mb": 120')
        record_format = data.get("format")
        if record_format is not None and (
            isinstance(record_format, bool) or not isinstance(record_format, int)
        ):
            raise bad("format", "an integer", f'"format": {FORMAT}')
        known = {f.name for f in fields(cls)} | {"kind"}
        return cls(
            id=text("id"),
            kinds=kinds,
            backend=text("backend"),
            languages=strings(
                "languages", "a list of FLORES-200 codes", '"languages": ["eng_Latn"]'
            ),
            directions=strings(
                "directions", "a list of SRC>TGT pairs", '"directions": ["eng_Latn>deu_Latn"]'
            ),
            options=options,
            files=files,
            roles=roles,
            name=text("name"),
            license=text("license"),
            non_commercial=bool(data.get("non_commercial", False)),
            quantization=text("quantization"),
            ram_mb=ram_mb,
            source=text("source"),
            format=record_format,
            extra={k: v for k, v in data.items() if k not in known},
            path=path,
            keys=tuple(data),
        )

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON data: a read record with the keys it had, in their order
        (changed fields included); a made record with the fields that are set."""
        typed: dict[str, Any] = {}
        if self.id or "id" in self.keys:
            typed["id"] = self.id
        if self.name or "name" in self.keys:
            typed["name"] = self.name
        if "kind" in self.keys and "kinds" not in self.keys and len(self.kinds) == 1:
            typed["kind"] = self.kinds[0]
        elif self.kinds or "kinds" in self.keys:
            typed["kinds"] = list(self.kinds)
        for key in ("backend", "license", "quantization", "source"):
            if getattr(self, key) or key in self.keys:
                typed[key] = getattr(self, key)
        for key in ("languages", "directions"):
            if getattr(self, key) or key in self.keys:
                typed[key] = list(getattr(self, key))
        if self.non_commercial or "non_commercial" in self.keys:
            typed["non_commercial"] = self.non_commercial
        if self.options or "options" in self.keys:
            typed["options"] = dict(self.options)
        if self.roles:
            typed["files"] = dict(self.roles)
        elif self.files or "files" in self.keys:
            typed["files"] = [f.to_dict() for f in self.files]
        if self.ram_mb is not None or "ram_mb" in self.keys:
            typed["ram_mb"] = self.ram_mb
        if self.format is not None or "format" in self.keys:
            typed["format"] = self.format
        out: dict[str, Any] = {}
        for key in self.keys:  # the order of the file first
            if key in typed:
                out[key] = typed.pop(key)
            elif key in self.extra:
                out[key] = self.extra[key]
        out.update(typed)
        out.update({k: v for k, v in self.extra.items() if k not in out})
        return out


def _installed_file(item: Any, where: str) -> InstalledFile:
    names = {f.name for f in fields(InstalledFile)}
    if (
        not isinstance(item, dict)
        or not {"name", "size", "sha256"} <= set(item)
        or not set(item) <= names
        or not isinstance(item["name"], str)
        or isinstance(item["size"], bool)
        or not isinstance(item["size"], int)
        or not all(isinstance(item.get(k, ""), str) for k in names - {"size"})
    ):
        raise ModelError(
            f"{where}: 'files' must list objects with name, size and sha256, not {item!r:.60}",
            _FIX,
        )
    return InstalledFile(**item)


def record_path(model_dir: str | os.PathLike[str]) -> Path:
    """Where the record of ``model_dir`` is (whether or not it exists)."""
    return Path(model_dir) / RECORD_FILE


def read_record(model_dir: str | os.PathLike[str]) -> ModelRecord | None:
    """The record of ``model_dir``; None when it has none (a bare model directory).

    A record that cannot be read, is not JSON or has a field of the wrong type raises
    ModelError with one line naming the file and what is wrong.
    """
    path = record_path(model_dir)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ModelError(f"cannot read the model record {path}: {reason}", _FIX) from None
    except json.JSONDecodeError as exc:
        raise ModelError(
            f"cannot read the model record {path}: not valid JSON ({exc})", _FIX
        ) from None
    return ModelRecord.from_dict(data, path)


def write_json_atomic(path: Path, data: Any, *, sort_keys: bool = False) -> None:
    """Write JSON to ``path`` through a temporary file and a rename: never half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=sort_keys)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_record(
    model_dir: str | os.PathLike[str],
    record: ModelRecord | Mapping[str, Any],
    *,
    sort_keys: bool = False,
) -> Path:
    """Write ``record`` into ``model_dir`` atomically; returns the record's path.

    A mapping is checked like a read record first (so nothing is written that
    :func:`read_record` refuses) and written with its own keys in its own order; the model
    manager sorts its keys (``sort_keys``), quantize keeps the order it builds.
    """
    path = record_path(model_dir)
    if isinstance(record, ModelRecord):
        data = record.to_dict()
    else:
        data = dict(record)
        ModelRecord.from_dict(data, path)
    write_json_atomic(path, data, sort_keys=sort_keys)
    return path


# -- the backends -------------------------------------------------------------------------

# A directory's file names and the directory -> whether they are this backend's files.
Recognizer = Callable[[frozenset[str], Path], bool]


@dataclass(frozen=True)
class Backend:
    """One backend: a model format and the code that loads it.

    ``loader`` is ``"module:attribute.path"`` (imported by :meth:`load`, not before);
    ``runtime`` is the inference library, which decides how the model is placed on a
    device (``edge.hardware``). ``recognize`` tells its files apart in a directory without
    a record; None: only a record names this backend (its files look like another's).
    """

    name: str
    kinds: tuple[str, ...]
    runtime: str  # "sherpa-onnx", "ctranslate2" or "onnxruntime"
    loader: str
    recognize: Recognizer | None = None

    @property
    def kind(self) -> str:
        return self.kinds[0]

    def load(self) -> Callable[..., Any]:
        """The loader, imported now."""
        module, _, attribute = self.loader.partition(":")
        target: Any = importlib.import_module(module)
        for part in attribute.split("."):
            target = getattr(target, part)
        return target

    def loader_accepts(self) -> bool:
        """Whether the loader's module serves this backend: its ``BACKENDS`` (the names its
        own code handles) include it; a module without ``BACKENDS`` serves one backend."""
        module = importlib.import_module(self.loader.partition(":")[0])
        served: Collection[str] = getattr(module, "BACKENDS", (self.name,))
        return self.name in served


def _whisper_ct2(names: frozenset[str], directory: Path) -> bool:
    if not {"model.bin", "tokenizer.json", "config.json"} <= names:
        return False
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    return "lang_ids" in config or "suppress_ids" in config


def _has(test: Callable[[str], bool]) -> Recognizer:
    return lambda names, _directory: any(test(n) for n in names)


_SEGMENT = "edge.asr.sherpa_offline:SherpaSegmentRecognizer.load"
_STREAMING = "edge.asr.sherpa_online:SherpaStreamingRecognizer.load"
_CT2_MT = "edge.mt.ctranslate2_mt:CTranslate2Translator.load"

# In the order files are recognized: the first backend whose recognizer matches wins.
BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend(
            "ct2-whisper",
            ("asr-segment", "direct-st"),
            "ctranslate2",
            "edge.asr.whisper_ct2:WhisperCT2.load",
            _whisper_ct2,
        ),
        Backend(
            "ct2-marian",
            ("mt",),
            "ctranslate2",
            _CT2_MT,
            lambda names, _d: "model.bin" in names and "source.spm" in names,
        ),
        Backend(
            "ct2-nllb", ("mt",), "ctranslate2", _CT2_MT, lambda names, _d: "model.bin" in names
        ),
        Backend(
            "bergamot-onnx", ("mt",), "onnxruntime", "edge.mt.bergamot_onnx:BergamotTranslator.load"
        ),
        Backend(
            "piper",
            ("tts",),
            "onnxruntime",
            "edge.tts.piper_tts:PiperTTS.load",
            _has(lambda n: n.endswith(".onnx.json")),
        ),
        Backend(
            "sherpa-online-transducer",
            ("asr-streaming",),
            "sherpa-onnx",
            _STREAMING,
            _has(lambda n: "joiner" in n),
        ),
        # A bare CTC directory is taken for Zipformer2 CTC; the streaming loader tells a
        # NeMo CTC model apart by its ONNX metadata.
        Backend(
            "sherpa-online-zipformer2-ctc",
            ("asr-streaming",),
            "sherpa-onnx",
            _STREAMING,
            _has(lambda n: n.startswith("model") and "ctc" in n),
        ),
        Backend("sherpa-online-nemo-ctc", ("asr-streaming",), "sherpa-onnx", _STREAMING),
        Backend("sherpa-online-paraformer", ("asr-streaming",), "sherpa-onnx", _STREAMING),
        Backend(
            "sherpa-moonshine",
            ("asr-segment",),
            "sherpa-onnx",
            _SEGMENT,
            _has(lambda n: "decoder_model_merged" in n or n.endswith(".ort")),
        ),
        Backend(
            "sherpa-whisper",
            ("asr-segment", "direct-st"),
            "sherpa-onnx",
            _SEGMENT,
            _has(lambda n: n.endswith(("-encoder.onnx", "-encoder.int8.onnx"))),
        ),
        Backend(
            "sherpa-sense-voice",
            ("asr-segment",),
            "sherpa-onnx",
            _SEGMENT,
            _has(lambda n: n.startswith("model") and n.endswith(".onnx")),
        ),
        Backend("silero-vad", ("vad",), "onnxruntime", "edge.vad:SileroVad"),
    )
}


def backend(name: str) -> Backend | None:
    """The registered backend called ``name``, or None."""
    return BACKENDS.get(name)


def backends_of(kind: str) -> tuple[str, ...]:
    """Names of the backends serving ``kind``, in the table's order."""
    return tuple(b.name for b in BACKENDS.values() if kind in b.kinds)


def recognize_backend(model_dir: Path, among: Collection[str] | None = None) -> str:
    """The backend whose files ``model_dir`` holds (first match in table order, limited to
    ``among`` when given); "" when none is recognized."""
    names = frozenset(p.name for p in model_dir.iterdir())
    for spec in BACKENDS.values():
        if among is not None and spec.name not in among:
            continue
        if spec.recognize is not None and spec.recognize(names, model_dir):
            return spec.name
    return ""


def backend_of(model_dir: Path) -> str:
    """The backend named in the directory's record, else recognized from its files ("")."""
    record = read_record(model_dir)
    if record is not None and record.backend:
        return record.backend
    return recognize_backend(model_dir)
