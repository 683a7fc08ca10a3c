"""Downloads and installs against a real HTTP server on 127.0.0.1 started by the tests."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from edge.errors import ModelError
from edge.models import Catalog, ModelStore
from edge.models.download import ChecksumError, DownloadError, RetryPolicy, download

FAST = RetryPolicy(attempts=4, backoff_s=0.01, max_backoff_s=0.05, timeout_s=5)
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Served:
    """Files served by the test server and the faults to inject."""

    files: dict[str, bytes] = field(default_factory=dict)
    cut_after: dict[str, int] = field(default_factory=dict)  # close mid-body, once per path
    fail_first: dict[str, int] = field(default_factory=dict)  # answer 503 this many times
    delay_s: float = 0.0  # per 64 KiB chunk, to keep a download in flight
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def gets(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)


def _handler(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path
            with served.lock:
                served.requests.append((path, self.headers.get("Range")))
                failing = served.fail_first.get(path, 0)
                if failing:
                    served.fail_first[path] = failing - 1
                cut = served.cut_after.pop(path, None)
            if failing:
                self.send_error(503, "busy")
                return
            data = served.files.get(path)
            if data is None:
                self.send_error(404, "not found")
                return
            start = 0
            status = 200
            range_header = self.headers.get("Range")
            if range_header:
                start = int(range_header.split("=")[1].split("-")[0])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            self.send_response(status)
            self.send_header("Content-Length", str(len(data) - start))
            self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest()[:16] + '"')
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            body = data[start:]
            if cut is not None:
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            for i in range(0, len(body), 1 << 16):
                if served.delay_s:
                    time.sleep(served.delay_s)
                self.wfile.write(body[i : i + (1 << 16)])

    return Handler


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _catalog_toml(base: str, files: dict[str, bytes], *, archive: bool, pinned: bool = True) -> str:
    lines = []
    for name, data in files.items():
        digest = _sha(data) if pinned else ""
        lines.append(f'{{ name = "{name}", size = {len(data)}, sha256 = "{digest}" }}')
    if archive:
        members = ", ".join(f'"{n}" = "pkg-1/{n}"' for n in files)
        source = f'{{ type = "https", url = "{base}/pkg-1.tar.bz2", members = {{ {members} }} }}'
    else:
        urls = ", ".join(f'"{n}" = "{base}/files/{n}"' for n in files)
        source = f'{{ type = "https", urls = {{ {urls} }} }}'
    return textwrap.dedent(
        f"""
        [[model]]
        id = "tiny-asr"
        kinds = ["asr-streaming"]
        backend = "sherpa-online-transducer"
        languages = ["eng_Latn"]
        license = "Apache-2.0"
        checksum_note = "pin on first verified download"
        options = {{ encoder = "encoder.onnx", tokens = "tokens.txt" }}
        files = [{", ".join(lines)}]
        sources = [{source}]
        """
    )


def _store(tmp_path: Path, toml: str) -> ModelStore:
    path = tmp_path / "catalog.toml"
    path.write_text(toml)
    # The served files are random bytes, no real model: the load check before a first-use
    # pin is tested on real models in test_models_verify.py.
    return ModelStore(
        tmp_path / "models",
        catalog=Catalog.load(extra=[path]),
        retry=FAST,
        load_check=lambda model_dir, model_id: None,
    )


MODEL_FILES = {"encoder.onnx": os.urandom(300_000), "tokens.txt": b"<blk> 0\na 1\n"}


def _archive_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:bz2") as tf:
        for name, data in {**files, "test_wavs/0.wav": b"RIFF"}.items():
            info = tarfile.TarInfo(f"pkg-1/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_resume_after_a_cut_connection(tmp_path: Path, server) -> None:
    base, served = server
    data = os.urandom(500_000)
    served.files["/f.bin"] = data
    served.cut_after["/f.bin"] = 123_456
    digest = download(
        f"{base}/f.bin", tmp_path / "f.bin", size=len(data), sha256=_sha(data), policy=FAST
    )
    assert digest == _sha(data)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert served.requests == [("/f.bin", None), ("/f.bin", "bytes=123456-")]
    assert not (tmp_path / "f.bin.part").exists()


def test_resume_in_a_later_run_after_the_process_gave_up(tmp_path: Path, server) -> None:
    base, served = server
    data = os.urandom(400_000)
    served.files["/f.bin"] = data
    served.cut_after["/f.bin"] = 100_000
    one_try = RetryPolicy(attempts=1, backoff_s=0, timeout_s=5)
    with pytest.raises(DownloadError, match="run the same command again"):
        download(f"{base}/f.bin", tmp_path / "f.bin", size=len(data), policy=one_try)
    assert (tmp_path / "f.bin.part").stat().st_size == 100_000
    download(f"{base}/f.bin", tmp_path / "f.bin", size=len(data), sha256=_sha(data), policy=one_try)
    assert served.requests[-1] == ("/f.bin", "bytes=100000-")
    assert (tmp_path / "f.bin").read_bytes() == data


def test_retries_server_errors_and_gives_up_on_404(tmp_path: Path, server) -> None:
    base, served = server
    served.files["/f.bin"] = b"x" * 1000
    served.fail_first["/f.bin"] = 2
    download(f"{base}/f.bin", tmp_path / "f.bin", policy=FAST)
    assert served.gets("/f.bin") == 3
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(f"{base}/missing", tmp_path / "m.bin", policy=FAST)
    assert served.gets("/missing") == 1


def test_checksum_mismatch_deletes_the_download(tmp_path: Path, server) -> None:
    base, served = server
    served.files["/f.bin"] = b"tampered"
    with pytest.raises(ChecksumError):
        download(f"{base}/f.bin", tmp_path / "f.bin", sha256=_sha(b"original"), policy=FAST)
    assert list(tmp_path.iterdir()) == []


def test_pull_archive_installs_atomically(tmp_path: Path, server) -> None:
    base, served = server
    served.files["/pkg-1.tar.bz2"] = _archive_bytes(MODEL_FILES)
    store = _store(tmp_path, _catalog_toml(base, MODEL_FILES, archive=True))
    model = store.pull("tiny-asr", progress=False)
    assert model.file("encoder").read_bytes() == MODEL_FILES["encoder.onnx"]
    assert sorted(p.name for p in model.path.iterdir()) == [
        "edge_model.json",
        "encoder.onnx",
        "tokens.txt",
    ]
    record = json.loads((model.path / "edge_model.json").read_text())
    assert [f["checksum"] for f in record["files"]] == ["catalog", "catalog"]
    assert store.find("asr-streaming", "eng_Latn")[0].id == "tiny-asr"
    assert not list((store.root / ".staging").iterdir())
    assert not (store.root / ".downloads" / "tiny-asr").exists()
    # Installed and unchanged: a second pull downloads nothing.
    store.pull("tiny-asr", progress=False)
    assert served.gets("/pkg-1.tar.bz2") == 1


def test_checksum_mismatch_installs_nothing(tmp_path: Path, server) -> None:
    base, served = server
    served.files["/files/encoder.onnx"] = b"corrupted" + MODEL_FILES["encoder.onnx"][9:]
    served.files["/files/tokens.txt"] = MODEL_FILES["tokens.txt"]
    store = _store(tmp_path, _catalog_toml(base, MODEL_FILES, archive=False))
    with pytest.raises(ModelError, match="could not install tiny-asr.*sha256"):
        store.pull("tiny-asr", progress=False)
    assert store.installed() == []
    assert not (store.root / "tiny-asr").exists()
    assert not (store.root / ".downloads" / "tiny-asr").exists()


def test_truncated_archive_installs_nothing(tmp_path: Path, server) -> None:
    base, served = server
    archive = _archive_bytes(MODEL_FILES)
    served.files["/pkg-1.tar.bz2"] = archive[: len(archive) // 2]
    store = _store(tmp_path, _catalog_toml(base, MODEL_FILES, archive=True, pinned=False))
    with pytest.raises(ModelError, match="truncated or corrupt"):
        store.pull("tiny-asr", progress=False)
    assert store.installed() == []
    # The corrupt archive is not kept for a later resume.
    assert not (store.root / ".downloads" / "tiny-asr" / "pkg-1.tar.bz2").exists()


def test_first_download_pins_missing_checksums(tmp_path: Path, server) -> None:
    base, served = server
    served.files.update({f"/files/{n}": d for n, d in MODEL_FILES.items()})
    store = _store(tmp_path, _catalog_toml(base, MODEL_FILES, archive=False, pinned=False))
    model = store.pull("tiny-asr", progress=False)
    assert {f.checksum for f in model.files} == {"first-use"}
    pins = json.loads((store.root / "pins.json").read_text())
    assert pins["tiny-asr"]["encoder.onnx"] == _sha(MODEL_FILES["encoder.onnx"])
    # Upstream bytes change: the reinstall is refused against the pin.
    served.files["/files/encoder.onnx"] = os.urandom(300_000)
    with pytest.raises(ModelError, match="changed since it was pinned"):
        store.pull("tiny-asr", progress=False, force=True)
    assert store.get("tiny-asr").file("encoder").read_bytes() == MODEL_FILES["encoder.onnx"]


def test_concurrent_pulls_of_one_model_download_once(tmp_path: Path, server) -> None:
    base, served = server
    served.files["/pkg-1.tar.bz2"] = _archive_bytes(MODEL_FILES)
    served.delay_s = 0.05  # about 0.3 s per download: the processes overlap
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(_catalog_toml(base, MODEL_FILES, archive=True))
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from edge.models import Catalog, ModelStore
        store = ModelStore(Path({str(tmp_path / "models")!r}), catalog=Catalog.load(extra=[Path({str(catalog)!r})]))
        print(store.pull("tiny-asr", progress=False).path)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert served.gets("/pkg-1.tar.bz2") == 1
    assert {o[0].strip() for o in outputs} == {str(tmp_path / "models" / "tiny-asr")}


def test_a_failing_source_falls_back_to_the_next(tmp_path: Path, server) -> None:
    base, served = server
    served.files.update({f"/files/{n}": d for n, d in MODEL_FILES.items()})
    toml = _catalog_toml(base, MODEL_FILES, archive=False).replace(
        "sources = [",
        f'sources = [{{ type = "https", url = "{base}/gone.tar.bz2", members = {{ "encoder.onnx" = "x/encoder.onnx", "tokens.txt" = "x/tokens.txt" }} }}, ',
    )
    store = _store(tmp_path, toml)
    model = store.pull("tiny-asr", progress=False)
    assert model.source == "https " + base.split("//")[1]
    assert served.gets("/gone.tar.bz2") == 1
    assert served.gets("/files/encoder.onnx") == 1
