"""Before/after table of the hallucination guards (``edge.asr.guards``) on the guard test set.

    .venv/bin/python tools/guard_eval.py [--threads 2]

The clips are the ones tests/test_asr_guards.py builds (no download): silence, white and pink
noise, music-like tones, clapping-like bursts, 0.2 s and 25 s segments, espeak-ng speech in
four languages, Piper joe English sentences. Each clip goes through the engine twice, guards
off and on, in two pipelines of the demo models:

* Whisper base translating directly into English, Piper joe speaking (source: Spanish for
  non-speech, the spoken language for speech, and Spanish for Portuguese speech: "wrong
  language", the case where Whisper base loops);
* Moonshine tiny -> Bergamot en->pt -> espeak-ng (foreign speech is the wrong language here).

Non-speech runs with the real VAD and with a permissive one (threshold 0.02, no confidence
gate) that lets noise through to the recognizer, as a fooled VAD or a low ``--vad-threshold``
would. "Off" is today's engine without its checks: guards off and the VAD's confidence gate
(``VadConfig.min_confident_s``) off. Each cell is
``spoken/looped/rejected``: clips with any translated speech out, clips whose transcript or
translation contains a repeated n-gram loop, clips with a ``rejected`` event. Last, the word
error rate of the recognizers on the clean English sentences, guards off and on.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    import jiwer

    from edge.asr.guards import OFF, GuardConfig
    from edge.asr.sherpa_offline import SherpaSegmentRecognizer
    from edge.asr.whisper_ct2 import WhisperCT2
    from edge.engine import Stages
    from edge.events import AudioOut, Rejected, Transcript, Translation
    from edge.models import ModelStore
    from edge.mt.bergamot_onnx import BergamotTranslator
    from edge.translator import SpeechTranslator
    from edge.tts.espeak_tts import EspeakTTS
    from edge.tts.piper_tts import PiperTTS
    from edge.vad import VadConfig
    from tests.test_asr import normalized
    from tests.test_asr_guards import (
        CLEAN_SENTENCES,
        ESPEAK_SPEECH,
        NON_SPEECH,
        PERMISSIVE_VAD,
        espeak_speech,
        padded,
        piper_speech,
        words_loop,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    store = ModelStore(
        Path(os.environ["EDGE_MODELS_DIR"]) if "EDGE_MODELS_DIR" in os.environ else None
    )
    started = time.perf_counter()
    whisper = WhisperCT2.load(
        store.get("whisper-base-ct2").path, task="translate", num_threads=args.threads
    )
    moonshine = SherpaSegmentRecognizer.load(
        store.get("moonshine-tiny-en").path, num_threads=args.threads
    )
    joe = PiperTTS.load(
        store.get("piper-en_US-joe-medium").path, noise_scale=0.0, noise_w_scale=0.0
    )
    mt = BergamotTranslator.load(store.get("bergamot-en-pt-tiny").path, intra_threads=args.threads)
    pipelines = {
        "Whisper base direct -> en": (Stages(direct=whisper, tts=joe), whisper, "eng_Latn"),
        "Moonshine -> Bergamot en->pt": (
            Stages(segment_asr=moonshine, mt=mt, tts=EspeakTTS.load("por_Latn")),
            moonshine,
            "por_Latn",
        ),
    }

    # (row, clip, source language for Whisper, VAD)
    rows: list[tuple[str, np.ndarray, str, VadConfig]] = []
    for kind, build in NON_SPEECH.values():
        audio = build()
        rows.append((kind, audio, "spa_Latn", VadConfig()))
        rows.append((f"{kind}, VAD fooled", audio, "spa_Latn", PERMISSIVE_VAD))
    for lang in ESPEAK_SPEECH:
        for rate in (175, 260):
            rows.append((f"espeak-ng {lang[:3]}", espeak_speech(lang, rate), lang, VadConfig()))
    rows.append(("espeak-ng por, set to spa", espeak_speech("por_Latn"), "spa_Latn", VadConfig()))
    rows.append(
        ("espeak-ng fra, set to por", espeak_speech("fra_Latn", 260), "por_Latn", VadConfig())
    )
    clean = [piper_speech(joe, s) for s in CLEAN_SENTENCES]
    rows += [("Piper joe English", clip, "eng_Latn", VadConfig()) for clip in clean]
    for db in (10, 0):  # the gate must not cost speech in noise
        rows += [
            (f"Piper joe English, noise {db} dB", _noisy(clip, db), "eng_Latn", VadConfig())
            for clip in clean[:4]
        ]

    # counts[row][pipeline][guards on] = [clips, spoken, looped, rejected]
    counts: dict[str, dict[str, dict[bool, list[int]]]] = {}
    examples: dict[tuple[str, str], str] = {}  # one example per pipeline and kind of reason
    for row, audio, whisper_source, vad in rows:
        for pipeline, (stages, recognizer, target) in pipelines.items():
            source = whisper_source if stages.direct is not None else "eng_Latn"
            for config in (OFF, GuardConfig()):
                recognizer.guards = config
                gate = vad if config.enabled else replace(vad, min_confident_s=0.0)
                translator = SpeechTranslator(source, target, stages, gate)
                events = list(translator.stream([padded(audio)]))
                texts = [e.text for e in events if isinstance(e, (Transcript, Translation))]
                rejected = [e for e in events if isinstance(e, Rejected)]
                cell = counts.setdefault(row, {}).setdefault(pipeline, {})
                cell.setdefault(config.enabled, [0, 0, 0, 0])
                tally = cell[config.enabled]
                tally[0] += 1
                tally[1] += any(isinstance(e, AudioOut) for e in events)
                tally[2] += any(words_loop(t) is not None for t in texts)
                tally[3] += bool(rejected)
                if config.enabled and rejected:
                    e = rejected[0]
                    examples.setdefault((pipeline, e.reason.split(" (")[0]), f"{row}: {e.text!r}")

    names = list(pipelines)
    print("spoken/looped/rejected clips, guards off -> on\n")
    header = f"| {'clips':28} | {'n':>2} | " + " | ".join(f"{n:28}" for n in names) + " |"
    print(header)
    print("|" + "|".join("-" * len(part) for part in header.split("|")[1:-1]) + "|")
    for row, cells in counts.items():
        n = cells[names[0]][False][0]
        shown = []
        for name in names:
            off, on = cells[name][False][1:], cells[name][True][1:]
            shown.append(f"{'/'.join(map(str, off))} -> {'/'.join(map(str, on))}")
        print(f"| {row:28} | {n:>2} | " + " | ".join(f"{s:28}" for s in shown) + " |")

    print("\nWER on the Piper joe English sentences (recognizer alone), guards off -> on")
    references = [normalized(s) for s in CLEAN_SENTENCES]
    for name, recognizer in (("Moonshine tiny", moonshine), ("Whisper base", whisper)):
        scores = []
        for config in (OFF, GuardConfig()):
            recognizer.guards = config
            hypotheses = [normalized(recognizer.recognize(c, "eng_Latn").text) for c in clean]
            scores.append(jiwer.wer(references, hypotheses))
        print(f"  {name:15} {100 * scores[0]:.2f} % -> {100 * scores[1]:.2f} %")
    print("\nA rejection of each kind (pipeline, reason: clip class, what was decoded):")
    for (pipeline, reason), example in examples.items():
        print(f"  {pipeline}, {reason}: {example[:110]}")
    print(f"\n{time.perf_counter() - started:.0f} s")
    return 0


def _noisy(clip: np.ndarray, snr_db: float) -> np.ndarray:
    """The clip in pink noise at ``snr_db`` (speech power measured where it is voiced)."""
    from tests.test_asr_guards import pink_noise

    noise = pink_noise(1.0, len(clip) / 16000 + 0.1, seed=3)[: len(clip)]
    voiced = clip[np.abs(clip) > 0.01]
    level = np.sqrt(np.mean(voiced**2)) * 10 ** (-snr_db / 20)
    return (clip + level * noise).astype(np.float32)


if __name__ == "__main__":
    sys.exit(main())
