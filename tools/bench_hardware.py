#!/usr/bin/env python3
"""Per-stage speed, thread placement and peak memory, measured on this machine.

    python tools/bench_hardware.py stages   # latency / throughput per stage, CPU and CUDA
    python tools/bench_hardware.py threads  # end of speech -> first audio per thread split
    python tools/bench_hardware.py memory   # peak RSS per model and per profile pipeline
    python tools/bench_hardware.py all --markdown docs/hardware-measured.md

Every measurement runs in its own process, so a peak RSS is that configuration's own and
one run's allocations do not leak into the next. CUDA rows appear where a runtime can use
a GPU (edge.hardware); a stage that falls back to CPU is reported as such, not timed.

Models: the real demo models (``edge models pull demo``: Moonshine tiny, Whisper base,
Piper joe; Silero ships with edge) and random-weight CTranslate2 models of the real
architectures for MT (NLLB-200-distilled-600M and OPUS-MT shapes), built once into the
cache, decoding exactly as many tokens as the source sentence has.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from edge import hardware  # noqa: E402
from edge.asr.base import SAMPLE_RATE  # noqa: E402
from edge.bench import BENCH_SENTENCES as SENTENCES  # noqa: E402  (what `edge bench` speaks)

MT_MODELS = ("nllb-600m", "opus-mt")
# Pipelines measured for the model manager's profiles (models/profiles.toml): what each
# profile installs for an English speaker (cascade) and for other languages.
PIPELINES: dict[str, dict[str, str]] = {
    "tiny-cascade": {"asr": "moonshine", "mt": "opus-mt", "tts": "joe"},
    "small-direct": {"direct": "whisper", "tts": "joe"},
    "standard-cascade": {"asr": "moonshine", "mt": "nllb-600m", "tts": "joe"},
    "standard-multilingual": {"asr": "whisper", "mt": "nllb-600m", "tts": "joe"},
}
MODEL_IDS = {
    "moonshine": "moonshine-tiny-en",
    "whisper": "whisper-base-ct2",
    "joe": "piper-en_US-joe-medium",
}
# (asr, mt, tts) threads tried by `threads`; 0 for TTS is onnxruntime's default (all cores).
THREAD_SPLITS = ((1, 1, 1), (2, 2, 2), (2, 2, 1), (1, 2, 1), (1, 2, 2), (2, 1, 1), (2, 2, 0))


# --- measurements, each run in a worker process -----------------------------------------


def _status_mb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def _peak_mb() -> float:
    # Not getrusage's ru_maxrss: Linux carries the parent's peak into a forked child, so a
    # worker started by a large process would report that process's size.
    return _status_mb("VmHWM")


def _import_runtimes() -> None:
    """Import everything a pipeline imports, so RSS increments are the models' own."""
    import ctranslate2  # noqa: F401
    import onnxruntime  # noqa: F401
    import piper  # noqa: F401
    import sherpa_onnx  # noqa: F401

    import edge.translator  # noqa: F401


def _options(spec: dict[str, Any]) -> Any:
    from edge.translator import RuntimeOptions

    return RuntimeOptions(
        device=spec.get("device", "cpu"),
        compute_type=spec.get("compute_type", "auto"),
        asr_threads=spec.get("asr_threads"),
        mt_threads=spec.get("mt_threads"),
        tts_threads=spec.get("tts_threads"),
        low_memory=spec.get("low_memory"),
    )


def _model_path(name: str, spec: dict[str, Any]) -> Path:
    if name in MT_MODELS:
        return Path(spec["cache"]) / name
    from edge.models import ModelStore

    store = ModelStore(Path(spec["models_dir"]) if spec.get("models_dir") else None)
    return store.get(MODEL_IDS[name]).path


def _placed_on(options: Any, stage: str, device: str) -> str | None:
    """None if the stage runs where asked, else why not (a fallback is not timed)."""
    placement = options.placements[stage]
    if device != "auto" and placement.device != device:
        return placement.fallback or f"runs on {placement.device}"
    return None


