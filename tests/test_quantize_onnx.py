"""``quantize onnx``: the real Piper voice and Silero VAD in int8, and what that costs.

Quality is measured, not assumed: the int8 voice must still be understood by a real speech
recognizer (Moonshine) and the int8 VAD must agree with the float one on real speech.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from edge.errors import EdgeError, InputError, ModelError
from edge.vad import bundled_model_path
from quantize.onnx_quant import lift_constants, quantize_onnx
from quantize.report import Settings, build_report

VAD_STFT = "*/stft/Conv"  # the STFT basis convolution of each sample-rate branch


@pytest.fixture(scope="session")
def joe_onnx(joe_dir: Path) -> Path:
    return next(joe_dir.glob("*.onnx"))


@pytest.fixture(scope="session")
def joe_int8(joe_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("joe") / "joe-int8.onnx"
    result = quantize_onnx(joe_onnx, out)
    assert result.quantized_ops["ConvInteger"] > 100
    return out


@pytest.fixture(scope="session")
def tts_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("tts-data")
    (data / "sentences.txt").write_text(
        "The train to the airport leaves at nine.\n"
        "Please show me the way to the museum.\n"
        "I would like a cup of coffee with milk.\n"
    )
    return data


def test_piper_int8_is_under_30_percent_and_speaks(joe_onnx: Path, joe_int8: Path) -> None:
    from edge.tts.piper_tts import PiperTTS

    assert joe_int8.stat().st_size <= 0.30 * joe_onnx.stat().st_size
    config = joe_int8.with_name(joe_int8.name + ".json")
    assert json.loads(config.read_text()) == json.loads(
        joe_onnx.with_name(joe_onnx.name + ".json").read_text()
    )
    voice = PiperTTS.load(joe_int8)
    audio = np.concatenate(list(voice.synthesize("Where is the train station?")))
    assert 0.8 < len(audio) / voice.sample_rate < 3.0
    assert np.sqrt(np.mean(audio**2)) > 0.02


def test_piper_report_measures_size_speed_and_round_trip(
    joe_onnx: Path, joe_int8: Path, tts_data: Path, moonshine_dir: Path, tmp_path: Path
) -> None:
    settings = Settings(repeat=1, roundtrip_asr=moonshine_dir)
    report = build_report(joe_onnx, [joe_int8], tts_data, tmp_path / "report", settings)
    reference, candidate = report["variants"]
    assert candidate["size_ratio"] == pytest.approx(
        joe_int8.stat().st_size / joe_onnx.stat().st_size, rel=0.01
    )
    assert reference["spectral_distance_db"] == pytest.approx(0.0, abs=0.05)  # itself
    assert 0.0 < candidate["spectral_distance_db"] < 30.0
    # Both renderings must be intelligible; the delta is whatever was measured.
    assert reference["roundtrip_wer"] < 25.0 and candidate["roundtrip_wer"] < 25.0
    assert candidate["quality_delta"] == pytest.approx(
        candidate["roundtrip_wer"] - reference["roundtrip_wer"]
    )
    assert candidate["rtf"] > 0 and candidate["peak_rss_mb"] > candidate["load_rss_mb"] > 0
    assert set(candidate["targets_met"]) == {
        "size_ratio <= 0.3",
        "speedup >= 1.5",
        "roundtrip_wer delta <= 0.5",
    }
    for name in ("report.json", "report.md", "report.png"):
        assert (tmp_path / "report" / name).stat().st_size > 100
    assert (tmp_path / "report" / "report.png").read_bytes()[:4] == b"\x89PNG"
    table = (tmp_path / "report" / "report.md").read_text()
    assert "| joe-int8 |" in table and "round-trip WER" in table


@pytest.fixture(scope="session")
def vad_int8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vad") / "silero_vad.int8.onnx"
    result = quantize_onnx(bundled_model_path(), out)
    # Six convolutions in each of the 8 kHz and 16 kHz branches, all inside If subgraphs.
    assert result.quantized_ops == {"ConvInteger": 12}
    return out


def test_exclusions_reach_into_subgraphs(tmp_path: Path) -> None:
    result = quantize_onnx(bundled_model_path(), tmp_path / "vad.onnx", exclude=[VAD_STFT])
    assert len(result.excluded_nodes) == 2 and all("/stft/" in n for n in result.excluded_nodes)
    assert result.quantized_ops == {"ConvInteger": 10}


def test_vad_int8_decisions_agree_with_float_on_real_speech(
    vad_int8: Path, beckett_wav: Path, english_recording: tuple, tmp_path: Path
) -> None:
    data = tmp_path / "audio"
    data.mkdir()
    shutil.copy(beckett_wav, data)
    shutil.copy(english_recording[0], data)
    report = build_report(bundled_model_path(), [vad_int8], data, tmp_path / "r", Settings())
    reference, candidate = report["variants"]
    assert candidate["size_ratio"] < 0.85
    assert candidate["decision_agreement_pct"] >= 90.0
    assert 0.0 < candidate["mean_abs_prob_diff"] < 0.2
    # Speech is really there and found by both.
    assert 20.0 < candidate["speech_frames_pct"] < 90.0
    assert reference["decision_agreement_pct"] == 100.0


def test_constants_in_subgraphs_become_initializers() -> None:
    model = onnx.load(str(bundled_model_path()))
    assert lift_constants(model) >= 14  # 7 weight tensors in each sample-rate branch
    from quantize.onnx_quant import _walk_graphs

    names = {t.name for g in _walk_graphs(model.graph) for t in g.initializer}
    assert any(name.endswith("decoder.rnn.weight_ih") for name in names)


def test_onnx_errors(tmp_path: Path, moonshine_dir: Path) -> None:
    with pytest.raises(ModelError, match=".ort format"):
        quantize_onnx(next(moonshine_dir.glob("*.ort")), tmp_path / "m.onnx")
    with pytest.raises(InputError, match="match no node"):
        quantize_onnx(bundled_model_path(), tmp_path / "a.onnx", exclude=["/no/such/*"])
    with pytest.raises(EdgeError, match="If branches"):
        quantize_onnx(bundled_model_path(), tmp_path / "b.onnx", static=True, calibration=tmp_path)
    with pytest.raises(ModelError, match="nothing .* was quantized"):
        quantize_onnx(bundled_model_path(), tmp_path / "c.onnx", exclude_ops=["Conv"])
    assert not (tmp_path / "c.onnx").exists()
    (tmp_path / "d.onnx").write_bytes(b"")
    with pytest.raises(EdgeError, match="already exists"):
        quantize_onnx(bundled_model_path(), tmp_path / "d.onnx")


@pytest.mark.quantize_heavy
def test_piper_static_int8_calibrates_on_sentences(
    joe_onnx: Path, tts_data: Path, tmp_path: Path
) -> None:
    from edge.tts.piper_tts import PiperTTS

    out = tmp_path / "joe-static.onnx"
    result = quantize_onnx(
        joe_onnx,
        out,
        static=True,
        calibration=tts_data,
        calibration_limit=2,
        exclude_ops=["ConvTranspose"],
    )
    assert result.mode == "static" and result.quantized_ops["DequantizeLinear"] > 100
    assert out.stat().st_size < 0.35 * joe_onnx.stat().st_size
    audio = np.concatenate(list(PiperTTS.load(out).synthesize("Thank you very much.")))
    assert np.sqrt(np.mean(audio**2)) > 0.02


def test_sherpa_onnx_streaming_model_quantizes_and_decodes_the_same(tmp_path: Path) -> None:
    """Quantized parts keep the metadata sherpa-onnx reads, and still decode in edge."""
    from edge.asr.sherpa_online import SherpaStreamingRecognizer
    from edge.synthetic.sherpa_streaming import build_streaming_transducer

    model = build_streaming_transducer(tmp_path / "float")
    quantized = tmp_path / "int8"
    shutil.copytree(model, quantized)
    for role in ("encoder", "decoder"):  # the joiner has no weights the quantizer can take
        (quantized / f"{role}.onnx").unlink()
        quantize_onnx(model / f"{role}.onnx", quantized / f"{role}.onnx")
        metadata = {
            p.key: p.value for p in onnx.load(str(quantized / f"{role}.onnx")).metadata_props
        }
        original = {p.key: p.value for p in onnx.load(str(model / f"{role}.onnx")).metadata_props}
        assert original.items() <= metadata.items()
    rng = np.random.default_rng(0)
    audio = np.concatenate(
        [np.zeros(8000, np.float32), rng.uniform(-0.3, 0.3, 16000).astype(np.float32)]
    )
    texts = []
    for directory in (model, quantized):
        stream = SherpaStreamingRecognizer.load(directory).create_stream()
        stream.accept(audio)
        texts.append(stream.finish())
    assert texts[0] and texts[0] == texts[1]


def test_keep_first_last_leaves_the_outermost_layers_in_float(
    joe_onnx: Path, tmp_path: Path
) -> None:
    result = quantize_onnx(joe_onnx, tmp_path / "joe.onnx", keep_first_last=True)
    first, last = result.excluded_nodes
    assert first.startswith("/enc_p/") and last == "/dec/conv_post/Conv"
    assert result.quantized_ops["ConvInteger"] == 128  # 129 convolutions, one kept
