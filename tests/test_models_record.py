"""The model record (one reader, one writer) and the backend registry that routes models.

The routing tests fail when a backend's loader and the registry drift apart: a streaming
backend the streaming recognizer accepts but the runtime sends to the offline recognizer
(as ``sherpa-online-nemo-ctc`` once was), or a catalog backend no loader serves.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from edge import translator
from edge.asr.base import StreamingRecognizer
from edge.asr.sherpa_offline import SherpaSegmentRecognizer
from edge.asr.sherpa_online import SherpaStreamingRecognizer
from edge.asr.whisper_ct2 import WhisperCT2
from edge.errors import ModelError
from edge.models import Catalog
from edge.models.catalog import BACKENDS as CATALOG_BACKENDS
from edge.models.record import (
    BACKENDS,
    RECORD_FILE,
    InstalledFile,
    ModelRecord,
    backend_of,
    read_record,
    recognize_backend,
    write_record,
)
from edge.models.store import InstalledModel
from edge.mt.bergamot_onnx import BergamotTranslator
from edge.mt.ctranslate2_mt import CTranslate2Translator
from edge.mt.loader import load_text_translator
from edge.synthetic.sherpa_streaming import build_streaming_transducer

ROOT = Path(__file__).resolve().parent.parent
ASR_KINDS = ("asr-streaming", "asr-segment")
# Loader modules that serve several backends declare them in BACKENDS.
MULTI_BACKEND_MODULES = (
    "edge.asr.sherpa_online",
    "edge.asr.sherpa_offline",
    "edge.mt.ctranslate2_mt",
)

STORE_RECORD: dict[str, Any] = {
    "backend": "sherpa-moonshine",
    "directions": [],
    "edge_version": "0.1.0",
    "files": [
        {"checksum": "catalog", "name": "encoder_model.ort", "sha256": "ab" * 32, "size": 13},
        {
            "checksum": "first-use",
            "name": "tokens.txt",
            "pinned_at": "2026-01-01T00:00:00+00:00",
            "sha256": "cd" * 32,
            "size": 2,
        },
    ],
    "format": 1,
    "id": "moonshine-tiny-en",
    "installed_at": "2026-01-01T00:00:00+00:00",
    "kinds": ["asr-segment"],
    "languages": ["eng_Latn"],
    "license": "MIT",
    "name": "Moonshine Tiny",
    "non_commercial": False,
    "options": {"tokens": "tokens.txt"},
    "quantization": "",
    "ram_mb": None,
    "ram_note": "",
    "source": "PyPI x==1",
}


class Routed(Exception):
    """Raised by a stand-in loader: which loader the runtime chose."""

    def __init__(self, module: str) -> None:
        super().__init__(module)
        self.module = module


def _stub(module: str):  # noqa: ANN202
    def load(*_args: object, **_kwargs: object) -> None:
        raise Routed(module)

    return load


def _served(module: str) -> tuple[str, ...]:
    return tuple(importlib.import_module(module).BACKENDS)


def _write(model_dir: Path, record: dict[str, Any]) -> Path:
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / RECORD_FILE).write_text(json.dumps(record), encoding="utf-8")
    return model_dir


# -- the registry ---------------------------------------------------------------------------


# Catalog entries claiming a kind their backend's loader does not serve: known, reported
# gaps. Strict, so that fixing one fails here until it is taken off the list.
KNOWN_GAPS: dict[tuple[str, str], str] = {}


def _catalog_params() -> list[Any]:
    params = []
    for entry in Catalog.load().entries.values():
        gaps = [
            why
            for (backend, kind), why in KNOWN_GAPS.items()
            if backend == entry.backend and kind in entry.kinds
        ]
        marks = [pytest.mark.xfail(strict=True, reason=gaps[0])] if gaps else []
        params.append(pytest.param(entry, id=entry.id, marks=marks))
    return params


def test_profiles_prefer_catalog_entries() -> None:
    catalog = Catalog.load()
    for profile in catalog.profiles.values():
        for role, patterns in profile.prefer.items():
            for pattern in patterns:
                assert catalog.matching(pattern), f"{profile.id} {role}: {pattern}"


@pytest.mark.parametrize("entry", _catalog_params())
def test_every_catalog_backend_routes_to_a_loader_that_accepts_it(entry: Any) -> None:
    spec = BACKENDS.get(entry.backend)
    assert spec is not None, f"{entry.id}: backend {entry.backend} is not registered"
    assert spec.loader_accepts(), f"{entry.id}: {spec.loader} does not serve {spec.name}"
    assert callable(spec.load())
    assert set(entry.kinds) <= set(spec.kinds), f"{entry.id}: {entry.kinds} vs {spec.kinds}"


def test_the_catalog_accepts_exactly_the_registered_backends() -> None:
    assert set(CATALOG_BACKENDS) == set(BACKENDS)


@pytest.mark.parametrize("module", MULTI_BACKEND_MODULES)
def test_every_backend_a_loader_serves_is_registered_with_that_loader(module: str) -> None:
    for name in _served(module):
        spec = BACKENDS.get(name)
        assert spec is not None, f"{module} serves {name}, which the registry lacks"
        assert spec.loader.partition(":")[0] == module, f"{name} is routed to {spec.loader}"


@pytest.mark.parametrize("name", [n for n, b in BACKENDS.items() if set(b.kinds) & set(ASR_KINDS)])
def test_the_runtime_routes_each_speech_backend_to_its_loader(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for cls in (WhisperCT2, SherpaStreamingRecognizer, SherpaSegmentRecognizer):
        monkeypatch.setattr(cls, "load", _stub(cls.__module__))
    spec = BACKENDS[name]
    model = _write(tmp_path / "m", {"id": "m", "kinds": list(spec.kinds), "backend": name})
    with pytest.raises(Routed) as routed:
        translator.load_recognizer(model, translator.RuntimeOptions(device="cpu"))
    assert routed.value.module == spec.loader.partition(":")[0]
    assert name in getattr(importlib.import_module(routed.value.module), "BACKENDS", (name,))


@pytest.mark.parametrize("name", [n for n, b in BACKENDS.items() if set(b.kinds) & set(ASR_KINDS)])
def test_only_whisper_backends_translate_speech_directly(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catalog "direct-st" model gets task="translate" from its loader; others are refused."""
    import sherpa_onnx

    from edge.errors import ModelError

    asked: dict[str, object] = {}

    def from_whisper(**kwargs: object) -> None:
        asked.update(kwargs)
        raise Routed("sherpa_onnx.from_whisper")

    monkeypatch.setattr(sherpa_onnx.OfflineRecognizer, "from_whisper", from_whisper)
    monkeypatch.setattr(WhisperCT2, "load", lambda *_a, **kw: asked.update(kw) or _stub("ct2")())
    spec = BACKENDS[name]
    model = _write(tmp_path / "m", {"id": "m", "kinds": list(spec.kinds), "backend": name})
    for file in ("tokens.txt", "m-encoder.onnx", "m-decoder.onnx"):
        (model / file).write_text("x", encoding="utf-8")
    options = translator.RuntimeOptions(device="cpu")
    if "direct-st" in spec.kinds:
        with pytest.raises(Routed):
            translator.load_recognizer(model, options, task="translate")
        assert asked["task"] == "translate"
    else:
        with pytest.raises(ModelError, match="cannot translate speech directly"):
            translator.load_recognizer(model, options, task="translate")


