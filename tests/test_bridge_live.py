"""The handheld end to end: a simulated device on a pseudo-terminal drives a real live
session (Moonshine / Whisper, Bergamot, espeak-ng / Piper) with files as audio devices.

Press -> the LED shows listening; release -> the translation comes out of the output file
with the right words; the volume knob changes the output level; the function button swaps
the direction for the next utterance; unplugging keeps the session going (one notice, the
keyboard still works) and the replugged device is re-attached with the current snapshot.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from edge.audio import read_audio
from edge.engine import SpeechDiscarded
from edge.events import Event, StateChanged, Transcript, Translation
from edge.live import LiveConfig, LiveController, ModelLoader
from edge.live.handheld import Handheld, HandheldChanged
from edge.live.soak import speak, write_wav
from firmware_bridge.protocol import EngineState, Volume
from firmware_bridge.simulator import SimulatedDevice, run_command

from .conftest import ENGLISH_SENTENCES

SPEED = 2.0  # media seconds per wall second: the file plays twice as fast as real time
COFFEE_EN = ENGLISH_SENTENCES[2]  # "I would like a cup of coffee with milk."
COFFEE_PT = "Eu gostaria de um café com leite."


class Log:
    """Events from several threads, awaited by the test."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, kind: type) -> list:
        with self._cond:
            return [e for e in self.events if isinstance(e, kind)]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)


@pytest.fixture(scope="session")
def en_pt(models_dir: Path) -> ModelLoader:
    """Both directions loaded once: English (Moonshine) -> Portuguese (espeak-ng), and
    Portuguese (Whisper base) -> English (Piper joe), Bergamot in between."""
    loader = ModelLoader(LiveConfig(source="en", target="pt", models_dir=str(models_dir)))
    loader.stages("en", "pt")
    loader.stages("pt", "en")
    return loader


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * 16000), np.float32)


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


def _voiced(audio: np.ndarray, rate: int, start_s: float, end_s: float) -> np.ndarray:
    part = audio[int(start_s * rate) : int(end_s * rate)]
    loud = np.flatnonzero(np.abs(part) > 1e-3)
    return part[loud[0] : loud[-1] + 1] if len(loud) else part[:0]


def _words(text: str) -> set[str]:
    return {w.strip(".,?!").lower() for w in text.split() if w.strip(".,?!")}


@pytest.fixture
def link(tmp_path: Path) -> Iterator[Path]:
    """A stable port name (like /dev/serial/by-id/...) that a replugged device takes over."""
    yield tmp_path / "ttyHANDHELD"


