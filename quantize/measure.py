"""One model variant, measured in a process of its own: ``python -m quantize.measure ARGS``.

A fresh process per variant keeps peak RSS honest (a previous model's pages and allocator
arenas would otherwise count) and gives each variant the same cold start. The process loads the
model through edge's own loaders where edge has one, runs it on the first item to warm up and
``--repeat`` times timed (the fastest pass counts: other load on the machine only ever
slows a pass down), and prints one JSON object: load time, RSS after imports, after loading
and at the end, processing time and the raw outputs that the parent scores.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from edge.errors import EdgeError, InputError

from . import kinds
from .data import parallel_text, read_sentences, transcribed_audio, wav_files

# Built-in inputs for measuring RAM when the caller has no data (catalog records).
_SMOKE_SENTENCE = "Hello, how are you today?"
_SMOKE_AUDIO_S = 3.0
T = TypeVar("T")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    Linux's VmHWM belongs to the process's own address space, which exec creates afresh;
    ``ru_maxrss`` would also carry the RSS of the parent at fork time (a pytest or report
    process with torch loaded can hold gigabytes).
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    # Elsewhere ru_maxrss is the best available (KiB on Linux and BSD, bytes on macOS).
    scale = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def start_measuring() -> float:
    """Forget the peak so far (data preparation, the VAD that cut segments) and return RSS.

    Writing 5 to /proc/self/clear_refs resets VmHWM to the current RSS (Linux 4.0+), so the
    peaks that follow belong to loading and running the model.
    """
    gc.collect()
    # Not Linux, or not permitted: the peak then includes data preparation.
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return peak_rss_mb()


def _smoke_audio() -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(_SMOKE_AUDIO_S * 16000)) / 16000.0
    tone = 0.3 * np.sin(2 * np.pi * 220.0 * t) * (np.sin(2 * np.pi * 3.0 * t) > 0)
    return (tone + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def _load_measured(load: Callable[[], T]) -> tuple[T, dict[str, float]]:
    """The loaded model, and its load time and RSS before and after loading."""
    rss_imports = start_measuring()
    start = time.perf_counter()
    model = load()
    load_s = time.perf_counter() - start
    return model, {"load_s": load_s, "rss_imports_mb": rss_imports, "rss_load_mb": peak_rss_mb()}


def _run_measured(run_all: Callable[..., T], repeat: int) -> tuple[T, dict[str, float]]:
    """Outputs, wall seconds and CPU seconds (all threads) of the fastest of ``repeat`` passes,
    after a warm-up on the first item (first-call allocations and kernel selection).

    CPU time is reported too because it barely moves when other processes compete for the
    cores, which makes ratios between variants trustworthy on a busy machine.
    """
    run_all(1)
    outputs, best, best_cpu = None, float("inf"), float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        outputs = run_all()
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        if wall < best:
            best, best_cpu = wall, cpu
    return outputs, {"seconds": best, "cpu_seconds": best_cpu}  # type: ignore[return-value]


def _segments(audio: np.ndarray) -> list[np.ndarray]:
    """Speech segments as edge's engine cuts them (Whisper sees at most 30 s at once)."""
    from edge.vad import VadConfig, VadSegmenter

    segmenter = VadSegmenter(VadConfig(max_segment_s=20.0))
    segments = [u.ended.audio for u in segmenter.accept(audio) if u.ended is not None]
    last = segmenter.flush()
    if last is not None:
        segments.append(last.audio)
    return segments or [audio]


