"""Streaming ASR through sherpa-onnx's OnlineRecognizer, on synthetic Zipformer2 models.

The synthetic encoder is an energy detector (see edge.synthetic.sherpa_streaming): white noise
is "speech", all-zero samples are silence. The transducer emits one token per 40 ms of noise,
cycling through the vocabulary from its first token; the CTC model emits one token per burst.
"""

from __future__ import annotations

import json
import shutil
import string
from pathlib import Path

import numpy as np
import onnx
import pytest

from edge.asr.base import SAMPLE_RATE, EndpointConfig, StreamingRecognizer
from edge.asr.sherpa_online import (
    TRANSDUCER,
    ZIPFORMER2_CTC,
    SherpaRecognizerStream,
    SherpaStreamingRecognizer,
)
from edge.errors import InputError, LanguageError, ModelError
from edge.synthetic.sherpa_streaming import build_streaming_ctc, build_streaming_transducer

CHUNK_S = 0.05
TOKENS_PER_S = 25  # one encoder frame per 40 ms
# Decoding runs in 320 ms chunks that each need 390 ms of features, so an endpoint is seen
# up to about 0.8 s of audio after the rule is met.
ENDPOINT_LAG_S = 0.8
NEVER = 1000.0  # an endpoint rule that cannot fire within a test


@pytest.fixture(scope="session")
def transducer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_streaming_transducer(tmp_path_factory.mktemp("transducer"))


@pytest.fixture(scope="session")
def ctc_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_streaming_ctc(tmp_path_factory.mktemp("ctc"))


def copy_model(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-0.3, 0.3, round(seconds * SAMPLE_RATE)).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), np.float32)


def feed(stream: SherpaRecognizerStream, audio: np.ndarray) -> list[str]:
    """Feed ``audio`` in 50 ms chunks; return the partial text after each chunk."""
    step = round(CHUNK_S * SAMPLE_RATE)
    partials = []
    for start in range(0, len(audio), step):
        stream.accept(audio[start : start + step])
        partials.append(stream.partial())
    return partials


def seconds_until_endpoint(stream: SherpaRecognizerStream, audio: np.ndarray) -> float | None:
    """Seconds of ``audio`` fed before ``is_endpoint()`` first holds, or None."""
    step = round(CHUNK_S * SAMPLE_RATE)
    for start in range(0, len(audio), step):
        stream.accept(audio[start : start + step])
        if stream.is_endpoint():
            return min(start + step, len(audio)) / SAMPLE_RATE
    return None


def load(model_dir: Path, **rules: float) -> SherpaStreamingRecognizer:
    endpoint = EndpointConfig(
        rule1_min_trailing_silence_s=rules.get("rule1", NEVER),
        rule2_min_trailing_silence_s=rules.get("rule2", NEVER),
        rule3_min_utterance_length_s=rules.get("rule3", NEVER),
    )
    return SherpaStreamingRecognizer.load(model_dir, endpoint=endpoint)


def expected_letters(count: int, first: int = 0) -> str:
    return "".join(string.ascii_lowercase[(first + i) % 26] for i in range(count))


def set_metadata(path: Path, drop: str | None = None, **values: str) -> None:
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props if p.key != drop}
    props.update(values)
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
    onnx.save(model, str(path))


# --- loading -------------------------------------------------------------------------------


def test_synthetic_models_load_as_streaming_recognizers(transducer_dir: Path, ctc_dir: Path):
    transducer = SherpaStreamingRecognizer.load(transducer_dir)
    ctc = SherpaStreamingRecognizer.load(ctc_dir)

    assert transducer.backend == TRANSDUCER
    assert ctc.backend == ZIPFORMER2_CTC
    assert {role: p.name for role, p in transducer.files.items()} == {
        "encoder": "encoder.onnx",
        "decoder": "decoder.onnx",
        "joiner": "joiner.onnx",
        "tokens": "tokens.txt",
    }
    for recognizer in (transducer, ctc):
        assert isinstance(recognizer, StreamingRecognizer)
        assert recognizer.languages == ()