def measure_mt(spec: dict[str, Any]) -> dict[str, Any]:
    from edge.translator import load_mt

    options = _options({**spec, "mt_threads": spec.get("threads")})
    mt = load_mt(_model_path(spec["model"], spec), options)
    skipped = _placed_on(options, "mt", spec["device"])
    if skipped:
        return {"skipped": skipped}
    source, target = mt.sources[0], next(t for t in mt.targets if t != mt.sources[0])
    lengths = [mt.count_tokens(s, source) for s in SENTENCES]
    mt.translate(SENTENCES[:1], source, target, decode_lengths=lengths[:1])  # warm-up
    per_sentence = []
    started = time.perf_counter()
    for _round in range(2):
        for sentence, length in zip(SENTENCES, lengths, strict=True):
            t0 = time.perf_counter()
            mt.translate([sentence], source, target, decode_lengths=[length])
            per_sentence.append((time.perf_counter() - t0) * 1000)
    seconds = time.perf_counter() - started
    t0 = time.perf_counter()
    mt.translate(SENTENCES, source, target, decode_lengths=lengths)
    batch_seconds = time.perf_counter() - t0
    return {
        "device": options.placements["mt"].device,
        "compute_type": options.placements["mt"].compute_type,
        "threads": options.placements["mt"].threads,
        "low_memory": options.uses_low_memory(),
        "tokens_per_s": round(2 * sum(lengths) / seconds, 1),
        "batch6_tokens_per_s": round(sum(lengths) / batch_seconds, 1),
        "sentence_ms_p50": round(statistics.median(per_sentence), 1),
        "peak_rss_mb": round(_peak_mb(), 1),
    }


def measure_asr(spec: dict[str, Any]) -> dict[str, Any]:
    from edge.audio import read_audio
    from edge.translator import load_recognizer

    options = _options({**spec, "asr_threads": spec.get("threads")})
    recognizer = load_recognizer(_model_path(spec["model"], spec), options)
    skipped = _placed_on(options, "asr", spec["device"])
    if skipped:
        return {"skipped": skipped}
    audio = read_audio(ROOT / "samples" / "beckett.flac")
    recognizer.recognize(audio[: SAMPLE_RATE * 2], "eng_Latn")  # warm-up
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        text = recognizer.recognize(audio, "eng_Latn").text
        runs.append(time.perf_counter() - t0)
    return {
        "device": options.placements["asr"].device,
        "compute_type": options.placements["asr"].compute_type,
        "threads": options.placements["asr"].threads,
        "low_memory": options.uses_low_memory(),
        "audio_s": round(len(audio) / SAMPLE_RATE, 2),
        "rtf": round(statistics.median(runs) / (len(audio) / SAMPLE_RATE), 4),
        "text": text,
    }


def measure_tts(spec: dict[str, Any]) -> dict[str, Any]:
    from edge.translator import load_voice

    options = _options({**spec, "tts_threads": spec.get("threads")})
    voice = load_voice(_model_path("joe", spec), options)
    skipped = _placed_on(options, "tts", spec["device"])
    if skipped:
        return {"skipped": skipped}
    list(voice.synthesize("Hello there."))  # warm-up
    first_chunk, seconds, audio_s = [], 0.0, 0.0
    for sentence in SENTENCES:
        t0 = time.perf_counter()
        for index, chunk in enumerate(voice.synthesize(sentence)):
            if index == 0:
                first_chunk.append((time.perf_counter() - t0) * 1000)
            audio_s += len(chunk) / voice.sample_rate
        seconds += time.perf_counter() - t0
    return {
        "device": options.placements["tts"].device,
        "threads": options.placements["tts"].threads,
        "low_memory": options.uses_low_memory(),
        "rtf": round(seconds / audio_s, 4),
        "first_chunk_ms_p50": round(statistics.median(first_chunk), 1),
        "peak_rss_mb": round(_peak_mb(), 1),
    }


def measure_vad(spec: dict[str, Any]) -> dict[str, Any]:
    from edge.vad import FRAME, SileroVad

    vad = SileroVad(num_threads=1, device=spec["device"])
    frames = np.random.default_rng(0).normal(0, 0.05, (500, FRAME)).astype(np.float32)
    vad(frames[0])
    t0 = time.perf_counter()
    for frame in frames:
        vad(frame)
    return {
        "device": spec["device"],
        "ms_per_frame": round((time.perf_counter() - t0) * 1000 / len(frames), 3),
    }


