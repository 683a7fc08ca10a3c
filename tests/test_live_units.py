"""Live mode pieces without models: queues, key decoding, config, scripts, device errors."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from edge.engine import OWN_VOICE, AudioBlock, PushToTalk
from edge.errors import InputError
from edge.live import aec
from edge.live.config import ConfigError, LiveConfig, apply, load_config
from edge.live.devices import (
    PA_DEVICE_UNAVAILABLE,
    PA_INVALID_SAMPLE_RATE,
    DeviceError,
    DeviceInfo,
    PortAudio,
    open_error,
)
from edge.live.filedev import EchoPath, MediaClock, Room, read_ptt_script
from edge.live.keyboard import FIRST_REPEAT_S, KeyDecoder
from edge.live.streams import SESSION_SOUND, CaptureQueue, PlaybackQueue

BLOCK = 320  # 20 ms at 16 kHz


def _block(value: float) -> np.ndarray:
    return np.full(BLOCK, value, np.float32)


def test_capture_queue_keeps_presses_where_they_happened() -> None:
    q = CaptureQueue(max_backlog_s=10, block_s=0.02)
    q.push_audio(_block(0.1), 1.0)
    q.push_control(PushToTalk(True, 1.01))
    q.push_audio(_block(0.2), 1.02)
    q.push_audio(_block(0.3), 1.04)
    q.push_control(PushToTalk(False, 1.05))
    items = q.take(0.1)
    assert items is not None
    kinds = [
        ("press" if i.pressed else "release") if isinstance(i, PushToTalk) else float(i.samples[0])
        for i in items
    ]
    assert kinds == [pytest.approx(0.1), "press", pytest.approx(0.2), pytest.approx(0.3), "release"]
    assert q.take(0.01) == []
    q.close()
    assert q.take(0.01) is None


def test_capture_queue_drops_oldest_when_behind_and_keeps_the_timeline() -> None:
    q = CaptureQueue(max_backlog_s=0.1, block_s=0.02)  # room for 5 blocks
    first = q.take(0.01)
    assert first == []
    for i in range(9):
        q.push_audio(_block(i / 10), 1.0 + i * 0.02)
    items = q.take(0.1)
    assert items is not None
    blocks = [i for i in items if isinstance(i, AudioBlock)]
    # 4 oldest blocks were dropped: counted, and replaced by silence of the same length.
    assert q.dropped_blocks == 4
    total = sum(len(b.samples) for b in blocks)
    assert total == 5 * BLOCK  # no earlier block had set the length of the gap yet
    q.push_audio(_block(0.9), 2.0)
    for i in range(7):
        q.push_audio(_block(0.5), 2.02 + i * 0.02)
    items = q.take(0.1)
    assert items is not None
    samples = np.concatenate([i.samples for i in items if isinstance(i, AudioBlock)])
    assert len(samples) == 8 * BLOCK  # 3 dropped blocks came back as silence
    assert q.dropped_blocks == 7
    assert q.dropped_s == pytest.approx(3 * BLOCK / 16000)
    assert np.all(samples[: 3 * BLOCK] == 0)


def test_capture_queue_gate_mutes_blocks_and_maps_positions_to_time() -> None:
    q = CaptureQueue(max_backlog_s=10, block_s=0.02)
    q.gate = lambda wall: 1.02 <= wall < 1.06
    for i in range(4):
        q.push_audio(_block(0.5), 1.0 + i * 0.02)
    items = q.take(0.1)
    assert items is not None
    levels = [float(np.abs(i.samples).max()) for i in items if isinstance(i, AudioBlock)]
    assert levels == [0.5, 0.0, 0.0, 0.5]
    assert q.gated_s == pytest.approx(2 * BLOCK / 16000)
    # Block k ends at position (k + 1) * 320 and arrived at 1.0 + 0.02 k.
    assert q.wall_of(640 / 16000) == pytest.approx(1.02)
    assert q.wall_of(800 / 16000) == pytest.approx(1.03)


def test_playback_queue_plays_in_order_and_stops_at_once_on_barge_in() -> None:
    q = PlaybackQueue()
    q.sample_rate = 1000
    q.enqueue(1, np.ones(30, np.float32))
    q.enqueue(2, np.full(30, 0.5, np.float32))
    out = q.render(40, now=10.0)
    assert np.allclose(out[:30], 1.0) and np.allclose(out[30:], 0.5)
    assert [uid for uid, _ in q.started] == [1, 2]
    assert q.started[0][1] == pytest.approx(10.0) and q.started[1][1] == pytest.approx(10.03)
    assert q.busy and q.audible_until == pytest.approx(10.04)
    q.drop_through(2)  # barge-in while utterance 2 plays
    assert not np.any(q.render(40, now=10.04))
    assert not q.busy and q.stopped_at == pytest.approx(10.04)
    q.enqueue(2, np.ones(10, np.float32))  # late audio of a dropped utterance
    assert not q.busy
    q.gain = 0.25
    q.enqueue(3, np.ones(10, np.float32))
    assert np.allclose(q.render(10, now=11.0), 0.25)


def test_a_paused_phrase_goes_on_from_a_gap_and_never_loops() -> None:
    """hold()/release(): a phrase goes on from the quietest 20 ms (a gap between words) in
    the 0.5 s before the cut, never before where it last went on; release(from_start=True)
    plays it again from its start."""
    q = PlaybackQueue()
    q.sample_rate = 1000
    phrase = np.ones(2000, np.float32)
    phrase[700:760] = 0.0  # a gap between two words, 0.3 s before the cut below
    q.enqueue(1, phrase)
    q.render(1000, now=0.0)
    q.hold()
    assert not np.any(q.render(100, now=1.0))
    q.release()
    out = q.render(100, now=1.1)
    # From 750, the middle of the gap's last 20 ms.
    assert np.allclose(out[:10], 0.0) and np.allclose(out[10:], 1.0)
    # Paused again at once: nothing is replayed twice, so pauses over and over still progress.
    q.hold()
    q.render(10, now=1.2)
    q.release()
    assert np.allclose(q.render(100, now=1.3), 1.0)
    # After a hold of seconds (the grace window) the phrase plays again from its start.
    q.hold()
    q.render(10, now=1.4)
    q.release(from_start=True)
    out = q.render(800, now=1.5)
    assert np.allclose(out[:700], 1.0) and np.allclose(out[700:760], 0.0)  # from the start


def test_the_ready_sound_is_dropped_by_any_barge_in_and_is_not_speaking() -> None:
    q = PlaybackQueue()
    q.sample_rate = 1000
    q.enqueue(SESSION_SOUND, np.ones(100, np.float32))
    assert q.busy and not q.speaking  # the LEDs stay idle for it
    q.render(10, now=0.0)
    q.drop_through(SESSION_SOUND)  # the first utterance's barge-in drops through id 0
    assert not np.any(q.render(10, now=0.01)) and not q.busy
    q.enqueue(1, np.ones(10, np.float32))
    assert q.speaking


@pytest.mark.skipif(not aec.available(), reason=f"no AEC: {aec.unavailable_reason()}")
@pytest.mark.parametrize("someone_spoke_since", [False, True])
def test_a_hold_by_the_devices_own_voice_ends_when_it_is_found_out(
    tmp_path: Path, someone_spoke_since: bool
) -> None:
    """An onset in the grace window holds the reply (the speaker going on); found to be the
    device's own voice, the reply goes on at once instead of when the window ends, unless
    someone started speaking since."""
    from edge.events import SpeechDiscarded, SpeechEnded, SpeechStarted
    from edge.live.controller import LiveController

    wav = tmp_path / "in.wav"
    wav.write_bytes(b"")  # never opened: the session does not run
    config = LiveConfig(
        source="en", target="en", input=str(wav), output=str(tmp_path / "o.wav"), duplex="full"
    )
    controller = LiveController(config, lambda _s, _t: None)  # type: ignore[arg-type,return-value]
    queue = controller._playback_q
    queue.sample_rate = 1000
    controller._on_engine_event(SpeechStarted(1, 0.5))
    controller._on_engine_event(SpeechEnded(1, 0.5, 2.0))  # confirmed at 2.6 s
    queue.enqueue(1, np.ones(5000, np.float32))  # its reply plays
    queue.render(100, now=0.0)
    controller._on_engine_event(SpeechStarted(2, 3.0))  # in the grace window: a hold
    assert queue.held
    if someone_spoke_since:
        controller._on_engine_event(SpeechStarted(3, 3.4))
    controller._on_engine_event(SpeechDiscarded(2, 3.0, OWN_VOICE))
    assert queue.held == someone_spoke_since
    assert controller._stats(1.0).resumed == (0 if someone_spoke_since else 1)


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def ptt_down(self) -> None:
        self.calls.append("down")

    def ptt_up(self) -> None:
        self.calls.append("up")

    def swap_languages(self) -> None:
        self.calls.append("swap")

    def set_volume(self, level: int) -> None:
        self.calls.append(f"volume {level}")

    def stop(self) -> None:
        self.calls.append("stop")


def test_held_key_releases_when_autorepeat_stops() -> None:
    target = _Recorder()
    keys = KeyDecoder(target, " ")
    keys.feed(" ", 0.0)
    keys.tick(0.3)  # before the first autorepeat: still held
    for t in np.arange(0.5, 2.0, 0.033):
        keys.feed(" ", float(t))
        keys.tick(float(t) + 0.01)
    assert target.calls == ["down"]
    keys.tick(2.0 + 0.2)
    assert target.calls == ["down", "up"]


def test_tapped_key_latches_until_the_next_tap() -> None:
    target = _Recorder()
    keys = KeyDecoder(target, " ", volume=50)
    keys.feed(" ", 0.0)
    keys.tick(FIRST_REPEAT_S + 0.1)
    keys.tick(5.0)
    assert target.calls == ["down"]
    keys.feed(" ", 6.0)
    assert target.calls == ["down", "up"]
    for char in "s+-q":
        keys.feed(char, 7.0)
    assert target.calls[2:] == ["swap", "volume 60", "volume 50", "stop"]


def test_toml_config_with_flags_on_top(tmp_path: Path) -> None:
    (tmp_path / "in.wav").write_bytes(b"")
    config_file = tmp_path / "live.toml"
    config_file.write_text(
        """
