"""`edge bench`: end of speech -> first translated sound, per stage, against a naive cascade.

Each configuration runs in its own process (so peak RSS is its own):

* the recording is fed paced in real time, like a microphone;
* the true end of each utterance is known from the input (clean recordings with silence
  between sentences), and latency is measured from it to the first output sample;
* the same utterances go through a naive sequential cascade with the same models (wait for
  the end of the utterance, ASR, MT of the whole text, synthesize everything, then play);
* both run twice: each sentence its own utterance, then the sentences spoken
  :data:`SENTENCES_PER_TURN` to a turn with short pauses between them (one utterance each).

The cascade configurations use a random-weight CTranslate2 model of the real architecture
for MT, decoding exactly as many tokens as the real tokenizer gives the source sentence
(:func:`production_token_count`), and speak the source sentence, streamed word by word at
the decode's pace: the timing is real, the words are a stand-in. ``cascade-nllb-vmap`` is the same NLLB
model with a 32k-token output vocabulary map for the target language, as ``quantize vocab``
publishes per language.

``cascade-bergamot`` runs real weights end to end: the Bergamot en->pt student translates
for real and its Portuguese is spoken by espeak-ng; ``cascade-bergamot-piper`` speaks that
Portuguese with Piper en_US-joe-medium instead, standing in for a Portuguese Piper medium
voice of the same architecture and size (none is downloadable here), for time and memory.
Their English input is synthesized by the parent process, so the worker's peak RSS holds only
the models of the cascade.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .asr.base import SAMPLE_RATE
from .audio import read_audio, resample
from .errors import EdgeError

CONFIGS = (
    "cascade-opus",
    "cascade-nllb",
    "cascade-nllb-vmap",
    "cascade-bergamot",
    "cascade-bergamot-piper",
    "direct",
)
# Real weights: English speech -> Moonshine -> the Bergamot en->pt student -> Portuguese speech,
# by espeak-ng (the voice this install has for Portuguese) or by a Piper medium voice.
BERGAMOT_CONFIGS = ("cascade-bergamot", "cascade-bergamot-piper")
BERGAMOT_EN_PT = "bergamot-en-pt-tiny"
# Output tokens a per-target-language vocabulary map keeps (``quantize vocab``; issue-measured
# about 2x faster NLLB decoding at 32k).
VMAP_TOKENS = 32_000
BENCH_SENTENCES = [
    "The train to the airport leaves at nine.",
    "Please show me the way to the museum.",
    "I would like a cup of coffee with milk.",
    "How much does this ticket cost?",
    "My phone battery is almost empty.",
    "Thank you very much for your help.",
]
PAUSE_S = 1.2  # between utterances (turns)
SENTENCES_PER_TURN = 2  # the "turns" layout: sentences spoken as one utterance
WITHIN_TURN_PAUSE_S = 0.25  # between the sentences of a turn: under the VAD hangover


_PIECES = re.compile(r"\w+|[^\w\s]")


def production_token_count(sentence: str, flavour: str) -> int:
    """Source tokens of ``sentence`` under the real model's tokenizer, for common words.

    The 256k-piece NLLB-200 vocabulary (and OPUS-MT's per-pair ones) keep common words and
    punctuation marks as one piece each: NLLB tokenizes "How was your day?" as 5 pieces plus
    the language token and ``</s>``. The synthetic models' small SentencePiece vocabulary cuts
    the same sentence into 13 pieces, which would charge the decode twice the work.
    """
    specials = 1 if flavour == "marian" else 2  # </s>; NLLB also the language token
    return len(_PIECES.findall(sentence)) + specials


class FixedLengthStandIn:
    """Real CTranslate2 decoding of a random-weight model; returns the source sentences.

    Output length is forced to the source sentence's token count under the real model's
    tokenizer, so the decode costs what a real translation of that sentence would.
    """

    def __init__(self, mt: Any) -> None:
        self._mt = mt
        self.languages = mt.languages
        self.decoded_tokens = 0
        self.decode_seconds = 0.0

    def supports(self, source: str, target: str) -> bool:
        return bool(self._mt.supports(source, target))

    def translate(self, sentences: list[str], source: str, target: str) -> list[str]:
        lengths = [self._length(s) for s in sentences]
        t0 = time.perf_counter()
        self._mt.translate(sentences, source, target, decode_lengths=lengths)
        self.decode_seconds += time.perf_counter() - t0
        self.decoded_tokens += sum(lengths)
        return list(sentences)

    def _length(self, sentence: str) -> int:
        return production_token_count(sentence, self._mt.flavour)

    def translate_words(self, sentence: str, source: str, target: str) -> Iterator[str]:
        """The source words, each released when the decode is as far through its tokens as
        the word is through the sentence: streamed at the pace of a real decode."""
        words = sentence.split()
        length = self._length(sentence)
        released = decoded = 0
        t0 = time.perf_counter()
        tokens = self._mt.generate(sentence, source, target, decode_length=length)
        try:
            for _token in tokens:
                decoded += 1
                while released < len(words) * decoded // length:
                    yield words[released]
                    released += 1
        finally:
            tokens.close()
            self.decode_seconds += time.perf_counter() - t0
            self.decoded_tokens += decoded


@dataclass
class Utterance:
    start_s: float
    end_s: float  # true end of speech in the input


@dataclass
class ConfigResult:
    config: str
    models: dict[str, str]
    utterances: int
    latency_ms: list[float]
    naive_latency_ms: list[float]
    stage_ms: dict[str, float]
    real_time_factor: dict[str, float]
    peak_rss_mb: float
    mt_tokens_per_s: float | None = None
    notes: list[str] = field(default_factory=list)
    # The same sentences spoken SENTENCES_PER_TURN to an utterance.
    turns: int = 0
    turn_latency_ms: list[float] = field(default_factory=list)
    turn_naive_latency_ms: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return _median(self.latency_ms)

    @property
    def p95(self) -> float:
        return _percentile(self.latency_ms, 95)

    @property
    def naive_p50(self) -> float:
        return _median(self.naive_latency_ms)

    @property
    def turn_p50(self) -> float:
        return _median(self.turn_latency_ms)

    @property
    def turn_naive_p50(self) -> float:
        return _median(self.turn_naive_latency_ms)


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def speech_spans(
    audio: np.ndarray, min_gap_s: float = 0.25, floor_db: float = -45.0
) -> list[Utterance]:
    """Spans of sound separated by at least ``min_gap_s`` of (near) digital silence."""
    frame = 160
    frames = len(audio) // frame
    rms = np.sqrt(np.mean(audio[: frames * frame].reshape(frames, frame) ** 2, axis=1) + 1e-12)
    loud = 20 * np.log10(rms) > floor_db
    spans: list[Utterance] = []
    gap = int(min_gap_s * SAMPLE_RATE / frame)
    start = None
    last = -gap - 1
    for i, is_loud in enumerate(loud):
        if not is_loud:
            continue
        if start is None:
            start = i
        elif i - last > gap:
            spans.append(Utterance(start * frame / SAMPLE_RATE, (last + 1) * frame / SAMPLE_RATE))
            start = i
        last = i
    if start is not None:
        spans.append(Utterance(start * frame / SAMPLE_RATE, (last + 1) * frame / SAMPLE_RATE))
    return spans


def _with_pauses(
    audio: np.ndarray, spans: list[Utterance], pause_s: float, per_turn: int = 1
) -> tuple[np.ndarray, list[Utterance]]:
    """Re-space the spans into turns of ``per_turn`` sentences, ``pause_s`` apart (each turn
    its own utterance), with :data:`WITHIN_TURN_PAUSE_S` between the sentences of a turn."""
    silence = np.zeros(int(0.5 * SAMPLE_RATE), np.float32)
    pieces = [silence]
    out: list[Utterance] = []
    position = len(silence)
    for first in range(0, len(spans), per_turn):
        turn_start = position
        for index, span in enumerate(spans[first : first + per_turn]):
            if index:
                gap = np.zeros(int(WITHIN_TURN_PAUSE_S * SAMPLE_RATE), np.float32)
                pieces.append(gap)
                position += len(gap)
            piece = audio[int(span.start_s * SAMPLE_RATE) : int(span.end_s * SAMPLE_RATE)]
            pieces.append(piece)
            position += len(piece)
        out.append(Utterance(turn_start / SAMPLE_RATE, position / SAMPLE_RATE))
        pieces.append(np.zeros(int(pause_s * SAMPLE_RATE), np.float32))
        position += len(pieces[-1])
    return np.concatenate(pieces), out


def english_recording(voice: Any, per_turn: int = 1) -> tuple[np.ndarray, list[Utterance]]:
    pieces = [np.concatenate(list(voice.synthesize(text))) for text in BENCH_SENTENCES]
    audio = np.concatenate([resample(p, voice.sample_rate, SAMPLE_RATE) for p in pieces])
    spans: list[Utterance] = []
    position = 0
    for piece in pieces:
        samples = len(resample(piece, voice.sample_rate, SAMPLE_RATE))
        sub = speech_spans(audio[position : position + samples], min_gap_s=10.0)
        spans.append(
            Utterance(
                (position / SAMPLE_RATE) + sub[0].start_s, (position / SAMPLE_RATE) + sub[-1].end_s
            )
        )
        position += samples
    return _with_pauses(audio, spans, PAUSE_S, per_turn)


def sample_recording(path: Path, per_turn: int = 1) -> tuple[np.ndarray, list[Utterance]]:
    audio = read_audio(path)
    return _with_pauses(audio, speech_spans(audio), PAUSE_S, per_turn)


# --- one configuration, in this process -------------------------------------------------


def demo_model_paths(models_dir: str | None) -> dict[str, Path]:
    """Installed demo models by role: asr, tts, direct."""
    from .models import ModelStore

    store = ModelStore(Path(models_dir) if models_dir else None)
    wanted = {
        "asr": "moonshine-tiny-en",
        "tts": "piper-en_US-joe-medium",
        "direct": "whisper-base-ct2",
    }
    return {role: store.get(model_id).path for role, model_id in wanted.items()}


def synthetic_mt(kind: str, cache: Path) -> Path:
    """The random-weight MT model of configuration ``kind``, built in ``cache`` on first use."""
    if kind == "cascade-nllb-vmap":
        return _vmap_variant(synthetic_mt("cascade-nllb", cache), cache / kind)
    return build_synthetic_mt(kind, cache / kind)


def build_synthetic_mt(kind: str, out: Path) -> Path:
    """English -> Spanish at the size of ``kind``: Marian for OPUS-MT, NLLB-200 for NLLB."""
    from .synthetic.ct2_transformer import NLLB_600M, OPUS_MT, build_marian_like, build_nllb_like

    if not (out / "model.bin").is_file():
        if kind == "cascade-opus":
            build_marian_like(out, source_lang="eng_Latn", target_lang="spa_Latn", **OPUS_MT)
        else:
            build_nllb_like(out, languages=("eng_Latn", "spa_Latn", "deu_Latn"), **NLLB_600M)
    return out


def _vmap_variant(full: Path, out: Path) -> Path:
    """``full`` with a Spanish output vocabulary map of :data:`VMAP_TOKENS` tokens.

    A random model has no Spanish text to learn the map from; its first tokens (specials,
    language tokens, the SentencePiece pieces) stand in. Only the map's size matters here.
    """
    from quantize.vocab import write_vmap_variant

    if not (out / "vmap.txt").is_file():
        vocabulary = json.loads((full / "shared_vocabulary.json").read_text(encoding="utf-8"))
        write_vmap_variant(full, out, vocabulary[:VMAP_TOKENS], ["spa_Latn"])
    return out


def _mt_dir(kind: str, cache: Path) -> Path:
    out = cache / kind
    if not (out / "model.bin").is_file():
        raise EdgeError(
            f"synthetic MT model missing: {out}", "run `edge bench`, which builds it first"
        )
    return out


def run_config(
    config: str, models_dir: str | None, threads: int, cache: Path, low_memory: bool = False
) -> ConfigResult:
    from .engine import Stages
    from .translator import RuntimeOptions, load_mt, load_recognizer, load_voice

    paths = demo_model_paths(models_dir)
    options = RuntimeOptions(asr_threads=threads, mt_threads=threads, low_memory=low_memory)
    notes: list[str] = []
    if config in BERGAMOT_CONFIGS:
        return _run_bergamot(config, models_dir, paths, options, cache)
    voice = load_voice(paths["tts"], options)
    stages = Stages(tts=voice)
    standin: FixedLengthStandIn | None = None
    if config == "direct":
        direct = load_recognizer(paths["direct"], options, task="translate")
        stages.direct = direct  # type: ignore[assignment]

        def recording(per_turn: int) -> tuple[np.ndarray, list[Utterance]]:
            return sample_recording(_sample("es_station.flac"), per_turn)

        source, target = "spa_Latn", "eng_Latn"
        model_names = {"direct": "whisper-base-ct2 (int8)", "tts": "piper en_US-joe-medium"}
    else:
        asr = load_recognizer(paths["asr"], options)
        stages.segment_asr = asr  # type: ignore[assignment]
        mt_dir = _mt_dir(config, cache)
        standin = FixedLengthStandIn(load_mt(mt_dir, options))
        stages.mt = standin

        def recording(per_turn: int) -> tuple[np.ndarray, list[Utterance]]:
            return english_recording(voice, per_turn)

        source, target = "eng_Latn", "spa_Latn"
        size = {
            "cascade-opus": "OPUS-MT-sized",
            "cascade-nllb": "NLLB-200-distilled-600M-sized",
            "cascade-nllb-vmap": "NLLB-200-distilled-600M-sized, 32k Spanish vmap,",
        }[config]
        model_names = {
            "asr": "moonshine-tiny-en (sherpa-onnx)",
            "mt": f"random-weight {size} CTranslate2 int8, output length = source tokens "
            "(one per word and punctuation mark, as the real tokenizer)",
            "tts": "piper en_US-joe-medium",
        }
        notes.append("MT words are a stand-in: the source sentence is spoken; the decode is real")

    tokens_per_s = (
        round(standin.decoded_tokens / standin.decode_seconds, 1)
        if standin and standin.decode_seconds
        else None
    )
    return _measure(config, model_names, stages, recording, source, target, notes, tokens_per_s)


def _measure(
    config: str,
    model_names: dict[str, str],
    stages: Any,
    recording: Any,
    source: str,
    target: str,
    notes: list[str],
    tokens_per_s: float | None,
) -> ConfigResult:
    """The paced engine and the naive cascade, one sentence per utterance and in turns."""
    from .engine import peak_rss_mb
    from .vad import VadConfig, VadSegmenter

    vad = VadConfig()
    audio, truth = recording(1)
    warm(stages, audio, truth, source, target)
    run = measure_paced(stages, audio, truth, source, target, vad)
    if run.spoken != len(truth):
        notes.append(f"{run.spoken} utterances spoken for {len(truth)} in the input")
    turns_audio, turns = recording(SENTENCES_PER_TURN)
    turns_run = measure_paced(stages, turns_audio, turns, source, target, vad)
    if turns_run.spoken != len(turns):
        notes.append(f"{turns_run.spoken} turns spoken for {len(turns)} in the input")
    # The engine's peak: the naive cascade synthesizes whole turns at once, which peaks higher.
    peak_mb = peak_rss_mb() or 0.0

    naive = _naive(stages, audio, truth, source, target, VadSegmenter(vad))
    turns_naive = _naive(stages, turns_audio, turns, source, target, VadSegmenter(vad))
    return ConfigResult(
        config=config,
        models=model_names,
        utterances=len(truth),
        latency_ms=[round(x, 1) for x in run.latency_ms],
        naive_latency_ms=[round(x, 1) for x in naive],
        turns=len(turns),
        turn_latency_ms=[round(x, 1) for x in turns_run.latency_ms],
        turn_naive_latency_ms=[round(x, 1) for x in turns_naive],
        stage_ms=run.metrics.stage_ms,
        real_time_factor=run.metrics.real_time_factor,
        peak_rss_mb=round(peak_mb, 1),
        mt_tokens_per_s=tokens_per_s,
        notes=notes,
    )


def english_input(cache: Path, models_dir: str | None) -> Path:
    """The bench sentences spoken by Piper joe, one per utterance, saved once in ``cache``."""
    import soundfile as sf

    path = cache / "bench_english.wav"
    if not path.is_file():
        from .translator import RuntimeOptions, load_voice

        voice = load_voice(demo_model_paths(models_dir)["tts"], RuntimeOptions())
        audio, _ = english_recording(voice)
        sf.write(path, audio, SAMPLE_RATE)
    return path


def _run_bergamot(
    config: str, models_dir: str | None, paths: dict[str, Path], options: Any, cache: Path
) -> ConfigResult:
    from .engine import Stages
    from .models import ModelStore
    from .translator import load_mt, load_recognizer, load_voice
    from .tts.espeak_tts import EspeakTTS

    store = ModelStore(Path(models_dir) if models_dir else None)
    source, target = "eng_Latn", "por_Latn"
    if config == "cascade-bergamot":
        voice: Any = EspeakTTS.load(target)
        tts_name = "espeak-ng pt (espeakng-loader)"
    else:
        voice = load_voice(paths["tts"], options)
        tts_name = (
            "piper en_US-joe-medium speaking the Portuguese (stands in for a pt medium voice)"
        )
    mt = load_mt(store.get(BERGAMOT_EN_PT).path, options)
    stages = Stages(tts=voice, mt=mt)
    stages.segment_asr = load_recognizer(paths["asr"], options)  # type: ignore[assignment]
    english = english_input(cache, models_dir)

    def recording(per_turn: int) -> tuple[np.ndarray, list[Utterance]]:
        return sample_recording(english, per_turn)

    names = {
        "asr": "moonshine-tiny-en (sherpa-onnx)",
        "mt": f"{BERGAMOT_EN_PT} (Bergamot student, real weights, onnxruntime int8)",
        "tts": tts_name,
    }
    translations = mt.translate(BENCH_SENTENCES, source, target)
    notes = [f"MT: {BENCH_SENTENCES[0]!r} -> {translations[0]!r}"]
    result = _measure(config, names, stages, recording, source, target, notes, None)
    mt.translate(BENCH_SENTENCES, source, target)  # warm now: time the batch again
    stats = mt.last_stats
    if stats is not None:
        result.mt_tokens_per_s = round(stats.tokens_per_second, 1)
    return result


def _sample(name: str) -> Path:
    path = Path(__file__).resolve().parent.parent / "samples" / name
    if not path.is_file():
        raise EdgeError(
            f"benchmark sample missing: {path}", "run the benchmark from a source checkout"
        )
    return path


def warm(stages: Any, audio: np.ndarray, truth: list[Utterance], source: str, target: str) -> None:
    """First calls of each runtime allocate; a device does this once at boot."""
    first = audio[: int((truth[0].end_s + 0.5) * SAMPLE_RATE)]
    if stages.direct is not None:
        stages.direct.recognize(first, source)
    if stages.segment_asr is not None:
        stages.segment_asr.recognize(first, source)
    if stages.mt is not None:
        stages.mt.translate(["Hello there, how are you?"], source, target)
    if stages.tts is not None:
        list(stages.tts.synthesize("Hello there."))


@dataclass
class PacedRun:
    latency_ms: list[float]  # per spoken utterance: true end of speech -> first output sample
    spoken: int  # utterances that produced audio
    metrics: Any  # the engine's closing edge.events.Metrics


def measure_paced(
    stages: Any,
    audio: np.ndarray,
    truth: list[Utterance],
    source: str,
    target: str,
    vad: Any = None,
) -> PacedRun:
    """Feed ``audio`` to the engine in real time, as a microphone would, and time each reply."""
    from .engine import AudioBlock, Engine, EngineConfig
    from .events import AudioOut, Metrics, SpeechEnded
    from .vad import VadConfig

    engine = Engine(stages, EngineConfig(source=source, target=target, vad=vad or VadConfig()))
    block = int(0.032 * SAMPLE_RATE)
    start = [0.0]

    def paced():  # noqa: ANN202
        start[0] = time.perf_counter()
        for offset in range(0, len(audio), block):
            delay = start[0] + (offset + block) / SAMPLE_RATE - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            yield AudioBlock(audio[offset : offset + block], time.perf_counter())

    first_audio: dict[int, float] = {}
    ends: dict[int, float] = {}
    metrics: Metrics | None = None
    for event in engine.run(paced()):
        if isinstance(event, AudioOut) and event.utterance_id not in first_audio:
            first_audio[event.utterance_id] = time.perf_counter()
        elif isinstance(event, SpeechEnded):
            ends[event.utterance_id] = event.end_s
        elif isinstance(event, Metrics):
            metrics = event
    assert metrics is not None
    latencies = []
    for uid, wall in sorted(first_audio.items()):
        true_end = min(truth, key=lambda u: abs(u.end_s - ends.get(uid, -1))).end_s
        latencies.append((wall - (start[0] + true_end)) * 1000)
    return PacedRun(latencies, len(first_audio), metrics)


def _naive(
    stages: Any, audio: np.ndarray, truth: list[Utterance], source: str, target: str, vad: Any
) -> list[float]:
    """Sequential cascade: end of utterance -> ASR -> MT (all text) -> TTS (all) -> play."""
    from .text import split_sentences

    latencies = []
    block = 512
    for offset in range(0, len(audio), block):
        for update in vad.accept(audio[offset : offset + block]):
            if update.ended is None:
                continue
            confirmed_s = (offset + block) / SAMPLE_RATE
            true_end = min(truth, key=lambda u: abs(u.end_s - update.ended.end_s)).end_s
            t0 = time.perf_counter()
            if stages.direct is not None:
                text = stages.direct.recognize(update.ended.audio, source).text
                translated = text
            else:
                text = stages.segment_asr.recognize(update.ended.audio, source).text
                translated = " ".join(stages.mt.translate(split_sentences(text), source, target))
            for _chunk in stages.tts.synthesize(translated):
                pass
            processing = time.perf_counter() - t0
            latencies.append((confirmed_s - true_end + processing) * 1000)
    return latencies


# --- orchestration ------------------------------------------------------------------------


def machine_description() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def markdown_table(results: list[ConfigResult]) -> str:
    rows = [
        "| configuration | utterances | p50 end of speech -> first audio | p95 | naive cascade p50 | speed-up "
        f"| {SENTENCES_PER_TURN}-sentence turns: p50 | naive p50 | speed-up "
        "| peak RSS | ASR RTF | TTS RTF | MT tokens/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rows.append(
            f"| {r.config} | {len(r.latency_ms)}/{r.utterances} | {r.p50:.0f} ms | {r.p95:.0f} ms | "
            f"{r.naive_p50:.0f} ms | {_ratio(r.naive_p50, r.p50)} | "
            f"{r.turn_p50:.0f} ms ({len(r.turn_latency_ms)}/{r.turns}) | {r.turn_naive_p50:.0f} ms | "
            f"{_ratio(r.turn_naive_p50, r.turn_p50)} | {r.peak_rss_mb:.0f} MB | "
            f"{r.real_time_factor.get('asr', float('nan')):.3f} | {r.real_time_factor.get('tts', float('nan')):.3f} | "
            f"{r.mt_tokens_per_s if r.mt_tokens_per_s is not None else '-'} |"
        )
    return "\n".join(rows)


def _ratio(naive: float, engine: float) -> str:
    return f"{naive / engine:.1f}x" if engine > 0 else "-"


def cmd_bench(args: argparse.Namespace) -> int:
    configs = list(CONFIGS) if args.config == "all" else [args.config]
    cache = Path(args.cache or Path(tempfile.gettempdir()) / "edge-bench")
    cache.mkdir(parents=True, exist_ok=True)
    results = []
    for config in configs:
        # Built here, not in the measured process: building peaks above the model's size.
        if config in BERGAMOT_CONFIGS:
            english_input(cache, args.models_dir)
        elif config.startswith("cascade"):
            synthetic_mt(config, cache)
        print(f"running {config} ...", file=sys.stderr, flush=True)
        cmd = [
            sys.executable,
            "-m",
            "edge.bench",
            config,
            "--threads",
            str(args.threads),
            *(["--low-memory"] if args.low_memory else []),
            "--cache",
            str(cache),
        ]
        if args.models_dir:
            cmd += ["--models-dir", args.models_dir]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise EdgeError(
                f"benchmark {config} failed: {proc.stderr.strip().splitlines()[-1:]}", "run with -v"
            )
        results.append(ConfigResult(**json.loads(proc.stdout.strip().splitlines()[-1])))
    report = {
        "machine": machine_description(),
        "threads": args.threads,
        "results": [
            asdict(r)
            | {
                "p50_ms": r.p50,
                "p95_ms": r.p95,
                "naive_p50_ms": r.naive_p50,
                "turn_p50_ms": r.turn_p50,
                "turn_naive_p50_ms": r.turn_naive_p50,
            }
            for r in results
        ],
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"machine: {report['machine']}, threads per stage: {args.threads}")
        print(markdown_table(results))
        for r in results:
            for note in r.notes:
                print(f"note ({r.config}): {note}")
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2))
    return 0


def add_bench_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench", help="measure end-of-speech -> first-audio latency and resources"
    )
    parser.add_argument("--config", choices=(*CONFIGS, "all"), default="all")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--low-memory",
        action="store_true",
        help="run as a device under 1 GB does: no onnxruntime arenas, memory returned after use",
    )
    parser.add_argument("--models-dir", metavar="DIR")
    parser.add_argument("--cache", metavar="DIR", help="where the synthetic MT models are built")
    parser.add_argument("--output", metavar="FILE.json")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=cmd_bench)


def _worker(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="edge.bench")
    parser.add_argument("config", choices=CONFIGS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--low-memory", action="store_true")
    parser.add_argument("--models-dir")
    parser.add_argument("--cache", required=True)
    args = parser.parse_args(argv)
    result = run_config(
        args.config, args.models_dir, args.threads, Path(args.cache), args.low_memory
    )
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))
