"""Sideloading, verify/remove, pipeline planning, memory checks and the CLI, offline."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from edge.cli.models import add_parser as add_models_parser
from edge.cli.models import run as handler
from edge.errors import EdgeError, LanguageError, ModelError
from edge.models import Catalog, ModelStore, check_memory
from edge.models.memory import InsufficientMemoryError, available_memory_mb, parse_size_mb
from edge.models.plan import plan_pipeline, plan_transcription

TOY = {
    # id: (kinds, backend, languages, directions, files)
    "toy-asr-en": (
        ["asr-segment"],
        "sherpa-moonshine",
        ["eng_Latn"],
        [],
        {"enc.ort": b"E" * 999, "tokens.txt": b"a 0\n"},
    ),
    "toy-asr-de": (
        ["asr-streaming"],
        "sherpa-online-transducer",
        ["deu_Latn"],
        [],
        {"encoder.onnx": b"D" * 500, "tokens.txt": b"b 0\n"},
    ),
    "toy-whisper": (
        ["asr-segment", "direct-st"],
        "ct2-whisper",
        ["deu_Latn", "eng_Latn", "fra_Latn"],
        [],
        {"model.bin": b"W" * 4000, "config.json": b"{}"},
    ),
    "toy-mt-en-de": (
        ["mt"],
        "ct2-marian",
        ["eng_Latn", "deu_Latn"],
        ["eng_Latn>deu_Latn"],
        {"model.bin": b"M" * 700, "source.spm": b"s"},
    ),
    "toy-voice-de": (
        ["tts"],
        "piper",
        ["deu_Latn"],
        [],
        {"de.onnx": b"V" * 300, "de.onnx.json": b"{}"},
    ),
    "toy-voice-en": (
        ["tts"],
        "piper",
        ["eng_Latn"],
        [],
        {"en.onnx": b"v" * 300, "en.onnx.json": b"{}"},
    ),
}


def _toml() -> str:
    out = []
    for model_id, (kinds, backend, langs, directions, files) in TOY.items():
        rows = ", ".join(
            f'{{ name = "{n}", size = {len(d)}, sha256 = "{hashlib.sha256(d).hexdigest()}" }}'
            for n, d in files.items()
        )
        members = ", ".join(f'"{n}" = "{model_id}-1.0/{n}"' for n in files)
        out.append(
            f"""
[[model]]
id = "{model_id}"
kinds = {json.dumps(kinds)}
backend = "{backend}"
languages = {json.dumps(langs)}
directions = {json.dumps(directions)}
license = "MIT"
files = [{rows}]
sources = [{{ type = "https", url = "https://example.invalid/{model_id}-1.0.tar.bz2", members = {{ {members} }} }}]
"""
        )
    out.append(
        """
