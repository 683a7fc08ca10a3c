"""Speech translation on the dev set: cascade (ASR + Bergamot MT) against Whisper's translate task.

    .venv/bin/python tools/st_eval.py [--limit 60] [--threads 2]

The dev sources (tests/data/mt_dev) are spoken by the voices installed here: Portuguese by
espeak-ng, English by Piper joe (deterministic settings). Then, scored with BLEU against the
human references:

* pt -> en: Whisper base transcribing Portuguese + the pt->en student (the cascade that
  ``--prefer auto`` picks), against Whisper base's translate task (``--prefer direct``);
* en -> pt: Moonshine tiny + the en->pt student.

Synthetic speech is the easy case for recognition; the numbers compare the two paths on the
same audio, they are not what a person in a noisy station gets.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEV = ROOT / "tests" / "data" / "mt_dev"


def _dev(pair: str, limit: int) -> tuple[list[str], list[str]]:
    rows = [line.split("\t") for line in (DEV / f"{pair}.tsv").read_text("utf-8").splitlines()]
    return [r[0] for r in rows][:limit], [r[1] for r in rows][:limit]


def _words(texts: list[str]) -> list[str]:
    """Lower case, no punctuation: WER counts words, not commas."""
    import re

    return [" ".join(re.findall(r"[\w']+", t.lower())) for t in texts]


def _speak(voice, text: str):  # noqa: ANN001, ANN202
    import numpy as np

    from edge.audio import resample

    audio = np.concatenate(list(voice.synthesize(text)))
    pad = np.zeros(8000, np.float32)
    return np.concatenate([pad, resample(audio, voice.sample_rate, 16000), pad])


def main() -> int:
    import jiwer
    import sacrebleu

    from edge.models import ModelStore
    from edge.mt.bergamot_onnx import BergamotTranslator
    from edge.translator import RuntimeOptions, load_recognizer
    from edge.tts.espeak_tts import EspeakTTS
    from edge.tts.piper_tts import PiperTTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    store = ModelStore(
        Path(os.environ["EDGE_MODELS_DIR"]) if "EDGE_MODELS_DIR" in os.environ else None
    )
    options = RuntimeOptions(device="cpu", asr_threads=args.threads, mt_threads=args.threads)

    sources, refs = _dev("pt-en", args.limit)
    espeak = EspeakTTS.load("por_Latn", rate_wpm=140)  # as the samples: -s 140
    speech = [_speak(espeak, s) for s in sources]
    whisper = store.get("whisper-base-ct2").path
    transcriber = load_recognizer(whisper, options, task="transcribe")
    translator = load_recognizer(whisper, options, task="translate")
    mt = BergamotTranslator.load(store.get("bergamot-pt-en-tiny").path, intra_threads=args.threads)
    started = time.perf_counter()
    transcripts = [transcriber.recognize(a, "por_Latn").text.strip() for a in speech]
    cascade = [mt.translate([t], "por_Latn", "eng_Latn")[0] for t in transcripts]
    cascade_s = time.perf_counter() - started
    started = time.perf_counter()
    direct = [translator.recognize(a, "por_Latn").text.strip() for a in speech]
    direct_s = time.perf_counter() - started
    text_only = mt.translate(sources, "por_Latn", "eng_Latn")
    n = len(sources)
    print(f"pt -> en, {n} sentences spoken by espeak-ng pt (140 words/min), threads {args.threads}")
    print(
        f"  Whisper base transcript WER (pt): {100 * jiwer.wer(_words(sources), _words(transcripts)):.1f}%"
    )
    print(
        f"  cascade (Whisper transcribe + pt->en student): BLEU "
        f"{sacrebleu.corpus_bleu(cascade, [refs]).score:.1f}, {1000 * cascade_s / n:.0f} ms/sentence"
    )
    print(
        f"  direct (Whisper translate task):                BLEU "
        f"{sacrebleu.corpus_bleu(direct, [refs]).score:.1f}, {1000 * direct_s / n:.0f} ms/sentence"
    )
    print(
        f"  (the student on the gold text: BLEU {sacrebleu.corpus_bleu(text_only, [refs]).score:.1f})"
    )
    for s, c, d in list(zip(sources, cascade, direct, strict=True))[:5]:
        print(f"    {s}\n      cascade: {c}\n      direct:  {d}")

    sources, refs = _dev("en-pt", args.limit)
    joe = PiperTTS.load(
        store.get("piper-en_US-joe-medium").path, noise_scale=0.0, noise_w_scale=0.0
    )
    speech = [_speak(joe, s) for s in sources]
    moonshine = load_recognizer(store.get("moonshine-tiny-en").path, options)
    mt = BergamotTranslator.load(store.get("bergamot-en-pt-tiny").path, intra_threads=args.threads)
    transcripts = [moonshine.recognize(a, "eng_Latn").text.strip() for a in speech]
    cascade = [mt.translate([t], "eng_Latn", "por_Latn")[0] for t in transcripts]
    text_only = mt.translate(sources, "eng_Latn", "por_Latn")
    print(f"en -> pt, {len(sources)} sentences spoken by Piper joe")
    print(
        f"  Moonshine tiny transcript WER: {100 * jiwer.wer(_words(sources), _words(transcripts)):.1f}%"
    )
    print(
        f"  cascade BLEU {sacrebleu.corpus_bleu(cascade, [refs]).score:.1f}"
        f" (the student on the gold text: {sacrebleu.corpus_bleu(text_only, [refs]).score:.1f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
