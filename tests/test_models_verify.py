"""Trust on first use done right, against a real HTTP server on 127.0.0.1: a file the catalog
publishes no sha256 for is pinned only after the model loads and runs (edge.models.check),
with a visible line and a record; a later download that differs is refused as "changed
upstream" (never as corruption) until the user re-pins; `edge models verify` tells catalog
checksums, local pins and derived files apart. Also the catalog's claims: pinned URLs,
licenses that are unknown are never commercial-OK, speeds labelled as estimates.

The models are real: Silero VAD (shipped in edge/data) and a small random-weight Marian
model in the real CTranslate2 format (edge.synthetic), so the load check runs the real
runtimes in its child process.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from edge import doctor
from edge.cli.models import _verify
from edge.cli.models import run as handler
from edge.errors import ModelError
from edge.models import Catalog, InstalledModel, ModelStore
from edge.models.catalog import license_unverified, mutable_urls
from edge.models.check import load_check
from edge.models.download import PinMismatchError, RetryPolicy
from edge.models.post import moonshine_tokens
from edge.models.profiles import license_lines, recommend
from edge.vad import bundled_model_path

FAST = RetryPolicy(attempts=3, backoff_s=0.01, max_backoff_s=0.05, timeout_s=5)
HTML = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>\n"
DATE = re.compile(r"\d{4}-\d\d-\d\d")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Recorder:
    """The store's load check and notice line, observed (the check itself stays real)."""

    def __init__(self) -> None:
        self.checked: list[str] = []
        self.lines: list[str] = []

    def check(self, model_dir: Path, model_id: str) -> str:
        self.checked.append(model_id)
        return load_check(model_dir, model_id)


def _store(tmp_path: Path, toml: str, recorder: Recorder) -> ModelStore:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "catalog.toml"
    path.write_text(textwrap.dedent(toml))
    return ModelStore(
        tmp_path / "models",
        catalog=Catalog.load(extra=[path]),
        retry=FAST,
        load_check=recorder.check,
        notice=recorder.lines.append,
    )


# -- a VAD with no published sha256 ----------------------------------------------------

VAD_ID = "vad-unpinned"
VAD = bundled_model_path().read_bytes()


def _vad_variant() -> bytes:
    """The same VAD with another doc string: different bytes, still a model that loads."""
    import onnx

    model = onnx.load_from_string(VAD)
    model.doc_string = "re-exported upstream"
    return model.SerializeToString()


def _vad_toml(base: str, size: int = 0) -> str:
    return f"""
        [[model]]
        id = "{VAD_ID}"
        kinds = ["vad"]
        backend = "silero-vad"
        languages = []
        license = "MIT"
        checksum_note = "no published sha256: pinned on first use"
        approx_disk_mb = 3
        options = {{ model = "silero_vad.onnx" }}
        files = [{{ name = "silero_vad.onnx", size = {size} }}]
        sources = [{{ type = "https", urls = {{ "silero_vad.onnx" = "{base}/vad/silero_vad.onnx" }} }}]
        """


def test_first_use_pins_after_the_model_loads_with_one_line_and_a_record(
    tmp_path: Path, server
) -> None:  # noqa: ANN001
    base, served = server
    served.files["/vad/silero_vad.onnx"] = VAD
    recorder = Recorder()
    store = _store(tmp_path, _vad_toml(base), recorder)

    model = store.pull(VAD_ID, progress=False)

    assert recorder.checked == [VAD_ID]  # loaded and ran before the pin
    (line,) = recorder.lines  # once per model, even with progress off
    assert line == (
        f"{VAD_ID}: trust on first use: pinned locally after the model loaded and ran: "
        f"silero_vad.onnx sha256 {_sha(VAD)[:12]}... (the catalog publishes no sha256 for "
        f"them; pins in {store.root / 'pins.json'}; a later download that differs will be "
        "refused)"
    )
    record = json.loads((model.path / "edge_model.json").read_text())
    (entry,) = record["files"]
    assert entry["checksum"] == "first-use" and entry["sha256"] == _sha(VAD)
    assert DATE.match(entry["pinned_at"])
    assert "pinned on this device" in record["checksum_note"]
    pins = json.loads((store.root / "pins.json").read_text())
    assert pins[VAD_ID] == {"silero_vad.onnx": _sha(VAD)}
    meta = pins[".meta"][VAD_ID]["silero_vad.onnx"]
    assert meta["size"] == len(VAD) and meta["pinned_at"] == entry["pinned_at"]

    # Installed: nothing is downloaded, checked or announced again.
    store.pull(VAD_ID, progress=False)
    # A reinstall of the same bytes matches the pin: no second check, no second line.
    model = store.pull(VAD_ID, progress=False, force=True)
    assert recorder.checked == [VAD_ID] and len(recorder.lines) == 1
    assert [f.checksum for f in model.files] == ["pinned"]
    assert model.files[0].pinned_at == entry["pinned_at"]
    assert served.gets("/vad/silero_vad.onnx") == 2