[[model]]
id = "toy-unpinned"
kinds = ["tts"]
backend = "piper"
languages = ["fra_Latn"]
license = "MIT"
checksum_note = "pin on first verified download"
approx_disk_mb = 1
files = [{ name = "fr.onnx" }]
sources = [{ type = "https", urls = { "fr.onnx" = "https://example.invalid/voices/fr.onnx" } }]
"""
    )
    return "\n".join(out)


def _loads(model_dir: Path, model_id: str) -> None:
    """The toy files are no real models: the load check before a first-use pin (tested on
    real models in test_models_verify.py) is replaced by one that accepts them."""


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    path = tmp_path / "toy.toml"
    path.write_text(_toml())
    return ModelStore(tmp_path / "models", catalog=Catalog.load(extra=[path]), load_check=_loads)


def _write(folder: Path, model_id: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in TOY[model_id][4].items():
        (folder / name).write_bytes(data)
    return folder


def test_import_folder_archive_and_usb_layouts(store: ModelStore, tmp_path: Path) -> None:
    # A plain folder of files, identified by their sha256.
    assert [m.id for m in store.import_path(_write(tmp_path / "dl" / "x", "toy-asr-en"))] == [
        "toy-asr-en"
    ]
    # The release archive itself.
    src = _write(tmp_path / "src" / "toy-asr-de-1.0", "toy-asr-de")
    archive = tmp_path / "toy-asr-de-1.0.tar.bz2"
    with tarfile.open(archive, "w:bz2") as tf:
        tf.add(src, arcname="toy-asr-de-1.0")
    assert [m.id for m in store.import_path(archive)] == ["toy-asr-de"]
    # A USB stick: a zip of one model next to an unpacked other one.
    usb = tmp_path / "usb"
    _write(usb / "voices" / "de", "toy-voice-de")
    with zipfile.ZipFile(usb / "whisper.zip", "w") as zf:
        for name, data in TOY["toy-whisper"][4].items():
            zf.writestr(f"toy-whisper-1.0/{name}", data)
    assert sorted(m.id for m in store.import_path(usb)) == ["toy-voice-de", "toy-whisper"]
    assert sorted(m.id for m in store.installed()) == [
        "toy-asr-de",
        "toy-asr-en",
        "toy-voice-de",
        "toy-whisper",
    ]
    assert store.get("toy-whisper").kinds == ("asr-segment", "direct-st")
    assert all(r.ok for r in store.verify())


def test_import_copies_an_installed_model_between_devices(
    store: ModelStore, tmp_path: Path
) -> None:
    store.import_path(_write(tmp_path / "dl", "toy-voice-en"))
    other = ModelStore(tmp_path / "other", catalog=store.catalog)
    shutil.copytree(store.root / "toy-voice-en", tmp_path / "stick" / "toy-voice-en")
    [model] = other.import_path(tmp_path / "stick")
    assert model.id == "toy-voice-en" and model.path == other.root / "toy-voice-en"
    # A tampered copy is refused.
    (tmp_path / "stick" / "toy-voice-en" / "en.onnx").write_bytes(b"x" * 300)
    with pytest.raises(ModelError):
        ModelStore(tmp_path / "third", catalog=store.catalog).import_path(tmp_path / "stick")


def test_import_rejects_unknown_and_wrong_files(store: ModelStore, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "enc.ort").write_bytes(b"not the model")
    (wrong / "tokens.txt").write_bytes(b"a 0\n")
    with pytest.raises(ModelError, match="no model found"):
        store.import_path(wrong)
    assert store.installed() == []
    with pytest.raises(ModelError, match="does not exist"):
        store.import_path(tmp_path / "missing")


def test_unpinned_files_need_a_name_then_get_pinned(store: ModelStore, tmp_path: Path) -> None:
    folder = tmp_path / "some-folder"
    folder.mkdir()
    (folder / "fr.onnx").write_bytes(b"voice")
    with pytest.raises(ModelError, match="--id"):
        store.import_path(folder)
    [model] = store.import_path(folder, model_id="toy-unpinned")
    assert model.files[0].checksum == "first-use"
    pins = json.loads((store.root / "pins.json").read_text())
    assert pins["toy-unpinned"]["fr.onnx"] == hashlib.sha256(b"voice").hexdigest()


def test_verify_detects_damage_and_remove_deletes(store: ModelStore, tmp_path: Path) -> None:
    store.import_path(_write(tmp_path / "a", "toy-asr-en"))
    (store.root / "toy-asr-en" / "enc.ort").write_bytes(b"E" * 998 + b"X")
    (store.root / "half-installed").mkdir()
    reports = {r.id: r for r in store.verify()}
    assert not reports["toy-asr-en"].ok and "sha256" in reports["toy-asr-en"].problems[0]
    assert not reports["half-installed"].ok
    store.remove("toy-asr-en")
    assert not (store.root / "toy-asr-en").exists()
    with pytest.raises(ModelError, match="edge models pull toy-asr-en"):
        store.get("toy-asr-en")


def test_plan_cascade_direct_and_missing(store: ModelStore, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="edge models pull toy-asr-en"):
        plan_transcription("eng_Latn", store)
    for model_id in ("toy-asr-en", "toy-mt-en-de", "toy-voice-de", "toy-whisper", "toy-voice-en"):
        store.import_path(_write(tmp_path / model_id, model_id))
    plan = plan_pipeline("eng_Latn", "deu_Latn", store)
    assert (plan.mode, plan.asr.id, plan.mt.id, plan.tts.id) == (
        "cascade",
        "toy-asr-en",
        "toy-mt-en-de",
        "toy-voice-de",
    )
    # No de->en MT installed (the OPUS pair is one-way): Whisper translates speech directly.
    plan = plan_pipeline("deu_Latn", "eng_Latn", store)
    assert (plan.mode, plan.direct.id, plan.tts.id) == ("direct", "toy-whisper", "toy-voice-en")
    with pytest.raises(ModelError, match="no installed model translates deu_Latn to fra_Latn"):
        plan_pipeline("deu_Latn", "fra_Latn", store, prefer="cascade")
    with pytest.raises(LanguageError):
        plan_pipeline("eng_Latn", "fra_Latn", store, prefer="direct")
    with pytest.raises(ModelError, match="recognizes jpn_Jpan .run: edge models pull "):
        plan_pipeline("jpn_Jpan", "eng_Latn", store, prefer="cascade")
    with pytest.raises(LanguageError, match="no catalog model covers"):
        plan_pipeline("nus_Latn", "eng_Latn", store, prefer="cascade")
    # The streaming recognizer wins over Whisper for German once installed.
    store.import_path(_write(tmp_path / "de", "toy-asr-de"))
    assert plan_transcription("deu_Latn", store).asr.id == "toy-asr-de"


def test_check_memory(store: ModelStore, tmp_path: Path) -> None:
    catalog = Catalog.load()
    demo = [catalog.get(i) for i in catalog.expand("demo")]
    check_memory(demo, available_mb=4096)
    with pytest.raises(InsufficientMemoryError, match="whisper-base-ct2 257"):
        check_memory(demo, available_mb=300)
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 1000 kB\nMemAvailable:   524288 kB\n")
    assert available_memory_mb(meminfo) == 512
    assert parse_size_mb("1G") == 1024 and parse_size_mb("512M") == 512
    with pytest.raises(EdgeError):
        parse_size_mb("lots")


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="edge")
    add_models_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    assert args.handler is handler
    return handler(args)


def test_cli_list_info_recommend_import_verify(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("EDGE_MODELS_DIR", str(tmp_path / "models"))
    assert _cli("models", "list", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"moonshine-tiny-en", "nllb-200-distilled-600m-ct2-int8"} <= {r["id"] for r in rows}
    assert _cli("models", "info", "nllb-200-distilled-600m-ct2-int8") == 0
    assert "NON-COMMERCIAL" in capsys.readouterr().out
    assert (
        _cli(
            "models", "recommend", "--ram", "1G", "--from", "eng_Latn", "--to", "deu_Latn", "--json"
        )
        == 0
    )
    chosen = json.loads(capsys.readouterr().out)
    assert chosen["profile"] == "small" and chosen["models"]["mt"]["id"] == "firefox-en-de-tiny"
    assert chosen["ram_mb"] <= chosen["budget_mb"]
    # Sideload the real Silero VAD file shipped with edge: identified by its sha256.
    import edge

    assert _cli("models", "import", str(Path(edge.__file__).parent / "data")) == 0
    assert "imported silero-vad-v6" in capsys.readouterr().out
    assert _cli("models", "list", "--installed") == 0
    assert "silero-vad-v6" in capsys.readouterr().out
    assert _cli("models", "verify") == 0
    assert _cli("models", "remove", "silero-vad-v6") == 0
    with pytest.raises(ModelError, match="not installed"):
        _cli("models", "remove", "silero-vad-v6")