def measure_model_memory(spec: dict[str, Any]) -> dict[str, Any]:
    """Peak RSS added by loading one model and running it once, over imported runtimes."""
    from edge.translator import load_mt, load_recognizer, load_voice

    _import_runtimes()
    name, options = spec["model"], _options(spec)
    before = _rss_mb()
    if name == "silero":
        from edge.vad import FRAME, SileroVad

        vad = SileroVad()
        for frame in np.zeros((300, FRAME), np.float32):
            vad(frame)
    elif name in MT_MODELS:
        mt = load_mt(_model_path(name, spec), options)
        source, target = mt.sources[0], next(t for t in mt.targets if t != mt.sources[0])
        lengths = [mt.count_tokens(s, source) for s in SENTENCES]
        mt.translate(SENTENCES, source, target, decode_lengths=lengths)
    elif name == "joe":
        voice = load_voice(_model_path(name, spec), options)
        for sentence in SENTENCES:
            list(voice.synthesize(sentence))
    else:
        from edge.audio import read_audio

        recognizer = load_recognizer(_model_path(name, spec), options)
        recognizer.recognize(read_audio(ROOT / "samples" / "beckett.flac"), "eng_Latn")
    return {
        "model": name,
        "runtime_mb": round(before, 1),
        "peak_increase_mb": round(_peak_mb() - before, 1),
        "resident_after_mb": round(_rss_mb() - before, 1),
    }


def measure_pipeline(spec: dict[str, Any]) -> dict[str, Any]:
    """A paced (real-time) run of the engine: latency, stage real-time factors, peak RSS."""
    from edge import bench
    from edge.engine import Stages
    from edge.translator import load_mt, load_recognizer, load_voice

    _import_runtimes()
    runtime_mb = _rss_mb()
    parts, options = PIPELINES[spec["pipeline"]], _options(spec)
    voice = load_voice(_model_path(parts["tts"], spec), options)
    stages = Stages(tts=voice)
    if "direct" in parts:
        stages.direct = load_recognizer(_model_path("whisper", spec), options, task="translate")
        audio, truth = bench.sample_recording(ROOT / "samples" / "es_station.flac")
        source, target = "spa_Latn", "eng_Latn"
    else:
        recognizer = load_recognizer(_model_path(parts["asr"], spec), options)
        stages.segment_asr = recognizer  # type: ignore[assignment]
        stages.mt = bench.FixedLengthStandIn(load_mt(_model_path(parts["mt"], spec), options))
        if parts["asr"] == "whisper":
            audio, truth = bench.sample_recording(ROOT / "samples" / "es_station.flac")
            source, target = "spa_Latn", "eng_Latn"
        else:
            audio, truth = bench.english_recording(voice)
            source, target = "eng_Latn", "spa_Latn"
    bench.warm(stages, audio, truth, source, target)
    loaded_mb = _rss_mb()
    run = bench.measure_paced(stages, audio, truth, source, target)
    latencies = run.latency_ms
    return {
        "pipeline": spec["pipeline"],
        "threads": {s: p.threads for s, p in options.placements.items()},
        "devices": {s: p.device for s, p in options.placements.items()},
        "utterances": f"{run.spoken}/{len(truth)}",
        "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
        "latency_ms_max": round(max(latencies), 1) if latencies else None,
        "rtf": run.metrics.real_time_factor,
        "runtime_mb": round(runtime_mb, 1),
        "loaded_mb": round(loaded_mb, 1),
        "peak_rss_mb": round(_peak_mb(), 1),
        "resident_after_mb": round(_rss_mb(), 1),
    }


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "mt": measure_mt,
    "asr": measure_asr,
    "tts": measure_tts,
    "vad": measure_vad,
    "model-memory": measure_model_memory,
    "pipeline": measure_pipeline,
}


# --- orchestration ----------------------------------------------------------------------


