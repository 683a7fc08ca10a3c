#!/usr/bin/env python3
"""Live-mode benchmark: latency to the first sound out, idle CPU, overruns, hangover, soak.

    python tools/bench_live.py latency [--configs cascade-opus,cascade-nllb,direct]
    python tools/bench_live.py idle [--seconds 60]
    python tools/bench_live.py hangover
    python tools/bench_live.py partials
    python tools/bench_live.py soak [--minutes 30] [--speed 3]

Sessions run with files as devices (``edge.live.filedev``), paced in real time: the input
recording is played as a microphone and the output records what the speaker plays. The
latency of a turn is read from that output: from the true end of the speech (VAD mode) or
the key release (push-to-talk) to the first sample of the translated speech, so it includes
everything a listener waits for. The cascade configurations are `edge bench`'s: Moonshine
tiny, a random-weight CTranslate2 model of OPUS-MT (or NLLB-600M) size decoding as many
tokens as the real tokenizer gives the source (the words are a stand-in: the source sentence
is spoken, word by word at the decode's pace), Piper joe. ``direct`` is Whisper base translating Spanish speech to English.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.asr.base import SAMPLE_RATE  # noqa: E402
from edge.audio import read_audio  # noqa: E402
from edge.bench import (  # noqa: E402
    BENCH_SENTENCES,
    FixedLengthStandIn,
    demo_model_paths,
    machine_description,
    synthetic_mt,
)
from edge.engine import Stages  # noqa: E402
from edge.events import UtteranceMetrics  # noqa: E402
from edge.live.config import LiveConfig  # noqa: E402
from edge.live.pipeline import warm_up  # noqa: E402
from edge.live.soak import Turn, conversation, run_session, soak, write_wav  # noqa: E402
from edge.translator import RuntimeOptions, load_mt, load_recognizer, load_voice  # noqa: E402

CONFIGS = ("cascade-opus", "cascade-nllb", "direct")
PTT_LEAD_S = 0.3  # the key goes down this long before the first word
PTT_LAG_S = 0.05  # and up this long after the last one


# --- models -----------------------------------------------------------------------------


@dataclass
class Setup:
    name: str
    stages: Stages
    source: str
    target: str
    voice: Any


def load_setup(name: str, args: argparse.Namespace) -> Setup:
    paths = demo_model_paths(args.models_dir)
    options = RuntimeOptions(device="cpu", asr_threads=args.threads, mt_threads=args.threads)
    voice = load_voice(paths["tts"], options)
    if name == "direct":
        direct = load_recognizer(paths["direct"], options, task="translate")
        stages = Stages(direct=direct, tts=voice)  # type: ignore[arg-type]
        setup = Setup(name, stages, "spa_Latn", "eng_Latn", voice)
    else:
        mt = FixedLengthStandIn(load_mt(synthetic_mt(name, Path(args.cache)), options))
        asr = load_recognizer(paths["asr"], options)
        stages = Stages(segment_asr=asr, mt=mt, tts=voice)  # type: ignore[arg-type]
        setup = Setup(name, stages, "eng_Latn", "spa_Latn", voice)
    warm_up(stages, setup.source, setup.target)
    return setup


def recording(
    setup: Setup, work: Path, sentences: list[str] | None = None
) -> tuple[Path, list[Turn]]:
    """Turns with room for each reply: as a conversation through a translator goes."""
    if setup.name == "direct":
        from edge.bench import speech_spans

        pieces, turns, position = [np.zeros(SAMPLE_RATE, np.float32)], [], SAMPLE_RATE
        for sample in ("es_station.flac", "es_station.flac", "es_station.flac"):
            audio = read_audio(ROOT / "samples" / sample)
            spans = speech_spans(audio, min_gap_s=10.0)
            speech = audio[int(spans[0].start_s * SAMPLE_RATE) : int(spans[-1].end_s * SAMPLE_RATE)]
            turns.append(Turn(position / SAMPLE_RATE, (position + len(speech)) / SAMPLE_RATE, ""))
            gap = np.zeros(len(speech) + 5 * SAMPLE_RATE, np.float32)
            pieces += [speech, gap]
            position += len(speech) + len(gap)
        audio = np.concatenate(pieces)
    else:
        # Slower configurations get more room, so that every reply fits before the next turn.
        gap = 3.0 if setup.name == "cascade-opus" else 6.0
        audio, turns = conversation(setup.voice, sentences or BENCH_SENTENCES, gap_s=gap)
    return write_wav(work / f"{setup.name}.wav", audio), turns


# --- latency ----------------------------------------------------------------------------


def first_sounds(path: Path, after: list[float], floor: float = 1e-3) -> list[float | None]:
    """Time of the first sound in the output at or after each of ``after`` (seconds)."""
    audio = read_audio(path)
    loud = np.flatnonzero(np.abs(audio) > floor)
    found: list[float | None] = []
    for t in after:
        index = np.searchsorted(loud, int(t * SAMPLE_RATE))
        found.append(loud[index] / SAMPLE_RATE if index < len(loud) else None)
    return found


@dataclass
class LatencyResult:
    config: str
    mode: str
    turns: int
    spoken: int
    latency_ms: list[float]
    engine_ms: list[float]  # the engine's own: end of speech -> first chunk synthesized
    overruns: int
    hangover_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return statistics.median(self.latency_ms) if self.latency_ms else float("nan")

    @property
    def p95(self) -> float:
        return float(np.percentile(self.latency_ms, 95)) if self.latency_ms else float("nan")


def measure_latency(setup: Setup, mode: str, work: Path, args: argparse.Namespace) -> LatencyResult:
    wav, turns = recording(setup, work)
    out = work / f"{setup.name}-{mode}-out.wav"
    config = LiveConfig(
        source=setup.source,
        target=setup.target,
        mode=mode,
        input=str(wav),
        output=str(out),
        min_silence_s=args.hangover,
        partial_interval_s=args.partial_interval,
        threads=args.threads,
    )
    if mode == "ptt":
        script = work / f"{setup.name}-presses.txt"
        script.write_text(
            "".join(f"{t.start_s - PTT_LEAD_S:.3f} {t.end_s + PTT_LAG_S:.3f}\n" for t in turns)
        )
        config.ptt_script = str(script)
    log, stats = run_session(config, lambda _s, _t: setup.stages)
    # VAD: from the true end of speech; push-to-talk: from the release.
    ends = [t.end_s + (PTT_LAG_S if mode == "ptt" else 0.0) for t in turns]
    starts = first_sounds(out, ends)
    latencies, notes = [], []
    for end, start, nxt in zip(ends, starts, [*(t.start_s for t in turns[1:]), None], strict=True):
        if start is None or (nxt is not None and start >= nxt):
            notes.append(f"no reply to the turn ending at {end:.1f} s")
            continue
        latencies.append(round((start - end) * 1000, 1))
    engine = [
        round(m.end_of_speech_to_first_audio_ms, 1)
        for m in log.of(UtteranceMetrics)
        if m.end_of_speech_to_first_audio_ms is not None
    ]
    return LatencyResult(
        setup.name, mode, len(turns), len(latencies), latencies, engine, stats.overruns,
        args.hangover, notes,
    )  # fmt: skip


def cmd_latency(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.configs.split(","):
            print(f"loading {name} ...", file=sys.stderr, flush=True)
            setup = load_setup(name, args)
            for mode in ("vad", "ptt"):
                print(f"  {mode} ...", file=sys.stderr, flush=True)
                results.append(measure_latency(setup, mode, Path(tmp), args))
    print(f"machine: {machine_description()}; threads per stage: {args.threads}")
    print(
        "| configuration | mode | replies | p50 end of speech -> first sound | p95 "
        "| engine p50 (first chunk ready) | target | overruns |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        target = "<= 500 ms" if r.mode == "ptt" else f"<= {r.hangover_s * 1000 + 250:.0f} ms"
        engine = statistics.median(r.engine_ms) if r.engine_ms else float("nan")
        print(
            f"| {r.config} | {r.mode} | {r.spoken}/{r.turns} | {r.p50:.0f} ms | {r.p95:.0f} ms "
            f"| {engine:.0f} ms | {target if r.config == 'cascade-opus' else '-'} | {r.overruns} |"
        )
        for note in r.notes:
            print(f"note ({r.config}, {r.mode}): {note}")
    return [asdict(r) | {"p50_ms": r.p50, "p95_ms": r.p95} for r in results]


# --- idle CPU -----------------------------------------------------------------------------


def cmd_idle(args: argparse.Namespace) -> list[dict[str, Any]]:
    """CPU of a session that listens to silence (VAD on every frame, nothing to say)."""
    import psutil

    setup = load_setup("cascade-opus", args)
    process = psutil.Process()
    with tempfile.TemporaryDirectory() as tmp:
        quiet = np.random.default_rng(0).normal(0, 3e-4, int(args.seconds * SAMPLE_RATE))
        wav = write_wav(Path(tmp) / "quiet.wav", quiet.astype(np.float32))
        config = LiveConfig(
            source=setup.source,
            target=setup.target,
            input=str(wav),
            output=str(Path(tmp) / "o.wav"),
        )
        before = process.cpu_times()
        t0 = time.perf_counter()
        _log, stats = run_session(config, lambda _s, _t: setup.stages)
        wall = time.perf_counter() - t0
        after = process.cpu_times()
    cpu = (after.user - before.user) + (after.system - before.system)
    share = 100 * cpu / wall
    print(f"idle listening: {share:.1f}% of one core over {wall:.0f} s (target < 10%);"
          f" overruns: {stats.overruns}")  # fmt: skip
    return [{"idle_cpu_pct_of_one_core": round(share, 2), "seconds": round(wall, 1)}]


# --- hangover ------------------------------------------------------------------------------


def cmd_hangover(args: argparse.Namespace) -> list[dict[str, Any]]:
    """How often each hangover would cut real speech at a pause, and what it costs."""
    from edge.vad import FRAME, SileroVad

    files = [
        ROOT / "samples" / "beckett.flac",
        ROOT / "samples" / "es_station.flac",
        ROOT / "samples" / "de_station.flac",
        *[Path(p) for p in args.extra],
    ]
    pauses: list[float] = []
    speech_s = 0.0
    for path in files:
        audio = read_audio(path)
        vad = SileroVad()
        probs = np.array(
            [vad(audio[i : i + FRAME]) for i in range(0, len(audio) - FRAME + 1, FRAME)]
        )
        speech = probs >= 0.5
        speech_s += speech.sum() * FRAME / SAMPLE_RATE
        idx = np.flatnonzero(speech)
        gaps = np.diff(idx) - 1
        pauses += [g * FRAME / SAMPLE_RATE for g in gaps if g > 0]
    minutes = speech_s / 60
    print(
        f"{len(pauses)} pauses in {speech_s:.0f} s of speech ({', '.join(p.name for p in files)})"
    )
    print("| hangover | cuts per minute of speech | pauses kept inside an utterance |")
    print("|---|---|---|")
    rows = []
    for hangover in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0):
        cuts = sum(p >= hangover for p in pauses)
        kept = 1 - cuts / len(pauses) if pauses else float("nan")
        print(f"| {hangover:.1f} s | {cuts / minutes:.1f} | {100 * kept:.0f}% |")
        rows.append({"hangover_s": hangover, "cuts_per_min": cuts / minutes, "kept": kept})
    print("pauses (s): " + ", ".join(f"{p:.2f}" for p in sorted(pauses)))
    return rows


# --- partial re-decoding --------------------------------------------------------------------


def cmd_partials(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Turns of two sentences: translating the first before the end of the turn."""
    rows = []
    pairs = [f"{a} {b}" for a, b in zip(BENCH_SENTENCES[::2], BENCH_SENTENCES[1::2], strict=True)]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.configs.split(","):
            setup = load_setup(name, args)
            for interval in (0.0, args.partial_interval or 0.5):
                wav, turns = recording(setup, Path(tmp), pairs)
                out = Path(tmp) / "out.wav"
                config = LiveConfig(
                    source=setup.source, target=setup.target, input=str(wav), output=str(out),
                    min_silence_s=args.hangover, partial_interval_s=interval, threads=args.threads,
                )  # fmt: skip
                _log, _stats = run_session(config, lambda _s, _t, st=setup.stages: st)
                starts = first_sounds(out, [t.end_s for t in turns])
                lat = [(s - t.end_s) * 1000 for s, t in zip(starts, turns, strict=True) if s]
                p50 = statistics.median(lat) if lat else float("nan")
                rows.append({"config": name, "partial_interval_s": interval, "p50_ms": p50})
                print(f"{name}, partial re-decoding every {interval} s: p50 {p50:.0f} ms "
                      f"({len(lat)}/{len(turns)} two-sentence turns)", flush=True)  # fmt: skip
    return rows


