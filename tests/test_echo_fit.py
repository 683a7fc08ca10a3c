"""The batch fit of the echo path over a finished segment (``edge.live.echo_fit``) and the
echo canceller's judgement of a segment with it (``EchoCanceller.refine``): the device's
voice alone is refused, the user's words over it come through without it. Real speech
(Piper joe), the simulated rooms of the duplex measurements."""

from __future__ import annotations

import numpy as np
import pytest

from edge.asr.base import SAMPLE_RATE
from edge.live import aec as aec_module
from edge.live.echo_fit import explained_db, noise_floor, remove_echo, user_seconds
from edge.live.filedev import EchoPath, Room
from edge.live.soak import speak

from .conftest import ENGLISH_SENTENCES

ROOMS = [Room(0.04, 0.3), Room(0.02, 0.2), Room(0.08, 0.4)]  # tools/duplex_eval.py's


@pytest.fixture(scope="module")
def device_and_user(joe) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    far = np.concatenate([speak(joe, s) for s in ENGLISH_SENTENCES[:2]])
    return far.astype(np.float32), speak(joe, ENGLISH_SENTENCES[4]).astype(np.float32)


def _echo(far: np.ndarray, room: Room, gain: float = 1.0) -> np.ndarray:
    path = EchoPath(gain, SAMPLE_RATE, room)
    path.feed(far)
    return path.take(0, len(far))


def _rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


@pytest.mark.parametrize("room", ROOMS, ids=["mid", "near", "far"])
def test_the_fit_explains_echo_alone_and_not_the_user(device_and_user, room: Room) -> None:  # noqa: ANN001
    far, user = device_and_user
    noise = np.random.default_rng(3).normal(0, 1e-3, len(far)).astype(np.float32)  # -60 dBFS
    echo = _echo(far, room)
    segment = slice(len(far) - len(user), len(far))  # the last stretch: "the segment"
    cleaned = remove_echo(echo + noise, far)
    assert cleaned is not None
    assert explained_db(echo[segment], cleaned[segment]) >= 11  # measured 11-23 dB
    floor = noise_floor(cleaned)
    alone = user_seconds(echo[segment] + noise[segment], cleaned[segment], floor)
    assert alone < aec_module.OWN_VOICE_S, alone  # the device's own voice
    for under_db in (0, 6):  # the echo levels of the duplex measurements (user >= echo)
        mic = echo + noise
        level = _rms_db(echo[segment]) - under_db
        mic[segment] += user * 10 ** ((level - _rms_db(user)) / 20)
        cleaned = remove_echo(mic, far)
        assert cleaned is not None
        heard = user_seconds(mic[segment], cleaned[segment], noise_floor(cleaned))
        # Measured 1.0-1.2 s (as loud as the echo), 0.5-0.7 s (6 dB under) of the user's 2 s;
        # echo alone 0.0-0.02 s. (10 dB under: 0.22-0.46 s, near the limit.)
        assert heard >= 2 * aec_module.OWN_VOICE_S, (under_db, heard)
        # The user comes through: what is left differs from them by far less than the echo.
        near = mic[segment] - echo[segment] - noise[segment]
        assert _rms_db(cleaned[segment] - near) < _rms_db(near) - 8