def test_a_changed_upstream_file_is_refused_until_repinned(tmp_path: Path, server) -> None:  # noqa: ANN001
    base, served = server
    served.files["/vad/silero_vad.onnx"] = VAD
    recorder = Recorder()
    store = _store(tmp_path, _vad_toml(base), recorder)
    store.pull(VAD_ID, progress=False)
    pinned = (store.root / "pins.json").read_text()
    pinned_on = json.loads(pinned)[".meta"][VAD_ID]["silero_vad.onnx"]["pinned_at"][:10]

    changed = _vad_variant()
    served.files["/vad/silero_vad.onnx"] = changed
    with pytest.raises(PinMismatchError) as caught:
        store.pull(VAD_ID, progress=False, force=True)
    error = caught.value
    # One line, never "corrupt": what changed, since when, and how to re-pin on purpose.
    assert error.problem == (
        f"{VAD_ID}: the upstream file silero_vad.onnx changed since it was pinned on "
        f"{pinned_on} (now {len(changed)} bytes, sha256 {_sha(changed)[:12]}..., pinned "
        f"{len(VAD)} bytes, sha256 {_sha(VAD)[:12]}...)"
    )
    assert "\n" not in str(error) and "corrupt" not in str(error)
    assert f"edge models pull {VAD_ID} --repin" in error.fix
    # Nothing moved: the installed model, its pin, no cached download.
    assert store.get(VAD_ID).file("model").read_bytes() == VAD
    assert (store.root / "pins.json").read_text() == pinned
    assert not (store.root / ".downloads" / VAD_ID).exists()
    assert recorder.checked == [VAD_ID]

    # Re-pinning deliberately: a fresh download, a fresh load check, a new pin and line.
    model = store.pull(VAD_ID, progress=False, repin=True)
    assert model.file("model").read_bytes() == changed
    assert recorder.checked == [VAD_ID, VAD_ID]
    assert recorder.lines[-1].startswith(f"{VAD_ID}: re-pinned on request: ")
    assert _sha(changed)[:12] in recorder.lines[-1]
    assert json.loads((store.root / "pins.json").read_text())[VAD_ID] == {
        "silero_vad.onnx": _sha(changed)
    }
    assert [f.checksum for f in model.files] == ["first-use"]


def test_the_cli_offers_repin(tmp_path: Path, server, monkeypatch, capsys) -> None:  # noqa: ANN001
    base, served = server
    served.files["/vad/silero_vad.onnx"] = VAD
    recorder = Recorder()
    store = _store(tmp_path, _vad_toml(base), recorder)
    store.pull(VAD_ID, progress=False)
    served.files["/vad/silero_vad.onnx"] = _vad_variant()
    monkeypatch.setattr("edge.cli.models.ModelStore", lambda: store)
    args = argparse.Namespace(
        models_command="pull",
        ids=[VAD_ID],
        profile=None,
        source="eng_Latn",
        target="eng_Latn",
        force=True,
        repin=False,
        quiet=True,
    )
    with pytest.raises(PinMismatchError, match="--repin"):
        handler(args)
    args.repin = True
    assert handler(args) == 0
    assert f"{VAD_ID}: {store.root / VAD_ID}" in capsys.readouterr().out