def test_handheld_drives_a_live_session(tmp_path: Path, en_pt: ModelLoader, joe, link) -> None:  # noqa: ANN001, PLR0915
    english = speak(joe, COFFEE_EN)
    portuguese = speak(en_pt.stages("en", "pt").tts, COFFEE_PT)
    # (start, end) of each utterance in the input, in media seconds.
    pieces, spans, at = [], [], 0.0
    for gap, speech in ((1.5, english), (6.0, english), (14.0, portuguese)):
        pieces += [_silence(gap), speech]
        spans.append((at + gap, at + gap + len(speech) / 16000))
        at = spans[-1][1]
    pieces.append(_silence(7.0))
    wav = write_wav(tmp_path / "in.wav", np.concatenate(pieces))
    out = tmp_path / "out.wav"
    config = LiveConfig(
        source="en", target="pt", mode="ptt", input=str(wav), output=str(out), speed=SPEED
    )
    config.bridge = str(link)
    log = Log()
    controller = LiveController(config, en_pt.stages, on_event=log)
    first = SimulatedDevice(name="first")
    first_open = True
    link.symlink_to(first.port_path)
    second: SimulatedDevice | None = None
    handheld = Handheld(controller, str(link), on_event=log)
    handheld.start()
    session = threading.Thread(target=controller.run, daemon=True)
    try:
        assert first.wait_for(
            lambda v: v.host_up and v.state == EngineState.IDLE and v.language_pair == "EN>PT", 5
        ), first.view()
        session.start()
        clock = controller._clock  # the file's media clock: presses land on the speech

        def at_media(t: float) -> None:
            assert clock.now() < t, f"the test fell behind the input ({clock.now():.2f} > {t})"
            while clock.now() < t:
                time.sleep(0.005)

        def utterance(device: SimulatedDevice, span: tuple[float, float]) -> float:
            """Press over ``span``; returns the press -> LED listening latency in ms."""
            at_media(span[0] - 0.3)
            pressed = time.monotonic()
            device.ptt(True)
            assert device.wait_for(lambda v: v.state == EngineState.LISTENING, 1)
            latency_ms = (time.monotonic() - pressed) * 1000
            at_media(span[1] + 0.3)
            device.ptt(False)
            return latency_ms

        def replied(count: int) -> Callable[[], bool]:
            return lambda: len(log.of(Translation)) >= count and controller.state == "idle"

        # 1. Press -> listening LED; release -> thinking, speaking, idle on the device.
        latency_ms = utterance(first, spans[0])
        assert latency_ms < 100, latency_ms
        assert log.wait_for(replied(1), 15)
        assert first.wait_for(lambda v: v.state == EngineState.IDLE, 2)
        shown = [s for _t, s in first.state_log]
        assert shown[-4:] == [
            EngineState.LISTENING,
            EngineState.THINKING,
            EngineState.SPEAKING,
            EngineState.IDLE,
        ], shown

        # 2. The volume knob (a VOLUME message): quieter output for the same utterance.
        first.send(Volume(40))
        assert log.wait_for(lambda: controller.snapshot().volume == 40, 2)
        utterance(first, spans[1])
        assert log.wait_for(replied(2), 15)

        # 3. Unplugged: one notice, the session goes on, the keyboard still drives it.
        first.close()
        first_open = False
        assert log.wait_for(lambda: any(not e.attached for e in log.of(HandheldChanged)), 3)
        time.sleep(1.2)  # the bridge retries the port meanwhile: still a single notice
        assert [e.attached for e in log.of(HandheldChanged)] == [True, False]
        assert session.is_alive() and controller.state != "error"
        discarded = len(log.of(SpeechDiscarded))
        controller.ptt_down()  # what the terminal key does
        assert controller.state == "listening"
        time.sleep(0.3)
        controller.ptt_up()
        assert log.wait_for(lambda: len(log.of(SpeechDiscarded)) > discarded, 5)  # silence

        # 4. Replugged under the same name: re-attached, the snapshot shown again.
        second = SimulatedDevice(name="second")
        replug = tmp_path / "new-link"
        replug.symlink_to(second.port_path)
        replug.replace(link)
        assert second.wait_for(
            lambda v: (
                v.host_up
                and v.state == EngineState.IDLE
                and v.language_pair == "EN>PT"
                and v.volume == 40
            ),
            5,
        ), second.view()
        assert [e.attached for e in log.of(HandheldChanged)] == [True, False, True]

        # 5. Swap (function button, short press): the next utterance goes PT -> EN.
        run_command(second, "s", time.sleep)
        assert second.wait_for(lambda v: v.language_pair == "PT>EN", 10), second.view()
        second.send(Volume(80))
        utterance(second, spans[2])
        assert log.wait_for(replied(3), 20)
        session.join(timeout=20)
        assert not session.is_alive()
    finally:
        controller.stop()
        if session.is_alive():
            session.join(timeout=5)
        handheld.stop()
        if first_open:
            first.close()
        if second is not None:
            second.close()

    transcripts, translations = log.of(Transcript), log.of(Translation)
    assert [t.lang for t in transcripts] == ["eng_Latn", "eng_Latn", "por_Latn"]
    assert [t.lang for t in translations] == ["por_Latn", "por_Latn", "eng_Latn"]
    assert "coffee" in transcripts[0].text.lower()
    assert "coffee" in translations[2].text.lower(), translations[2]
    states = [e.state for e in log.of(StateChanged)]
    assert "error" not in states

    # What the output device played, heard again by the recognizers.
    audio = read_audio(out)  # 16 kHz
    replies = [
        _voiced(audio, 16000, spans[0][1], spans[1][0]),
        _voiced(audio, 16000, spans[1][1], spans[2][0]),
        _voiced(audio, 16000, spans[2][1], len(audio) / 16000),
    ]
    assert all(len(r) > 8000 for r in replies), [len(r) for r in replies]
    # Volume 80 -> 40: gain (level / 100) squared, so a quarter of the amplitude.
    ratio = _rms(replies[1]) / _rms(replies[0])
    assert 0.2 < ratio < 0.3, ratio
    # espeak-ng Portuguese defeats the recognizers; its own rendering of the translation is
    # the reference instead (the engine may synthesize it phrase by phrase: lengths agree).
    reference = speak(en_pt.stages("en", "pt").tts, translations[0].text)
    assert 0.75 < len(replies[0]) / len(reference) < 1.33, (len(replies[0]), len(reference))
    moonshine = en_pt.stages("en", "pt").segment_asr
    heard_en = moonshine.recognize(replies[2], "eng_Latn").text
    assert "coffee" in heard_en.lower(), heard_en