def test_nemo_ctc_is_a_streaming_backend() -> None:
    assert "sherpa-online-nemo-ctc" in translator.STREAMING_BACKENDS
    assert "sherpa-online-nemo-ctc" in _served("edge.asr.sherpa_online")


@pytest.mark.parametrize("name", [n for n, b in BACKENDS.items() if "mt" in b.kinds])
def test_the_mt_loader_routes_each_translation_backend_to_its_loader(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for cls in (CTranslate2Translator, BergamotTranslator):
        monkeypatch.setattr(cls, "load", _stub(cls.__module__))
    model = _write(tmp_path / "m", {"kinds": ["mt"], "backend": name})
    with pytest.raises(Routed) as routed:
        load_text_translator(model)
    assert routed.value.module == BACKENDS[name].loader.partition(":")[0]
    assert name in getattr(importlib.import_module(routed.value.module), "BACKENDS", (name,))


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ({"model.bin", "source.spm", "target.spm"}, "ct2-marian"),
        ({"model.bin", "sentencepiece.bpe.model"}, "ct2-nllb"),
        ({"voice.onnx", "voice.onnx.json"}, "piper"),
        ({"encoder.onnx", "decoder.onnx", "joiner.onnx", "tokens.txt"}, "sherpa-online-transducer"),
        ({"model-ctc.int8.onnx", "tokens.txt"}, "sherpa-online-zipformer2-ctc"),
        ({"encoder_model.ort", "decoder_model_merged.ort", "tokens.txt"}, "sherpa-moonshine"),
        ({"tiny-encoder.int8.onnx", "tiny-decoder.int8.onnx", "tokens.txt"}, "sherpa-whisper"),
        ({"model.int8.onnx", "tokens.txt"}, "sherpa-sense-voice"),
        ({"readme.txt"}, ""),
    ],
)
def test_files_are_recognized_without_a_record(
    names: set[str], expected: str, tmp_path: Path
) -> None:
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert recognize_backend(tmp_path) == expected
    assert backend_of(tmp_path) == expected