# --- soak ------------------------------------------------------------------------------------


def cmd_soak(args: argparse.Namespace) -> list[dict[str, Any]]:
    setup = load_setup("cascade-opus", args)
    cycle, _ = conversation(setup.voice, BENCH_SENTENCES, gap_s=args.gap, lead_s=0.0)
    per_turn = len(cycle) / SAMPLE_RATE / len(BENCH_SENTENCES)
    rng = np.random.default_rng(1)
    sentences, pauses = [], []
    media = 0.0
    while media < args.minutes * 60:
        sentences.append(BENCH_SENTENCES[len(sentences) % len(BENCH_SENTENCES)])
        pauses.append(float(rng.choice([0.0, 0.0, 5.0, 30.0])))  # now and then nobody speaks
        media += per_turn + pauses[-1]
    audio, turns = conversation(setup.voice, sentences, gap_s=args.gap, pauses=pauses)
    with tempfile.TemporaryDirectory() as tmp:
        wav = write_wav(Path(tmp) / "soak.wav", audio)
        config = LiveConfig(
            source=setup.source, target=setup.target, input=str(wav),
            output=str(Path(tmp) / "soak-out.wav"), speed=args.speed, threads=args.threads,
        )  # fmt: skip
        print(f"soak: {len(audio) / SAMPLE_RATE / 60:.1f} min of audio, {len(turns)} turns, "
              f"speed {args.speed}", file=sys.stderr, flush=True)  # fmt: skip
        report = soak(config, lambda _s, _t: setup.stages, turns, len(audio) / SAMPLE_RATE)
    print(json.dumps(asdict(report), indent=2))
    return [asdict(report)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=("latency", "idle", "hangover", "partials", "soak"))
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hangover", type=float, default=LiveConfig.min_silence_s)
    parser.add_argument("--partial-interval", type=float, default=0.0)
    parser.add_argument("--models-dir")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "edge-bench"))
    parser.add_argument("--seconds", type=float, default=60.0, help="idle: how long")
    parser.add_argument("--minutes", type=float, default=30.0, help="soak: audio length")
    parser.add_argument("--speed", type=float, default=3.0, help="soak: faster than real time")
    parser.add_argument(
        "--gap", type=float, default=6.0, help="soak: silence after each reply, in audio seconds"
    )
    parser.add_argument("--extra", nargs="*", default=[], help="hangover: more recordings")
    parser.add_argument("--output", metavar="FILE.json")
    args = parser.parse_args(argv)
    command = {
        "latency": cmd_latency,
        "idle": cmd_idle,
        "hangover": cmd_hangover,
        "partials": cmd_partials,
        "soak": cmd_soak,
    }[args.command]
    rows = command(args)
    if args.output:
        Path(args.output).write_text(
            json.dumps({"machine": machine_description(), "rows": rows}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
