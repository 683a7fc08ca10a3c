"""Full duplex: echo cancellation (WebRTC AEC3 for the VAD, speexdsp's linear filter for the
recognizer) keeps the microphone open while the device speaks. Files as devices, the
speaker fed back through a simulated room (delay, reverb, noise), on the real models
(Moonshine tiny, Piper joe)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.asr.base import SAMPLE_RATE
from edge.engine import OWN_VOICE
from edge.events import SpeechDiscarded, SpeechStarted, Transcript
from edge.live import LiveConfig, LiveController, speexdsp
from edge.live import aec as aec_module
from edge.live.config import ConfigError
from edge.live.controller import resolve_duplex
from edge.live.events import Playback, SessionStarted
from edge.live.filedev import EchoPath, Room
from edge.live.soak import Turn, run_session, speak, write_wav

from .conftest import ENGLISH_SENTENCES
from .test_asr import normalized
from .test_live_session import _config, _same_texts, _silent_from, english  # noqa: F401

pytestmark = pytest.mark.skipif(
    not aec_module.available(), reason=f"no AEC: {aec_module.unavailable_reason()}"
)
ECHO = {"simulate_echo": 1.0, "volume": 100}  # the echo as loud as the user (0 dB), 40 ms, RT60 0.3


def _rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


def test_echo_canceller_removes_a_room_echo_and_keeps_the_user(joe) -> None:  # noqa: ANN001
    far = np.concatenate([speak(joe, ENGLISH_SENTENCES[0]), speak(joe, ENGLISH_SENTENCES[1])])
    user = speak(joe, ENGLISH_SENTENCES[2])
    room = EchoPath(1.0, SAMPLE_RATE, Room(delay_s=0.05, rt60_s=0.3))
    room.feed(far)
    near = np.zeros_like(far)
    at = len(far) - len(user)
    near[at:] = user
    aec = aec_module.EchoCanceller()
    out, echo = np.zeros_like(far), np.zeros_like(far)
    for i in range(0, len(far), 512):  # 32 ms blocks, as the capture queue delivers them
        aec.process_render(far[i : i + 512])
        echo[i : i + 512] = room.take(i, len(far[i : i + 512]))
        out[i : i + 512] = aec.process_capture(near[i : i + 512] + echo[i : i + 512]).detect
    out = out[aec_module.FRAME :]  # the canceller's 10 ms
    echo_only = slice(SAMPLE_RATE, at)  # after a second to converge, before the user speaks
    assert _rms_db(echo[echo_only]) - _rms_db(out[echo_only]) > 20  # the echo is gone
    assert _rms_db(out[at:]) > _rms_db(user) - 10  # the user is not
    assert aec.cpu_s < 0.25 * len(far) / SAMPLE_RATE


def _double_talk(
    joe,  # noqa: ANN001
    aec: aec_module.EchoCanceller,
    jitter_s: float = 0.0,
    room: Room | None = None,
) -> tuple[np.ndarray, aec_module.Cancelled, np.ndarray, int]:
    """The device speaks five sentences; the user starts over the fifth, 1.5 s before it
    ends. Blocks of 32 ms with wall times (jittered by up to ``jitter_s``) as the capture
    queue gives them. Returns the user's signal, what came out, the echo, and the onset."""
    far = np.concatenate([speak(joe, s) for s in ENGLISH_SENTENCES[:5]])
    user_speech = speak(joe, ENGLISH_SENTENCES[5])
    at = len(far) - int(1.5 * SAMPLE_RATE)
    n = at + len(user_speech) + SAMPLE_RATE
    far = np.concatenate([far, np.zeros(n - len(far), np.float32)])
    user = np.zeros(n, np.float32)
    user[at : at + len(user_speech)] = user_speech
    path = EchoPath(1.0, SAMPLE_RATE, room or Room(delay_s=0.05, rt60_s=0.3))
    path.feed(far)
    rng = np.random.default_rng(7)
    heard, detect, echo = np.zeros(n, np.float32), np.zeros(n, np.float32), np.zeros(n, np.float32)
    for i in range(0, n, 512):
        block = far[i : i + 512]
        aec.process_render(block, 100.0 + i / SAMPLE_RATE + rng.uniform(-jitter_s, jitter_s))
        echo[i : i + len(block)] = path.take(i, len(block))
        end_wall = 100.0 + (i + len(block)) / SAMPLE_RATE + rng.uniform(-jitter_s, jitter_s)
        out = aec.process_capture(user[i : i + 512] + echo[i : i + len(block)], end_wall)
        heard[i : i + len(block)], detect[i : i + len(block)] = out.heard, out.detect
    shift = aec_module.FRAME  # the canceller's 10 ms
    out = aec_module.Cancelled(heard[shift:], detect[shift:])
    return user[: n - shift], out, echo[: n - shift], at


