"""`edge bench`: end of speech -> first translated sound at the sink, against two baselines.

Each configuration runs in its own process (so peak RSS is its own):

* the input is :data:`BENCH_SET`, 24 English sentences spoken by Piper joe with its randomness
  off, half of them with a 200-450 ms pause at a comma (:func:`spoken_set`); ``direct`` speaks
  Spanish and uses ``samples/es_station.flac`` instead. Each input is measured clean (digital
  silence between utterances) and in generated cafe noise at 10 dB SNR (:func:`cafe_noise`);
* the recording is fed paced in real time, like a microphone, and the engine's audio is
  played through a file-as-device sink on the same clock (``edge.live.filedev``): latency
  runs from the true end of each utterance (known from the layout, not from silence) to its
  first sample at the sink; the audio event's time is kept too (the difference is reported);
* the same utterances go through two sequential cascades with the same models
  (:func:`measure_baselines`): **naive** (wait for the end of the utterance, ASR, MT of the
  whole text, synthesize everything, then play) and **sentence-streaming** (wait for the end,
  ASR, then per sentence MT -> TTS, each sentence played as soon as it is synthesized). The
  headline ratio is against sentence-streaming, the design a competent engineer builds first;
* every true utterance counts: one with no audio, or audio for a transcript that misses
  half its words, is a miss, and percentiles are over all of them with misses as infinite;
* all of it twice: each sentence its own utterance, then the sentences spoken
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
The English input of every cascade is synthesized by the parent process, so the worker's
peak RSS holds only the models of the cascade.

The command is ``edge.cli.bench``; ``python -m edge.bench CONFIG`` is the measured worker process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .asr.base import SAMPLE_RATE
from .audio import read_audio, resample
from .errors import EdgeError
from .settings import THREADS, setting
from .voice_match import MODES as VOICE_MATCH_MODES

CONFIGS = (
    "cascade-opus",
    "cascade-nllb",
    "cascade-nllb-vmap",
    "cascade-bergamot",
    "cascade-bergamot-piper",
    "direct",
)
INPUTS = ("clean", "noisy", "both")


@dataclass
class BenchSettings:
    """What ``edge bench`` measures with: each field is its flag (edge.settings); the
    benchmark has no config file."""

    threads: int = setting(2, bounds=THREADS, kind=int, help="threads per ASR and MT stage")
    """Threads per ASR and MT stage; 2 measures a 2-core device."""
    low_memory: bool = setting(
        False,
        kind=bool,
        help="run as a device under 1 GB does: no onnxruntime arenas, memory returned after use",
    )
    """Measure the low-memory profile (edge.translator.RuntimeOptions.low_memory)."""
    input: str = setting(
        "both",
        choices=INPUTS,
        help="the English set clean, in cafe noise at 10 dB SNR, or both (default)",
    )
    """Which variants of the spoken set to feed."""
    voice_match: str = setting(
        "off",
        choices=VOICE_MATCH_MODES,
        help="the engine's voice matching, to measure what it adds (default: off; the "
        "baselines never match)",
    )
    """The engine's edge.voice_match mode; the baselines never match."""

    @property
    def variants(self) -> tuple[str, ...]:
        return VARIANTS if self.input == "both" else (self.input,)


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


# The benchmark's set: 24 sentences (the six above first), 12 of them with a comma where the
# speaker pauses mid-sentence (INNER_PAUSE_S), as people do; spoken one per utterance and two
# to a turn (12 turns).
BENCH_SET = [
    *BENCH_SENTENCES,
    "Excuse me, where is the nearest pharmacy?",
    "We are looking for a quiet hotel near the beach.",
    "If it rains tomorrow, we will visit the castle instead.",
    "Could you call a taxi for us, please?",
    "The restaurant on the corner is closed on Mondays.",
    "When we arrived at the station, the last bus had already left.",
    "I am allergic to nuts, so please check the sauce.",
    "Is breakfast included in the price of the room?",
    "After the concert, we walked back along the river.",
    "My sister lives in a small town in the north.",
    "Sorry, I did not understand the question.",
    "Can I pay by card, or only in cash?",
    "The doctor said I should rest for a few days.",
    "On Sunday morning, the market opens at eight.",
    "Please write the address down for me.",
    "Although the museum is free, you need a ticket.",
    "We missed our connection because the first flight was late.",
    "Turn left at the bridge, then go straight on.",
]
INNER_PAUSE_S = (0.2, 0.45)  # a pause at the comma, drawn per sentence (seeded)
NOISE_SNR_DB = 10.0  # the noisy variant: cafe babble this far below the speech
SEED = 15


def trim(audio: np.ndarray, floor_db: float = -45.0) -> np.ndarray:
    """``audio`` without the (near) silence before and after the sound."""
    spans = speech_spans(audio, min_gap_s=1e9, floor_db=floor_db)
    if not spans:
        return audio[:0]
    return audio[int(spans[0].start_s * SAMPLE_RATE) : int(spans[-1].end_s * SAMPLE_RATE)]


