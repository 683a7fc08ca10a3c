"""Safe extraction: archives that try to escape, bombs, truncation; and the catalog data."""

from __future__ import annotations

import base64
import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from edge.errors import ModelError
from edge.models import Catalog
from edge.models.archive import ExtractionLimits, UnsafeArchiveError, extract_archive
from edge.models.post import moonshine_tokens


def _tar(
    path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:bz2"
) -> Path:
    with tarfile.open(path, mode) as tf:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tf.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tf.addfile(info, io.BytesIO(m[1]))
    return path


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def test_extracts_wanted_members_only(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "m.tar.bz2", [("m/a.onnx", b"A" * 100), ("m/b.onnx", b"B")])
    out = tmp_path / "out"
    assert extract_archive(archive, out, {"m/a.onnx"}) == ["m/a.onnx"]
    assert (out / "m" / "a.onnx").read_bytes() == b"A" * 100
    assert not (out / "m" / "b.onnx").exists()


@pytest.mark.parametrize(
    "member",
    [
        ("../evil.txt", b"x"),
        ("m/../../evil.txt", b"x"),
        ("/tmp/evil.txt", b"x"),
    ],
)
def test_rejects_paths_leaving_the_target(tmp_path: Path, member: tuple[str, bytes]) -> None:
    archive = _tar(tmp_path / "bad.tar.gz", [("m/ok.txt", b"ok"), member], mode="w:gz")
    with pytest.raises(UnsafeArchiveError):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize(
    "link",
    [
        _link("m/escape", "../../outside"),
        _link("m/abs", "/etc/passwd"),
        _link("m/hard", "../outside", tarfile.LNKTYPE),
    ],
)
def test_rejects_links_pointing_outside(tmp_path: Path, link: tarfile.TarInfo) -> None:
    archive = _tar(tmp_path / "links.tar", [("m/ok.txt", b"ok"), link], mode="w")
    with pytest.raises(UnsafeArchiveError):
        extract_archive(archive, tmp_path / "out")


def test_rejects_a_write_through_an_escaping_symlink(tmp_path: Path) -> None:
    # Each link stays inside on paper; followed one through the other they lead out.
    members = [_link("m/l1", ".."), _link("m/l1/l2", ".."), ("m/l1/l2/pwned.txt", b"x")]
    archive = _tar(tmp_path / "chain.tar", members, mode="w")
    with pytest.raises(UnsafeArchiveError):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "pwned.txt").exists()


def test_internal_symlink_is_allowed(tmp_path: Path) -> None:
    archive = _tar(
        tmp_path / "ok.tar", [("m/real.txt", b"data"), _link("m/alias.txt", "real.txt")], mode="w"
    )
    extract_archive(archive, tmp_path / "out")
    assert (tmp_path / "out" / "m" / "alias.txt").read_bytes() == b"data"


def test_rejects_device_members(tmp_path: Path) -> None:
    device = tarfile.TarInfo("m/dev")
    device.type = tarfile.CHRTYPE
    archive = _tar(tmp_path / "dev.tar", [device], mode="w")
    with pytest.raises(UnsafeArchiveError):
        extract_archive(archive, tmp_path / "out")


def test_truncated_tar_bz2_is_reported_as_corrupt(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "m.tar.bz2", [("m/a.bin", os.urandom(200_000))])
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="truncated or corrupt"):
        extract_archive(archive, tmp_path / "out")


def test_size_limit_stops_archive_bombs(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "big.tar.gz", [("m/zeros", b"\0" * 2_000_000)], mode="w:gz")
    with pytest.raises(UnsafeArchiveError, match="archive bomb"):
        extract_archive(
            archive, tmp_path / "out", limits=ExtractionLimits(max_total_bytes=1_000_000)
        )