from = "es"
to = "en"
mode = "ptt"

[audio]
input = "in.wav"
output = "USB Audio"
volume = 60
ready_sound = false

[vad]
hangover_s = 0.8
threshold = 0.4

[ptt]
script = "presses.txt"
tail_s = 0.1

[models]
asr = "models/asr"
tts = { en = "voices/en", es = "/abs/es" }
mt = ["a", "b"]

[runtime]
threads = 4
"""
    )
    config = load_config(config_file)
    assert (config.source, config.target, config.mode) == ("es", "en", "ptt")
    assert config.input == str(tmp_path / "in.wav") and config.input_is_file
    assert config.output == "USB Audio" and not config.output_is_file
    assert config.hangover_s == 0.8 and config.vad_threshold == 0.4 and config.ptt_tail_s == 0.1
    assert config.ptt_script == str(tmp_path / "presses.txt")
    assert config.asr == str(tmp_path / "models/asr")
    assert config.tts == {"en": str(tmp_path / "voices/en"), "es": "/abs/es"}
    assert config.mt == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert config.threads == 4 and config.volume == 60
    config = apply(config, {"mode": "vad", "hangover_s": 0.5, "volume": None, "ptt_script": None})
    assert config.mode == "vad" and config.hangover_s == 0.5 and config.volume == 60
    assert config.ready_sound is False  # a setting on by default, off in the file ...
    from edge.cli import build_parser
    from edge.cli.options import given

    for flags, expected in [([], False), (["--ready-sound"], True), (["--no-ready-sound"], False)]:
        args = build_parser().parse_args(["live", "--from", "es", "--to", "en", *flags])
        assert apply(config, given(args, LiveConfig)).ready_sound is expected  # ... flags on top


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[vad]\nhangover = 1\n", r"unknown setting \[vad\] hangover"),
        ("[sound]\ninput = 1\n", "unknown setting sound"),
        ('[vad]\nhangover_s = "long"\n', "wrong type"),
        ("two_way = 1\n", "wrong type"),
        ("from = \n", "not valid TOML"),
    ],
)
def test_bad_config_files_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"source": ""}, "language pair"),
        ({"mode": "walkie"}, "unknown mode"),
        ({"speed": 2.0, "input": "mic"}, "speed"),
        ({"mode": "ptt", "input": "a.wav", "output": "b.wav"}, "needs the presses"),
        ({"ptt_script": "p.txt", "input": "USB"}, "needs a file as input"),
        ({"volume": 120}, "volume"),
    ],
)
def test_invalid_settings_are_rejected(values: dict[str, object], message: str) -> None:
    config = apply(LiveConfig(source="en", target="es"), values)
    if "source" in values:
        config.source = ""
    with pytest.raises(ConfigError, match=message):
        config.validate()


def test_ptt_script_parsing(tmp_path: Path) -> None:
    script = tmp_path / "presses.txt"
    script.write_text("# press release\n1.0 2.5\n\n4, 6.25  # second\n")
    assert read_ptt_script(script) == [(1.0, 2.5), (4.0, 6.25)]
    script.write_text("1.0 2.5\n2.0 3.0\n")
    with pytest.raises(InputError, match="overlap"):
        read_ptt_script(script)
    script.write_text("3 1\n")
    with pytest.raises(InputError, match="after the press"):
        read_ptt_script(script)
    script.write_text("soon later\n")
    with pytest.raises(InputError, match="expected two times"):
        read_ptt_script(script)


def test_media_clock_runs_at_its_speed_and_stops() -> None:
    clock = MediaClock(speed=4.0)
    clock.start()
    assert clock.sleep_until(0.2)  # 50 ms of wall time
    assert clock.now() >= 0.2
    assert clock.wall_of(0.4) - clock.wall_of(0.0) == pytest.approx(0.1)
    stopper = threading.Timer(0.05, clock.stopped.set)
    stopper.start()
    assert not clock.sleep_until(100.0)


def test_echo_path_returns_what_was_played() -> None:
    echo = EchoPath(gain=0.5, output_rate=16000)
    echo.feed(np.ones(100, np.float32))
    out = echo.take(0, 150)
    assert np.allclose(out[:100], 0.5) and np.all(out[100:] == 0)


def test_room_echo_is_delayed_reverberant_and_as_loud_as_asked() -> None:
    room = Room(delay_s=0.05, rt60_s=0.3, noise_dbfs=-120.0)
    echo = EchoPath(gain=0.5, output_rate=16000, room=room)
    played = np.random.default_rng(1).normal(0, 0.1, 16000).astype(np.float32)
    echo.feed(played)
    # Block by block, by media position: the same as one piece.
    out = np.concatenate([echo.take(i, 512) for i in range(0, 16000, 512)])[:16000]
    whole = np.convolve(played, room.impulse_response())[:16000] * 0.5
    assert np.allclose(out, whole, atol=1e-4)
    assert np.all(np.abs(out[:800]) < 1e-4)  # nothing before the 50 ms delay
    level = np.sqrt(np.mean(out[8000:] ** 2)) / np.sqrt(np.mean(played**2))
    assert 0.4 < level < 0.6


DEVICE = DeviceInfo(3, "USB Audio Device", "ALSA", 1, 2, 48000)


def test_portaudio_errors_become_clear_messages() -> None:
    busy = open_error(OSError(PA_DEVICE_UNAVAILABLE, "Device unavailable"), DEVICE, "output", 48000)
    assert (
        isinstance(busy, DeviceError) and "busy" in str(busy) and "close the program" in str(busy)
    )
    rate = open_error(OSError(PA_INVALID_SAMPLE_RATE, "Invalid sample rate"), DEVICE, "input", 8000)
    assert "8000 Hz" in str(rate) and "native 48000 Hz" in str(rate)


class _FakePyAudio:
    """PortAudio's device list and format checks for a two-device machine."""

    paFloat32 = 1

    def __init__(self, rates: set[int]) -> None:
        self.rates = rates
        self.devices = [
            {"name": "HDA Intel PCH: ALC257 Analog (hw:0,0)", "hostApi": 0, "maxInputChannels": 2,
             "maxOutputChannels": 2, "defaultSampleRate": 44100.0},
            {"name": "USB Audio Device: - (hw:1,0)", "hostApi": 0, "maxInputChannels": 1,
             "maxOutputChannels": 0, "defaultSampleRate": 48000.0},
        ]  # fmt: skip

    def get_device_count(self) -> int:
        return len(self.devices)

    def get_device_info_by_index(self, index: int) -> dict:
        return {"index": index, **self.devices[index]}

    def get_host_api_info_by_index(self, _index: int) -> dict:
        return {"name": "ALSA"}

    def get_default_input_device_info(self) -> dict:
        return self.get_device_info_by_index(0)

    def get_default_output_device_info(self) -> dict:
        return self.get_device_info_by_index(0)

    def is_format_supported(self, rate: int, **kwargs: int) -> bool:
        if rate not in self.rates:
            raise ValueError("Invalid sample rate")
        return True