def test_truncated_downloads(tmp_path: Path, server) -> None:  # noqa: ANN001
    base, served = server
    recorder = Recorder()
    # A connection cut mid-file resumes, and the pin is the whole file's.
    served.files["/vad/silero_vad.onnx"] = VAD
    served.cut_after["/vad/silero_vad.onnx"] = len(VAD) // 3
    store = _store(tmp_path / "a", _vad_toml(base), recorder)
    model = store.pull(VAD_ID, progress=False)
    assert model.files[0].sha256 == _sha(VAD)
    assert served.requests[-1] == ("/vad/silero_vad.onnx", f"bytes={len(VAD) // 3}-")

    # A server that sends a cut-off file whole (its Content-Length agrees): no published
    # sha256 to catch it, and the load check refuses it.
    served.files["/vad/silero_vad.onnx"] = VAD[: len(VAD) // 2]
    store = _store(tmp_path / "b", _vad_toml(base), recorder)
    with pytest.raises(ModelError) as caught:
        store.pull(VAD_ID, progress=False)
    assert caught.value.problem.startswith(
        f"could not install {VAD_ID}: the files do not load as a model ("
    )
    assert caught.value.problem.endswith("so nothing was pinned or installed")
    assert store.installed() == [] and not (store.root / "pins.json").exists()
    assert not (store.root / ".downloads" / VAD_ID).exists()

    # With a size in the catalog, the cut-off file never gets as far as the check.
    store = _store(tmp_path / "c", _vad_toml(base, size=len(VAD)), recorder)
    checks = len(recorder.checked)
    with pytest.raises(ModelError, match=f"{len(VAD) // 2} bytes, the catalog says {len(VAD)}"):
        store.pull(VAD_ID, progress=False)
    assert len(recorder.checked) == checks and store.installed() == []

    # Against an existing pin, the cut-off file is a change: sizes tell which way.
    served.files["/vad/silero_vad.onnx"] = VAD
    store = _store(tmp_path / "d", _vad_toml(base), recorder)
    store.pull(VAD_ID, progress=False)
    served.files["/vad/silero_vad.onnx"] = VAD[:1000]
    with pytest.raises(PinMismatchError, match=f"now 1000 bytes, .* pinned {len(VAD)} bytes"):
        store.pull(VAD_ID, progress=False, force=True)


# -- a CTranslate2 model with no published sha256 ----------------------------------------

MT_ID = "marian-unpinned"


@pytest.fixture(scope="module")
def marian(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, bytes], dict]:
    """The files of a small random-weight OPUS-MT-style model in CTranslate2's format."""
    from edge.synthetic.ct2_transformer import build_marian_like

    folder = build_marian_like(tmp_path_factory.mktemp("marian") / "m", target_lang="spa_Latn")
    record = json.loads((folder / "edge_model.json").read_text())
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "edge_model.json"}
    return files, record["options"]


def _mt_toml(base: str, files: dict[str, bytes], options: dict) -> str:
    rows = ", ".join(f'{{ name = "{n}" }}' for n in sorted(files))
    urls = ", ".join(f'"{n}" = "{base}/mt/{n}"' for n in sorted(files))
    return f"""
        [[model]]
        id = "{MT_ID}"
        kinds = ["mt"]
        backend = "ct2-marian"
        languages = ["eng_Latn", "spa_Latn"]
        directions = ["eng_Latn>spa_Latn"]
        license = "CC-BY-4.0"
        checksum_note = "no published sha256: pinned on first use"
        approx_disk_mb = 10
        options = {json.dumps(options).replace('": ', '" = ').replace("{", "{ ").replace("}", " }")}
        files = [{rows}]
        sources = [{{ type = "https", urls = {{ {urls} }} }}]
        """


def test_an_html_error_page_as_model_bin_is_never_pinned(tmp_path: Path, server, marian) -> None:  # noqa: ANN001
    base, served = server
    files, options = marian
    served.files.update({f"/mt/{n}": d for n, d in files.items()})
    served.files["/mt/model.bin"] = HTML  # a proxy's error page, saved under the file's name
    recorder = Recorder()
    store = _store(tmp_path, _mt_toml(base, files, options), recorder)
    with pytest.raises(ModelError) as caught:
        store.pull(MT_ID, progress=False)
    message = str(caught.value)
    assert "\n" not in message
    assert caught.value.problem.startswith(
        f"could not install {MT_ID}: the files do not load as a model ("
    )
    assert "nothing was pinned or installed" in message
    assert f"edge models import PATH --id {MT_ID}" in caught.value.fix
    assert recorder.checked == [MT_ID] and recorder.lines == []
    assert not (store.root / "pins.json").exists() and store.installed() == []
    assert not (store.root / ".downloads" / MT_ID).exists()
    assert not list((store.root / ".staging").iterdir())

    # The real file: it loads, translates one sentence, and only then is pinned.
    served.files["/mt/model.bin"] = files["model.bin"]
    model = store.pull(MT_ID, progress=False)
    assert recorder.checked == [MT_ID, MT_ID] and len(recorder.lines) == 1
    assert {f.checksum for f in model.files} == {"first-use"}
    pins = json.loads((store.root / "pins.json").read_text())[MT_ID]
    assert pins == {n: _sha(d) for n, d in files.items()}


# -- verify: catalog, pinned, derived ------------------------------------------------------

MIXED_ID = "mixed"
ENCODER = b"E" * 4096
TOKENIZER = bytes([1]) + b"a" + bytes([2]) + b"bc"
EXTRA = b"no published sha256 for this one"


