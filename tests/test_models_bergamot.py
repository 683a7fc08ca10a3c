"""Installing Bergamot / Firefox Translations models: gzipped downloads, the marian-onnx post
step, derived graphs in the record, and the tiny profile's choice of them.

The model is the real en->pt student of the demo profile, served gzipped (as Mozilla
publishes them) by a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import textwrap
from pathlib import Path

import pytest

from edge.errors import ModelError
from edge.models import Catalog, ModelStore
from edge.models.download import ChecksumError, RetryPolicy, gunzip
from edge.models.profiles import recommend
from edge.mt.loader import load_text_translator
from tests.test_models_download import Served

FAST = RetryPolicy(attempts=2, backoff_s=0.01, max_backoff_s=0.05, timeout_s=5)
MODEL, VOCAB, LEX = "model.enpt.intgemm.alphas.bin", "vocab.enpt.spm", "lex.50.50.enpt.s2t.bin"
ID = "ff-en-pt"


@pytest.fixture(scope="module")
def marian(store) -> dict[str, bytes]:  # noqa: ANN001
    """The Marian files of the real en->pt student (the demo profile's, from its wheel)."""
    from tests.conftest import _installed

    folder = _installed(store, "bergamot-en-pt-tiny")
    return {name: (folder / name).read_bytes() for name in (MODEL, VOCAB, LEX)}


@pytest.fixture(scope="module")
def gzipped(marian: dict[str, bytes]) -> dict[str, bytes]:
    return {f"{name}.gz": gzip.compress(data, compresslevel=1) for name, data in marian.items()}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _toml(base: str, marian: dict[str, bytes], gzipped: dict[str, bytes], *, pin_gz: bool) -> str:
    """A Firefox-style entry: gzipped downloads, the shortlist pinned on first use."""
    model, vocab = marian[MODEL], marian[VOCAB]
    urls = ", ".join(f'"{n}" = "{base}/tiny/enpt/{n}.gz"' for n in (MODEL, VOCAB, LEX))
    pins = ", ".join(
        f'"{n}" = {{ size = {len(d)}, sha256 = "{_sha(d)}" }}' for n, d in gzipped.items()
    )
    return textwrap.dedent(
        f"""
        [[model]]
        id = "{ID}"
        kinds = ["mt"]
        backend = "bergamot-onnx"
        languages = ["eng_Latn", "por_Latn"]
        directions = ["eng_Latn>por_Latn"]
        license = "MPL-2.0"
        checksum_note = "the shortlist is pinned on first verified download"
        approx_disk_mb = 47
        options = {{ encoder = "encoder.onnx", decoder = "decoder.onnx", vocab = "{VOCAB}", shortlist = "{LEX}" }}
        files = [
            {{ name = "{MODEL}", size = {len(model)}, sha256 = "{_sha(model)}" }},
            {{ name = "{VOCAB}", size = {len(vocab)}, sha256 = "{_sha(vocab)}" }},
            {{ name = "{LEX}" }},
            {{ name = "encoder.onnx", derived = true }},
            {{ name = "decoder.onnx", derived = true }},
        ]

        [[model.sources]]
        type = "https"
        urls = {{ {urls} }}
        downloads = {{ {pins if pin_gz else ""} }}
        post = ["marian-onnx"]
        """
    )


def _store(tmp_path: Path, toml: str) -> ModelStore:
    path = tmp_path / "catalog.toml"
    path.write_text(toml)
    return ModelStore(tmp_path / "models", catalog=Catalog.load(extra=[path]), retry=FAST)


def _serve(served: Served, gzipped: dict[str, bytes]) -> None:
    served.files.update({f"/tiny/enpt/{n}": d for n, d in gzipped.items()})


def test_pull_gunzips_converts_and_records_the_graphs_as_derived(
    tmp_path: Path, server, marian, gzipped, capsys
) -> None:  # noqa: ANN001
    base, served = server
    _serve(served, gzipped)
    store = _store(tmp_path, _toml(base, marian, gzipped, pin_gz=True))
    model = store.pull(ID, progress=False)

    assert sorted(p.name for p in model.path.iterdir()) == sorted(
        ["edge_model.json", "encoder.onnx", "decoder.onnx", MODEL, VOCAB, LEX]
    )
    assert (model.path / MODEL).read_bytes() == marian[MODEL]
    record = json.loads((model.path / "edge_model.json").read_text())
    files = {f["name"]: f for f in record["files"]}
    # The inputs stay verified: by the catalog's sha256, or pinned from the verified .gz.
    assert files[MODEL]["checksum"] == files[VOCAB]["checksum"] == "catalog"
    assert files[MODEL]["sha256"] == _sha(marian[MODEL])
    assert files[LEX]["checksum"] == "first-use" and files[LEX]["sha256"] == _sha(marian[LEX])
    for graph in ("encoder.onnx", "decoder.onnx"):
        assert files[graph]["checksum"] == "derived" and files[graph]["post"] == "marian-onnx"
        assert files[graph]["sha256"] == _sha((model.path / graph).read_bytes())
    assert "post" not in files[MODEL]
    assert "marian-onnx" in record["derived_note"]
    assert record["options"] == {
        "encoder": "encoder.onnx",
        "decoder": "decoder.onnx",
        "vocab": VOCAB,
        "shortlist": LEX,
    }
    pins = json.loads((store.root / "pins.json").read_text())[ID]
    assert pins[LEX] == _sha(marian[LEX]) and "encoder.onnx" not in pins
    assert not (store.root / ".downloads" / ID).exists()
    assert not list((store.root / ".staging").iterdir())

    translator = load_text_translator(model.path)
    assert translator.translate(["Where is the train station?"], "eng_Latn", "por_Latn") == [
        "Onde está a estação de trem?"
    ]

    (report,) = store.verify(ID)
    assert report.ok and "derived by marian-onnx" in report.notes[0]
    from edge.cli.models import _verify

    assert _verify(store, ID) == 0
    assert "derived by marian-onnx" in capsys.readouterr().out
    # Installed and unchanged: pulling again downloads nothing.
    store.pull(ID, progress=False)
    assert served.gets(f"/tiny/enpt/{MODEL}.gz") == 1
    # A graph changed after the install is caught like any other file.
    with open(model.path / "decoder.onnx", "r+b") as f:
        f.write(b"\0")
    (report,) = store.verify(ID)
    assert not report.ok and not report.notes


@pytest.mark.parametrize("pin_gz", [True, False], ids=["gz-pinned", "gz-unpinned"])
@pytest.mark.parametrize("fault", ["truncated", "html"])
def test_a_bad_gz_download_is_one_clear_error_and_installs_nothing(
    tmp_path: Path, server, marian, gzipped, fault: str, pin_gz: bool
) -> None:  # noqa: ANN001
    base, served = server
    _serve(served, gzipped)
    good = gzipped[f"{MODEL}.gz"]
    bad = (
        good[: len(good) // 2]
        if fault == "truncated"
        else b"<!DOCTYPE html><html><body>Rate limit exceeded</body></html>\n"
    )
    served.files[f"/tiny/enpt/{MODEL}.gz"] = bad
    store = _store(tmp_path, _toml(base, marian, gzipped, pin_gz=pin_gz))
    with pytest.raises(ModelError) as caught:
        store.pull(ID, progress=False)
    message = caught.value.problem
    assert message.startswith(f"could not install {ID}: ") and message.count("; ") == 0
    if pin_gz:  # the server's length already contradicts the pinned .gz
        assert f"{len(bad)} bytes, the catalog says {len(good)}" in message
    else:  # only decompressing tells
        assert f"{MODEL}.gz is not a complete gzip file" in message
        # The bad download is not kept for a later resume.
        assert not (store.root / ".downloads" / ID).exists()
    assert store.installed() == []
    assert not (store.root / ID).exists()
    assert not list((store.root / ".staging").iterdir())


def test_gunzip_stops_at_its_limit_and_drops_the_download(tmp_path: Path) -> None:
    src = tmp_path / "x.bin.gz"
    src.write_bytes(gzip.compress(b"\0" * 100_000))
    gunzip(src, tmp_path / "x.bin", max_bytes=100_000)
    assert (tmp_path / "x.bin").read_bytes() == b"\0" * 100_000
    with pytest.raises(ChecksumError, match="expands past 99999 bytes"):
        gunzip(src, tmp_path / "y.bin", max_bytes=99_999)
    assert not src.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


def test_import_converts_the_graphs_again_instead_of_copying_them(
    tmp_path: Path, marian, gzipped
) -> None:  # noqa: ANN001
    store = _store(tmp_path, _toml("https://example.invalid", marian, gzipped, pin_gz=True))
    usb = tmp_path / "usb" / ID
    usb.mkdir(parents=True)
    for name, data in marian.items():
        (usb / name).write_bytes(data)
    (usb / "encoder.onnx").write_bytes(b"not a graph")  # stale or foreign: never trusted
    (model,) = store.import_path(usb, model_id=ID)
    files = {f.name: f for f in model.files}
    assert files["encoder.onnx"].checksum == "derived"
    assert (model.path / "encoder.onnx").read_bytes() != b"not a graph"
    assert files[MODEL].checksum == "catalog"


def test_catalog_rules_for_derived_files(tmp_path: Path, marian, gzipped) -> None:  # noqa: ANN001
    toml = _toml("https://example.invalid", marian, gzipped, pin_gz=True)
    path = tmp_path / "c.toml"
    path.write_text(toml.replace("derived = true", 'sha256 = "ab", derived = true', 1))
    with pytest.raises(ModelError, match="derived file encoder.onnx cannot have a size or sha"):
        Catalog.load(extra=[path])
    path.write_text(toml.replace('post = ["marian-onnx"]', "post = []"))
    with pytest.raises(ModelError, match=r"no post step that derives \['decoder.onnx', 'enc"):
        Catalog.load(extra=[path])
    path.write_text(toml.replace(f'"{MODEL}.gz" = {{', f'"{MODEL}" = {{'))
    with pytest.raises(ModelError, match="which no .gz url fetches"):
        Catalog.load(extra=[path])

    catalog = Catalog.load()
    converted = [e for e in catalog.entries.values() if e.backend == "bergamot-onnx"]
    assert len(converted) >= 26
    for entry in converted:  # the options name what marian-onnx writes and the inputs
        names = {f.name for f in entry.files}
        assert entry.options["encoder"] == "encoder.onnx", entry.id
        assert entry.options["decoder"] == "decoder.onnx", entry.id
        assert {entry.options["vocab"], entry.options["shortlist"]} <= names, entry.id
        assert len(entry.directions) == 1 and all(s.post == ("marian-onnx",) for s in entry.sources)
    entry = catalog.get("firefox-en-pt-tiny")
    assert [f.name for f in entry.files if f.derived] == ["encoder.onnx", "decoder.onnx"]
    (source,) = entry.sources
    assert source.post == ("marian-onnx",)
    assert source.urls[MODEL].endswith(f"/models/tiny/enpt/{MODEL}.gz")
    assert source.downloads[f"{MODEL}.gz"].sha256 and entry.file(MODEL).sha256
    assert entry.license == "MPL-2.0" and entry.license_verified


def test_tiny_profile_proposes_the_bergamot_family() -> None:
    catalog = Catalog.load()
    selection, lines = recommend(catalog, 512, "en", "pt")
    assert selection.profile.id == "tiny" and selection.roles["mt"].id == "firefox-en-pt-tiny"
    assert selection.ram_mb <= selection.budget_mb
    # Into English too: the student (about 69 MB) leaves room for Whisper tiny and a voice.
    selection, _ = recommend(catalog, 512, "de", "en")
    assert selection.mode == "cascade" and selection.roles["mt"].id == "firefox-de-en-tiny"
    assert selection.ram_mb <= selection.budget_mb
    selection, _ = recommend(catalog, 1024, "de", "en")
    assert selection.roles["mt"].id == "firefox-de-en-tiny"

    # Where only the wheel's models are preferred: their license is unverified, and the
    # recommendation must not call it commercial-OK.
    tiny = catalog.profiles["tiny"]
    catalog.profiles["tiny"] = dataclasses.replace(
        tiny, prefer={**tiny.prefer, "mt": ("bergamot-*-tiny",)}
    )
    selection, lines = recommend(catalog, 512, "en", "pt")
    assert selection.roles["mt"].id == "bergamot-en-pt-tiny"
    text = "\n".join(lines)
    assert "bergamot-en-pt-tiny" in text and "unverified (UNVERIFIED)" in text
    assert "do not assume commercial use" in text
    assert "every model allows commercial use" not in text
    assert selection.to_dict()["models"]["mt"]["license_verified"] is False