def spoken_set(voice: Any, texts: Sequence[str] = BENCH_SET) -> list[np.ndarray]:
    """Each text spoken by ``voice`` at 16 kHz, trimmed; where it has a comma, the two halves
    are synthesized apart and joined by a pause of :data:`INNER_PAUSE_S` (seeded: the same
    recording every time with a deterministic voice)."""
    rng = np.random.default_rng(SEED)
    out = []
    for text in texts:
        head, comma, tail = text.partition(",")
        parts = [head + comma, tail.strip()] if comma else [text]
        pieces = []
        for index, part in enumerate(parts):
            if index:
                pause = rng.uniform(*INNER_PAUSE_S)
                pieces.append(np.zeros(int(pause * SAMPLE_RATE), np.float32))
            audio = np.concatenate(list(voice.synthesize(part)))
            pieces.append(trim(resample(audio, voice.sample_rate, SAMPLE_RATE)))
        out.append(np.concatenate(pieces).astype(np.float32))
    return out


def lay_out(
    pieces: Sequence[np.ndarray], texts: Sequence[str], per_turn: int = 1
) -> tuple[np.ndarray, list[Utterance]]:
    """The spoken sentences as a recording: ``per_turn`` to a turn (:data:`WITHIN_TURN_PAUSE_S`
    apart), turns :data:`PAUSE_S` apart; the truth comes from the layout, not from silence,
    so pauses inside sentences and added noise leave it exact."""
    audio = np.concatenate(pieces)
    spans, position = [], 0
    for piece, text in zip(pieces, texts, strict=True):
        spans.append(Utterance(position / SAMPLE_RATE, (position + len(piece)) / SAMPLE_RATE, text))
        position += len(piece)
    return _with_pauses(audio, spans, PAUSE_S, per_turn)


def cafe_noise(length: int, pieces: Sequence[np.ndarray], seed: int = SEED) -> np.ndarray:
    """Cafe-like noise: six talkers of reversed speech (babble no ASR can transcribe), each
    from a random point of the set, over pink noise (clatter and air), unit power."""
    rng = np.random.default_rng(seed)
    talk = np.concatenate([p[::-1] for p in pieces])
    babble = np.zeros(length, np.float32)
    for _talker in range(6):
        start = int(rng.integers(0, len(talk)))
        stream = np.resize(np.roll(talk, -start), length)
        babble += stream * rng.uniform(0.5, 1.0)
    spectrum = np.fft.rfft(rng.normal(0, 1, length))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))  # 1/f power: pink
    pink = np.fft.irfft(spectrum, length).astype(np.float32)
    babble /= np.sqrt(np.mean(babble**2)) + 1e-12
    pink /= np.sqrt(np.mean(pink**2)) + 1e-12
    noise = babble + 0.5 * pink
    return (noise / np.sqrt(np.mean(noise**2))).astype(np.float32)


def with_noise(
    audio: np.ndarray, truth: Sequence[Utterance], noise: np.ndarray, snr_db: float = NOISE_SNR_DB
) -> np.ndarray:
    """``audio`` with ``noise`` throughout, ``snr_db`` below the speech's power (measured over
    the true utterances only, pauses inside them included)."""
    speech = np.concatenate(
        [audio[int(u.start_s * SAMPLE_RATE) : int(u.end_s * SAMPLE_RATE)] for u in truth]
    )
    power = float(np.mean(speech**2))
    gain = np.sqrt(power / 10 ** (snr_db / 10))
    return np.clip(audio + gain * noise[: len(audio)], -1.0, 1.0).astype(np.float32)


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
    text: str = ""  # what was said, where known: audio for another text is a miss


@dataclass
class ConfigResult:
    """One configuration's latencies, per true utterance (:data:`MISS` where it got no audio
    or audio for the wrong text), for the engine and both baselines, in both layouts."""

    config: str
    models: dict[str, str]
    utterances: int
    latency_ms: list[float]  # engine: true end of speech -> first sample at the sink
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
    stream_latency_ms: list[float] = field(default_factory=list)  # sentence-streaming baseline
    turn_stream_latency_ms: list[float] = field(default_factory=list)
    # Engine, per spoken utterance of both layouts: first sample at the sink - audio event.
    sink_delay_ms: list[float] = field(default_factory=list)
    variant: str = "clean"  # the input: "clean", or "noisy" (cafe noise, NOISE_SNR_DB)

    @property
    def label(self) -> str:
        return self.config if self.variant == "clean" else f"{self.config} ({self.variant})"

    @property
    def p50(self) -> float:
        return percentile(self.latency_ms, 50)

    @property
    def p90(self) -> float:
        return percentile(self.latency_ms, 90)

    @property
    def p95(self) -> float:
        return percentile(self.latency_ms, 95)

    @property
    def naive_p50(self) -> float:
        return percentile(self.naive_latency_ms, 50)

    @property
    def stream_p50(self) -> float:
        return percentile(self.stream_latency_ms, 50)

    @property
    def turn_p50(self) -> float:
        return percentile(self.turn_latency_ms, 50)

    @property
    def turn_naive_p50(self) -> float:
        return percentile(self.turn_naive_latency_ms, 50)

    @property
    def turn_stream_p50(self) -> float:
        return percentile(self.turn_stream_latency_ms, 50)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default) over every utterance, misses
    included as infinite: inf when it lands on or between a miss; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(rank), math.ceil(rank)
    if math.isinf(ordered[hi]) and (hi == lo or rank > lo):
        return MISS
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


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
        turn = spans[first : first + per_turn]
        for index, span in enumerate(turn):
            if index:
                gap = np.zeros(int(WITHIN_TURN_PAUSE_S * SAMPLE_RATE), np.float32)
                pieces.append(gap)
                position += len(gap)
            piece = audio[int(span.start_s * SAMPLE_RATE) : int(span.end_s * SAMPLE_RATE)]
            pieces.append(piece)
            position += len(piece)
        text = " ".join(span.text for span in turn if span.text)
        out.append(Utterance(turn_start / SAMPLE_RATE, position / SAMPLE_RATE, text))
        pieces.append(np.zeros(int(pause_s * SAMPLE_RATE), np.float32))
        position += len(pieces[-1])
    return np.concatenate(pieces), out


