"""What each echo canceller leaves of a user who speaks over the device (offline, no session).

Not a test. The device speaks five sentences through a synthetic room while its canceller
learns; then the user (another sentence) starts over the device's voice, which stops
``--overlap`` seconds later (a barge-in). Moonshine tiny transcribes the user's stretch of
each signal: the clean user, the raw microphone, AEC3's output (``Cancelled.detect``, what
the VAD hears), the recognizer's (``Cancelled.heard``: the linear filter once converged) and
the segment check's batch fit of the echo path (``edge.live.echo_fit``).
Also: over the user's first 150 ms, the user's level against the signal's error (what
differs from the user alone: echo left, or user removed; higher is better, 60 = clean), and
the echo removed over the 2 s of echo alone before the onset.

    python tools/aec_double_talk.py [--overlap 0.15 0.4 1.5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.asr.base import SAMPLE_RATE  # noqa: E402
from edge.bench import BENCH_SENTENCES  # noqa: E402
from edge.live import LiveConfig, ModelLoader, echo_fit  # noqa: E402
from edge.live.aec import FRAME, REFINE_CONTEXT_S, EchoCanceller  # noqa: E402
from edge.live.filedev import EchoPath, Room  # noqa: E402
from edge.live.soak import speak  # noqa: E402

sys.path.insert(0, str(ROOT / "tools"))
from duplex_eval import ROOMS, normalized  # noqa: E402  (the same rooms and scoring)

BLOCK = 512


def _db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


def run(sentences: list[np.ndarray], k: int, room: str, overlap_s: float) -> dict[str, np.ndarray]:
    delay, rt60, level = ROOMS[room]
    far_speech = np.concatenate(
        [np.concatenate([sentences[(k + j) % 6], np.zeros(3000, np.float32)]) for j in range(1, 6)]
    )
    onset = int(6.0 * SAMPLE_RATE)
    user_speech = sentences[k]
    n = onset + len(user_speech) + SAMPLE_RATE
    far = np.zeros(n, np.float32)
    stop = min(onset + int(overlap_s * SAMPLE_RATE), len(far_speech))
    far[:stop] = far_speech[:stop] * 10 ** (level / 20)
    user = np.zeros(n, np.float32)
    user[onset : onset + len(user_speech)] = user_speech
    path = EchoPath(1.0, SAMPLE_RATE, Room(delay, rt60))
    path.feed(far)
    mic = user + np.concatenate([path.take(i, BLOCK) for i in range(0, n, BLOCK)])[:n]
    aec = EchoCanceller()
    heard, detect = np.zeros(n, np.float32), np.zeros(n, np.float32)
    for i in range(0, n, BLOCK):
        aec.process_render(far[i : i + BLOCK])
        out = aec.process_capture(mic[i : i + BLOCK])
        heard[i : i + len(out.heard)], detect[i : i + len(out.detect)] = out.heard, out.detect
    shift = lambda x: np.concatenate([x[FRAME:], np.zeros(FRAME, np.float32)])  # noqa: E731
    # The segment check's batch fit (EchoCanceller.refine) over the user's stretch as a VAD
    # segment would hold it, and the 2 s before it.
    lo, hi = onset - int((0.3 + REFINE_CONTEXT_S) * SAMPLE_RATE), onset + len(user_speech) + 4800
    fitted = shift(heard)
    fitted[lo:hi] = echo_fit.remove_echo(mic[lo:hi], far[lo:hi])
    return {
        "clean": user,
        "mic": mic,
        "detect (AEC3, VAD)": shift(detect),
        "heard (recognizer)": shift(heard),
        "fit (segment check)": fitted,
        "_onset": np.array([onset, onset + len(user_speech)]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--overlap", type=float, nargs="*", default=(0.15, 0.4, 1.5))
    parser.add_argument("--models-dir", default=str(ROOT / ".cache" / "models"))
    args = parser.parse_args()
    import jiwer

    from edge.tts.piper_tts import PiperTTS

    models = Path(args.models_dir)
    joe = PiperTTS.load(models / "piper-en_US-joe-medium", noise_scale=0.0, noise_w_scale=0.0)
    config = LiveConfig(source="en", target="en", asr=str(models / "moonshine-tiny-en"))
    stages = ModelLoader(config).stages("en", "en")
    recognizer = stages.recognizer_for("eng_Latn") or stages.segment_asr
    sentences = [speak(joe, s) for s in BENCH_SENTENCES]
    print("| overlap s | signal | WER % (18 sentences) | sentences wrong | user / error, first "
          "150 ms, dB (median / worst) | echo removed, dB (median / worst) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for overlap in args.overlap:
        rows: dict[str, list[tuple[float, float, float]]] = {}
        for room in ROOMS:
            for k in range(len(sentences)):
                signals = run(sentences, k, room, overlap)
                start, end = (int(x) for x in signals.pop("_onset"))
                user, mic = signals["clean"], signals["mic"]
                for name, x in signals.items():
                    text = recognizer.recognize(x[start - 4800 : end + 4800]).text
                    wer = jiwer.wer(normalized(BENCH_SENTENCES[k]), normalized(text) or "-")
                    first = slice(start, start + int(0.15 * SAMPLE_RATE))
                    # The user against what differs from them (echo left, or user lost).
                    kept = min(60.0, _db(user[first]) - _db(x[first] - user[first]))
                    alone = slice(start - 2 * SAMPLE_RATE, start)
                    removed = _db(mic[alone]) - _db(x[alone])
                    rows.setdefault(name, []).append((wer, kept, removed))
        for name, values in rows.items():
            v = np.array(values)
            print(
                f"| {overlap:g} | {name} | {100 * v[:, 0].mean():.1f} | {int(np.sum(v[:, 0] > 0))} "
                f"| {np.median(v[:, 1]):.1f} / {v[:, 1].min():.1f} "
                f"| {np.median(v[:, 2]):.1f} / {v[:, 2].min():.1f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