def test_a_whisper_ct2_directory_is_recognized_by_its_config(tmp_path: Path) -> None:
    for name in ("model.bin", "tokenizer.json", "vocabulary.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "config.json").write_text(json.dumps({"suppress_ids": [1]}))
    assert backend_of(tmp_path) == "ct2-whisper"
    _write(tmp_path, {"backend": "ct2-nllb"})
    assert backend_of(tmp_path) == "ct2-nllb"  # the record wins


def test_a_model_manager_streaming_record_loads_through_the_runtime(tmp_path: Path) -> None:
    """What ``edge models pull`` writes for a streaming model: kinds, options, a file list."""
    model = build_streaming_transducer(tmp_path / "zipformer")
    roles = {"encoder": "encoder.onnx", "decoder": "decoder.onnx", "joiner": "joiner.onnx"}
    files = [
        {"name": p.name, "size": p.stat().st_size, "sha256": "0" * 64} for p in model.iterdir()
    ]
    record = {
        "id": "zipformer",
        "kinds": ["asr-streaming"],
        "backend": "sherpa-online-transducer",
        "languages": ["eng_Latn"],
        "options": {**roles, "tokens": "tokens.txt", "model_type": "zipformer2"},
        "files": files,
    }
    write_record(model, record, sort_keys=True)
    recognizer = translator.load_recognizer(model, translator.RuntimeOptions(device="cpu"))
    assert isinstance(recognizer, StreamingRecognizer)
    assert isinstance(recognizer, SherpaStreamingRecognizer)
    assert recognizer.model_id == "zipformer" and recognizer.languages == ("eng_Latn",)


def test_only_the_record_module_names_the_record_file() -> None:
    spelled = [
        str(path.relative_to(ROOT))
        for folder in ("edge", "quantize", "tools")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if RECORD_FILE in path.read_text(encoding="utf-8")
    ]
    assert spelled == ["edge/models/record.py"]


# -- reading and writing records ------------------------------------------------------------


def test_a_directory_without_a_record_has_none(tmp_path: Path) -> None:
    assert read_record(tmp_path) is None


def test_a_model_manager_record_reads_typed_and_writes_back_unchanged(tmp_path: Path) -> None:
    _write(tmp_path, STORE_RECORD)
    record = read_record(tmp_path)
    assert record is not None
    assert record.id == "moonshine-tiny-en" and record.kind == "asr-segment"
    assert record.languages == ("eng_Latn",) and record.options == {"tokens": "tokens.txt"}
    assert record.files[1] == InstalledFile(
        "tokens.txt", 2, "cd" * 32, "first-use", pinned_at="2026-01-01T00:00:00+00:00"
    )
    assert record.extra == {
        "edge_version": "0.1.0",
        "installed_at": "2026-01-01T00:00:00+00:00",
        "ram_note": "",
    }
    assert record.to_dict() == STORE_RECORD
    assert list(record.to_dict()) == list(STORE_RECORD)
    model = InstalledModel.from_record(record, tmp_path)
    assert model.files == record.files and model.name == "Moonshine Tiny"

    (tmp_path / "copy").mkdir()
    write_record(tmp_path / "copy", record)
    text = (tmp_path / "copy" / RECORD_FILE).read_text(encoding="utf-8")
    assert json.loads(text) == STORE_RECORD and text.endswith("}\n")
    assert not [p.name for p in (tmp_path / "copy").iterdir() if p.name != RECORD_FILE]


def test_hand_written_and_quantize_records_keep_their_spelling(tmp_path: Path) -> None:
    manifest = {
        "kind": "asr-streaming",
        "backend": "sherpa-online-transducer",
        "files": {"encoder": "e.onnx", "decoder": "d.onnx", "joiner": "j.onnx"},
    }
    record = ModelRecord.from_dict(manifest)
    assert record.kinds == ("asr-streaming",) and record.files == ()
    assert record.roles == manifest["files"]
    assert record.to_dict() == manifest
    quantized = {"id": "x", "kind": "asr", "backend": "ct2-whisper", "languages": ["eng_Latn"]}
    write_record(tmp_path, quantized)
    assert (tmp_path / RECORD_FILE).read_text() == json.dumps(quantized, indent=2) + "\n"


def test_write_record_sorts_keys_on_request(tmp_path: Path) -> None:
    write_record(tmp_path, {"id": "b", "backend": "piper", "kinds": ["tts"]}, sort_keys=True)
    assert list(json.loads((tmp_path / RECORD_FILE).read_text())) == ["backend", "id", "kinds"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"kinds": "mt"}', "'kinds' must be a list"),
        ('{"languages": "eng_Latn"}', "'languages' must be a list of FLORES-200 codes"),
        ('{"options": [1]}', "'options' must be an object"),
        ('{"files": "model.bin"}', "'files' must be an object"),
        ('{"files": [{"name": "a"}]}', "'files' must list objects with name, size and sha256"),
        ('{"backend": 3}', "'backend' must be a string"),
        ('{"ram_mb": "lots"}', "'ram_mb' must be a number"),
    ],
)
def test_a_broken_record_is_one_clear_error(tmp_path: Path, content: str, expected: str) -> None:
    (tmp_path / RECORD_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(ModelError) as caught:
        read_record(tmp_path)
    message = str(caught.value)
    assert expected in message and RECORD_FILE in message
    assert "\n" not in message and caught.value.fix


def test_a_record_that_is_not_utf8_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / RECORD_FILE).write_bytes(b'{"id": "\xff"}')
    with pytest.raises(ModelError, match="cannot read the model record"):
        read_record(tmp_path)


def test_write_record_refuses_what_it_could_not_read_back(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="'languages'"):
        write_record(tmp_path, {"id": "x", "languages": "eng_Latn"})
    assert list(tmp_path.iterdir()) == []


def test_the_store_skips_a_broken_record(tmp_path: Path) -> None:
    from edge.models import ModelStore

    _write(tmp_path / "moonshine-tiny-en", STORE_RECORD)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / RECORD_FILE).write_text("{not json")
    store = ModelStore(tmp_path)
    assert [m.id for m in store.installed()] == ["moonshine-tiny-en"]
    reports = {r.id: r for r in store.verify()}
    assert not reports["broken"].ok
