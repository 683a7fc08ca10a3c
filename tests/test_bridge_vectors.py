"""One file of test vectors, two implementations: Python and the C firmware core agree."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import tty
from pathlib import Path

import pytest

from firmware_bridge.bridge import Bridge, LinkUp
from firmware_bridge.controller import SimulatedController
from firmware_bridge.vectors import VECTORS_PATH, check_file, check_line

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware_bridge" / "firmware"
needs_c_compiler = pytest.mark.skipif(
    shutil.which("make") is None or shutil.which(os.environ.get("CC", "cc")) is None,
    reason="make and a C compiler are needed for the firmware core",
)


def _vector_lines() -> list[str]:
    lines = (raw.split("#", 1)[0].strip() for raw in VECTORS_PATH.read_text().splitlines())
    return [line for line in lines if line]


def test_vector_file_covers_every_kind() -> None:
    kinds = {line.split()[0] for line in _vector_lines()}
    assert kinds == {"crc", "cobs", "msg", "decode", "stream", "press"}
    checked, failures = check_file()
    assert checked == len(_vector_lines()) and not failures


@pytest.mark.parametrize("line", _vector_lines(), ids=lambda line: line[:40])
def test_python_agrees_with_vector(line: str) -> None:
    assert check_line(line) is None


def test_a_wrong_vector_is_reported() -> None:
    assert check_line("crc 313233343536373839 29b2") == "crc 29b1"
    problem = check_line("msg d2h 1 VOLUME level=7 => 00")
    assert problem is not None and problem.startswith("wire ")


@pytest.fixture(scope="session")
def firmware_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("firmware-build")
    run = subprocess.run(
        ["make", "-C", str(FIRMWARE), f"BUILD={build}", "test", "host-device"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    # Both C test programs print a closing "N passed, 0 failed" line.
    assert run.stdout.count(" passed, 0 failed") == 2, run.stdout[-2000:]
    return build


@needs_c_compiler
def test_c_core_passes_vectors_and_unit_tests(firmware_build: Path) -> None:
    assert (firmware_build / "test_vectors").exists() and (firmware_build / "test_core").exists()


@needs_c_compiler
def test_c_firmware_core_drives_the_python_bridge(firmware_build: Path) -> None:
    """The C device logic (debounce, classifier, link upkeep) against the real bridge."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    controller = SimulatedController(think_s=0.1, speak_s=0.1)
    events = []
    bridge = Bridge(controller, os.ttyname(slave), on_event=events.append)
    bridge.start()
    script = ";".join(
        [
            "expect host; expect state idle; expect pair EN>ES; expect volume 60",
            "ptt 1; wait 60; expect state listening; ptt 0; expect state thinking",
            "expect state idle",
            "func 1; wait 60; func 0; expect pair ES>EN",  # short press: swap
            "func 1; wait 50; func 0; wait 80; func 1; wait 50; func 0",  # double: volume step
            "expect volume 80; wait 100",
            "func 1; wait 1100; func 0; expect volume 0",  # long press: mute
            "volume 45; wait 200; swap; expect pair EN>ES",  # a knob and a swap switch
        ]
    )
    try:
        run = subprocess.run(
            [str(firmware_build / "host_device"), script],
            stdin=master,
            stdout=master,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        bridge.stop()
        controller.close()
        os.close(master)
        os.close(slave)
    assert run.returncode == 0, run.stderr
    assert "0 bad frames received" in run.stderr
    states = [record.state for record in controller.history]
    assert states[:5] == ["idle", "listening", "thinking", "speaking", "idle"]
    assert controller.snapshot().language_pair == "EN>ES"
    assert controller.snapshot().volume == 45
    assert any(isinstance(e, LinkUp) and "host-device firmware 1.0.0" in e.device for e in events)