def test_a_vid_pid_handheld_is_found_again_after_an_unplug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """By USB id the port is looked up again (pyserial's list_ports) until it reappears,
    under whatever name it gets; the session is told once each way."""
    from types import SimpleNamespace

    from firmware_bridge import port as port_module
    from firmware_bridge.controller import SimulatedController

    plugged: list[SimpleNamespace] = []
    monkeypatch.setattr(port_module.list_ports, "comports", lambda: list(plugged))
    log = Log()
    controller = SimulatedController()
    with Handheld(controller, "2E8A:000A", on_event=log) as handheld:
        assert log.wait_for(lambda: len(log.of(HandheldChanged)) == 1, 3)  # not there yet
        first = SimulatedDevice(name="first")
        plugged.append(SimpleNamespace(device=first.port_path, vid=0x2E8A, pid=0x000A))
        assert first.wait_for(lambda v: v.host_up and v.state == EngineState.IDLE, 5)
        plugged.clear()
        first.close()
        assert log.wait_for(lambda: len(log.of(HandheldChanged)) == 3, 3)
        time.sleep(1.2)  # retries find nothing: no more notices
        second = SimulatedDevice(name="second")
        controller.set_volume(25)  # changed while unplugged: shown once it is back
        plugged.append(SimpleNamespace(device=second.port_path, vid=0x2E8A, pid=0x000A))
        assert second.wait_for(lambda v: v.host_up and v.volume == 25, 5)
        assert handheld.attached and (handheld.attachments, handheld.detachments) == (2, 1)
    second.close()  # after the session: stopping is not an unplug
    notices = log.of(HandheldChanged)
    assert [e.attached for e in notices] == [False, True, False, True]
    assert notices[0].detail.startswith("not found") and "second" in notices[3].detail
    controller.close()


def test_bridge_settings_from_the_config_file_and_flags(tmp_path: Path) -> None:
    from edge.cli.live import add_parser
    from edge.cli.options import given
    from edge.live.config import ConfigError, apply, load_config

    (tmp_path / "in.wav").write_bytes(b"")
    path = tmp_path / "live.toml"
    path.write_text(
        'from = "en"\nto = "pt"\nmode = "ptt"\n[audio]\ninput = "in.wav"\n'
        '[bridge]\nport = "2E8A:000A"\n'
    )
    config = load_config(path)
    assert (config.bridge, config.bridge_baud) == ("2E8A:000A", 115200)
    config.validate()  # push-to-talk on a file: the presses come from the handheld
    with pytest.raises(ConfigError, match="needs the presses"):
        apply(config, {"bridge": ""}).validate()
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["live", "--bridge", "/dev/ttyACM0", "--bridge-baud", "9600"])
    values = given(args, LiveConfig)
    assert (values["bridge"], values["bridge_baud"]) == ("/dev/ttyACM0", 9600)