def test_zip_bomb_ratio_and_zip_traversal(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", b"\0" * 20_000_000)
    with pytest.raises(UnsafeArchiveError, match="archive bomb"):
        extract_archive(bomb, tmp_path / "out")
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../evil.txt", b"x")
    with pytest.raises(UnsafeArchiveError):
        extract_archive(evil, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_zip_symlink_leaving_the_target_is_rejected(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("m/link")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "../../etc/passwd")
    with pytest.raises(UnsafeArchiveError):
        extract_archive(archive, tmp_path / "out")


def test_moonshine_tokens_format() -> None:
    # Records: "ab" (1-byte length), an empty token, and a 200-byte token (2-byte length).
    long = bytes(range(200))
    blob = b"\x02ab" + b"\x00" + bytes([200 - 128 + 128, 1]) + long
    lines = moonshine_tokens(blob).splitlines()
    assert lines == [
        f"{base64.b64encode(b'ab').decode()} 0",
        " 1",
        f"{base64.b64encode(long).decode()} 2",
    ]
    with pytest.raises(ModelError):
        moonshine_tokens(b"\x05ab")


def test_shipped_catalog_is_consistent() -> None:
    catalog = Catalog.load()
    demo = [catalog.get(i) for i in catalog.expand("demo")]
    assert {e.id for e in demo} >= {"moonshine-tiny-en", "whisper-base-ct2", "silero-vad-v6"}
    for entry in demo:
        assert entry.sources[0].type == "pypi"
        assert all(w.sha256 and "==" in w.requirement for w in entry.sources[0].wheels)
        # Derived files (graphs converted on the device) are made from the pinned others.
        pinned = [f for f in entry.files if not f.derived]
        assert all(len(f.sha256) == 64 and f.size > 0 for f in pinned), entry.id
        assert entry.ram_mb and "measured" in entry.ram_note
    whisper = catalog.get("whisper-base-ct2")
    assert whisper.has_kind("direct-st") and whisper.covers("deu_Latn")
    nc = [e for e in catalog.entries.values() if e.id.startswith("nllb")]
    assert nc and all(e.non_commercial for e in nc)
    for entry in catalog.entries.values():
        for source in entry.sources:
            for url in [source.url, *source.urls.values()]:
                assert not url or url.startswith("https://"), url


def test_catalog_get_suggests_close_ids() -> None:
    with pytest.raises(ModelError, match="did you mean: moonshine-tiny-en"):
        Catalog.load().get("moonshine-tiny")


def test_extra_catalog_overrides_a_shipped_entry(tmp_path: Path, monkeypatch) -> None:
    extra = tmp_path / "mirror.toml"
    extra.write_text(
        """
[[model]]
id = "silero-vad-v6"
kinds = ["vad"]
backend = "silero-vad"
license = "MIT"
files = [{ name = "silero_vad.onnx", size = 2327524, sha256 = "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3" }]
sources = [{ type = "https", urls = { "silero_vad.onnx" = "https://mirror.example/silero_vad.onnx" } }]
"""
    )
    monkeypatch.setenv("EDGE_CATALOG", str(extra))
    entry = Catalog.load().get("silero-vad-v6")
    assert entry.sources[0].urls["silero_vad.onnx"].startswith("https://mirror.example/")


def test_catalog_rejects_plain_http_and_missing_checksum_note() -> None:
    base = {
        "id": "x",
        "kinds": ["vad"],
        "backend": "silero-vad",
        "license": "MIT",
        "files": [{"name": "a.onnx", "size": 1, "sha256": "00" * 32}],
    }
    plain = dict(base, sources=[{"type": "https", "urls": {"a.onnx": "http://example.com/a"}}])
    with pytest.raises(ModelError, match="https"):
        Catalog.from_documents([("t", {"model": [plain]})])
    unpinned = dict(
        base,
        files=[{"name": "a.onnx"}],
        sources=[{"type": "https", "urls": {"a.onnx": "https://example.com/a"}}],
    )
    with pytest.raises(ModelError, match="checksum_note"):
        Catalog.from_documents([("t", {"model": [unpinned]})])