def english_recording(voice: Any, per_turn: int = 1) -> tuple[np.ndarray, list[Utterance]]:
    """The six :data:`BENCH_SENTENCES` spoken by ``voice``, without pauses inside them (what
    ``tools/bench_hardware.py`` measures)."""
    pieces = spoken_set(voice, [s.replace(",", "") for s in BENCH_SENTENCES])
    return lay_out(pieces, BENCH_SENTENCES, per_turn)


def sample_recording(
    path: Path, per_turn: int = 1, texts: Sequence[str] | None = None, noisy: bool = False
) -> tuple[np.ndarray, list[Utterance]]:
    """A recording's spans of sound, re-spaced into turns; ``texts``, one per span, are what
    the spans say (ignored unless there are as many as spans); ``noisy`` adds cafe noise."""
    audio = read_audio(path)
    spans = speech_spans(audio)
    if texts is not None and len(texts) == len(spans):
        for span, text in zip(spans, texts, strict=True):
            span.text = text
    laid, truth = _with_pauses(audio, spans, PAUSE_S, per_turn)
    return (_noisy(laid, truth) if noisy else laid), truth


def _noisy(audio: np.ndarray, truth: Sequence[Utterance]) -> np.ndarray:
    """``audio`` at :data:`NOISE_SNR_DB` in cafe noise made of its own (reversed) speech."""
    pieces = [audio[int(u.start_s * SAMPLE_RATE) : int(u.end_s * SAMPLE_RATE)] for u in truth]
    return with_noise(audio, truth, cafe_noise(len(audio), pieces))


def set_recording(
    pieces: Sequence[np.ndarray], per_turn: int = 1, noisy: bool = False
) -> tuple[np.ndarray, list[Utterance]]:
    """:data:`BENCH_SET` as spoken (``pieces``), laid out in turns, clean or in cafe noise."""
    audio, truth = lay_out(pieces, BENCH_SET, per_turn)
    return (_noisy(audio, truth) if noisy else audio), truth


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


VARIANTS = ("clean", "noisy")


def run_config(
    config: str,
    models_dir: str | None,
    threads: int,
    cache: Path,
    low_memory: bool = False,
    variants: Sequence[str] = VARIANTS,
    voice_match: str = "off",
) -> list[ConfigResult]:
    """``config`` measured on each input variant, in this process. ``voice_match``: the
    engine's (edge.voice_match), to measure what matching adds; the baselines never match."""
    from .engine import Stages
    from .translator import RuntimeOptions, load_mt, load_recognizer, load_voice

    paths = demo_model_paths(models_dir)
    options = RuntimeOptions(asr_threads=threads, mt_threads=threads, low_memory=low_memory)
    notes: list[str] = []
    if config in BERGAMOT_CONFIGS:
        return _run_bergamot(config, models_dir, paths, options, cache, variants, voice_match)
    voice = _same_every_time(load_voice(paths["tts"], options))
    stages = Stages(tts=voice)
    standin: FixedLengthStandIn | None = None
    if config == "direct":
        direct = load_recognizer(paths["direct"], options, task="translate")
        stages.direct = direct  # type: ignore[assignment]

        def recording(per_turn: int, noisy: bool) -> tuple[np.ndarray, list[Utterance]]:
            return sample_recording(_sample("es_station.flac"), per_turn, noisy=noisy)

        source, target = "spa_Latn", "eng_Latn"
        model_names = {"direct": "whisper-base-ct2 (int8)", "tts": "piper en_US-joe-medium"}
        notes.append("input: samples/es_station.flac (3 Spanish sentences), not the English set")
    else:
        asr = load_recognizer(paths["asr"], options)
        stages.segment_asr = asr  # type: ignore[assignment]
        mt_dir = _mt_dir(config, cache)
        standin = FixedLengthStandIn(load_mt(mt_dir, options))
        stages.mt = standin
        pieces = load_set(cache)

        def recording(per_turn: int, noisy: bool) -> tuple[np.ndarray, list[Utterance]]:
            return set_recording(pieces, per_turn, noisy)

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

    results = _measure(
        config, model_names, stages, recording, source, target, notes, variants, voice_match
    )
    if standin is not None and standin.decode_seconds:
        for result in results:
            result.mt_tokens_per_s = round(standin.decoded_tokens / standin.decode_seconds, 1)
    return results