def test_release_names_prefer_int8(transducer_dir: Path, tmp_path: Path):
    model = tmp_path / "sherpa-onnx-streaming-zipformer-en"
    model.mkdir()
    shutil.copy(transducer_dir / "tokens.txt", model)
    for role in ("encoder", "decoder", "joiner"):
        shutil.copy(transducer_dir / f"{role}.onnx", model / f"{role}-epoch-99-avg-1.onnx")
    for role in ("encoder", "joiner"):  # the releases quantize these two
        shutil.copy(transducer_dir / f"{role}.onnx", model / f"{role}-epoch-99-avg-1.int8.onnx")

    int8 = SherpaStreamingRecognizer.load(model)
    full = SherpaStreamingRecognizer.load(model, prefer_int8=False)

    assert int8.files["encoder"].name == "encoder-epoch-99-avg-1.int8.onnx"
    assert int8.files["joiner"].name == "joiner-epoch-99-avg-1.int8.onnx"
    assert int8.files["decoder"].name == "decoder-epoch-99-avg-1.onnx"
    assert full.files["encoder"].name == "encoder-epoch-99-avg-1.onnx"
    assert int8.model_id == "sherpa-onnx-streaming-zipformer-en"


def test_manifest_names_files_and_languages(transducer_dir: Path, tmp_path: Path):
    model = copy_model(transducer_dir, tmp_path / "m")
    (model / "encoder.onnx").rename(model / "enc-chunk-16.onnx")
    manifest = {
        "id": "zipformer-en-de",
        "kind": "asr-streaming",
        "backend": TRANSDUCER,
        "languages": ["eng_Latn", "deu_Latn"],
        "files": {
            "encoder": "enc-chunk-16.onnx",
            "decoder": "decoder.onnx",
            "joiner": "joiner.onnx",
        },
    }
    (model / "edge_model.json").write_text(json.dumps(manifest))

    recognizer = SherpaStreamingRecognizer.load(model)
    overridden = SherpaStreamingRecognizer.load(model, languages=("fra_Latn",))

    assert recognizer.model_id == "zipformer-en-de"
    assert recognizer.languages == ("eng_Latn", "deu_Latn")
    assert recognizer.files["encoder"].name == "enc-chunk-16.onnx"
    assert overridden.languages == ("fra_Latn",)
    stream = recognizer.create_stream()
    feed(stream, noise(0.4))
    assert stream.finish()


def test_bad_language_code_is_a_language_error(transducer_dir: Path):
    with pytest.raises(LanguageError, match="english"):
        SherpaStreamingRecognizer.load(transducer_dir, languages=("english",))


# --- decoding ------------------------------------------------------------------------------


def test_partials_grow_while_speaking_and_finish_returns_the_text(transducer_dir: Path):
    stream = load(transducer_dir).create_stream()

    quiet = feed(stream, silence(0.5))
    speaking = feed(stream, noise(1.0))
    final = stream.finish()

    assert set(quiet) == {""}
    non_empty = [p for p in speaking if p]
    assert len(set(non_empty)) >= 2, "partials should change while audio arrives"
    for earlier, later in zip(speaking, speaking[1:], strict=False):
        assert later.startswith(earlier)
    assert final.startswith(speaking[-1])
    assert final == expected_letters(len(final))
    assert abs(len(final) - TOKENS_PER_S * 1.0) <= 2


def test_ctc_emits_one_token_per_burst(ctc_dir: Path):
    stream = load(ctc_dir).create_stream()
    feed(stream, np.concatenate([silence(0.3), noise(0.4), silence(0.4), noise(0.4, seed=1)]))
    assert stream.finish() == "aa"


def test_finish_twice_returns_the_same_text_and_blocks_more_audio(transducer_dir: Path):
    stream = load(transducer_dir).create_stream()
    feed(stream, noise(0.3))
    text = stream.finish()
    assert text
    assert stream.finish() == text
    with pytest.raises(RuntimeError, match="reset"):
        stream.accept(noise(0.1))


def test_reset_after_finish_starts_a_new_utterance(transducer_dir: Path):
    stream = load(transducer_dir).create_stream()
    feed(stream, noise(0.8))
    first = stream.finish()

    stream.reset()
    assert stream.partial() == ""
    feed(stream, np.concatenate([silence(0.2), noise(0.4, seed=2)]))
    second = stream.finish()

    assert abs(len(first) - TOKENS_PER_S * 0.8) <= 2
    assert abs(len(second) - TOKENS_PER_S * 0.4) <= 2
    assert second == expected_letters(len(second)), "a fresh stream starts from the first token"