def measure_asr(kind: str, model: Path, data: Path | None, threads: int, args: Any) -> dict:
    from edge.audio import read_audio

    if kind == kinds.WHISPER:
        from edge.asr.whisper_ct2 import WhisperCT2 as loader_class

        def load() -> Any:
            return loader_class.load(model, compute_type=args.compute_type, num_threads=threads)
    else:
        from edge.asr.sherpa_offline import SherpaSegmentRecognizer as loader_class

        def load() -> Any:
            return loader_class.load(model, num_threads=threads)

    if data is None:
        items = [("smoke", "", [_smoke_audio()])]
    else:
        items = [(p.name, text, _segments(read_audio(p))) for p, text in transcribed_audio(data)]
    recognizer, loading = _load_measured(load)
    lang = args.lang

    def run_all(count: int | None = None) -> list[str]:
        return [
            " ".join(recognizer.recognize(seg, lang).text for seg in segments).strip()
            for _, _, segments in items[:count]
        ]

    hypotheses, timing = _run_measured(run_all, args.repeat)
    audio_s = sum(len(seg) for _, _, segments in items for seg in segments) / 16000.0
    return {
        **loading,
        **timing,
        "audio_s": audio_s,
        "items": [
            {"name": name, "reference": text, "hypothesis": hyp}
            for (name, text, _), hyp in zip(items, hypotheses, strict=True)
        ],
    }


def _mt_tokenizer(model: Path) -> tuple[Any, Any, str]:
    """(source spm, target spm, family) of a CTranslate2 translation model."""
    import sentencepiece as spm

    if (model / "source.spm").is_file():
        source = spm.SentencePieceProcessor(model_file=str(model / "source.spm"))
        target = spm.SentencePieceProcessor(model_file=str(model / "target.spm"))
        return source, target, "marian"
    sp = spm.SentencePieceProcessor(model_file=str(model / "sentencepiece.bpe.model"))
    return sp, sp, "nllb"


def _language_token(vocabulary: set[str], code: str) -> str:
    """NLLB's ``fra_Latn`` or M2M-100's ``__fr__`` for a language code."""
    from edge.languages import to_flores, to_iso639_1

    flores = to_flores(code)
    for token in (flores, f"__{to_iso639_1(flores)}__"):
        if token in vocabulary:
            return token
    raise InputError(f"the model has no language token for {flores}", "pick a language it covers")


def measure_mt(model: Path, data: Path | None, threads: int, args: Any) -> dict:
    import ctranslate2

    from edge.languages import opus_mt_code

    from .convert import _vocabulary

    sources, references = ([_SMOKE_SENTENCE], [""]) if data is None else parallel_text(data)
    source_sp, target_sp, family = _mt_tokenizer(model)
    source_vocabulary = set(_vocabulary(model, "source"))
    vocabulary = set(_vocabulary(model, "target"))
    use_vmap = (model / "vmap.txt").is_file()
    if family == "nllb":
        src_lang = _language_token(source_vocabulary, args.source_lang or "eng_Latn")
        tgt_lang = _language_token(vocabulary, args.target_lang or "fra_Latn")
        batch = [[src_lang, *source_sp.encode(s, out_type=str), "</s>"] for s in sources]
        prefix: list[str] = [tgt_lang]
    else:
        token = opus_mt_code(args.target_lang, target_token=True) if args.target_lang else None
        lead = [token] if token in source_vocabulary else []
        batch = [[*lead, *source_sp.encode(s, out_type=str), "</s>"] for s in sources]
        prefix = []
    translator, loading = _load_measured(
        lambda: ctranslate2.Translator(
            str(model), compute_type=args.compute_type, intra_threads=threads
        )
    )
    decode_kwargs: dict[str, Any] = {"beam_size": 1, "use_vmap": use_vmap}
    # A degenerate model (or a random-weight one) may never emit </s>: bound the output
    # by the longest source, as translations are rarely more than twice as long.
    decode_kwargs["max_decoding_length"] = min(256, 2 * max(len(s) for s in batch) + 16)
    if args.fixed_length:
        # Speed depends on the output length only: fix it so random weights measure it too.
        decode_kwargs.update(
            min_decoding_length=args.fixed_length + len(prefix),
            max_decoding_length=args.fixed_length + len(prefix),
        )

    def run_all(count: int | None = None) -> list[list[str]]:
        # One sentence at a time: the latency a speaker waits for on a device.
        tokens = []
        for sentence in batch[:count]:
            result = translator.translate_batch(
                [sentence], target_prefix=[prefix] if prefix else None, **decode_kwargs
            )
            tokens.append(result[0].hypotheses[0][len(prefix) :])
        return tokens

    outputs, timing = _run_measured(run_all, args.repeat)
    return {
        **loading,
        **timing,
        "tokens": sum(len(t) for t in outputs),
        "use_vmap": use_vmap,
        "items": [
            {"source": s, "reference": r, "hypothesis": target_sp.decode(t)}
            for s, r, t in zip(sources, references, outputs, strict=True)
        ],
    }