def _measure(
    config: str,
    model_names: dict[str, str],
    stages: Any,
    recording: Any,
    source: str,
    target: str,
    notes: list[str],
    variants: Sequence[str] = VARIANTS,
    voice_match: str = "off",
) -> list[ConfigResult]:
    """The paced engine and both baselines, one sentence per utterance and in turns, on each
    variant of the input (``recording(per_turn, noisy)``)."""
    from .hardware import peak_rss_mb
    from .vad import VadConfig, VadSegmenter

    if voice_match != "off":
        notes = [
            *notes,
            f"the engine matches the speaker's voice ({voice_match}); baselines do not",
        ]

    vad = VadConfig()
    results = []
    for variant in variants:
        noisy = variant == "noisy"
        audio, truth = recording(1, noisy)
        if not results:
            warm(stages, audio, truth, source, target)
        else:  # the peak of this variant's engine, not of the previous one's baselines
            _reset_peak_rss()
            notes = [
                *notes,
                "peak RSS starts from what the previous input's run left resident",
            ]
        run = measure_paced(stages, audio, truth, source, target, vad, voice_match=voice_match)
        turns_audio, turns = recording(SENTENCES_PER_TURN, noisy)
        turns_run = measure_paced(
            stages, turns_audio, turns, source, target, vad, voice_match=voice_match
        )
        # The engine's peak: the naive cascade synthesizes whole turns at once, peaking higher.
        peak_mb = peak_rss_mb() or 0.0
        base = measure_baselines(stages, audio, truth, source, target, VadSegmenter(vad))
        turn_base = measure_baselines(stages, turns_audio, turns, source, target, VadSegmenter(vad))
        results.append(
            ConfigResult(
                config=config,
                variant=variant,
                models=model_names,
                utterances=len(truth),
                latency_ms=_rounded(run.latency_ms),
                naive_latency_ms=_rounded(base.naive_ms),
                stream_latency_ms=_rounded(base.streaming_ms),
                turns=len(turns),
                turn_latency_ms=_rounded(turns_run.latency_ms),
                turn_naive_latency_ms=_rounded(turn_base.naive_ms),
                turn_stream_latency_ms=_rounded(turn_base.streaming_ms),
                sink_delay_ms=_rounded(run.sink_delay_ms + turns_run.sink_delay_ms),
                stage_ms=run.metrics.stage_ms,
                real_time_factor=run.metrics.real_time_factor,
                peak_rss_mb=round(peak_mb, 1),
                notes=list(notes),
            )
        )
    return results


