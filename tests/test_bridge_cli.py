"""`edge bridge`: argument parsing and the simulate / --port runs end to end."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edge.cli.bridge import add_parser as add_bridge_parser
from edge.cli.bridge import run as handle_bridge
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
    assert "simulated controller" in text and "edge live --bridge" in text and "VID:PID" in text
    assert "--from" in text and "--input" in text  # the live session's options


def test_parsing() -> None:
    args = _parse("--port", "2E8A:000A", "--baud", "9600")
    assert (args.port, args.baud, args.bridge_command, args.handler) == (
        "2E8A:000A",
        9600,
        None,
        handle_bridge,
    )
    args = _parse("--port", "/dev/ttyACM0", "--from", "en", "--to", "es", "--mode", "vad")
    assert (args.source, args.target, args.mode, args.baud) == ("en", "es", "vad", None)
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


def test_port_mode_serves_a_device_with_a_live_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], moonshine_dir: Path, joe_dir: Path
) -> None:
    """`edge bridge --port` runs `edge live --bridge PORT`: push-to-talk by default."""
    wav = tmp_path / "in.wav"
    sf.write(wav, np.zeros(16000 * 3, np.float32), 16000)
    session = ["--from", "en", "--to", "en", "--asr", str(moonshine_dir), "--tts", str(joe_dir)]
    files = ["--input", str(wav), "--output", str(tmp_path / "out.wav"), "--speed", "2"]
    with SimulatedDevice() as device:
        args = _parse("--port", device.port_path, "--seconds", "3.0", *session, *files, "--json")
        assert handle_bridge(args) == 0
        assert device.view().state == EngineState.IDLE
        assert device.view().language_pair == "EN>EN"
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    events = [r["event"] for r in records]
    assert "link_up" in events and "port_closed" in events  # the bridge's log
    start = next(r for r in records if r["event"] == "session_start")
    assert start["mode"] == "ptt"
    assert {"event": "handheld", "attached": True}.items() <= next(
        r for r in records if r["event"] == "handheld"
    ).items()
    assert (tmp_path / "out.wav").is_file()
