#!/usr/bin/env python3
"""Live mode against file mode, run after run: does `edge live` cut and say what `edge
translate` does on the same recording?

    python tools/live_parity.py RECORDING --from de --to en [--runs 10]
    python tools/live_parity.py --make german --from de --to en      # the issue's recording
    python tools/live_parity.py --make english --from en --to en --partial-interval 0.5
    python tools/live_parity.py --make english --from en --to en --slow 1.5   # ASR RTF 1.5
    python tools/live_parity.py --make german --from de --to en --guards greedy  # no sampling

Each live run is a session with files as devices (``edge.live.soak.run_session``), paced
like a microphone (``--speed`` faster), with the live defaults (VAD mode, half duplex,
hangover 0.6 s) unless flags change them. File mode is ``SpeechTranslator.stream`` with the
same models and the same VAD settings, run ``--file-runs`` times: the reference is its first
run, and its own run-to-run agreement shows what the models alone vary.

Printed: per run the utterance count, whether the cuts (start and end of every utterance)
and the texts (transcripts, translations, rejections) equal file mode's, and what was muted
or dropped; then the spread of the counts and the agreement over all runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.asr.base import SAMPLE_RATE  # noqa: E402
from edge.engine import Stages  # noqa: E402
from edge.events import Event  # noqa: E402
from edge.languages import to_flores  # noqa: E402
from edge.live import LiveConfig, ModelLoader  # noqa: E402
from edge.live.pipeline import engine_config  # noqa: E402
from edge.live.soak import run_session, speak, write_wav  # noqa: E402
from edge.translator import SpeechTranslator  # noqa: E402

GERMAN = [
    "Guten Morgen, wie geht es Ihnen heute?",
    "Wo ist der Bahnhof, bitte?",
    "Ich möchte eine Fahrkarte nach Berlin kaufen.",
    "Vielen Dank für Ihre Hilfe.",
]
ENGLISH = [
    "The train to the airport leaves at nine.",
    "Please show me the way to the museum. I would like a cup of coffee with milk.",
    "How much does this ticket cost?",
    "My phone battery is almost empty. Thank you very much for your help.",
]
TEXT_EVENTS = ("transcript", "translation", "rejected")


def make_recording(kind: str, work: Path, models_dir: str | None) -> Path:
    """Four utterances, 1.5 s of silence between them (two-sentence English utterances have
    0.3 s between their sentences): espeak-ng German, or Piper joe English."""
    if kind == "german":
        from edge.tts.espeak_tts import EspeakTTS

        voice: Any = EspeakTTS.load("deu_Latn")
        utterances = [[s] for s in GERMAN]
    else:
        from edge.models import ModelStore
        from edge.tts.piper_tts import PiperTTS

        store = ModelStore(Path(models_dir) if models_dir else None)
        joe = store.get("piper-en_US-joe-medium").path
        voice = PiperTTS.load(joe, noise_scale=0.0, noise_w_scale=0.0)
        utterances = [[p if p.endswith(".") else p + "." for p in u.split(". ")] for u in ENGLISH]
    silence = lambda s: np.zeros(int(s * SAMPLE_RATE), np.float32)  # noqa: E731
    pieces = [silence(1.0)]
    for sentences in utterances:
        for index, sentence in enumerate(sentences):
            pieces += [silence(0.3)] if index else []
            pieces.append(speak(voice, sentence))
        pieces.append(silence(1.5))
    return write_wav(work / f"{kind}.wav", np.concatenate(pieces))


class SlowRecognizer:
    """Makes every decode take ``factor`` times the audio's length (at least)."""

    def __init__(self, inner: Any, factor: float) -> None:
        self._inner, self._factor = inner, factor

    def recognize(self, audio: np.ndarray, lang: str | None = None) -> Any:
        t0 = time.perf_counter()
        result = self._inner.recognize(audio, lang)
        time.sleep(max(0.0, self._factor * len(audio) / SAMPLE_RATE - (time.perf_counter() - t0)))
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def set_guards(stages: Stages, mode: str) -> None:
    """Whisper's hallucination guards: "on" as loaded; "greedy" without their temperature
    fallback (it samples, and sampling does not give the same text twice, in either mode);
    "off" without any (as before the guards existed)."""
    for model in (stages.direct, stages.segment_asr, *stages.recognizers.values()):
        guards = getattr(model, "guards", None)
        if guards is None or mode == "on":
            continue
        change = {"enabled": False} if mode == "off" else {"temperatures": (0.0,)}
        model.guards = dataclasses.replace(guards, **change)  # type: ignore[union-attr]


def slowed(stages: Stages, factor: float, speed: float) -> Stages:
    """The same models, recognition ``factor`` times slower than the audio arrives."""
    per_media_second = factor / speed
    out = dataclasses.replace(stages)
    if out.direct is not None:
        out.direct = SlowRecognizer(out.direct, per_media_second)  # type: ignore[assignment]
    if out.segment_asr is not None:
        out.segment_asr = SlowRecognizer(out.segment_asr, per_media_second)  # type: ignore[assignment]
    return out