def _reset_peak_rss() -> None:
    """Start VmHWM again from the current resident size (Linux; elsewhere a no-op)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _rounded(values: Sequence[float]) -> list[float]:
    return [round(x, 1) for x in values]


SET_FILE = "bench_set_v2.npz"  # the spoken set; a new name when the set changes


def english_input(cache: Path, models_dir: str | None) -> Path:
    """:data:`BENCH_SET` spoken by Piper joe with its randomness off (the same audio on every
    machine and run), saved once in ``cache``: the measured process never loads the voice
    for it, so its peak RSS holds only the models of its cascade."""
    path = cache / SET_FILE
    if not path.is_file():
        from .tts.piper_tts import PiperTTS

        voice = PiperTTS.load(demo_model_paths(models_dir)["tts"], noise_scale=0, noise_w_scale=0)
        pieces = spoken_set(voice)
        np.savez(path.with_suffix(".tmp.npz"), *pieces)
        path.with_suffix(".tmp.npz").replace(path)
    return path


def load_set(cache: Path) -> list[np.ndarray]:
    """The spoken :data:`BENCH_SET` that :func:`english_input` saved."""
    path = cache / SET_FILE
    if not path.is_file():
        raise EdgeError(f"benchmark input missing: {path}", "run `edge bench`, which makes it")
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


def _run_bergamot(
    config: str,
    models_dir: str | None,
    paths: dict[str, Path],
    options: Any,
    cache: Path,
    variants: Sequence[str] = VARIANTS,
    voice_match: str = "off",
) -> list[ConfigResult]:
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
        voice = _same_every_time(load_voice(paths["tts"], options))
        tts_name = (
            "piper en_US-joe-medium speaking the Portuguese (stands in for a pt medium voice)"
        )
    mt = load_mt(store.get(BERGAMOT_EN_PT).path, options)
    stages = Stages(tts=voice, mt=mt)
    stages.segment_asr = load_recognizer(paths["asr"], options)  # type: ignore[assignment]
    pieces = load_set(cache)

    def recording(per_turn: int, noisy: bool) -> tuple[np.ndarray, list[Utterance]]:
        return set_recording(pieces, per_turn, noisy)

    names = {
        "asr": "moonshine-tiny-en (sherpa-onnx)",
        "mt": f"{BERGAMOT_EN_PT} (Bergamot student, real weights, onnxruntime int8)",
        "tts": tts_name,
    }
    translations = mt.translate(BENCH_SET, source, target)
    notes = [f"MT: {BENCH_SET[0]!r} -> {translations[0]!r}"]
    results = _measure(
        config, names, stages, recording, source, target, notes, variants, voice_match
    )
    mt.translate(BENCH_SET, source, target)  # warm now: time the batch again
    stats = mt.last_stats
    if stats is not None:
        for result in results:
            result.mt_tokens_per_s = round(stats.tokens_per_second, 1)
    return results


def _same_every_time(voice: Any) -> Any:
    """A Piper voice without its randomness: the engine and the baselines then speak the same
    audio for the same text, so where replies queue at the sink (they outlast the gaps
    between utterances) the queue differs by design, not by dice."""
    from .tts.piper_tts import PiperTTS

    return voice.with_noise(0.0, 0.0) if isinstance(voice, PiperTTS) else voice


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


MISS = float("inf")  # the latency of an utterance that got no audio, or audio for the wrong text
MATCH_WORDS = 0.5  # share of the expected words a transcript must have for its audio to count


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def text_matches(expected: str, heard: str) -> bool:
    """Whether ``heard`` is a transcript of ``expected`` (true when nothing is expected):
    at least :data:`MATCH_WORDS` of the expected words, so one misheard word is no miss."""
    want = _words(expected)
    if not want:
        return True
    have = set(_words(heard))
    return sum(w in have for w in want) >= MATCH_WORDS * len(want)


@dataclass
class Heard:
    """One utterance as a pipeline cut it: its span in the input, its transcript, and when its
    first sound was ready (wall time; None: no audio) and first reached the sink."""

    start_s: float
    end_s: float
    text: str = ""
    first_audio: float | None = None
    first_sound: float | None = None


def assign(truth: Sequence[Utterance], heard: Sequence[Heard]) -> list[Heard | None]:
    """For each true utterance, the heard one whose end is nearest its true end among those
    overlapping it (None: nothing overlaps it). Its transcript is every overlapping one's, so an
    utterance the VAD cut in two is still checked against all its words."""
    out: list[Heard | None] = []
    for u in truth:
        overlapping = [h for h in heard if h.start_s < u.end_s + 0.5 and h.end_s > u.start_s]
        if not overlapping:
            out.append(None)
            continue
        best = min(overlapping, key=lambda h: abs(h.end_s - u.end_s))
        text = " ".join(h.text for h in sorted(overlapping, key=lambda h: h.start_s))
        out.append(Heard(best.start_s, best.end_s, text, best.first_audio, best.first_sound))
    return out


def latencies_ms(
    truth: Sequence[Utterance], heard: Sequence[Heard], t0: float, at_sink: bool = True
) -> list[float]:
    """Per true utterance: its true end (``t0`` is the wall time of input time 0) -> first
    sound at the sink (or the audio event, ``at_sink=False``); :data:`MISS` when it got no audio
    or audio for another text."""
    out = []
    for u, h in zip(truth, assign(truth, heard), strict=True):
        when = None if h is None else (h.first_sound if at_sink else h.first_audio)
        if when is None or h is None or not text_matches(u.text, h.text):
            out.append(MISS)
        else:
            out.append((when - (t0 + u.end_s)) * 1000)
    return out


@dataclass
class PacedRun:
    latency_ms: list[float]  # per true utterance: true end -> first sample at the sink; MISS
    event_latency_ms: list[float]  # the same to the engine's first audio event
    spoken: int  # true utterances that got audio for their text
    metrics: Any  # the engine's closing edge.events.Metrics

    @property
    def sink_delay_ms(self) -> list[float]:
        """First sample at the sink minus the audio event, per spoken utterance."""
        return [
            s - e
            for s, e in zip(self.latency_ms, self.event_latency_ms, strict=True)
            if s != MISS and e != MISS
        ]


def measure_paced(
    stages: Any,
    audio: np.ndarray,
    truth: list[Utterance],
    source: str,
    target: str,
    vad: Any = None,
    speculative: bool = True,
    voice_match: str = "off",
) -> PacedRun:
    """Feed ``audio`` to the engine in real time, as a microphone would, play its audio through
    a file-as-device sink on the same clock, and time each utterance's first sound there."""
    import tempfile

    from .engine import AudioBlock, Engine, EngineConfig
    from .events import AudioOut, Metrics, SpeechEnded, Transcript
    from .live.filedev import MediaClock
    from .live.streams import PlaybackQueue
    from .vad import VadConfig

    config = EngineConfig(
        source=source,
        target=target,
        vad=vad or VadConfig(),
        speculative=speculative,
        voice_match=voice_match,
    )
    engine = Engine(stages, config)
    block = int(0.032 * SAMPLE_RATE)
    clock = MediaClock()
    queue = PlaybackQueue()
    heard: dict[int, Heard] = {}
    metrics: Metrics | None = None
    with tempfile.TemporaryDirectory() as tmp:
        sink = _Sink(Path(tmp) / "played.wav", queue, clock, stages.tts.sample_rate)

        def paced() -> Iterator[AudioBlock]:
            clock.start()
            sink.start()
            for offset in range(0, len(audio), block):
                clock.sleep_until((offset + block) / SAMPLE_RATE)
                yield AudioBlock(audio[offset : offset + block], time.perf_counter())

        try:
            for event in engine.run(paced()):
                if isinstance(event, AudioOut) and len(event.samples):
                    h = heard.setdefault(event.utterance_id, Heard(0.0, 0.0))
                    if h.first_audio is None:
                        h.first_audio = time.perf_counter()
                    queue.enqueue(event.utterance_id, event.samples)
                elif isinstance(event, SpeechEnded):
                    h = heard.setdefault(event.utterance_id, Heard(0.0, 0.0))
                    h.start_s, h.end_s = event.start_s, event.end_s
                elif isinstance(event, Transcript):
                    heard.setdefault(event.utterance_id, Heard(0.0, 0.0)).text = event.text
                elif isinstance(event, Metrics):
                    metrics = event
            started = sink.finish(sum(h.first_audio is not None for h in heard.values()))
        finally:
            sink.close(commit=False)
    assert metrics is not None
    for uid, wall in started.items():
        h = heard[uid]
        # A late tick renders at its nominal time; the sound cannot precede the event.
        h.first_sound = max(wall, h.first_audio or wall)
    t0 = clock.wall_of(0.0)
    latency = latencies_ms(truth, list(heard.values()), t0)
    events = latencies_ms(truth, list(heard.values()), t0, at_sink=False)
    return PacedRun(latency, events, sum(x != MISS for x in latency), metrics)