def _mixed_toml(base: str) -> str:
    return f"""
        [[model]]
        id = "{MIXED_ID}"
        kinds = ["asr-segment"]
        backend = "sherpa-moonshine"
        languages = ["eng_Latn"]
        license = "MIT"
        checksum_note = "extra.bin: no published sha256"
        approx_disk_mb = 1
        options = {{ encoder = "encoder.ort", tokens = "tokens.txt" }}
        files = [
            {{ name = "encoder.ort", size = {len(ENCODER)}, sha256 = "{_sha(ENCODER)}" }},
            {{ name = "extra.bin" }},
            {{ name = "tokens.txt", derived = true }},
        ]

        [[model.sources]]
        type = "https"
        urls = {{ "encoder.ort" = "{base}/x/encoder.ort", "extra.bin" = "{base}/x/extra.bin", "tokenizer.bin" = "{base}/x/tokenizer.bin" }}
        post = ["moonshine-tokens"]
        """


def test_verify_tells_catalog_pinned_and_derived_files_apart(
    tmp_path: Path, server, capsys
) -> None:  # noqa: ANN001
    base, served = server
    served.files.update(
        {"/x/encoder.ort": ENCODER, "/x/extra.bin": EXTRA, "/x/tokenizer.bin": TOKENIZER}
    )
    recorder = Recorder()
    store = _store(tmp_path, _mixed_toml(base), recorder)
    store.load_check = lambda model_dir, model_id: None  # toy files: no runtime loads them
    model = store.pull(MIXED_ID, progress=False)
    assert (model.path / "tokens.txt").read_text() == moonshine_tokens(TOKENIZER)
    assert {f.name: f.checksum for f in model.files} == {
        "encoder.ort": "catalog",
        "extra.bin": "first-use",
        "tokens.txt": "derived",
    }

    (report,) = store.verify(MIXED_ID)
    assert report.ok
    assert report.kinds == {
        "catalog": ["encoder.ort"],
        "pinned": ["extra.bin"],
        "derived": ["tokens.txt"],
    }
    assert _verify(store, MIXED_ID) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"ok    {MIXED_ID}"
    assert out[1] == "      catalog sha256 (published): encoder.ort"
    assert re.fullmatch(
        r"      pinned locally on first use \d{4}-\d\d-\d\d \(no published sha256\): extra.bin",
        out[2],
    )
    assert out[3] == "      derived on this device by a post step: tokens.txt"
    assert "derived by moonshine-tokens" in out[4]

    # A pinned file changed on disk fails like any other, and so does one that no longer
    # matches pins.json (re-pinned by another install since).
    (model.path / "extra.bin").write_bytes(b"X" * len(EXTRA))
    (report,) = store.verify(MIXED_ID)
    assert not report.ok and "extra.bin has sha256" in report.problems[0]
    (model.path / "extra.bin").write_bytes(EXTRA)
    pins = json.loads((store.root / "pins.json").read_text())
    pins[MIXED_ID]["extra.bin"] = "0" * 64
    (store.root / "pins.json").write_text(json.dumps(pins))
    (report,) = store.verify(MIXED_ID)
    assert report.problems == [
        "extra.bin differs from its local pin in pins.json (re-pinned since this install?)"
    ]


def test_pins_of_older_versions_still_count(tmp_path: Path, server) -> None:  # noqa: ANN001
    """pins.json from before the dates (file -> sha256 only) keeps refusing changes."""
    base, served = server
    served.files["/vad/silero_vad.onnx"] = _vad_variant()
    recorder = Recorder()
    store = _store(tmp_path, _vad_toml(base), recorder)
    store.root.mkdir(parents=True)
    (store.root / "pins.json").write_text(json.dumps({VAD_ID: {"silero_vad.onnx": _sha(VAD)}}))
    with pytest.raises(PinMismatchError, match="pinned on an earlier download"):
        store.pull(VAD_ID, progress=False)


# -- the catalog's claims ----------------------------------------------------------------


def test_every_mutable_url_is_declared() -> None:
    """A Hugging Face URL is pinned to a commit, or its entry says why not; so is a GitHub
    release asset (its tag can get new assets)."""
    catalog = Catalog.load()
    for entry in catalog.entries.values():
        mutable = [u for s in entry.sources for u in mutable_urls(s)]
        unpinned_files = [f for f in entry.files if not f.sha256 and not f.derived]
        if mutable and unpinned_files:
            note = entry.checksum_note
            assert any(w in note for w in ("resolve/main", "tag", "release")), (entry.id, note)
    # The conversions of NLLB 600M and the Whisper CTranslate2 models are commit-pinned.
    for model_id in ("nllb-200-distilled-600m-ct2-int8", "whisper-base-ct2", "whisper-tiny-en-ct2"):
        entry = catalog.get(model_id)
        urls = [u for s in entry.sources for u in s.urls.values() if "huggingface.co" in u]
        assert urls and not [u for s in entry.sources for u in mutable_urls(s)], model_id