def test_a_user_louder_than_the_echo_does_not_spoil_the_fit(device_and_user) -> None:  # noqa: ANN001
    """A plain least-squares fit lets a loud user bend the path (1.4 dB removed from the
    echo alone, measured); reweighting keeps it (19 dB)."""
    far, user = device_and_user
    echo = _echo(far, ROOMS[0])
    mic = echo.copy()
    at = len(far) - len(user)
    mic[at:] += user * 10 ** ((_rms_db(echo[at:]) + 14 - _rms_db(user)) / 20)  # 14 dB over
    cleaned = remove_echo(mic, far)
    assert cleaned is not None
    alone = slice(SAMPLE_RATE // 2, at)
    assert explained_db(mic[alone], cleaned[alone]) > 12


def test_without_a_reference_the_audio_is_unchanged() -> None:
    mic = np.random.default_rng(0).normal(0, 0.1, 3 * SAMPLE_RATE).astype(np.float32)
    cleaned = remove_echo(mic, np.zeros_like(mic))
    assert cleaned is not None
    np.testing.assert_allclose(cleaned, mic, atol=1e-5)
    assert remove_echo(mic[:4000], mic[:4000]) is None  # too short to fit
    with pytest.raises(ValueError):
        remove_echo(mic, mic[:-1])


def _session(far: np.ndarray, mic: np.ndarray) -> aec_module.EchoCanceller:
    """Both streams through the canceller in 32 ms blocks with wall times from 100 s."""
    aec = aec_module.EchoCanceller()
    for i in range(0, len(far), 512):
        aec.process_render(far[i : i + 512], 100.0 + i / SAMPLE_RATE)
        block = mic[i : i + 512]
        aec.process_capture(block, 100.0 + (i + len(block)) / SAMPLE_RATE)
    return aec


def _segment(aec: aec_module.EchoCanceller, start: int, end: int):  # noqa: ANN202
    """refine() on samples [start, end) of the canceller's output stream (10 ms behind the
    microphone), as the listener asks for them."""
    end_wall = 100.0 + end / SAMPLE_RATE
    audio = np.zeros(end - start, np.float32)  # what the listener holds; only its length counts
    return aec.refine(end_wall - len(audio) / SAMPLE_RATE, end_wall, audio)


@pytest.mark.skipif(not aec_module.available(), reason=f"{aec_module.unavailable_reason()}")
def test_refine_refuses_the_devices_voice_and_cleans_the_users(device_and_user) -> None:  # noqa: ANN001
    far, user = device_and_user
    n = len(far) + SAMPLE_RATE
    far = np.concatenate([far, np.zeros(SAMPLE_RATE, np.float32)])
    echo = _echo(far, ROOMS[0])
    at = len(far) - SAMPLE_RATE - len(user)
    shift = aec_module.FRAME
    # Echo alone where AEC3 might let a stretch through: the device's own voice.
    aec = _session(far, echo)
    assert _segment(aec, at + shift, at + shift + SAMPLE_RATE) is None
    # The user over the reply: their words come back, the echo 10+ dB under them.
    mic = echo.copy()
    mic[at : at + len(user)] += user
    aec = _session(far, mic)
    cleaned = _segment(aec, at + shift, at + shift + len(user))
    assert cleaned is not None and len(cleaned) == len(user)
    assert _rms_db(cleaned - user) < _rms_db(user) - 10
    assert aec.refined_segments == 1
    # A longer reply, the user's earlier words over it in the 2 s before the segment: the
    # fit is still trusted (it removes 10+ dB from the echo around them).
    long_far = np.concatenate([far[:-SAMPLE_RATE], far])
    later = len(long_far) - SAMPLE_RATE - len(user)
    earlier = _echo(long_far, ROOMS[0])
    earlier[later : later + len(user)] += user
    before = slice(later - int(1.6 * SAMPLE_RATE), later - int(0.4 * SAMPLE_RATE))
    earlier[before] += user[: int(1.2 * SAMPLE_RATE)]
    aec = _session(long_far, earlier)
    cleaned = _segment(aec, later + shift, later + shift + len(user))
    assert cleaned is not None and _rms_db(cleaned - user) < _rms_db(user) - 10
    # Where the device was silent the audio is the listener's own, untouched.
    quiet = np.zeros(n, np.float32)
    aec = _session(quiet, mic)
    audio = np.ones(SAMPLE_RATE, np.float32)
    end_wall = 100.0 + (at + SAMPLE_RATE) / SAMPLE_RATE
    assert aec.refine(end_wall - 1.0, end_wall, audio) is audio


@pytest.mark.skipif(not aec_module.available(), reason=f"{aec_module.unavailable_reason()}")
def test_own_voice_tells_a_leaked_onset_from_the_users(device_and_user) -> None:  # noqa: ANN001
    """The check behind resuming after an onset too short to be a segment: the onset and the
    silence that closed it (0.6 s) are the device's voice alone, or hold the user's first
    words."""
    far, user = device_and_user
    far = np.concatenate([far, np.zeros(SAMPLE_RATE, np.float32)])
    echo = _echo(far, ROOMS[0])
    at = len(far) - SAMPLE_RATE - len(user)
    shift, window = aec_module.FRAME, int(0.6 * SAMPLE_RATE)

    def own_voice(aec: aec_module.EchoCanceller, start: int) -> bool:
        end_wall = 100.0 + (start + shift + window) / SAMPLE_RATE
        return aec.own_voice(end_wall - window / SAMPLE_RATE, end_wall)

    assert own_voice(_session(far, echo), at)
    mic = echo.copy()
    mic[at : at + len(user)] += user
    assert not own_voice(_session(far, mic), at)
    # The device silent: nothing of it can explain the microphone.
    assert not own_voice(_session(np.zeros_like(far), mic), at)