class _Sink:
    """A :class:`edge.live.filedev.FilePlayback` on the feed's clock, whose queue records when
    each utterance's first sample is rendered (the device clock's time of that sample)."""

    def __init__(self, path: Path, queue: Any, clock: Any, rate: int) -> None:
        from .live.filedev import FilePlayback

        self.queue = queue
        self.playback = FilePlayback(path, queue, clock, rate)
        self.started: dict[int, float] = {}

    def start(self) -> None:
        self.playback.start()

    def finish(self, expected: int, wait_s: float = 1.0) -> dict[int, float]:
        """The first-sample times, once ``expected`` utterances have started. Replies queued
        behind each other are waited for while the sink still plays (an engine that fell
        behind is timed, not cut off); ``wait_s`` more once it is idle."""
        deadline = time.perf_counter() + wait_s
        while True:
            while self.queue.started:
                uid, wall = self.queue.started.popleft()
                self.started.setdefault(uid, wall)
            if len(self.started) >= expected:
                return self.started
            if self.queue.busy:
                deadline = time.perf_counter() + wait_s
            elif time.perf_counter() > deadline:
                return self.started
            time.sleep(0.005)

    def close(self, commit: bool) -> None:
        self.playback.close(commit=commit)


def _next_tick(media_s: float) -> float:
    """When a sink ticking every FILE_TICK_S from input time 0 first plays what is ready at
    ``media_s``: the baselines play through the same device clock as the engine."""
    from .live.filedev import FILE_TICK_S

    return math.ceil(media_s / FILE_TICK_S - 1e-9) * FILE_TICK_S


@dataclass
class BaselineRun:
    naive_ms: list[float]  # per true utterance, to the first sample at the sink; MISS
    streaming_ms: list[float]
    naive_ready_ms: list[float]  # the same to when the first audio was ready (the "event")
    streaming_ready_ms: list[float]


@dataclass
class Reply:
    """One utterance's work in a baseline, timed on its own: when each piece of its audio was
    ready (seconds after its processing started) and how long that piece plays."""

    segment: Any  # the VAD's segment
    text: str  # its transcript
    confirmed_s: float  # input time the VAD confirmed its end
    busy_s: float  # processing time, all of it (the worker is busy this long)
    pieces: list[tuple[float, float]]  # (ready after start s, playing time s), in play order


def schedule(replies: Sequence[Reply]) -> list[Heard]:
    """Lay the replies on one timeline, as a baseline built as a program would run them: one
    worker takes the utterances in order (an utterance confirmed while the previous one is
    still processed waits for it), and one sink plays the pieces in order, each on the
    sink's next tick once ready, but never before the previous piece has finished playing.
    The engine's replies queue at the same kind of sink; so do these."""
    heard: list[Heard] = []
    worker_free = 0.0  # input time the worker is next free
    sink_free = 0.0  # input time the sink has played everything queued so far
    for reply in replies:
        start = max(reply.confirmed_s, worker_free)
        worker_free = start + reply.busy_s
        first_ready: float | None = None
        first_sound: float | None = None
        for ready, playing in reply.pieces:
            at = max(_next_tick(start + ready), sink_free)
            if first_sound is None:
                first_ready, first_sound = start + ready, at
            sink_free = at + playing
        heard.append(
            Heard(reply.segment.start_s, reply.segment.end_s, reply.text, first_ready, first_sound)
        )
    return heard


