"""``quantize report``: what each quantized variant costs in quality and gains in size and speed.

Every variant (the float reference first) is measured by ``quantize.measure`` in a process of
its own; this module scores the outputs against the user's data and against the reference,
and writes ``report.json``, ``report.md`` and ``report.png``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import EdgeError, InputError, ModelError

from . import kinds
from .data import parallel_text, read_sentences, transcribed_audio, wav_files
from .metrics import bleu_chrf, spectral_distance, word_error_rate

VAD_THRESHOLD = 0.5


@dataclass
class Targets:
    """Acceptance targets a candidate is checked against (the product's int8 promise)."""

    max_size_ratio: float = 0.30
    min_speedup: float = 1.5
    max_quality_delta: float = 0.5  # WER points for ASR, round-trip WER points for TTS


@dataclass
class Settings:
    threads: int = 2
    repeat: int = 3
    compute_type: str = "default"
    lang: str | None = None
    source_lang: str | None = None
    target_lang: str | None = None
    fixed_length: int | None = None
    roundtrip_asr: Path | None = None


def run_worker(
    kind: str,
    model: Path,
    data: Path | None,
    settings: Settings,
    audio_out: Path | None = None,
) -> dict[str, Any]:
    """Measure one model in a fresh Python process and return its JSON result."""
    command = [sys.executable, "-m", "quantize.measure", kind, str(model)]
    command += ["--threads", str(settings.threads), "--repeat", str(settings.repeat)]
    command += ["--compute-type", settings.compute_type]
    for flag, value in (
        ("--data", data),
        ("--lang", settings.lang),
        ("--source-lang", settings.source_lang),
        ("--target-lang", settings.target_lang),
        ("--fixed-length", settings.fixed_length),
        ("--audio-out", audio_out),
    ):
        if value is not None:
            command += [flag, str(value)]
    env = dict(os.environ)
    # The worker must import this checkout's quantize and edge, wherever it is run from.
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    lines = completed.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else None
    except ValueError:
        result = None
    if completed.returncode != 0 or not isinstance(result, dict):
        if isinstance(result, dict) and "error" in result:
            raise EdgeError(f"measuring {model}: {result['error']}")
        detail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelError(f"measuring {model} failed: {detail}", "run the model alone to see why")
    return result


def _label(path: Path, taken: set[str]) -> str:
    base = path.stem if path.is_file() else path.name
    label, index = base, 2
    while label in taken:
        label, index = f"{base}-{index}", index + 1
    taken.add(label)
    return label


def _score(kind: str, result: dict[str, Any]) -> dict[str, float]:
    """Speed and quality of one variant, from its own outputs."""
    scores: dict[str, float] = {}
    items = result["items"]
    if kind in (kinds.WHISPER, kinds.SHERPA_ASR, kinds.PIPER, kinds.VAD):
        scores["rtf"] = result["seconds"] / result["audio_s"]
        scores["cpu_rtf"] = result["cpu_seconds"] / result["audio_s"]
    if kind in (kinds.WHISPER, kinds.SHERPA_ASR):
        scores["wer"] = word_error_rate(
            [i["reference"] for i in items], [i["hypothesis"] for i in items]
        )
    elif kind == kinds.MT:
        scores["tokens_per_s"] = result["tokens"] / result["seconds"]
        scores["tokens_per_cpu_s"] = result["tokens"] / result["cpu_seconds"]
        if any(i["reference"] for i in items):
            bleu, chrf = bleu_chrf(
                [i["reference"] for i in items], [i["hypothesis"] for i in items]
            )
            scores["bleu"], scores["chrf"] = bleu, chrf
    return scores


def _vad_agreement(reference: dict[str, Any], candidate: dict[str, Any]) -> dict[str, float]:
    ref = np.concatenate([np.array(i["probabilities"]) for i in reference["items"]])
    cand = np.concatenate([np.array(i["probabilities"]) for i in candidate["items"]])
    agree = np.mean((ref >= VAD_THRESHOLD) == (cand >= VAD_THRESHOLD))
    return {
        "decision_agreement_pct": 100.0 * float(agree),
        "mean_abs_prob_diff": float(np.mean(np.abs(ref - cand))),
        "speech_frames_pct": 100.0 * float(np.mean(cand >= VAD_THRESHOLD)),
    }


def _tts_quality(
    reference: dict[str, Any], candidate: dict[str, Any], roundtrip: dict[str, Any] | None
) -> dict[str, float]:
    import soundfile as sf

    scores: dict[str, float] = {}
    distances = []
    for ref_item, cand_item in zip(reference["items"], candidate["items"], strict=True):
        ref_audio, rate = sf.read(ref_item["audio"], dtype="float32")
        cand_audio, _ = sf.read(cand_item["audio"], dtype="float32")
        distances.append(spectral_distance(ref_audio, cand_audio, rate))
    scores["spectral_distance_db"] = float(np.mean(distances))
    if roundtrip is not None:
        items = roundtrip["items"]
        scores["roundtrip_wer"] = word_error_rate(
            [i["reference"] for i in items], [i["hypothesis"] for i in items]
        )
    return scores


def _check_data(kind: str, data: Path) -> None:
    """Read the data as the workers will, so a mistake in it is reported before any run."""
    if kind in (kinds.WHISPER, kinds.SHERPA_ASR):
        transcribed_audio(data)
    elif kind == kinds.MT:
        parallel_text(data)
    elif kind == kinds.PIPER:
        read_sentences(data)
    else:
        wav_files(data)


# The quality measure whose delta is checked against Targets.max_quality_delta, per kind,
# with its sign: +1 when a higher value is worse (error rates), -1 when higher is better.
QUALITY_KEY = {
    kinds.WHISPER: ("wer", 1),
    kinds.SHERPA_ASR: ("wer", 1),
    kinds.PIPER: ("roundtrip_wer", 1),
    kinds.MT: ("bleu", -1),
    kinds.VAD: ("decision_agreement_pct", -1),
}


def build_report(
    reference: Path,
    candidates: list[Path],
    data: Path,
    out_dir: Path,
    settings: Settings,
    targets: Targets | None = None,
) -> dict[str, Any]:
    targets = targets or Targets()
    kind = kinds.detect_kind(reference)
    for candidate in candidates:
        if kinds.detect_kind(candidate) != kind:
            raise InputError(
                f"{candidate} is not the same kind of model as {reference} ({kind})",
                "compare variants of one model",
            )
    _check_data(kind, data)
    roundtrip_kind = None
    if kind == kinds.PIPER and settings.roundtrip_asr is not None:
        roundtrip_kind = kinds.detect_kind(settings.roundtrip_asr)
        if roundtrip_kind not in (kinds.WHISPER, kinds.SHERPA_ASR):
            raise InputError(
                f"{settings.roundtrip_asr} is not a speech recognizer",
                "pass a Moonshine/Whisper model directory to --roundtrip-asr",
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    variants: list[dict[str, Any]] = []
    raw: list[dict[str, Any]] = []
    for path in [reference, *candidates]:
        label = _label(path, taken)
        audio_out = out_dir / "audio" / label if kind == kinds.PIPER else None
        result = run_worker(kind, path, data, settings, audio_out)
        raw.append(result)
        variant: dict[str, Any] = {
            "name": label,
            "path": str(path),
            "size_mb": kinds.model_bytes(path) / 1e6,
            "load_s": result["load_s"],
            "peak_rss_mb": result["peak_rss_mb"],
            "load_rss_mb": result["rss_load_mb"] - result["rss_imports_mb"],
            "load_average": result["load_average"],
            **_score(kind, result),
        }
        if kind == kinds.PIPER:
            roundtrip = None
            if roundtrip_kind is not None and settings.roundtrip_asr is not None:
                # The recognizer is a fixed yardstick: one untimed pass, its stored precision.
                asr_settings = replace(settings, repeat=1, lang=None, compute_type="default")
                roundtrip = run_worker(
                    roundtrip_kind, settings.roundtrip_asr, audio_out, asr_settings
                )
            variant.update(_tts_quality(raw[0], result, roundtrip))
        elif kind == kinds.VAD:
            variant.update(_vad_agreement(raw[0], result))
        variants.append(variant)
    _add_deltas(kind, variants, targets)
    report = {
        "kind": kind,
        "data": str(data),
        "settings": {
            "threads": settings.threads,
            "repeat": settings.repeat,
            "compute_type": settings.compute_type,
            "roundtrip_asr": str(settings.roundtrip_asr) if settings.roundtrip_asr else None,
        },
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "targets": targets.__dict__,
        "variants": variants,
        "outputs": [
            {"name": v["name"], "items": r["items"]} for v, r in zip(variants, raw, strict=True)
        ],
    }
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(markdown_table(report), encoding="utf-8")
    plot(report, out_dir / "report.png")
    return report


def _speed(kind: str, variant: dict[str, Any], cpu: bool = False) -> float:
    """Higher is faster: audio seconds per second of compute, or tokens per second."""
    if kind == kinds.MT:
        return variant["tokens_per_cpu_s" if cpu else "tokens_per_s"]
    return 1.0 / variant["cpu_rtf" if cpu else "rtf"]


def _add_deltas(kind: str, variants: list[dict[str, Any]], targets: Targets) -> None:
    reference = variants[0]
    key, sign = QUALITY_KEY[kind]
    for variant in variants:
        variant["size_ratio"] = variant["size_mb"] / reference["size_mb"]
        variant["speedup"] = _speed(kind, variant) / _speed(kind, reference)
        variant["cpu_speedup"] = _speed(kind, variant, cpu=True) / _speed(kind, reference, cpu=True)
        if key in variant and key in reference:
            # Positive delta = worse, whatever the measure's direction.
            variant["quality_delta"] = sign * (variant[key] - reference[key]) + 0.0  # no -0.0
        if variant is reference:
            continue
        checks = {
            f"size_ratio <= {targets.max_size_ratio}": variant["size_ratio"]
            <= targets.max_size_ratio,
            f"speedup >= {targets.min_speedup}": variant["speedup"] >= targets.min_speedup,
        }
        if "quality_delta" in variant:
            checks[f"{key} delta <= {targets.max_quality_delta}"] = (
                variant["quality_delta"] <= targets.max_quality_delta
            )
        variant["targets_met"] = checks


_COLUMNS = (
    ("size_mb", "size MB", "{:.1f}"),
    ("size_ratio", "size ratio", "{:.3f}"),
    ("load_s", "load s", "{:.2f}"),
    ("load_rss_mb", "load RSS MB", "{:.0f}"),
    ("peak_rss_mb", "peak RSS MB", "{:.0f}"),
    ("rtf", "RTF", "{:.4f}"),
    ("tokens_per_s", "tokens/s", "{:.1f}"),
    ("speedup", "speedup", "{:.2f}x"),
    ("cpu_speedup", "CPU-time speedup", "{:.2f}x"),
    ("wer", "WER %", "{:.2f}"),
    ("bleu", "BLEU", "{:.2f}"),
    ("chrf", "chrF", "{:.2f}"),
    ("roundtrip_wer", "round-trip WER %", "{:.2f}"),
    ("spectral_distance_db", "spectral dist. dB", "{:.2f}"),
    ("decision_agreement_pct", "VAD agreement %", "{:.2f}"),
    ("mean_abs_prob_diff", "mean abs dp", "{:.4f}"),
    ("quality_delta", "quality delta", "{:+.2f}"),
    ("load_average", "machine load", "{:.1f}"),
)


def markdown_table(report: dict[str, Any]) -> str:
    variants = report["variants"]
    columns = [c for c in _COLUMNS if any(c[0] in v for v in variants)]
    lines = [
        f"Kind: {report['kind']}; data: {report['data']}; "
        f"{report['settings']['threads']} threads; best of {report['settings']['repeat']} "
        f"timed passes; {report['machine']['cpus']} CPUs, {report['machine']['processor']}.",
        "",
        "| variant | " + " | ".join(title for _, title, _ in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for variant in variants:
        cells = [fmt.format(variant[key]) if key in variant else "" for key, _, fmt in columns]
        lines.append(f"| {variant['name']} | " + " | ".join(cells) + " |")
    lines.append("")
    for variant in variants[1:]:
        met = ", ".join(
            f"{name}: {'met' if ok else 'NOT met'}" for name, ok in variant["targets_met"].items()
        )
        lines.append(f"- {variant['name']}: {met}")
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise EdgeError(
            "the report plot needs matplotlib", "pip install 'edge-translator[quantize]'"
        ) from None
    kind = report["kind"]
    variants = report["variants"]
    names = [v["name"] for v in variants]
    key, _ = QUALITY_KEY[kind]
    panels = [
        ("size_mb", "size (MB)"),
        ("peak_rss_mb", "peak RSS (MB)"),
        ("tokens_per_s", "tokens/s (higher is faster)")
        if kind == kinds.MT
        else ("rtf", "real-time factor (lower is faster)"),
        (key, key.replace("_", " ")),
    ]
    panels = [(k, t) for k, t in panels if all(k in v for v in variants)]
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.6))
    for axis, (metric, title) in zip(np.atleast_1d(axes), panels, strict=True):
        values = [v[metric] for v in variants]
        bars = axis.bar(
            range(len(names)), values, color=["#777777"] + ["#2a7ab9"] * (len(names) - 1)
        )
        axis.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
        axis.set_title(title, fontsize=10)
        axis.bar_label(bars, fmt="%.3g", fontsize=8)
    figure.suptitle(f"{kind}: quantized variants against {names[0]}", fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