def test_reset_at_an_endpoint_clears_text_and_endpoint(transducer_dir: Path):
    stream = load(transducer_dir, rule2=0.4).create_stream()
    feed(stream, noise(0.5))
    assert seconds_until_endpoint(stream, silence(2.0)) is not None
    first = stream.partial()

    stream.reset()
    assert stream.partial() == ""
    assert not stream.is_endpoint()
    feed(stream, noise(0.4, seed=3))
    second = stream.finish()

    assert abs(len(first) - TOKENS_PER_S * 0.5) <= 2
    assert abs(len(second) - TOKENS_PER_S * 0.4) <= 2


def test_accept_rejects_integer_and_multichannel_audio(transducer_dir: Path):
    stream = load(transducer_dir).create_stream()
    with pytest.raises(InputError):
        stream.accept(np.zeros(1600, np.int16))
    with pytest.raises(InputError):
        stream.accept(np.zeros((1600, 2), np.float32))


def test_modified_beam_search_decodes_the_transducer(transducer_dir: Path):
    recognizer = SherpaStreamingRecognizer.load(
        transducer_dir, decoding_method="modified_beam_search"
    )
    stream = recognizer.create_stream()
    feed(stream, noise(0.4))
    assert stream.finish()


# --- endpoints -----------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["transducer", "ctc"])
def test_rule2_fires_after_the_configured_silence(model: str, request: pytest.FixtureRequest):
    model_dir = request.getfixturevalue(f"{model}_dir")
    waits = {}
    for rule2 in (0.4, 1.2):
        stream = load(model_dir, rule2=rule2).create_stream()
        assert seconds_until_endpoint(stream, noise(0.5)) is None
        waits[rule2] = seconds_until_endpoint(stream, silence(3.0))
        assert waits[rule2] is not None, f"no endpoint after 3 s of silence with rule2={rule2}"
        # One encoder frame at the end of the burst may already count as silence.
        assert rule2 - 0.04 <= waits[rule2] <= rule2 + ENDPOINT_LAG_S
    assert waits[1.2] - waits[0.4] >= 0.4


def test_rule1_ends_silence_without_text_and_rule2_does_not(transducer_dir: Path):
    waits = {}
    for rule1 in (1.0, 2.0):
        stream = load(transducer_dir, rule1=rule1, rule2=0.2).create_stream()
        waits[rule1] = seconds_until_endpoint(stream, silence(4.0))
        assert waits[rule1] is not None
        assert rule1 <= waits[rule1] <= rule1 + ENDPOINT_LAG_S
        assert stream.partial() == ""
    assert waits[2.0] - waits[1.0] >= 0.5


def test_rule3_caps_the_utterance_length(transducer_dir: Path):
    stream = load(transducer_dir, rule3=1.0).create_stream()
    waited = seconds_until_endpoint(stream, noise(3.0))
    assert waited is not None
    assert 1.0 <= waited <= 1.0 + ENDPOINT_LAG_S


# --- broken and foreign models: ModelError in-process, never an exit of the process ---------


def test_missing_directory(tmp_path: Path):
    with pytest.raises(ModelError, match="does not exist"):
        SherpaStreamingRecognizer.load(tmp_path / "nope")


@pytest.mark.parametrize("missing", ["joiner.onnx", "decoder.onnx", "tokens.txt"])
def test_missing_file_is_named(transducer_dir: Path, tmp_path: Path, missing: str):
    model = copy_model(transducer_dir, tmp_path / "m")
    (model / missing).unlink()
    with pytest.raises(ModelError, match=missing.split(".")[0]) as raised:
        SherpaStreamingRecognizer.load(model)
    assert raised.value.fix