def measure_tts(model: Path, data: Path | None, threads: int, args: Any) -> dict:
    import onnxruntime
    import soundfile as sf
    from piper import PiperConfig, PiperVoice, SynthesisConfig

    sentences = [_SMOKE_SENTENCE] if data is None else read_sentences(data)
    model_path = kinds.piper_model(model)

    def load() -> PiperVoice:
        # PiperVoice.load as piper does it, with the thread count under test.
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        config = json.loads(model_path.with_name(model_path.name + ".json").read_text("utf-8"))
        return PiperVoice(
            session=onnxruntime.InferenceSession(
                str(model_path), options, providers=["CPUExecutionProvider"]
            ),
            config=PiperConfig.from_dict(config),
        )

    voice, loading = _load_measured(load)
    # Without noise the synthesis is deterministic, so variants are compared on equal terms.
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)

    def run_all(count: int | None = None) -> list[np.ndarray]:
        return [
            np.concatenate([c.audio_float_array for c in voice.synthesize(s, syn_config=config)])
            for s in sentences[:count]
        ]

    audios, timing = _run_measured(run_all, args.repeat)
    rate = int(voice.config.sample_rate)
    items = []
    if args.audio_out:
        out = Path(args.audio_out)
        out.mkdir(parents=True, exist_ok=True)
        for index, (sentence, audio) in enumerate(zip(sentences, audios, strict=True)):
            sf.write(out / f"{index:04d}.wav", audio, rate)
            (out / f"{index:04d}.txt").write_text(sentence + "\n", encoding="utf-8")
            items.append({"sentence": sentence, "audio": str(out / f"{index:04d}.wav")})
    return {
        **loading,
        **timing,
        "audio_s": sum(len(a) for a in audios) / rate,
        "sample_rate": rate,
        "items": items,
    }


def measure_vad(model: Path, data: Path | None, threads: int, args: Any) -> dict:
    from edge.audio import read_audio
    from edge.vad import FRAME, SileroVad

    audios = [_smoke_audio()] if data is None else [read_audio(p) for p in wav_files(data)]
    vad, loading = _load_measured(lambda: SileroVad(model, num_threads=threads))

    def run_all(count: int | None = None) -> list[list[float]]:
        results = []
        for audio in audios[:count]:
            vad.reset()
            frames = len(audio) // FRAME
            results.append([vad(audio[i * FRAME : (i + 1) * FRAME]) for i in range(frames)])
        return results

    probabilities, timing = _run_measured(run_all, args.repeat)
    return {
        **loading,
        **timing,
        "audio_s": sum(len(a) for a in audios) / 16000.0,
        "items": [{"probabilities": [round(p, 5) for p in probs]} for probs in probabilities],
    }


def run(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m quantize.measure")
    parser.add_argument("kind", choices=kinds.KINDS)
    parser.add_argument("model", type=Path)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--compute-type", default="default")
    parser.add_argument("--lang")
    parser.add_argument("--source-lang")
    parser.add_argument("--target-lang")
    parser.add_argument("--fixed-length", type=int)
    parser.add_argument("--audio-out")
    args = parser.parse_args(argv)
    if args.kind in (kinds.WHISPER, kinds.SHERPA_ASR):
        result = measure_asr(args.kind, args.model, args.data, args.threads, args)
    elif args.kind == kinds.MT:
        result = measure_mt(args.model, args.data, args.threads, args)
    elif args.kind == kinds.PIPER:
        result = measure_tts(args.model, args.data, args.threads, args)
    else:
        result = measure_vad(args.model, args.data, args.threads, args)
    result["peak_rss_mb"] = peak_rss_mb()
    # Other processes competing for the cores slow wall-clock timings: record how busy it was.
    result["load_average"] = os.getloadavg()[0]
    return result


def main() -> None:
    try:
        result = run()
    except EdgeError as exc:
        print(json.dumps({"error": str(exc)}))
        sys.exit(exc.exit_code)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
