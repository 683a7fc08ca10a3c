"""`edge bridge`: argument parsing and the simulate / --port runs end to end."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from edge.cli_bridge import add_bridge_parser, handle_bridge
from firmware_bridge.port import BridgeError
from firmware_bridge.protocol import EngineState
from firmware_bridge.simulator import SimulatedDevice


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="edge")
    add_bridge_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["bridge", *argv])


def test_help_is_honest_about_the_controller(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parse("--help")
    text = capsys.readouterr().out
    assert "simulated controller" in text and "edge live" in text and "VID:PID" in text


def test_parsing() -> None:
    args = _parse("--port", "2E8A:000A", "--baud", "9600")
    assert (args.port, args.baud, args.bridge_command, args.handler) == (
        "2E8A:000A",
        9600,
        None,
        handle_bridge,
    )
    args = _parse("--json", "simulate", "--script", "s.txt")
    assert args.json and args.script == Path("s.txt")
    assert _parse("simulate", "--json").json


def test_simulate_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "demo.txt"
    script.write_text("# a press and a swap\nptt hold 300\nwait 1500\ns\nwait 500\n")
    assert handle_bridge(_parse("simulate", "--script", str(script))) == 0
    out = capsys.readouterr().out
    assert "engine state            state=listening previous=idle" in out
    assert "device LED listening: solid blue" in out
    assert "engine language_pair    pair=ES>EN" in out
    assert out.rstrip().splitlines()[-1].startswith("done: LED idle")


def test_simulate_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "demo.txt"
    script.write_text("ptt hold 200\nwait 1200\n")
    assert handle_bridge(_parse("simulate", "--json", "--script", str(script))) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    records = [json.loads(line) for line in lines[:-1]]
    assert {"event": "state", "state": "listening", "previous": "idle"} in records
    assert any(r["event"] == "device_view" and r["state"] == "listening" for r in records)


def test_simulate_prompt(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("volume 20\nwait 300\nbogus\nquit\n"))
    assert handle_bridge(_parse("simulate")) == 0
    out = capsys.readouterr().out
    assert "error: unknown command 'bogus'" in out
    assert "volume 20" in out.rstrip().splitlines()[-1]


def test_user_errors(tmp_path: Path) -> None:
    with pytest.raises(BridgeError, match="no serial port"):
        handle_bridge(_parse())
    with pytest.raises(BridgeError, match="cannot read script"):
        handle_bridge(_parse("simulate", "--script", str(tmp_path / "missing.txt")))
    bad = tmp_path / "bad.txt"
    bad.write_text("wait 10\nvolume 300\n")
    with pytest.raises(BridgeError, match=r"bad.txt:2: .*outside 0..100"):
        handle_bridge(_parse("simulate", "--script", str(bad)))


def test_port_mode_serves_a_device(capsys: pytest.CaptureFixture[str]) -> None:
    with SimulatedDevice() as device:
        assert handle_bridge(_parse("--port", device.port_path, "--seconds", "1.0")) == 0
        assert device.view().state == EngineState.IDLE
    out = capsys.readouterr().out
    assert "bridge link_up" in out and "bridge port_closed" in out
