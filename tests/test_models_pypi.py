"""The PyPI-wheel source against the real registry: silero-vad==6.2.3 (11 MB, --no-deps)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from edge.models import Catalog, ModelStore


def test_pull_from_a_real_wheel_then_sideload_the_wheel(tmp_path: Path) -> None:
    catalog = Catalog.load()
    store = ModelStore(tmp_path / "models", catalog=catalog)
    model = store.pull("silero-vad-v6", progress=False)
    assert model.file("model").stat().st_size == 2327524
    record = json.loads((model.path / "edge_model.json").read_text())
    assert record["source"] == "PyPI silero-vad==6.2.3"
    assert [f["checksum"] for f in record["files"]] == ["catalog"]
    assert all(r.ok for r in store.verify("silero-vad-v6"))

    # The same wheel carried on a USB stick installs with no network.
    wheel_dir = tmp_path / "usb"
    wheel_dir.mkdir()
    # The store deletes its download cache after installing: fetch the wheel for the stick.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-q",
            "-d",
            str(wheel_dir),
            "silero-vad==6.2.3",
        ],
        check=True,
    )
    offline = ModelStore(tmp_path / "offline", catalog=catalog)
    [imported] = offline.import_path(wheel_dir)
    assert imported.id == "silero-vad-v6"
    assert imported.files[0].sha256 == model.files[0].sha256
