"""The engine with a streaming recognizer (a synthetic sherpa-onnx Zipformer2 transducer)."""

from pathlib import Path

import numpy as np

from edge.asr.base import EndpointConfig
from edge.events import Metrics, PartialTranscript, SpeechEnded, SpeechStarted, Transcript
from edge.synthetic.sherpa_streaming import build_streaming_transducer
from edge.translator import RuntimeOptions, SpeechTranslator


def _bursts(count: int, burst_s: float = 0.4, gap_s: float = 1.6) -> np.ndarray:
    rng = np.random.default_rng(0)
    pieces = [np.zeros(int(0.5 * 16000), np.float32)]
    for _ in range(count):
        pieces.append(rng.uniform(-0.1, 0.1, int(burst_s * 16000)).astype(np.float32))
        pieces.append(np.zeros(int(gap_s * 16000), np.float32))
    return np.concatenate(pieces)


def test_streaming_utterances_end_at_endpoints(tmp_path: Path) -> None:
    model = build_streaming_transducer(tmp_path / "zipformer")
    options = RuntimeOptions(endpoint=EndpointConfig(rule2_min_trailing_silence_s=0.5))
    translator = SpeechTranslator.load("en", None, asr=model, options=options)
    assert translator.stages.streaming_asr is not None
    audio = _bursts(3)
    events = list(translator.stream([audio[i : i + 1600] for i in range(0, len(audio), 1600)]))
    transcripts = [e for e in events if isinstance(e, Transcript)]
    # Each burst of noise decodes to letters and is closed by the trailing-silence rule.
    assert len(transcripts) == 3
    assert all(t.text for t in transcripts)
    assert all(a.end_s <= b.start_s for a, b in zip(transcripts, transcripts[1:], strict=False))
    assert any(isinstance(e, PartialTranscript) for e in events)
    kinds = [type(e) for e in events]
    assert kinds.count(SpeechStarted) == kinds.count(SpeechEnded) == 3
    assert isinstance(events[-1], Metrics) and events[-1].utterances == 3


def test_streaming_endpoint_rule_is_configurable(tmp_path: Path) -> None:
    model = build_streaming_transducer(tmp_path / "zipformer")
    audio = _bursts(3, gap_s=1.0)
    counts = []
    for silence in (0.4, 2.0):
        options = RuntimeOptions(endpoint=EndpointConfig(rule2_min_trailing_silence_s=silence))
        translator = SpeechTranslator.load("en", None, asr=model, options=options)
        events = translator.stream([audio])
        counts.append(sum(isinstance(e, Transcript) for e in events))
    # A 1 s pause ends an utterance under a 0.4 s rule, not under a 2 s rule.
    assert counts == [3, 1]