def measure_baselines(
    stages: Any, audio: np.ndarray, truth: list[Utterance], source: str, target: str, vad: Any
) -> BaselineRun:
    """The two sequential cascades a skeptic would build with the same models, on each
    utterance the VAD confirms (block by block, as the engine's listener sees it):

    * **naive**: ASR, MT of the whole text, TTS of all of it, then play;
    * **sentence-streaming**: ASR, then per sentence MT -> TTS, each sentence's audio played
      as soon as it is synthesized (no speculation, no phrase cutting).

    Each utterance's work is timed on its own (no other work on the cores), then laid out by
    :func:`schedule`: one worker in utterance order, one sink playing replies one after
    another, so a reply waits behind the previous one's playback as the engine's does.
    """
    from .text import split_sentences

    naive: list[Reply] = []
    streaming: list[Reply] = []
    rate = float(stages.tts.sample_rate)
    block = 512
    for offset in range(0, len(audio), block):
        for update in vad.accept(audio[offset : offset + block]):
            if update.ended is None:
                continue
            confirmed_s = (offset + block) / SAMPLE_RATE
            segment = update.ended
            # Naive: everything, then play.
            t0 = time.perf_counter()
            text, translated = _recognize(stages, segment.audio, source)
            if stages.direct is None and translated:
                translated = " ".join(stages.mt.translate(split_sentences(text), source, target))
            got = (
                sum(len(chunk) for chunk in stages.tts.synthesize(translated)) if translated else 0
            )
            busy = time.perf_counter() - t0
            pieces = [(busy, got / rate)] if got else []
            naive.append(Reply(segment, text, confirmed_s, busy, pieces))
            # Sentence-streaming: each sentence plays from its first chunk on; the sink plays
            # the chunks back to back (synthesis runs far faster than playback).
            t0 = time.perf_counter()
            text, translated = _recognize(stages, segment.audio, source)
            pieces = []
            for sentence in split_sentences(translated) if translated else []:
                if stages.direct is None:
                    sentence = stages.mt.translate([sentence], source, target)[0]
                ready: float | None = None
                samples = 0
                for chunk in stages.tts.synthesize(sentence):
                    if len(chunk) and ready is None:
                        ready = time.perf_counter() - t0
                    samples += len(chunk)
                if ready is not None:
                    pieces.append((ready, samples / rate))
            busy = time.perf_counter() - t0
            streaming.append(Reply(segment, text, confirmed_s, busy, pieces))
    naive_heard, streaming_heard = schedule(naive), schedule(streaming)
    # Input time 0 at wall 0: Heard times here are input seconds.
    return BaselineRun(
        latencies_ms(truth, naive_heard, 0.0),
        latencies_ms(truth, streaming_heard, 0.0),
        latencies_ms(truth, naive_heard, 0.0, at_sink=False),
        latencies_ms(truth, streaming_heard, 0.0, at_sink=False),
    )


def _recognize(stages: Any, audio: np.ndarray, source: str) -> tuple[str, str]:
    """(transcript, text to speak); direct translation gives the spoken text at once."""
    if stages.direct is not None:
        text = stages.direct.recognize(audio, source).text
        return text, text
    text = stages.segment_asr.recognize(audio, source).text
    return text, text


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
    """One row per configuration. Latencies run from the true end of speech to the first
    sample at the sink; percentiles are over all utterances, a miss counting as infinite
    ("miss" where one lands on it). The ratios are a baseline's p50 over the engine's."""
    rows = [
        "| configuration | spoken | p50 end of speech -> first sound | p90 | p95 "
        "| sentence-streaming p50 | naive p50 | vs sentence-streaming | vs naive "
        f"| {SENTENCES_PER_TURN}-sentence turns: spoken | p50 | sentence-streaming p50 "
        "| naive p50 | vs sentence-streaming | vs naive | sink - event p50 "
        "| peak RSS | ASR RTF | TTS RTF | MT tokens/s |",
        "|" + "---|" * 20,
    ]
    for r in results:
        rows.append(
            f"| {r.label} | {_spoken(r.latency_ms)} | {_ms(r.p50)} | {_ms(r.p90)} | "
            f"{_ms(r.p95)} | {_ms(r.stream_p50)} | {_ms(r.naive_p50)} | "
            f"{_ratio(r.stream_p50, r.p50)} | {_ratio(r.naive_p50, r.p50)} | "
            f"{_spoken(r.turn_latency_ms)} | {_ms(r.turn_p50)} | {_ms(r.turn_stream_p50)} | "
            f"{_ms(r.turn_naive_p50)} | {_ratio(r.turn_stream_p50, r.turn_p50)} | "
            f"{_ratio(r.turn_naive_p50, r.turn_p50)} | {_ms(percentile(r.sink_delay_ms, 50))} | "
            f"{r.peak_rss_mb:.0f} MB | "
            f"{r.real_time_factor.get('asr', float('nan')):.3f} | {r.real_time_factor.get('tts', float('nan')):.3f} | "
            f"{r.mt_tokens_per_s if r.mt_tokens_per_s is not None else '-'} |"
        )
    return "\n".join(rows)


def _spoken(latencies: Sequence[float]) -> str:
    """Utterances that got audio for their text, of all."""
    return f"{sum(not math.isinf(x) for x in latencies)}/{len(latencies)}"