def summary(events: list[Event]) -> tuple[list[tuple[float, float]], dict[int, list[str]]]:
    """The cuts (start, end of each utterance) and, per utterance, its texts."""
    cuts = [(e.start_s, e.end_s) for e in events if e.name == "speech_end"]  # type: ignore[attr-defined]
    texts: dict[int, list[str]] = {}
    for event in events:
        if event.name in TEXT_EVENTS:
            d = event.to_dict()
            texts.setdefault(d["utterance_id"], []).append(f"{d['event']}: {d['text']}")
    return cuts, {uid: sorted(items) for uid, items in texts.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recording", nargs="?", help="WAV/FLAC/OGG (or --make)")
    parser.add_argument("--make", choices=("german", "english"), help="synthesize a recording")
    parser.add_argument("--from", dest="source", required=True)
    parser.add_argument("--to", dest="target", required=True)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--file-runs", type=int, default=3)
    parser.add_argument("--asr")
    parser.add_argument("--mt")
    parser.add_argument("--tts")
    parser.add_argument("--direct")
    parser.add_argument("--models-dir")
    parser.add_argument("--prefer", default="auto", choices=("auto", "cascade", "direct"))
    parser.add_argument("--speed", type=float, default=1.0, help="live pacing (files only)")
    parser.add_argument("--hangover", type=float, default=LiveConfig.min_silence_s)
    parser.add_argument("--partial-interval", type=float, default=0.0)
    parser.add_argument("--duplex", default="half", choices=("half", "full"))
    parser.add_argument("--slow", type=float, default=0.0, help="ASR this many times slower")
    parser.add_argument(
        "--guards", default="on", choices=("on", "greedy", "off"), help="Whisper's guards"
    )
    parser.add_argument("--threads", type=int)
    parser.add_argument("-v", "--verbose", action="store_true", help="print each run's texts")
    args = parser.parse_args()
    if not args.recording and not args.make:
        parser.error("give a recording or --make german|english")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wav = (
            Path(args.recording)
            if args.recording
            else make_recording(args.make, work, args.models_dir)
        )
        config = LiveConfig(
            source=args.source, target=args.target, input=str(wav), output=str(work / "out.wav"),
            asr=args.asr, mt=args.mt, tts=args.tts, direct=args.direct,
            models_dir=args.models_dir, prefer=args.prefer, speed=args.speed,
            min_silence_s=args.hangover, partial_interval_s=args.partial_interval,
            duplex=args.duplex, threads=args.threads,
        )  # fmt: skip
        stages = ModelLoader(config).stages(args.source, args.target)
        set_guards(stages, args.guards)
        live_stages = slowed(stages, args.slow, args.speed) if args.slow else stages
        settings = engine_config(config, to_flores(args.source), to_flores(args.target))
        translator = SpeechTranslator(
            settings.source, settings.target, stages, vad=settings.vad,
            partial_interval_s=settings.partial_interval_s,
        )  # fmt: skip

        files = [summary(list(translator.stream(wav))) for _ in range(max(1, args.file_runs))]
        ref_cuts, ref_texts = files[0]
        print(f"recording: {wav.name}; {args.source} -> {args.target}; models: {describe(stages)}")
        print(
            f"live: speed {args.speed}, hangover {args.hangover} s, partials every "
            f"{args.partial_interval} s, duplex {args.duplex}"
            + (f", ASR slowed to {args.slow}x the arrival rate" if args.slow else "")
            + (f", Whisper guards {args.guards}" if args.guards != "on" else "")
        )
        same_file = sum(f == files[0] for f in files)
        print(
            f"file mode: {len(ref_cuts)} utterances; {same_file}/{len(files)} file runs identical"
        )
        for uid, items in sorted(ref_texts.items()):
            print(f"  {uid}: " + " | ".join(items))
        print()
        print("| run | utterances | cuts = file | texts = file | muted s | dropped s | wall s |")
        print("|---|---|---|---|---|---|---|")
        counts, cut_ok, text_ok = [], 0, 0
        for run in range(1, args.runs + 1):
            t0 = time.perf_counter()
            log, stats = run_session(config, lambda _s, _t: live_stages)
            cuts, texts = summary([e for _w, e in log.events])
            counts.append(len(cuts))
            cut_ok += cuts == ref_cuts
            text_ok += texts == ref_texts
            print(
                f"| {run} | {len(cuts)} | {'yes' if cuts == ref_cuts else 'NO'} "
                f"| {'yes' if texts == ref_texts else 'NO'} | {stats.gated_s:.1f} "
                f"| {stats.dropped_audio_s:.1f} | {time.perf_counter() - t0:.1f} |",
                flush=True,
            )
            if args.verbose or texts != ref_texts:
                for uid in sorted(set(texts) | set(ref_texts)):
                    if texts.get(uid) != ref_texts.get(uid):
                        print(f"    {uid}: live {texts.get(uid)} / file {ref_texts.get(uid)}")
        spread = max(counts) - min(counts)
        print()
        print(
            f"utterances per run: min {min(counts)}, max {max(counts)}, spread {spread}, "
            f"mean {statistics.mean(counts):.2f} (file mode: {len(ref_cuts)}); cuts agree with "
            f"file mode in {cut_ok}/{args.runs} runs, texts in {text_ok}/{args.runs}"
        )
    return 0


def describe(stages: Stages) -> str:
    parts = []
    for role in ("direct", "segment_asr", "streaming_asr", "mt", "tts"):
        model = getattr(stages, role)
        if model is not None:
            parts.append(f"{role}={type(model).__name__}")
    return ", ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
