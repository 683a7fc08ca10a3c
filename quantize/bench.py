"""``quantize nllb-bench``: decoding speed and memory of NLLB-200-distilled-600M on this CPU.

The real checkpoint cannot be downloaded here, and decoding speed does not depend on the
weight values once the output length is fixed; so an architecture-faithful model with random
weights (12+12 layers, d_model 1024, 16 heads, FFN 4096, 256,206 shared-embedding tokens,
built by ``edge.synthetic``) is decoded for exactly ``length`` tokens per sentence in every
compute type this CPU supports, and with a reduced output vocabulary both as a vmap and as
a trimmed model. Each measurement runs in its own process (see ``quantize.measure``).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from edge.errors import EdgeError
from edge.models.record import record_path

from .convert import _vocabulary
from .kinds import MT, model_bytes
from .report import Settings, run_worker
from .vocab import write_trimmed_variant, write_vmap_variant

TARGET_LANGUAGE = "fra_Latn"
# Source sentences of typical speech-translation length (15-25 pieces with the test tokenizer).
_SOURCES = (
    "Where is the nearest hospital, please? I think my friend broke his arm.",
    "The weather is nice today and we are going to the station by bus.",
    "I would like a cup of coffee with milk and two pieces of cake, please.",
    "Could you tell me how much a return ticket to the airport costs?",
    "We arrived late last night because the train was delayed for two hours.",
    "My phone battery is almost empty; is there somewhere I can charge it?",
)


def _float32_bytes(model_dir: Path) -> int:
    """Size model.bin would have in float32: every quantized weight at 4 bytes a value."""
    from .ct2_model import read_model

    model = read_model(model_dir / "model.bin")
    total = 0
    for name, value in model.variables.items():
        if name.endswith("_scale"):
            continue
        as_float = value.dtype.kind == "f" or name + "_scale" in model.variables
        total += value.size * 4 if as_float else value.nbytes
    return total


def run_bench(
    out_dir: Path,
    *,
    preset: str = "600M",
    threads: int = 2,
    length: int = 64,
    sentences: int = 4,
    reduced_size: int = 32000,
    repeat: int = 2,
    compute_types: list[str] | None = None,
) -> dict[str, Any]:
    import ctranslate2

    from edge.synthetic.ct2_transformer import NLLB_600M, build_nllb_like

    if out_dir.exists():
        raise EdgeError(f"output directory {out_dir} already exists", "remove it or choose another")
    presets = {"600M": NLLB_600M, "tiny": {"vocab_size": 8000}}
    if preset not in presets:
        raise EdgeError(f"unknown preset '{preset}'", f"use one of {', '.join(presets)}")
    vocab_size = presets[preset]["vocab_size"]
    if not 16 <= reduced_size < vocab_size:
        raise EdgeError(
            f"reduced vocabulary size {reduced_size} is not below the full {vocab_size}",
            f"use 16 to {vocab_size - 1}",
        )
    supported = sorted(ctranslate2.get_supported_compute_types("cpu"))
    compute_types = compute_types or [
        t for t in ("int8", "int8_float32", "float32") if t in supported
    ]
    out_dir.mkdir(parents=True)
    full = build_nllb_like(out_dir / "int8", quantization="int8", **presets[preset])
    data = out_dir / "data"
    data.mkdir()
    lines = [_SOURCES[i % len(_SOURCES)] for i in range(sentences)]
    for name in ("source.txt", "reference.txt"):
        (data / name).write_text("\n".join(lines) + "\n", encoding="utf-8")

    vocabulary = _vocabulary(full, "target")
    rng = random.Random(0)
    specials = ["<s>", "<pad>", "</s>", "<unk>", TARGET_LANGUAGE]
    others = [t for t in vocabulary if t not in specials]
    chosen = set(specials) | set(rng.sample(others, reduced_size - len(specials)))
    reduced = [t for t in vocabulary if t in chosen]
    write_vmap_variant(full, out_dir / "int8-vmap", reduced, [TARGET_LANGUAGE])
    write_trimmed_variant(full, out_dir / "int8-trim", reduced, [TARGET_LANGUAGE])

    settings = Settings(
        threads=threads, repeat=repeat, target_lang=TARGET_LANGUAGE, fixed_length=length
    )
    runs = [(full, t, len(vocabulary)) for t in compute_types]
    runs += [
        (out_dir / "int8-vmap", "int8", len(reduced)),
        (out_dir / "int8-trim", "int8", len(reduced)),
    ]
    rows = []
    for model_dir, compute_type, vocab_size in runs:
        settings.compute_type = compute_type
        result = run_worker(MT, model_dir, data, settings)
        rows.append(
            {
                "model": model_dir.name,
                "compute_type": compute_type,
                "output_vocabulary": vocab_size,
                "use_vmap": result["use_vmap"],
                "tokens_per_s": result["tokens"] / result["seconds"],
                "tokens_per_cpu_s": result["tokens"] / result["cpu_seconds"],
                "load_average": result["load_average"],
                "tokens": result["tokens"],
                "load_s": result["load_s"],
                "peak_rss_mb": result["peak_rss_mb"],
                "load_rss_mb": result["rss_load_mb"] - result["rss_imports_mb"],
                "disk_mb": (model_bytes(model_dir) - _metadata_bytes(model_dir)) / 1e6,
            }
        )
    report = {
        "preset": preset,
        "threads": threads,
        "length": length,
        "sentences": sentences,
        "float32_model_bin_mb": _float32_bytes(full) / 1e6,
        "supported_compute_types": supported,
        "rows": rows,
    }
    (out_dir / "bench.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out_dir / "bench.md").write_text(bench_table(report), encoding="utf-8")
    return report


def _metadata_bytes(model_dir: Path) -> int:
    path = record_path(model_dir)
    return path.stat().st_size if path.is_file() else 0


def bench_table(report: dict[str, Any]) -> str:
    lines = [
        f"NLLB {report['preset']} architecture, random weights, {report['threads']} threads, "
        f"{report['sentences']} sentences x {report['length']} tokens, greedy, batch 1. "
        f"model.bin in float32 would be {report['float32_model_bin_mb']:.0f} MB.",
        "",
        "| model | compute type | output vocabulary | tokens/s | tokens per CPU-s | load s "
        "| load RSS MB | peak RSS MB | disk MB | machine load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        vocab = f"{row['output_vocabulary']}" + (" (vmap)" if row["use_vmap"] else "")
        lines.append(
            f"| {row['model']} | {row['compute_type']} | {vocab} | {row['tokens_per_s']:.1f} "
            f"| {row['tokens_per_cpu_s']:.1f} | {row['load_s']:.2f} | {row['load_rss_mb']:.0f} "
            f"| {row['peak_rss_mb']:.0f} | {row['disk_mb']:.0f} | {row['load_average']:.1f} |"
        )
    return "\n".join(lines) + "\n"