def _ms(value: float) -> str:
    if math.isnan(value):
        return "-"
    return "miss" if math.isinf(value) else f"{value:.0f} ms"


def _ratio(baseline: float, engine: float) -> str:
    if math.isnan(baseline) or math.isnan(engine) or math.isinf(engine) or engine <= 0:
        return "-"
    return "inf" if math.isinf(baseline) else f"{baseline / engine:.1f}x"


def pyplot() -> Any:
    """matplotlib's pyplot without a display, or the error that says how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise EdgeError("--plot needs matplotlib", "pip install 'edge[plot]'") from None
    return plt


def plot_cdf(results: Sequence[ConfigResult], path: Path) -> None:
    """Per-utterance latency CDFs, one panel per configuration (and input variant): the engine
    and both baselines, single sentences solid, turns dashed. A curve that stops below 1
    has misses (never spoken, or spoken for the wrong text)."""
    plt = pyplot()
    columns = min(3, len(results)) or 1
    rows = max(1, math.ceil(len(results) / columns))
    figure, axes = plt.subplots(
        rows, columns, figsize=(5 * columns, 3.6 * rows), squeeze=False, sharex=True
    )
    figure.suptitle("latency CDF; a curve ending below 1 has misses", fontsize=10)
    series = (
        ("engine", "latency_ms", "tab:green"),
        ("sentence-streaming", "stream_latency_ms", "tab:orange"),
        ("naive", "naive_latency_ms", "tab:red"),
    )
    for ax, r in zip(axes.flat, results, strict=False):
        for name, attr, colour in series:
            for layout, style in (("", "-"), ("turn_", "--")):
                values = getattr(r, layout + attr)
                if not values:
                    continue
                spoken = sorted(v for v in values if math.isfinite(v))
                share = [(i + 1) / len(values) for i in range(len(spoken))]
                label = f"{name}{' (turns)' if layout else ''} {len(spoken)}/{len(values)}"
                ax.step(spoken, share, where="post", linestyle=style, color=colour, label=label)
        ax.set_title(r.label, fontsize=10)
        ax.set_xscale("log")  # a few multi-second stragglers must not squash the body
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes.flat[len(results) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("end of speech -> first sound at the sink (ms, log)")
    for ax in axes[:, 0]:
        ax.set_ylabel("share of utterances")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def run_configs(
    configs: Sequence[str],
    *,
    threads: int,
    low_memory: bool,
    models_dir: str | None,
    cache: Path,
    variants: Sequence[str] = VARIANTS,
    voice_match: str = "off",
) -> list[ConfigResult]:
    """Each configuration measured in a process of its own, on each input variant."""
    cache.mkdir(parents=True, exist_ok=True)
    results = []
    for config in configs:
        # Built here, not in the measured process: building peaks above the model's size.
        if config.startswith("cascade"):
            english_input(cache, models_dir)
        if config.startswith("cascade") and config not in BERGAMOT_CONFIGS:
            synthetic_mt(config, cache)
        print(f"running {config} ...", file=sys.stderr, flush=True)
        cmd = [
            sys.executable,
            "-m",
            "edge.bench",
            config,
            "--threads",
            str(threads),
            *(["--low-memory"] if low_memory else []),
            "--cache",
            str(cache),
            "--variants",
            ",".join(variants),
            "--voice-match",
            voice_match,
        ]
        if models_dir:
            cmd += ["--models-dir", models_dir]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise EdgeError(
                f"benchmark {config} failed: {proc.stderr.strip().splitlines()[-1:]}", "run with -v"
            )
        # Python's json reads back the Infinity it wrote for a miss.
        for item in json.loads(proc.stdout.strip().splitlines()[-1]):
            results.append(ConfigResult(**item))
    return results


def report(results: list[ConfigResult], threads: int) -> dict[str, Any]:
    """What ``edge bench --json`` prints and ``--output`` writes."""
    return {
        "machine": machine_description(),
        "threads": threads,
        "results": [
            _json_safe(
                asdict(r)
                | {
                    "p50_ms": r.p50,
                    "p90_ms": r.p90,
                    "p95_ms": r.p95,
                    "stream_p50_ms": r.stream_p50,
                    "naive_p50_ms": r.naive_p50,
                    "turn_p50_ms": r.turn_p50,
                    "turn_stream_p50_ms": r.turn_stream_p50,
                    "turn_naive_p50_ms": r.turn_naive_p50,
                }
            )
            for r in results
        ],
    }


def _json_safe(value: Any) -> Any:
    """Misses (inf) and empty percentiles (nan) as null: strict JSON has neither."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _worker(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="edge.bench")
    parser.add_argument("config", choices=CONFIGS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--low-memory", action="store_true")
    parser.add_argument("--models-dir")
    parser.add_argument("--cache", required=True)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--voice-match", default="off")
    args = parser.parse_args(argv)
    results = run_config(
        args.config,
        args.models_dir,
        args.threads,
        Path(args.cache),
        args.low_memory,
        args.variants.split(","),
        args.voice_match,
    )
    print(json.dumps([asdict(r) for r in results]))
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))