def test_double_talk_keeps_the_users_onset_for_the_recognizer(joe) -> None:  # noqa: ANN001
    """AEC3's suppressor takes the user's first syllables over the device's voice down (the
    words then get misheard); the recognizer's signal, from the linear filter, keeps them."""
    aec = aec_module.EchoCanceller()
    assert aec.linear, "libspeexdsp1 is not installed (sudo apt install libspeexdsp1)"
    user, out, echo, at = _double_talk(joe, aec, jitter_s=0.004)
    onset = slice(at, at + int(0.3 * SAMPLE_RATE))  # the first 300 ms, over the device
    # The echo there is 3.6 dB louder than the user. The recognizer's signal: the user, with a
    # residue 9 dB below it (measured) ...
    heard_error = _rms_db(out.heard[onset] - user[onset])
    assert _rms_db(user[onset]) - heard_error > 6
    # ... where the VAD's has lost the user's onset (its error as loud as the user: 0.3 dB).
    assert _rms_db(out.detect[onset] - user[onset]) - heard_error > 6
    # ... and the echo alone is suppressed harder there than in the recognizer's.
    echo_only = slice(at - 2 * SAMPLE_RATE, at)
    assert _rms_db(echo[echo_only]) - _rms_db(out.detect[echo_only]) > 30
    assert _rms_db(echo[echo_only]) - _rms_db(out.heard[echo_only]) > 12
    assert aec.linear_erle_db is not None and aec.linear_erle_db > aec_module.CONVERGED_DB
    assert aec.slips == 0  # 4 ms of jitter never re-anchors a stream


def test_an_unconverged_linear_filter_leaves_the_recognizer_on_aec3(joe) -> None:  # noqa: ANN001
    """An echo the filter cannot reach (a room delay of 400 ms, past its 250 ms) never
    converges: the recognizer then gets AEC3's signal, echo-free."""
    aec = aec_module.EchoCanceller()
    user, out, echo, at = _double_talk(joe, aec, room=Room(delay_s=0.4, rt60_s=0.2))
    echo_only = slice(at - 2 * SAMPLE_RATE, at)
    assert aec.linear_erle_db is None or aec.linear_erle_db < aec_module.CONVERGED_DB
    assert not aec.converged
    np.testing.assert_array_equal(out.heard[echo_only], out.detect[echo_only])  # AEC3's
    assert _rms_db(echo[echo_only]) - _rms_db(out.heard[echo_only]) > 30


