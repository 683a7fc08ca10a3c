"""Voice matching, measured: synthetic speakers in, Piper joe out (not run in CI).

Speakers: Piper joe at three speeds and shifted by PSOLA (-4, +4, +6 semitones), espeak-ng
male and female variants in English and Portuguese. Each speaker's utterance is measured as
the listener does; joe then says the English sentence (the translation, fixed here so MT
noise stays out) with voice matching off, rate and full. Reported: output median F0 against
the speaker's (Praat, not the feature's YIN), output rate against the speaker's (twice: the
feature's syllables per second of speech, and for the English speakers, who say the
output's words, the ratio of Praat-timed speech), Moonshine's WER on the output, and the
latency added to the first phrase's first audio.

    EDGE_MODELS_DIR=... python tools/voice_match_eval.py [--plot docs/voice-matching-f0.png]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import parselmouth
import soxr

from edge.voice_match import OutputMatcher, Profiles, count_syllables, shift_pitch, speech_seconds

EN = "The train to the airport leaves at nine, so please do not be late for it."
PT = "O comboio para o aeroporto parte às nove, por isso não se atrase, por favor."
FIRST_PHRASE = "The train to the airport leaves at nine,"


def praat_median(audio: np.ndarray, sr: int) -> float:
    f0 = (
        parselmouth.Sound(audio.astype(np.float64), sr)
        .to_pitch(time_step=0.01, pitch_floor=60, pitch_ceiling=500)
        .selected_array["frequency"]
    )
    return float(np.median(f0[f0 > 0]))


def rate(audio: np.ndarray, sr: int, text: str, lang: str) -> float:
    return count_syllables(text, lang) / speech_seconds(audio, sr)


def praat_seconds(audio: np.ndarray, sr: int) -> float:
    """Seconds of sound by Praat's silence detector (-25 dB, pauses of 0.3 s on left out): an
    independent speech timer. Where speaker and output say the same words, the ratio of
    their times is the ratio of their rates with no syllable counting at all. (Praat syllable
    nuclei, de Jong and Wempe 2009, were tried and rejected: on Piper they found 27 nuclei at
    speed 0.6 and 13 at 1.6 in one 18-syllable sentence.)"""
    sound = parselmouth.Sound(audio.astype(np.float64), sr)
    grid = parselmouth.praat.call(
        sound, "To TextGrid (silences)", 100, 0.0, -25.0, 0.3, 0.1, "silent", "sounding"
    )
    total = 0.0
    for k in range(1, int(parselmouth.praat.call(grid, "Get number of intervals", 1)) + 1):
        if parselmouth.praat.call(grid, "Get label of interval", 1, k) == "sounding":
            start = parselmouth.praat.call(grid, "Get start time of interval", 1, k)
            total += parselmouth.praat.call(grid, "Get end time of interval", 1, k) - start
    return total


def wer(ref: str, hyp: str) -> float:
    import jiwer

    norm = jiwer.Compose(
        [
            jiwer.ToLowerCase(),
            jiwer.RemovePunctuation(),
            jiwer.Strip(),
            jiwer.RemoveMultipleSpaces(),
            jiwer.ReduceToListOfListOfWords(),
        ]
    )
    return jiwer.wer(ref, hyp, reference_transform=norm, hypothesis_transform=norm)


def speakers(joe) -> list[tuple[str, str, str, np.ndarray, int]]:  # noqa: ANN001
    from edge.tts.espeak_tts import EspeakTTS

    out = []
    sr = joe.sample_rate
    for speed in (0.75, 1.0, 1.35):
        audio = np.concatenate(list(joe.synthesize_at(EN, speed=speed)))
        out.append((f"joe x{speed}", "eng_Latn", EN, audio, sr))
    plain = out[1][3]
    own = praat_median(plain, sr)
    for st in (-4, 4, 6):
        out.append(
            (f"joe {st:+d} st", "eng_Latn", EN, shift_pitch(plain, sr, own * 2 ** (st / 12)), sr)
        )
    for lang, text in (("en", EN), ("pt", PT)):
        base = EspeakTTS.load(lang)
        for variant in ("m3", "f2", "f4"):
            voice = EspeakTTS(base.language, f"{base.voice}+{variant}", base.sample_rate, 160)
            audio = np.concatenate(list(voice.synthesize(text)))
            out.append((f"espeak {lang}+{variant}", base.language, text, audio, voice.sample_rate))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", help="write the before/after F0 plot (PNG) here")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    from edge.asr.sherpa_offline import SherpaSegmentRecognizer
    from edge.models import ModelStore
    from edge.tts.piper_tts import PiperTTS

    store = ModelStore()
    joe = PiperTTS.load(
        store.get("piper-en_US-joe-medium").path, noise_scale=0.0, noise_w_scale=0.0
    )
    asr = SherpaSegmentRecognizer.load(store.get("moonshine-tiny-en").path)
    sr = joe.sample_rate
    matcher = OutputMatcher()
    t0 = time.perf_counter()
    matcher.calibrate(joe)
    calibration_s = time.perf_counter() - t0
    rows = []
    for name, lang, text, audio, in_sr in speakers(joe):
        audio16 = soxr.resample(audio, in_sr, 16000).astype(np.float32)
        row: dict = {
            "speaker": name,
            "speaker_f0": praat_median(audio, in_sr),
            "speaker_rate": rate(audio, in_sr, text, lang),
            "speaker_praat_s": praat_seconds(audio, in_sr),
        }
        profiles = Profiles("full")
        t0 = time.perf_counter()
        full = profiles.target(audio16, text, lang)
        row["listener_ms"] = (time.perf_counter() - t0) * 1000
        targets = {"off": None, "rate": Profiles("rate").target(audio16, text, lang), "full": full}
        for mode, target in targets.items():
            out = np.concatenate(list(matcher.synthesize(joe, EN, target)))
            row[f"{mode}_f0"] = praat_median(out, sr)
            row[f"{mode}_rate"] = rate(out, sr, EN, "eng_Latn")
            # Same words (English speakers): rate ratio = speaker's time / output's time.
            row[f"{mode}_praat_s"] = praat_seconds(out, sr)
            row[f"{mode}_wer"] = wer(
                EN, asr.recognize(soxr.resample(out, sr, 16000).astype(np.float32), "eng_Latn").text
            )
            row[f"{mode}_f0_err_st"] = 12 * math.log2(row[f"{mode}_f0"] / row["speaker_f0"])
            row[f"{mode}_rate_err"] = row[f"{mode}_rate"] / row["speaker_rate"] - 1
            if text == EN:
                row[f"{mode}_praat_rate_err"] = row["speaker_praat_s"] / row[f"{mode}_praat_s"] - 1
            # Latency to the first phrase's first chunk (best of 3, warm).
            best = math.inf
            for _ in range(3):
                t0 = time.perf_counter()
                next(iter(matcher.synthesize(joe, FIRST_PHRASE, target)))
                best = min(best, time.perf_counter() - t0)
            row[f"{mode}_first_ms"] = best * 1000
        rows.append(row)
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}))
    summary = summarize(rows, calibration_s)
    print(json.dumps(summary, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "summary": summary}, fh, indent=1)
    if args.plot:
        plot(rows, args.plot)


def summarize(rows: list[dict], calibration_s: float) -> dict:
    within6 = [r for r in rows if abs(12 * math.log2(r["speaker_f0"] / r["off_f0"])) <= 6]
    same = [r for r in rows if "off_praat_rate_err" in r]
    out = {"calibration_s": calibration_s, "speakers": len(rows), "within_6st": len(within6)}
    for mode in ("off", "rate", "full"):
        out[mode] = {
            "f0_err_st_max_within_6st": max(abs(r[f"{mode}_f0_err_st"]) for r in within6),
            "f0_err_st_mean_abs": float(np.mean([abs(r[f"{mode}_f0_err_st"]) for r in rows])),
            "rate_err_max": max(abs(r[f"{mode}_rate_err"]) for r in rows),
            "rate_err_mean_abs": float(np.mean([abs(r[f"{mode}_rate_err"]) for r in rows])),
            # English speakers only (the same words as the output), timed by Praat.
            "praat_rate_err_max_en": max(abs(r[f"{mode}_praat_rate_err"]) for r in same),
            "praat_rate_err_mean_abs_en": float(
                np.mean([abs(r[f"{mode}_praat_rate_err"]) for r in same])
            ),
            "wer_mean": float(np.mean([r[f"{mode}_wer"] for r in rows])),
            "first_audio_ms_median": float(np.median([r[f"{mode}_first_ms"] for r in rows])),
        }
    out["listener_ms_median"] = float(np.median([r["listener_ms"] for r in rows]))
    return out


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=90)
    x = np.arange(len(rows))
    ax.scatter(x, [r["speaker_f0"] for r in rows], marker="o", color="k", label="speaker")
    ax.scatter(x, [r["off_f0"] for r in rows], marker="x", color="tab:red", label="joe, off")
    ax.scatter(x, [r["full_f0"] for r in rows], marker="^", color="tab:blue", label="joe, full")
    ax.set_yscale("log")
    ax.set_ylabel("median F0, Hz (Praat)")
    ax.set_xticks(x, [r["speaker"] for r in rows], rotation=45, ha="right", fontsize=7)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