def _host(rates: set[int]) -> PortAudio:
    host = PortAudio.__new__(PortAudio)
    host.module = _FakePyAudio
    host.pa = _FakePyAudio(rates)
    return host


def test_devices_are_chosen_by_index_name_or_default() -> None:
    host = _host({44100, 48000})
    assert host.resolve(None, "input").index == 0
    assert host.resolve("1", "input").name.startswith("USB")
    assert host.resolve("usb", "input").index == 1
    with pytest.raises(DeviceError, match="no output device matches 'usb'"):
        host.resolve("usb", "output")
    with pytest.raises(DeviceError, match="no input device with index 7"):
        host.resolve("7", "input")
    usb = host.resolve("usb", "input")
    assert host.negotiate(usb, "input", None) == (48000, 1)


def test_unsupported_rates_are_explained() -> None:
    host = _host({44100})
    usb = host.resolve("usb", "input")
    assert host.negotiate(usb, "input", None) == (44100, 1)  # native 48 kHz refused: fall back
    with pytest.raises(DeviceError, match="does not support 16000 Hz"):
        host.negotiate(usb, "input", 16000)
    nothing = _host(set())
    with pytest.raises(DeviceError, match="none of the usual formats"):
        nothing.negotiate(nothing.resolve("usb", "input"), "input", None)


def test_no_capture_device_is_a_clear_error() -> None:
    host = _host({48000})
    host.pa.devices = [d for d in host.pa.devices if d["maxOutputChannels"] > 0]
    for d in host.pa.devices:
        d["maxInputChannels"] = 0
    with pytest.raises(DeviceError, match="no input sound device found"):
        host.resolve(None, "input")