def test_unknown_licenses_are_never_commercial_ok() -> None:
    catalog = Catalog.load()
    for license in ("see MODEL_CARD", "unverified: x", "Unknown", ""):
        assert license_unverified(license)
    assert not license_unverified("CC0-1.0")
    voices = [e for e in catalog.entries.values() if e.backend == "piper"]
    unknown = [e for e in voices if not e.license_verified]
    assert {e.id for e in unknown} >= {"piper-en_US-lessac-medium", "piper-ru_RU-irina-medium"}
    assert all("do not assume commercial use" in e.license_note for e in unknown)
    for entry in catalog.entries.values():
        assert not entry.license.lower().startswith("see") or not entry.license_verified

    lines = "\n".join(license_lines([catalog.get("piper-en_US-lessac-medium")]))
    assert "do not assume commercial use" in lines and "no model is marked" not in lines
    assert "GPL-3.0-or-later" in lines
    # Recommend with a voice whose license is unknown (Russian): flagged, never commercial-OK.
    _, lines = recommend(catalog, 2048, "en", "ru")
    text = "\n".join(lines)
    assert "piper-ru_RU-irina-medium" in text and "(UNVERIFIED)" in text
    assert "do not assume commercial use" in text
    assert "allows commercial use" not in text
    # With known licenses only, the line claims no more than that.
    _, lines = recommend(catalog, 2048, "en", "es")
    text = "\n".join(lines)
    assert "no model is marked non-commercial or unverified" in text
    assert "allows commercial use" not in text


def test_unmeasured_speeds_are_labelled() -> None:
    catalog = Catalog.load()
    for profile in catalog.profiles.values():
        if profile.expected_speed:
            assert profile.expected_speed.startswith("estimate, not measured"), profile.id
    _, lines = recommend(catalog, 4096, "en", "de")
    speed = next(line for line in lines if "expected speed" in line)
    assert "estimate, not measured" in speed


def test_doctor_flags_models_whose_license_is_unknown(tmp_path: Path) -> None:
    src = Catalog.load().get("piper-ru_RU-irina-medium")

    def installed(license: str, non_commercial: bool) -> InstalledModel:
        return InstalledModel(
            id=src.id,
            kind="tts",
            backend="piper",
            languages=src.languages,
            path=tmp_path,
            license=license,
            non_commercial=non_commercial,
            options={},
        )

    fit = doctor._fit(installed(src.license, False), 4000.0)
    assert fit.license_flag == "unknown"
    nc = doctor._fit(installed("CC-BY-NC-4.0", True), 4000.0)
    assert nc.license_flag == "non-commercial"
    assert doctor._fit(installed("CC0-1.0", False), 4000.0).license_flag == ""
    report = doctor.Report(
        cpu=doctor.cpu_info("model name\t: x\nflags\t: avx2\n", "x86_64", ""),
        memory=doctor.MemoryInfo(4096.0, 4000.0),
        gpu=doctor.GpuInfo(False, "", ()),
        threads=doctor.hardware.default_threads(2),
        models_dir=str(tmp_path),
        models=[fit, nc],
        audio=doctor.AudioInfo("", note="no audio"),
        profile=None,
        profile_lines=[],
    )
    text = doctor.render(report)
    assert "license unknown (unknown: MODEL_CARD says License: Unknown): not commercial-OK" in text
    assert "license CC-BY-NC-4.0: NON-COMMERCIAL" in text


def test_import_pins_only_what_loads(tmp_path: Path) -> None:
    """A sideload of a file without a published sha256 sets a pin only after the model
    loads, like a download."""
    recorder = Recorder()
    store = _store(tmp_path, _vad_toml("https://example.invalid"), recorder)
    usb = tmp_path / "usb" / VAD_ID
    usb.mkdir(parents=True)
    (usb / "silero_vad.onnx").write_bytes(HTML)
    with pytest.raises(ModelError, match="do not load as a model"):
        store.import_path(usb, model_id=VAD_ID)
    assert not (store.root / "pins.json").exists() and store.installed() == []
    shutil.copyfile(bundled_model_path(), usb / "silero_vad.onnx")
    (model,) = store.import_path(usb, model_id=VAD_ID)
    assert model.files[0].checksum == "first-use" and len(recorder.lines) == 1
