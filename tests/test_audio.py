from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edge.audio import AtomicWavWriter, audio_duration, read_audio
from edge.errors import InputError


def _tone(rate: int, seconds: float, freq: float = 1000.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    mono = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


def _peak_hz(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * rate / len(audio))


@pytest.mark.parametrize(
    ("rate", "channels", "fmt"),
    [(44100, 2, "WAV"), (48000, 6, "FLAC"), (8000, 1, "WAV"), (22050, 1, "OGG")],
)
def test_any_rate_and_channels_become_16k_mono(
    tmp_path: Path, rate: int, channels: int, fmt: str
) -> None:
    path = tmp_path / f"tone.{fmt.lower()}"
    sf.write(path, _tone(rate, 2.0, 1000.0, channels), rate, format=fmt)
    audio = read_audio(path)
    assert audio.dtype == np.float32
    assert audio.ndim == 1
    assert abs(len(audio) - 32000) <= 16
    assert abs(_peak_hz(audio, 16000) - 1000.0) < 5


def test_resampler_removes_content_above_nyquist(tmp_path: Path) -> None:
    # A naive decimator would alias a 10 kHz tone to 6 kHz; a proper resampler removes it.
    path = tmp_path / "high.wav"
    sf.write(path, _tone(48000, 1.0, 10000.0), 48000)
    audio = read_audio(path)
    assert np.sqrt(np.mean(audio[1000:-1000] ** 2)) < 0.01


def test_blockwise_reading_matches_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "noise.wav"
    sf.write(path, np.random.default_rng(0).uniform(-0.5, 0.5, 44100 * 3).astype(np.float32), 44100)
    from edge.audio import iter_audio, resample

    blocks = np.concatenate(list(iter_audio(path, block_s=0.1)))
    whole = resample(sf.read(path, dtype="float32")[0], 44100, 16000)
    assert abs(len(blocks) - len(whole)) <= 2
    n = min(len(blocks), len(whole))
    assert np.max(np.abs(blocks[100 : n - 100] - whole[100 : n - 100])) < 1e-3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        (b"", "empty"),
        (b"this is not audio at all" * 100, "cannot read audio"),
    ],
)
def test_bad_inputs_raise_clear_errors(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "input.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_audio(path)


def test_truncated_wav_is_reported_or_read_partially(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    sf.write(path, _tone(16000, 2.0), 16000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    # libsndfile reads the frames that are present; what matters is no crash and no garbage.
    audio = read_audio(path)
    assert 0 < len(audio) <= 16000


def test_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="directory"):
        audio_duration(tmp_path)


def test_atomic_writer_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.wav"
    with pytest.raises(RuntimeError), AtomicWavWriter(target, 22050) as writer:
        writer.write(np.zeros(1000, np.float32))
        raise RuntimeError("stage failed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_writer_resamples_and_commits(tmp_path: Path) -> None:
    target = tmp_path / "out.wav"
    with AtomicWavWriter(target, 16000) as writer:
        writer.write(_tone(22050, 1.0), 22050)
        writer.write_silence(0.5)
    audio, rate = sf.read(target)
    assert rate == 16000
    assert abs(len(audio) - 24000) <= 2
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def _wav_bytes(channels: int, rate: int, data: bytes, declared_size: int | None = None) -> bytes:
    import struct

    block = channels * 2
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, channels, rate, rate * block, block, 16)
    size = len(data) if declared_size is None else declared_size
    body = b"WAVE" + fmt + struct.pack("<4sI", b"data", size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_zero_channel_header_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    path.write_bytes(_wav_bytes(0, 16000, b"\0" * 3200))
    with pytest.raises(InputError, match="[Cc]hannel"):
        read_audio(path)


def test_header_claiming_more_data_than_present_reads_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / "lying.wav"
    path.write_bytes(_wav_bytes(1, 16000, b"\0" * 3200, declared_size=0xFFFFFFF0))
    assert len(read_audio(path)) == 1600


def test_too_long_input_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edge.audio

    path = tmp_path / "long.wav"
    sf.write(path, np.zeros(16000 * 3, np.float32), 16000)
    monkeypatch.setattr(edge.audio, "MAX_INPUT_SECONDS", 2)
    with pytest.raises(InputError, match="split the file"):
        audio_duration(path)