def test_manifest_missing_file_is_named(transducer_dir: Path, tmp_path: Path):
    model = copy_model(transducer_dir, tmp_path / "m")
    manifest = {
        "kind": "asr-streaming",
        "backend": TRANSDUCER,
        "files": {"encoder": "encoder.onnx", "decoder": "decoder.onnx", "joiner": "j.onnx"},
    }
    (model / "edge_model.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="j.onnx"):
        SherpaStreamingRecognizer.load(model)


def test_manifest_of_another_kind_is_refused(transducer_dir: Path, tmp_path: Path):
    model = copy_model(transducer_dir, tmp_path / "m")
    (model / "edge_model.json").write_text(json.dumps({"kind": "asr-segment"}))
    with pytest.raises(ModelError, match="asr-segment"):
        SherpaStreamingRecognizer.load(model)


def test_corrupt_onnx_file(transducer_dir: Path, tmp_path: Path):
    model = copy_model(transducer_dir, tmp_path / "m")
    (model / "encoder.onnx").write_bytes(b"\x08\x07not a model" * 64)
    with pytest.raises(ModelError, match="encoder.onnx is not a readable ONNX model"):
        SherpaStreamingRecognizer.load(model)


@pytest.mark.parametrize(
    ("role", "drop", "expected"),
    [
        ("encoder", "model_type", "model_type is missing"),  # sherpa-onnx: null model, crash
        ("encoder", "T", "lacks T"),  # sherpa-onnx: exit(-1)
        ("decoder", "context_size", "lacks context_size"),
    ],
)
def test_missing_metadata(transducer_dir: Path, tmp_path: Path, role, drop, expected):
    model = copy_model(transducer_dir, tmp_path / "m")
    set_metadata(model / f"{role}.onnx", drop=drop)
    with pytest.raises(ModelError, match=expected):
        SherpaStreamingRecognizer.load(model)


def test_malformed_metadata_value(transducer_dir: Path, tmp_path: Path):
    model = copy_model(transducer_dir, tmp_path / "m")
    set_metadata(model / "encoder.onnx", encoder_dims="32,abc")
    with pytest.raises(ModelError, match="encoder_dims"):
        SherpaStreamingRecognizer.load(model)


def test_unknown_transducer_type(transducer_dir: Path, tmp_path: Path):
    model = copy_model(transducer_dir, tmp_path / "m")
    set_metadata(model / "encoder.onnx", model_type="whisper")
    with pytest.raises(ModelError, match="whisper"):
        SherpaStreamingRecognizer.load(model)


def test_malformed_tokens_line(transducer_dir: Path, tmp_path: Path):
    model = copy_model(transducer_dir, tmp_path / "m")
    with (model / "tokens.txt").open("a") as tokens:
        tokens.write("two words 99\n")  # sherpa-onnx: exit(-1)
    with pytest.raises(ModelError, match="line 28"):
        SherpaStreamingRecognizer.load(model)


def test_tokens_shorter_than_vocabulary(transducer_dir: Path, tmp_path: Path):
    model = copy_model(transducer_dir, tmp_path / "m")
    lines = (model / "tokens.txt").read_text().splitlines()
    (model / "tokens.txt").write_text("\n".join(lines[:10]) + "\n")
    with pytest.raises(ModelError, match="lacks 17 of the model's 27 token ids"):
        SherpaStreamingRecognizer.load(model)


def test_ctc_tokens_without_blank(ctc_dir: Path, tmp_path: Path):
    model = copy_model(ctc_dir, tmp_path / "m")
    text = (model / "tokens.txt").read_text().replace("<blk>", "<nothing>")
    (model / "tokens.txt").write_text(text)  # sherpa-onnx: exit(-1)
    with pytest.raises(ModelError, match="no CTC blank"):
        SherpaStreamingRecognizer.load(model)


def test_ctc_model_refuses_beam_search(ctc_dir: Path):
    with pytest.raises(ModelError, match="greedy_search"):
        SherpaStreamingRecognizer.load(ctc_dir, decoding_method="modified_beam_search")


def test_segment_model_layout_is_not_a_streaming_model(tmp_path: Path):
    # The file layout of Moonshine for sherpa-onnx's OfflineRecognizer.
    model = tmp_path / "moonshine-tiny-en"
    model.mkdir()
    for name in ("encoder_model.ort", "decoder_model_merged.ort"):
        (model / name).write_bytes(b"ORT model")
    (model / "tokens.txt").write_text("<blk> 0\na 1\n")
    with pytest.raises(ModelError, match="no streaming speech model"):
        SherpaStreamingRecognizer.load(model)


def test_foreign_onnx_model_is_not_taken_for_ctc(tmp_path: Path):
    # A real ONNX model of another kind: the Silero VAD shipped with the package.
    vad = Path(__file__).resolve().parents[1] / "edge" / "data" / "silero_vad.onnx"
    model = tmp_path / "vad"
    model.mkdir()
    shutil.copy(vad, model)
    (model / "tokens.txt").write_text("<blk> 0\na 1\n")
    with pytest.raises(ModelError, match="silero_vad.onnx is not a streaming Zipformer2 CTC"):
        SherpaStreamingRecognizer.load(model)


def test_several_encoders_are_ambiguous(transducer_dir: Path, tmp_path: Path):
    model = copy_model(transducer_dir, tmp_path / "m")
    shutil.copy(model / "encoder.onnx", model / "encoder-chunk-32.onnx")
    with pytest.raises(ModelError, match="several encoder models"):
        SherpaStreamingRecognizer.load(model)
