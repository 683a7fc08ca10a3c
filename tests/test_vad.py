import numpy as np
import pytest

from edge.audio import read_audio
from edge.errors import EdgeError
from edge.vad import VadConfig, VadSegmenter, segments


def _segments(audio: np.ndarray, config: VadConfig | None = None):
    return segments(audio, config)


def test_real_recording_gives_one_segment_per_phrase(beckett_wav) -> None:
    # "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better."
    segments = _segments(read_audio(beckett_wav))
    assert len(segments) == 6
    assert all(0.5 < s.end_s - s.start_s < 2.0 for s in segments)
    assert all(a.end_s <= b.start_s for a, b in zip(segments, segments[1:], strict=False))


def test_silence_and_low_noise_give_nothing() -> None:
    rng = np.random.default_rng(0)
    assert _segments(np.zeros(16000 * 3, np.float32)) == []
    assert _segments(rng.normal(0, 0.002, 16000 * 3).astype(np.float32)) == []


def test_click_shorter_than_min_speech_is_ignored(beckett_wav) -> None:
    audio = read_audio(beckett_wav)
    first = _segments(audio)[0]
    burst = audio[int(first.start_s * 16000) : int(first.start_s * 16000) + 2400]  # 150 ms
    padded = np.concatenate([np.zeros(8000, np.float32), burst, np.zeros(16000, np.float32)])
    assert _segments(padded, VadConfig(min_speech_s=0.3)) == []


def test_long_speech_is_split_never_dropped(english_recording) -> None:
    path, _texts, spans = english_recording
    audio = read_audio(path)
    # Remove the pauses: one long run of speech of about 14 s.
    continuous = np.concatenate([audio[int(a * 16000) : int(b * 16000)] for a, b in spans])
    limit = 4.0
    segments = _segments(continuous, VadConfig(max_segment_s=limit))
    assert len(segments) >= 3
    assert all(s.end_s - s.start_s <= limit + 0.25 for s in segments)
    covered = sum(s.end_s - s.start_s for s in segments)
    assert covered >= 0.9 * len(continuous) / 16000


def test_hangover_controls_whether_a_pause_splits(english_recording) -> None:
    path, texts, _ = english_recording
    audio = read_audio(path)
    assert len(_segments(audio, VadConfig(min_silence_s=0.35))) == len(texts)
    assert len(_segments(audio, VadConfig(min_silence_s=1.5))) == 1


def test_invalid_config_is_rejected() -> None:
    with pytest.raises(EdgeError):
        VadSegmenter(VadConfig(threshold=1.5))
    with pytest.raises(EdgeError):
        VadSegmenter(VadConfig(min_confident_s=-0.1))


def test_tunes_the_vad_half_believes_are_not_speech_noisy_speech_is(beckett_wav) -> None:
    """The confidence gate: a segment needs a run of frames the VAD is sure of."""
    from tests.test_asr_guards import melody, padded, pink_noise

    tunes = [padded(melody(6.0, seed)) for seed in (1, 2, 5, 13)]
    ungated = VadConfig(min_confident_s=0.0)
    assert all(_segments(tune, ungated) for tune in tunes)  # the VAD alone takes them for speech
    assert all(_segments(tune) == [] for tune in tunes)
    speech = read_audio(beckett_wav)
    noise = pink_noise(1.0, len(speech) / 16000 + 0.1)[: len(speech)]
    voiced = speech[np.abs(speech) > 0.01]
    level = np.sqrt(np.mean(voiced**2)) / np.sqrt(np.mean(noise**2))  # 0 dB SNR
    noisy = (speech + level * noise).astype(np.float32)
    assert len(_segments(noisy)) == len(_segments(noisy, ungated)) == 6