def test_without_the_linear_filter_the_recognizer_hears_aec3(
    joe,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No libspeexdsp: full duplex still runs, on AEC3's signal alone (as before the filter)."""
    monkeypatch.setattr(speexdsp, "unavailable_reason", lambda: "libspeexdsp.so.1 is missing")
    aec = aec_module.EchoCanceller()
    assert not aec.linear
    _user, out, _echo, _at = _double_talk(joe, aec)
    np.testing.assert_array_equal(out.heard, out.detect)  # AEC3's signal, the VAD's
    assert aec.linear_seconds == 0


ROOMS = [Room(0.04, 0.3), Room(0.02, 0.2), Room(0.08, 0.4)]  # tools/duplex_eval.py's rooms
LEVELS_DB = [-3.0, -6.0, 0.0]  # their echo, relative to the user


def _first_reply_onsets(joe, ready_sound: bool) -> list[float]:  # noqa: ANN001
    """A session's first reply starts 4 s in, the user 0.4 s into it (the reply stops 0.5 s
    later: a barge-in): how late the VAD on AEC3's signal hears the user, per sentence and
    room; with or without the ready sound at the session's start."""
    from edge.vad import VadSegmenter

    sentences = [speak(joe, s) for s in ENGLISH_SENTENCES]
    late = []
    for room, level in zip(ROOMS, LEVELS_DB, strict=True):
        for k, user_speech in enumerate(sentences):
            reply_at, onset = 4 * SAMPLE_RATE, int(4.4 * SAMPLE_RATE)
            n = onset + len(user_speech) + SAMPLE_RATE
            far = np.zeros(n, np.float32)
            if ready_sound:
                sound = aec_module.ready_sound(SAMPLE_RATE)
                far[SAMPLE_RATE // 10 : SAMPLE_RATE // 10 + len(sound)] = sound
            reply = sentences[(k + 1) % len(sentences)][: onset + SAMPLE_RATE // 2 - reply_at]
            far[reply_at : reply_at + len(reply)] = reply
            far *= 10 ** (level / 20)
            path = EchoPath(1.0, SAMPLE_RATE, room)
            path.feed(far)
            mic = np.concatenate([path.take(i, 512) for i in range(0, n, 512)])[:n]
            mic[onset : onset + len(user_speech)] += user_speech
            aec, vad = aec_module.EchoCanceller(), VadSegmenter()
            starts = []
            for i in range(0, n, 512):
                aec.process_render(far[i : i + 512])
                detect = aec.process_capture(mic[i : i + 512]).detect
                starts += [u.started_at_s for u in vad.accept(detect) if u.started_at_s]
            heard = [t for t in starts if t > onset / SAMPLE_RATE - 0.3]
            late.append(heard[0] - onset / SAMPLE_RATE if heard else 9.0)
    return late


def test_the_ready_sound_teaches_aec3_the_room_before_the_first_reply(joe) -> None:  # noqa: ANN001
    """Without it, AEC3 meets the room in the first reply and takes the first syllables of a
    user who talks over it, so the VAD opens late; after it, the VAD hears them in time."""
    without, with_sound = _first_reply_onsets(joe, False), _first_reply_onsets(joe, True)
    # Measured (18 cases, deterministic): median 0.21 s without, 0.125 s with; the worst
    # cases (0.6-0.7 s, a plosive under the reply's loudest syllables) stay.
    assert np.median(with_sound) < np.median(without) - 0.05, (without, with_sound)


@pytest.fixture(scope="session")
def talk_over(tmp_path_factory: pytest.TempPathFactory, joe) -> tuple[Path, list[Turn]]:  # noqa: ANN001
    """A two-sentence turn (a long reply), then a turn that starts while the reply plays."""
    reply = [ENGLISH_SENTENCES[0], ENGLISH_SENTENCES[2]]
    first = np.concatenate([speak(joe, reply[0]), np.zeros(4800), speak(joe, reply[1])])
    second = speak(joe, ENGLISH_SENTENCES[3])
    lead, wait = SAMPLE_RATE, int(3.0 * SAMPLE_RATE)  # past the hangover and the grace window
    audio = np.concatenate(
        [np.zeros(lead), first, np.zeros(wait), second, np.zeros(4 * SAMPLE_RATE)]
    )
    end1 = (lead + len(first)) / SAMPLE_RATE
    start2 = end1 + wait / SAMPLE_RATE
    turns = [
        Turn(lead / SAMPLE_RATE, end1, " ".join(reply)),
        Turn(start2, start2 + len(second) / SAMPLE_RATE, ENGLISH_SENTENCES[3]),
    ]
    return write_wav(
        tmp_path_factory.mktemp("duplex") / "talk_over.wav", audio.astype(np.float32)
    ), turns


def _outside(log, turns: list[Turn]) -> list[Transcript]:  # noqa: ANN001
    return [
        t
        for t in log.of(Transcript)
        if not any(t.start_s < s.end_s + 0.3 and t.end_s > s.start_s - 0.3 for s in turns)
    ]


def test_full_duplex_hears_the_user_over_its_own_voice(tmp_path: Path, english, talk_over) -> None:  # noqa: ANN001, F811
    wav, turns = talk_over
    config = _config(tmp_path, wav, mode="vad", duplex="full", **ECHO)
    log, stats = run_session(config, english)
    assert log.of(SessionStarted)[0].duplex == "full"
    # Echo cancelled: the device's voice is never transcribed as the user's ...
    assert not _outside(log, turns)
    # ... and the user's speech during the reply is captured, and barges in. A residual-echo
    # onset the VAD then discards (about one run in three here) is allowed, a barge-in by it
    # is not: exactly one barge-in, by the user's second turn.
    assert _same_texts([t.text for t in log.of(Transcript)], [t.text for t in turns])
    assert stats.barge_ins == 1 and stats.gated_s == 0
    first, second = (t.utterance_id for t in log.of(Transcript))
    played = {p.utterance_id: p.interrupted for p in log.of(Playback)}
    assert played == {first: True, second: False}, played
    onset = next(s for s in log.of(SpeechStarted) if s.utterance_id == second)
    out = tmp_path / "out.wav"
    echo_onsets = [s for s in log.of(SpeechStarted) if s.utterance_id not in (first, second)]
    if not echo_onsets:  # else the residual echo briefly held the reply (a known weakness)
        assert not _silent_from(out, onset.start_s - 0.5, onset.start_s)  # the reply played
        assert abs(onset.start_s - turns[1].start_s) < 0.2
    else:
        # The reply paused at the echo's onset and went on: AEC3 can then hold the user's
        # onset back by up to 0.8 s (1 run in 8 here, docs/live.md), still inside the turn.
        assert turns[1].start_s - 0.2 < onset.start_s < turns[1].start_s + 1.0
    assert {d.utterance_id for d in log.of(SpeechDiscarded)} == {
        s.utterance_id for s in echo_onsets
    }
    assert _silent_from(out, onset.start_s + 0.1, turns[1].end_s)  # silent within 100 ms
    assert 0 < stats.aec_cpu_s < 0.2 * stats.wall_s


@pytest.mark.parametrize(
    ("leak_s", "vad"),
    [
        # The reply's first second (in the grace window: a hold, not a pause), every onset
        # long enough to be a segment (none too short for the VAD): the leak always reaches
        # the segment check.
        ((5.6, 6.6), {"min_speech_s": 0.05, "min_confident_s": 0.0}),
        # 0.2 s of it after the grace window, the VAD as shipped: an onset too short to be a
        # segment pauses the reply, which goes on (without the onset check: dropped).
        ((7.0, 7.2), {}),
    ],
    ids=["segment", "too-short onset"],
)
def test_the_devices_voice_leaking_past_aec3_is_never_spoken_back(
    tmp_path: Path,
    english,  # noqa: ANN001, F811
    talk_over,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
    leak_s: tuple[float, float],
    vad: dict[str, float],
) -> None:
    """AEC3 can let a stretch of the device's voice through early in a session (seen: 200 ms
    of a resumed reply, transcribed "Oh," and spoken back in 5 of 10 runs). Here the VAD hears
    the microphone itself for a while of the first reply (5.7-9.7 s; the grace window ends at
    about 6.5 s): the device's own voice. The echo check refuses that onset, the reply goes
    on instead of being dropped, and the user is still heard."""
    capture = aec_module.EchoCanceller.process_capture
    leak = (int(leak_s[0] * SAMPLE_RATE), int(leak_s[1] * SAMPLE_RATE))

    def leaking(self, samples: np.ndarray, wall: float | None = None) -> aec_module.Cancelled:
        out = capture(self, samples, wall)
        position = self.frames * aec_module.FRAME
        if leak[0] <= position < leak[1]:
            return aec_module.Cancelled(out.heard, samples)
        return out

    monkeypatch.setattr(aec_module.EchoCanceller, "process_capture", leaking)
    wav, turns = talk_over
    config = _config(tmp_path, wav, mode="vad", duplex="full", **ECHO, **vad)
    log, stats = run_session(config, english)
    assert not _outside(log, turns)  # nothing of its own voice transcribed
    discarded = [(d.start_s, d.reason) for d in log.of(SpeechDiscarded)]
    assert stats.own_voice_segments >= 1, discarded
    assert all(start < turns[1].start_s - 0.3 for start, _r in discarded), discarded
    assert _same_texts([t.text for t in log.of(Transcript)], [t.text for t in turns])
    first, second = (t.utterance_id for t in log.of(Transcript))
    played = {p.utterance_id: p.interrupted for p in log.of(Playback)}
    assert played == {first: True, second: False}, played  # the user's turn barged in
    assert stats.barge_ins == 1
    # The reply went on after the leak, until the user's turn.
    onset = next(s for s in log.of(SpeechStarted) if s.utterance_id == second)
    assert not _silent_from(tmp_path / "out.wav", leak_s[1] + 0.5, onset.start_s)


def test_without_cancellation_the_echo_comes_back(
    tmp_path: Path,
    english,  # noqa: ANN001, F811
    talk_over,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Control: the same session with the canceller passing the microphone through."""
    wav, turns = talk_over
    monkeypatch.setattr(
        aec_module.EchoCanceller,
        "process_capture",
        lambda self, s, wall=None: aec_module.Cancelled(s, s),
    )
    config = _config(tmp_path, wav, mode="vad", duplex="full", speed=2.0, **ECHO)
    log, stats = run_session(config, english)
    # The reply hears itself: it barges in on itself, or is transcribed as the user.
    assert len(log.of(SpeechStarted)) > 2 or _outside(log, turns)


def test_speech_after_a_pause_holds_the_translation(tmp_path: Path, english, joe) -> None:  # noqa: ANN001, F811
    """A pause long enough to end the utterance, then the same speaker goes on: both halves
    are captured, and the first translation waits for the second half instead of being cut."""
    # The second half starts with a long word: its first 100 ms overlap the reply that is
    # being held, and a short plosive there ("cup") is sometimes misheard.
    words = ENGLISH_SENTENCES[0].split()
    first, second = speak(joe, " ".join(words[:3])), speak(joe, " ".join(words[3:]))
    pause = int(1.1 * SAMPLE_RATE)  # ends the utterance (0.6 s), inside the grace window
    audio = np.concatenate(
        [np.zeros(SAMPLE_RATE), first, np.zeros(pause), second, np.zeros(6 * SAMPLE_RATE)]
    ).astype(np.float32)
    wav = write_wav(tmp_path / "pause.wav", audio)
    config = _config(tmp_path, wav, mode="vad", duplex="full", **ECHO)
    log, stats = run_session(config, english)
    texts = [normalized(t.text) for t in log.of(Transcript)]
    # Moonshine tiny mishears these fragments now and then ("the train tube"); what matters
    # is that the second half is there, not muted.
    assert len(texts) == 2 and "nine" in texts[1], texts
    assert stats.holds == 1 and stats.barge_ins == 0
    assert [p.interrupted for p in log.of(Playback)] == [False, False]
    assert stats.played == 2
    # Nothing played while the user spoke the second half (once the VAD heard it start: the
    # 100 ms bound is test_full_duplex_hears_the_user_over_its_own_voice's), nor in the grace
    # window after it (a speaker who went on once may go on again): the hold ends only once
    # the pause outlasts the confirmed end (0.6 s) plus grace_s (1 s).
    onset = log.of(SpeechStarted)[1].start_s
    end2 = (SAMPLE_RATE + len(first) + pause + len(second)) / SAMPLE_RATE
    assert _silent_from(tmp_path / "out.wav", onset + 0.2, end2 + 0.6 + 0.7)
    assert not _silent_from(tmp_path / "out.wav", end2 + 0.6 + 0.7, end2 + 6)


def _ready_sound_heard(out: Path) -> float:
    """How much of the ready sound a session's output starts with (seconds)."""
    from edge.audio import read_audio

    audio, sound = read_audio(out), aec_module.ready_sound(SAMPLE_RATE)
    played = np.abs(audio[: len(sound)]) > 1e-3
    return float(np.flatnonzero(played)[-1] + 1) / SAMPLE_RATE if played.any() else 0.0


def test_a_full_duplex_session_starts_with_the_ready_sound_and_nothing_else(
    tmp_path: Path,
    english,  # noqa: ANN001, F811
) -> None:
    """Room noise alone: the ready sound, then silence; its echo is never an utterance. Off,
    or in half duplex: silence from the start."""
    from edge.audio import read_audio

    noise = np.random.default_rng(0).normal(0, 10 ** (-50 / 20), 4 * SAMPLE_RATE)
    wav = write_wav(tmp_path / "noise.wav", noise.astype(np.float32))
    for values, sound_s in [
        ({"duplex": "full"}, aec_module.READY_SOUND_S),
        ({"duplex": "full", "ready_sound": False}, 0.0),
        ({"duplex": "half"}, 0.0),
    ]:
        config = _config(tmp_path, wav, mode="vad", speed=2.0, **ECHO, **values)
        log, stats = run_session(config, english)
        assert not log.of(Transcript) and stats.played == 0 and stats.barge_ins == 0
        assert all(d.reason == OWN_VOICE for d in log.of(SpeechDiscarded)), values
        assert _ready_sound_heard(tmp_path / "out.wav") == pytest.approx(sound_s, abs=0.02)
        out = read_audio(tmp_path / "out.wav")
        assert not np.any(np.abs(out[int(sound_s * SAMPLE_RATE) :]) > 1e-3), values


def test_speech_over_the_ready_sound_barges_in_on_it(
    tmp_path: Path,
    english,  # noqa: ANN001, F811
    joe,  # noqa: ANN001
) -> None:
    """A user who does not wait for the ready sound: it stops as they start, and does not
    come back; their words are translated."""
    speech = speak(joe, ENGLISH_SENTENCES[3])
    audio = np.concatenate([np.zeros(SAMPLE_RATE // 10), speech, np.zeros(5 * SAMPLE_RATE)])
    wav = write_wav(tmp_path / "early.wav", audio.astype(np.float32))
    config = _config(tmp_path, wav, mode="vad", duplex="full", **ECHO)
    log, stats = run_session(config, english)
    onset = log.of(SpeechStarted)[0].start_s
    assert _ready_sound_heard(tmp_path / "out.wav") < onset + 0.1
    end = 0.1 + len(speech) / SAMPLE_RATE
    assert _silent_from(tmp_path / "out.wav", onset + 0.1, end + 0.5)
    assert len(log.of(Transcript)) == 1 and stats.played == 1


def test_half_duplex_mutes_the_room_echo_as_before(tmp_path: Path, english, talk_over) -> None:  # noqa: ANN001, F811
    wav, turns = talk_over
    config = _config(tmp_path, wav, mode="vad", duplex="half", speed=2.0, **ECHO)
    log, stats = run_session(config, english)
    assert log.of(SessionStarted)[0].duplex == "half"
    assert stats.gated_s > 1.0 and stats.aec_cpu_s == 0 and stats.barge_ins == 0
    assert not _outside(log, turns)


def test_full_duplex_without_an_aec_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], talk_over
) -> None:  # noqa: ANN001
    from edge.cli import main

    monkeypatch.setattr(aec_module, "unavailable_reason", lambda: "the livekit package is missing")
    wav, _turns = talk_over
    config = _config(tmp_path, wav, duplex="full")
    with pytest.raises(ConfigError, match="full duplex needs echo cancellation"):
        LiveController(config, lambda _s, _t: pytest.fail("models loaded"))  # type: ignore[arg-type,return-value]
    argv = ["live", "--from", "en", "--to", "en", "--input", str(wav)]
    code = main([*argv, "--output", str(tmp_path / "o.wav"), "--duplex", "full"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [
        "edge: error: full duplex needs echo cancellation: the livekit package is missing "
        f"({aec_module.INSTALL_HINT})"
    ]


def test_auto_is_full_only_with_microphone_speaker_and_aec(monkeypatch: pytest.MonkeyPatch) -> None:
    devices = LiveConfig(source="en", target="es")  # default microphone and speaker
    files = LiveConfig(source="en", target="es", input="in.wav", output="out.wav")
    mic_only = LiveConfig(source="en", target="es", output="out.wav")
    assert devices.duplex == "auto"
    assert resolve_duplex(devices) == "full"
    assert resolve_duplex(files) == resolve_duplex(mic_only) == "half"
    assert resolve_duplex(LiveConfig(source="en", target="es", duplex="half")) == "half"
    assert resolve_duplex(LiveConfig(source="en", target="es", duplex="full")) == "full"
    monkeypatch.setattr(aec_module, "unavailable_reason", lambda: "no livekit")
    assert resolve_duplex(devices) == "half"  # the fallback: half duplex, as before
    with pytest.raises(ConfigError):
        resolve_duplex(LiveConfig(source="en", target="es", duplex="full"))


def test_doctor_reports_the_echo_canceller(monkeypatch: pytest.MonkeyPatch) -> None:
    from edge import doctor

    available, text = doctor.aec_info()
    assert available and "AEC3" in text and "linear filter keeps speech" in text
    monkeypatch.setattr(speexdsp, "unavailable_reason", lambda: "libspeexdsp.so.1 is missing")
    available, text = doctor.aec_info()
    assert available and "no linear filter" in text and "apt install libspeexdsp1" in text
    monkeypatch.setattr(aec_module, "unavailable_reason", lambda: "no livekit")
    available, text = doctor.aec_info()
    assert not available and "half duplex" in text and "edge-translator[aec]" in text