def run_worker(kind: str, spec: dict[str, Any], env: dict[str, str] | None = None) -> dict:
    """Run one measurement in a fresh process and return its JSON result."""
    proc = subprocess.run(
        [sys.executable, __file__, "_worker", kind, json.dumps(spec)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": tail[0]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def build_mt_models(cache: Path) -> None:
    from edge.bench import build_synthetic_mt

    if not (cache / "nllb-600m" / "model.bin").is_file():
        print("building the NLLB-600M-shaped model (about 40 s) ...", file=sys.stderr)
    build_synthetic_mt("cascade-nllb", cache / "nllb-600m")
    build_synthetic_mt("cascade-opus", cache / "opus-mt")


def devices() -> list[str]:
    """cpu, and cuda where at least one runtime can try it."""
    checks = (
        hardware.ctranslate2_support(),
        hardware.onnxruntime_support(),
        hardware.sherpa_onnx_support(),
    )
    return ["cpu", "cuda"] if any(s.cuda for s in checks) else ["cpu"]


def bench_stages(common: dict[str, Any], threads: Sequence[int]) -> list[dict[str, Any]]:
    import ctranslate2

    rows = []
    for device in devices():
        types = (
            hardware.ctranslate2_support().compute_types
            if device == "cuda"
            else tuple(sorted(ctranslate2.get_supported_compute_types("cpu")))
        )
        for model in MT_MODELS:
            for compute_type in types:
                for n in threads if device == "cpu" else (1,):
                    spec = {**common, "model": model, "device": device, "threads": n}
                    spec["compute_type"] = compute_type
                    rows.append({"stage": "mt", "model": model, **run_worker("mt", spec)})
        for model in ("moonshine", "whisper"):
            for n in threads if device == "cpu" else (1,):
                spec = {**common, "model": model, "device": device, "threads": n}
                rows.append({"stage": "asr", "model": model, **run_worker("asr", spec)})
        for n in threads if device == "cpu" else (1,):
            spec = {**common, "device": device, "threads": n}
            rows.append({"stage": "tts", "model": "joe", **run_worker("tts", spec)})
        rows.append({"stage": "vad", "model": "silero", **run_worker("vad", {"device": device})})
    # The other memory setting (low-memory mode is chosen by RAM): its cost or saving in speed.
    flipped = {**common, "device": "cpu", "low_memory": not hardware.low_memory_default()}
    for n in threads:
        rows.append(
            {"stage": "tts", "model": "joe", **run_worker("tts", {**flipped, "threads": n})}
        )
    spec = {**flipped, "model": "whisper", "threads": max(threads)}
    rows.append({"stage": "asr", "model": "whisper", **run_worker("asr", spec)})
    return rows


def bench_threads(
    common: dict[str, Any],
    pipelines: Sequence[str],
    splits: Sequence[tuple[int, int, int]],
    rounds: int,
) -> list[dict[str, Any]]:
    """Every split once per round, interleaved, so a busy spell of the machine hits all."""
    rows = []
    for round_ in range(1, rounds + 1):
        for pipeline in pipelines:
            for asr, mt, tts in splits:
                spec = {**common, "pipeline": pipeline, "device": "cpu"}
                spec |= {"asr_threads": asr, "mt_threads": mt, "tts_threads": tts}
                print(f"  {pipeline} {asr}/{mt}/{tts} round {round_}", file=sys.stderr, flush=True)
                result = run_worker("pipeline", spec)
                rows.append({"split": f"{asr}/{mt}/{tts}", "round": round_, **result})
    return rows


def bench_memory(common: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    models = []
    for model in ("silero", "moonshine", "whisper", "opus-mt", "nllb-600m", "joe"):
        for low_memory in (True, False):
            spec = {**common, "model": model, "device": "cpu", "low_memory": low_memory}
            result = run_worker("model-memory", spec)
            models.append({"low_memory": low_memory, **result})
    pipelines = []
    for pipeline in PIPELINES:
        for low_memory in (True, False):
            spec = {**common, "pipeline": pipeline, "device": "cpu", "low_memory": low_memory}
            print(f"  {pipeline} low_memory={low_memory}", file=sys.stderr, flush=True)
            pipelines.append({"low_memory": low_memory, **run_worker("pipeline", spec)})
    return {"models": models, "pipelines": pipelines}


def machine() -> str:
    from edge.doctor import cpu_info

    cpu = cpu_info()
    flags = "/".join(cpu.instruction_sets) or "-"
    return (
        f"{cpu.model}, {cpu.cores} cores ({flags}), {platform.system()} {cpu.architecture}, "
        f"Python {platform.python_version()}"
    )


# --- output -----------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("-" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    before, after = report["load_average"]
    out = [f"Machine: {report['machine']}; load average {before} before, {after} after", ""]
    if "stages" in report:
        rows = []
        for r in report["stages"]:
            if "skipped" in r or "error" in r:
                reason = r.get("skipped") or r["error"]
                rows.append([r["stage"], r["model"], "-", "-", "-", "-", reason])
                continue
            speed = {
                "mt": lambda r: (
                    f"{r['tokens_per_s']} tok/s (batch of 6: {r['batch6_tokens_per_s']}); "
                    f"{r['sentence_ms_p50']} ms/sentence"
                ),
                "asr": lambda r: f"RTF {r['rtf']}",
                "tts": lambda r: f"RTF {r['rtf']}; first audio {r['first_chunk_ms_p50']} ms",
                "vad": lambda r: f"{r['ms_per_frame']} ms per 32 ms frame",
            }[r["stage"]](r)
            rows.append(
                [
                    r["stage"],
                    r["model"],
                    r["device"],
                    r.get("compute_type") or "-",
                    r.get("threads", 1),
                    {True: "on", False: "off"}.get(r.get("low_memory"), "-"),
                    speed,
                ]
            )
        out += [
            "### Per stage",
            "",
            _table(
                ("stage", "model", "device", "compute type", "threads", "low memory", "speed"),
                rows,
            ),
            "",
        ]
    if "threads" in report:
        rows = [
            [
                r.get("pipeline"),
                r["split"],
                r.get("round", 1),
                r.get("utterances"),
                r.get("latency_ms_p50"),
                r.get("latency_ms_max"),
                ", ".join(f"{k} {v}" for k, v in (r.get("rtf") or {}).items()),
            ]
            for r in report["threads"]
        ]
        out += [
            "### Threads (ASR/MT/TTS; TTS 0 = onnxruntime default)",
            "",
            _table(
                (
                    "pipeline",
                    "threads",
                    "round",
                    "utterances",
                    "p50 end of speech -> first audio ms",
                    "max ms",
                    "RTF",
                ),
                rows,
            ),
            "",
        ]
    if "memory" in report:
        rows = [
            [
                r.get("model"),
                "on" if r["low_memory"] else "off",
                r.get("peak_increase_mb"),
                r.get("resident_after_mb"),
            ]
            for r in report["memory"]["models"]
        ]
        out += [
            "### Memory per model (MB over the imported runtimes)",
            "",
            _table(("model", "low memory", "peak increase", "resident after"), rows),
            "",
        ]
        rows = [
            [
                r.get("pipeline"),
                "on" if r["low_memory"] else "off",
                r.get("runtime_mb"),
                r.get("loaded_mb"),
                r.get("peak_rss_mb"),
                r.get("resident_after_mb"),
                r.get("latency_ms_p50"),
            ]
            for r in report["memory"]["pipelines"]
        ]
        out += [
            "### Memory per pipeline (MB, whole process)",
            "",
            _table(
                (
                    "pipeline",
                    "low memory",
                    "runtime",
                    "models loaded",
                    "peak RSS",
                    "RSS after",
                    "p50 latency ms",
                ),
                rows,
            ),
            "",
        ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_worker"]:
        print(json.dumps(WORKERS[argv[1]](json.loads(argv[2]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("stages", "threads", "memory", "all"))
    parser.add_argument("--models-dir", help="installed demo models (default: $EDGE_MODELS_DIR)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "edge-hw-bench"))
    parser.add_argument(
        "--threads", default="1,2", help="thread counts for the per-stage table (default: 1,2)"
    )
    parser.add_argument("--pipelines", default="tiny-cascade,standard-cascade")
    parser.add_argument(
        "--splits",
        default=",".join("/".join(map(str, split)) for split in THREAD_SPLITS),
        help="ASR/MT/TTS thread splits to compare (TTS 0: onnxruntime's default)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="repeats of the thread splits")
    parser.add_argument("--json", metavar="FILE", help="write the raw results here")
    parser.add_argument("--markdown", metavar="FILE", help="write the tables here")
    args = parser.parse_args(argv)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    build_mt_models(cache)
    common = {"cache": str(cache), "models_dir": args.models_dir}
    report: dict[str, Any] = {"machine": machine(), "devices": devices()}
    load_before = os.getloadavg()
    if args.what in ("stages", "all"):
        threads = [int(t) for t in args.threads.split(",")]
        report["stages"] = bench_stages(common, threads)
    if args.what in ("threads", "all"):
        splits = [tuple(int(n) for n in split.split("/")) for split in args.splits.split(",")]
        report["threads"] = bench_threads(
            common,
            args.pipelines.split(","),
            splits,  # type: ignore[arg-type]
            args.rounds,
        )
    if args.what in ("memory", "all"):
        report["memory"] = bench_memory(common)
    # Timings are only as good as the machine was quiet: other processes show up here.
    report["load_average"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    text = markdown(report)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
