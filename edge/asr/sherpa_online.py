"""Streaming speech recognition with ``sherpa_onnx.OnlineRecognizer``.

Covers the streaming model families published in the sherpa-onnx releases: transducers
(Zipformer2, Zipformer, Conformer, LSTM, E-Branchformer and NeMo FastConformer: encoder,
decoder and joiner), Zipformer2 CTC and NeMo CTC (one model), and Paraformer (encoder and
decoder), each with its ``tokens.txt``.

sherpa-onnx ends the whole process (``exit(-1)``, or a null model and a crash) when a model's
metadata lacks a key it reads, when ``tokens.txt`` has a malformed line, or when a CTC
vocabulary has no blank. A bad download must not take the translator down with it, so every
file is checked here first, with onnxruntime, against what sherpa-onnx's C++ source reads for
that model family; only then is it handed to sherpa-onnx.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import sherpa_onnx

from edge.asr.base import SAMPLE_RATE, EndpointConfig
from edge.errors import InputError, LanguageError, ModelError
from edge.models.record import RECORD_FILE, ModelRecord, read_record

TRANSDUCER = "sherpa-online-transducer"
ZIPFORMER2_CTC = "sherpa-online-zipformer2-ctc"
NEMO_CTC = "sherpa-online-nemo-ctc"
PARAFORMER = "sherpa-online-paraformer"

# The files each backend needs, by role; ``tokens`` is always tokens.txt unless the manifest
# names another file.
BACKEND_ROLES: dict[str, tuple[str, ...]] = {
    TRANSDUCER: ("encoder", "decoder", "joiner", "tokens"),
    ZIPFORMER2_CTC: ("model", "tokens"),
    NEMO_CTC: ("model", "tokens"),
    PARAFORMER: ("encoder", "decoder", "tokens"),
}
# The backends `load` handles; the registry (edge.models.record) routes these here.
BACKENDS = tuple(BACKEND_ROLES)
DECODING_METHODS = ("greedy_search", "modified_beam_search")
# A single-file model found by name: Zipformer2 CTC or NeMo CTC, told apart by its metadata.
_CTC_BY_METADATA = "ctc"

_FETCH_FIX = (
    "download the complete model archive again from the sherpa-onnx releases "
    "(https://github.com/k2-fsa/sherpa-onnx/releases/tag/asr-models)"
)
_FLORES_CODE = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")

# Metadata sherpa-onnx reads (and exits without), per model family: key -> value kind.
_INT, _INTS, _FLOATS = "integer", "comma-separated integers", "comma-separated numbers"
_ZIPFORMER2_KEYS = {
    **dict.fromkeys(
        (
            "encoder_dims",
            "query_head_dims",
            "value_head_dims",
            "num_heads",
            "num_encoder_layers",
            "cnn_module_kernels",
            "left_context_len",
        ),
        _INTS,
    ),
    "T": _INT,
    "decode_chunk_len": _INT,
}
_TRANSDUCER_ENCODER_KEYS: dict[str, dict[str, str]] = {
    "zipformer2": _ZIPFORMER2_KEYS,
    "zipformer": {
        **dict.fromkeys(
            (
                "encoder_dims",
                "attention_dims",
                "num_encoder_layers",
                "cnn_module_kernels",
                "left_context_len",
            ),
            _INTS,
        ),
        "T": _INT,
        "decode_chunk_len": _INT,
    },
    "conformer": dict.fromkeys(
        (
            "num_encoder_layers",
            "T",
            "decode_chunk_len",
            "left_context",
            "encoder_dim",
            "pad_length",
            "cnn_module_kernel",
        ),
        _INT,
    ),
    "lstm": dict.fromkeys(
        ("num_encoder_layers", "T", "decode_chunk_len", "rnn_hidden_size", "d_model"), _INT
    ),
    "ebranchformer": dict.fromkeys(
        (
            "decode_chunk_len",
            "T",
            "num_hidden_layers",
            "hidden_size",
            "intermediate_size",
            "csgu_kernel_size",
            "merge_conv_kernel",
            "left_context_len",
            "num_heads",
            "head_dim",
        ),
        _INT,
    ),
}
_NEMO_CACHE_KEYS = dict.fromkeys(
    (
        "cache_last_channel_dim1",
        "cache_last_channel_dim2",
        "cache_last_channel_dim3",
        "cache_last_time_dim1",
        "cache_last_time_dim2",
        "cache_last_time_dim3",
    ),
    _INT,
)
_NEMO_CTC_KEYS = {
    **dict.fromkeys(("window_size", "chunk_shift", "subsampling_factor", "vocab_size"), _INT),
    **_NEMO_CACHE_KEYS,
}
_NEMO_TRANSDUCER_ENCODER_KEYS = {
    **_NEMO_CTC_KEYS,
    **dict.fromkeys(("pred_rnn_layers", "pred_hidden"), _INT),
}
_TRANSDUCER_DECODER_KEYS = dict.fromkeys(("vocab_size", "context_size"), _INT)
_PARAFORMER_ENCODER_KEYS = {
    **dict.fromkeys(
        (
            "vocab_size",
            "lfr_window_size",
            "lfr_window_shift",
            "encoder_output_size",
            "decoder_num_blocks",
            "decoder_kernel_size",
        ),
        _INT,
    ),
    "neg_mean": _FLOATS,
    "inv_stddev": _FLOATS,
}
_CTC_BLANKS = ("<blk>", "<eps>", "<blank>")
# sherpa-onnx's own examples pad 0.66 s of silence so the last chunk is decoded.
_MIN_TAIL_PADDING_S = 0.66
_FRAME_SHIFT_S = 0.01
_DEFAULT_FEATURE_DIM = 80


@dataclass(frozen=True)
class _OnnxSummary:
    """What sherpa-onnx looks at in an ONNX file: metadata and input/output signatures."""

    path: Path
    metadata: Mapping[str, str]
    input_shapes: tuple[tuple[int | str | None, ...], ...]
    output_shapes: tuple[tuple[int | str | None, ...], ...]

    def int_value(self, key: str) -> int:
        return int(self.metadata[key].strip())


class SherpaRecognizerStream:
    """One audio stream of a ``SherpaStreamingRecognizer``; not safe to share between threads."""

    def __init__(self, recognizer: sherpa_onnx.OnlineRecognizer, tail_padding_s: float) -> None:
        self._recognizer = recognizer
        self._stream = recognizer.create_stream()
        self._tail_padding = np.zeros(round(tail_padding_s * SAMPLE_RATE), np.float32)
        self._finished = False

    def accept(self, audio: np.ndarray) -> None:
        if self._finished:
            raise RuntimeError("finish() ended this utterance; call reset() before accept()")
        samples = np.asarray(audio)
        if samples.ndim != 1 or not np.issubdtype(samples.dtype, np.floating):
            raise InputError(
                f"streaming audio must be 1-D float samples, got {samples.dtype} {samples.shape}",
                fix="pass 16 kHz mono float32 samples in [-1, 1]",
            )
        self._stream.accept_waveform(SAMPLE_RATE, samples.astype(np.float32, copy=False))

    def partial(self) -> str:
        self._decode_ready()
        return self._text()

    def is_endpoint(self) -> bool:
        self._decode_ready()
        return bool(self._recognizer.is_endpoint(self._stream))

    def finish(self) -> str:
        if not self._finished:
            # Without padding the last, partly filled chunk would never become ready.
            self._stream.accept_waveform(SAMPLE_RATE, self._tail_padding)
            self._stream.input_finished()
            self._finished = True
        self._decode_ready()
        return self._text()

    def reset(self) -> None:
        if self._finished:
            # A finished sherpa-onnx stream takes no more audio.
            self._stream = self._recognizer.create_stream()
            self._finished = False
        else:
            # Keeps the encoder state and the audio not decoded yet; clears the text.
            self._recognizer.reset(self._stream)

    def _decode_ready(self) -> None:
        while self._recognizer.is_ready(self._stream):
            self._recognizer.decode_stream(self._stream)

    def _text(self) -> str:
        return self._recognizer.get_result(self._stream)


class SherpaStreamingRecognizer:
    """A streaming model loaded through ``sherpa_onnx.OnlineRecognizer``."""

    def __init__(
        self,
        recognizer: sherpa_onnx.OnlineRecognizer,
        *,
        model_id: str,
        backend: str,
        files: Mapping[str, Path],
        languages: tuple[str, ...],
        tail_padding_s: float,
    ) -> None:
        self._recognizer = recognizer
        self.model_id = model_id
        self.backend = backend
        self.files = dict(files)
        self.languages = languages
        self._tail_padding_s = tail_padding_s

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        *,
        endpoint: EndpointConfig | None = None,
        num_threads: int = 2,
        provider: str = "cpu",
        decoding_method: str = "greedy_search",
        languages: tuple[str, ...] | None = None,
        prefer_int8: bool = True,
    ) -> SherpaStreamingRecognizer:
        """Load a streaming model directory as downloaded from the sherpa-onnx releases.

        The files are taken from the model record when the directory has one (its ``files``
        object, or the model manager's ``options``), otherwise
        recognized by name (``encoder*/decoder*/joiner*.onnx``, or one other ``*.onnx`` for
        CTC models), preferring ``*.int8.onnx`` when ``prefer_int8``. ``languages`` (FLORES-200
        codes) overrides the manifest's; with neither, the languages are unknown (empty).
        ``endpoint`` defaults to ``EndpointConfig()``.
        """
        root = Path(model_dir)
        if not root.is_dir():
            raise ModelError(
                f"streaming ASR model directory {root} does not exist",
                fix="pass the directory extracted from the model archive",
            )
        if num_threads < 1:
            raise ModelError(f"num_threads must be at least 1, got {num_threads}", fix="use 1-4")
        if decoding_method not in DECODING_METHODS:
            raise ModelError(
                f"unknown decoding method {decoding_method!r}",
                fix=f"use one of {', '.join(DECODING_METHODS)}",
            )
        if endpoint is None:
            endpoint = EndpointConfig()

        manifest = _read_manifest(root)
        if manifest is None:
            backend, files = _detect_files(root, prefer_int8)
            model_id, manifest_languages = root.name, ()
        else:
            backend, files = _manifest_files(root, manifest)
            model_id = manifest.id or root.name
            manifest_languages = manifest.languages
        chosen_languages = manifest_languages if languages is None else tuple(languages)
        _check_languages(chosen_languages)
        if backend != TRANSDUCER and decoding_method != "greedy_search":
            raise ModelError(
                f"streaming CTC and Paraformer models support only greedy_search, "
                f"not {decoding_method}",
                fix="use decoding_method='greedy_search'",
            )
        summaries = {role: _inspect_onnx(path) for role, path in files.items() if role != "tokens"}
        if backend == _CTC_BY_METADATA:
            is_nemo = "cache_last_channel_dim1" in summaries["model"].metadata
            backend = NEMO_CTC if is_nemo else ZIPFORMER2_CTC
        plan = _validate(backend, summaries)
        tokens = _read_tokens(_existing(files["tokens"], "tokens"))
        if plan.vocab_size is not None:
            tokens.require_ids(plan.vocab_size)
        if backend in (ZIPFORMER2_CTC, NEMO_CTC):
            tokens.require_ctc_blank()

        options = {
            "tokens": str(files["tokens"]),
            "num_threads": num_threads,
            "provider": provider,
            "decoding_method": decoding_method,
            "feature_dim": plan.feature_dim,
            "enable_endpoint_detection": True,
            "rule1_min_trailing_silence": endpoint.rule1_min_trailing_silence_s,
            "rule2_min_trailing_silence": endpoint.rule2_min_trailing_silence_s,
            "rule3_min_utterance_length": endpoint.rule3_min_utterance_length_s,
        }
        try:
            recognizer = _create_online_recognizer(backend, files, plan, options)
        except (RuntimeError, ValueError) as exc:
            raise ModelError(
                f"sherpa-onnx could not load {root} as {backend}: {_first_line(exc)}",
                fix=f"check provider={provider!r} is available, or {_FETCH_FIX}",
            ) from exc
        return cls(
            recognizer,
            model_id=model_id,
            backend=backend,
            files=files,
            languages=chosen_languages,
            tail_padding_s=plan.tail_padding_s,
        )

    def create_stream(self) -> SherpaRecognizerStream:
        return SherpaRecognizerStream(self._recognizer, self._tail_padding_s)


@dataclass(frozen=True)
class _LoadPlan:
    feature_dim: int
    tail_padding_s: float
    vocab_size: int | None  # None where the model does not say
    transducer_type: str = ""  # empty for NeMo transducers, which sherpa-onnx routes itself


def _create_online_recognizer(
    backend: str, files: Mapping[str, Path], plan: _LoadPlan, options: dict[str, object]
) -> sherpa_onnx.OnlineRecognizer:
    if backend == TRANSDUCER:
        return sherpa_onnx.OnlineRecognizer.from_transducer(
            encoder=str(files["encoder"]),
            decoder=str(files["decoder"]),
            joiner=str(files["joiner"]),
            # Naming the type spares sherpa-onnx a second load of the encoder to read it.
            model_type=plan.transducer_type,
            **options,
        )
    if backend == PARAFORMER:
        return sherpa_onnx.OnlineRecognizer.from_paraformer(
            encoder=str(files["encoder"]), decoder=str(files["decoder"]), **options
        )
    if backend == ZIPFORMER2_CTC:
        return sherpa_onnx.OnlineRecognizer.from_zipformer2_ctc(
            model=str(files["model"]), **options
        )
    return sherpa_onnx.OnlineRecognizer.from_nemo_ctc(model=str(files["model"]), **options)


def _validate(backend: str, summaries: Mapping[str, _OnnxSummary]) -> _LoadPlan:
    """Check the ONNX files for everything sherpa-onnx would exit on; plan the loading."""
    if backend == TRANSDUCER:
        return _validate_transducer(summaries)
    if backend == PARAFORMER:
        encoder = summaries["encoder"]
        if encoder.metadata.get("model_type") in _TRANSDUCER_ENCODER_KEYS or (
            "pred_rnn_layers" in encoder.metadata
        ):
            raise ModelError(
                f"{encoder.path.name} is a transducer encoder, but there is no joiner*.onnx "
                f"beside it; the model is incomplete",
                fix=_FETCH_FIX,
            )
        _require_metadata(encoder, _PARAFORMER_ENCODER_KEYS, "a streaming Paraformer encoder")
        _require_io(summaries["decoder"], min_inputs=4, outputs=None, what="Paraformer decoder")
        return _LoadPlan(_DEFAULT_FEATURE_DIM, _MIN_TAIL_PADDING_S, encoder.int_value("vocab_size"))

    model = summaries["model"]
    if backend == NEMO_CTC:
        _require_metadata(model, _NEMO_CTC_KEYS, "a streaming NeMo CTC model")
        return _LoadPlan(
            _static_dim(model.input_shapes[0], 1),
            _tail_padding(model.int_value("window_size")),
            # NeMo counts its vocabulary without the blank.
            model.int_value("vocab_size") + 1,
        )
    _require_metadata(model, _ZIPFORMER2_KEYS, "a streaming Zipformer2 CTC model")
    log_probs_shape = model.output_shapes[0]
    vocab_size = log_probs_shape[2] if len(log_probs_shape) == 3 else None
    return _LoadPlan(
        _static_dim(model.input_shapes[0], 2),
        _tail_padding(model.int_value("T")),
        vocab_size if isinstance(vocab_size, int) else None,
    )


def _validate_transducer(summaries: Mapping[str, _OnnxSummary]) -> _LoadPlan:
    encoder, decoder, joiner = summaries["encoder"], summaries["decoder"], summaries["joiner"]
    _require_io(joiner, min_inputs=2, outputs=1, what="transducer joiner")
    if len(decoder.output_shapes) > 1:
        # sherpa-onnx takes a decoder with several outputs (LSTM states) for NeMo's.
        _require_metadata(encoder, _NEMO_TRANSDUCER_ENCODER_KEYS, "a NeMo streaming encoder")
        return _LoadPlan(
            _static_dim(encoder.input_shapes[0], 1),
            _tail_padding(encoder.int_value("window_size")),
            encoder.int_value("vocab_size") + 1,
        )

    model_type = encoder.metadata.get("model_type", "").strip()
    if model_type not in _TRANSDUCER_ENCODER_KEYS:
        known = ", ".join(_TRANSDUCER_ENCODER_KEYS)
        raise ModelError(
            f"{encoder.path.name} is not a streaming transducer encoder sherpa-onnx knows: "
            f"its metadata model_type is {model_type or 'missing'} (expected one of {known})",
            fix=_FETCH_FIX,
        )
    _require_metadata(encoder, _TRANSDUCER_ENCODER_KEYS[model_type], f"a {model_type} encoder")
    _require_metadata(decoder, _TRANSDUCER_DECODER_KEYS, "a transducer decoder")
    _require_io(decoder, min_inputs=1, outputs=1, what="transducer decoder")
    return _LoadPlan(
        _static_dim(encoder.input_shapes[0], 2),
        _tail_padding(encoder.int_value("T")),
        decoder.int_value("vocab_size"),
        transducer_type=model_type,
    )


def _tail_padding(chunk_frames: int) -> float:
    # One chunk plus the 25 ms analysis window of the last feature frame.
    return max(_MIN_TAIL_PADDING_S, (chunk_frames + 3) * _FRAME_SHIFT_S)


def _static_dim(shape: tuple[int | str | None, ...], axis: int) -> int:
    dim = shape[axis] if len(shape) > axis else None
    return dim if isinstance(dim, int) and dim > 0 else _DEFAULT_FEATURE_DIM


def _inspect_onnx(path: Path) -> _OnnxSummary:
    options = ort.SessionOptions()
    # Only the signature and metadata are needed; skip the optimizer and extra threads.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types per failure
        raise ModelError(
            f"{path} is not a readable ONNX model: {_first_line(exc)}", fix=_FETCH_FIX
        ) from exc
    return _OnnxSummary(
        path=path,
        metadata=dict(session.get_modelmeta().custom_metadata_map),
        input_shapes=tuple(tuple(arg.shape) for arg in session.get_inputs()),
        output_shapes=tuple(tuple(arg.shape) for arg in session.get_outputs()),
    )


def _require_metadata(summary: _OnnxSummary, keys: Mapping[str, str], what: str) -> None:
    missing = [key for key in keys if not summary.metadata.get(key, "").strip()]
    if missing:
        shown = ", ".join(missing[:4]) + (", ..." if len(missing) > 4 else "")
        raise ModelError(
            f"{summary.path.name} is not {what}: its metadata lacks {shown}", fix=_FETCH_FIX
        )
    for key, kind in keys.items():
        if not _valid_metadata_value(summary.metadata[key], kind):
            raise ModelError(
                f"{summary.path.name} has metadata {key}={summary.metadata[key]!r}, "
                f"expected {kind}",
                fix=_FETCH_FIX,
            )


def _valid_metadata_value(value: str, kind: str) -> bool:
    parts = [p.strip() for p in value.split(",") if p.strip()] if kind != _INT else [value.strip()]
    if not parts:
        return False
    if kind == _FLOATS:
        try:
            return all(math.isfinite(float(p)) for p in parts)
        except ValueError:
            return False
    return all(p.isdigit() for p in parts)


def _require_io(summary: _OnnxSummary, *, min_inputs: int, outputs: int | None, what: str) -> None:
    n_in, n_out = len(summary.input_shapes), len(summary.output_shapes)
    if n_in < min_inputs or (outputs is not None and n_out != outputs):
        expected_out = "" if outputs is None else f" and {outputs} output(s)"
        raise ModelError(
            f"{summary.path.name} is not a {what}: it has {n_in} input(s) and {n_out} "
            f"output(s), expected at least {min_inputs} input(s){expected_out}",
            fix=_FETCH_FIX,
        )


@dataclass(frozen=True)
class _Tokens:
    path: Path
    ids: frozenset[int]
    symbols: frozenset[str]

    def require_ids(self, vocab_size: int) -> None:
        # sherpa-onnx looks every decoded id up in tokens.txt and fails on a missing one.
        missing = sorted(set(range(vocab_size)) - self.ids)
        if missing:
            raise ModelError(
                f"{self.path} does not match the model: it lacks {len(missing)} of the "
                f"model's {vocab_size} token ids (first missing: {missing[0]})",
                fix="use the tokens.txt shipped with this model",
            )

    def require_ctc_blank(self) -> None:
        if not self.symbols.intersection(_CTC_BLANKS):
            raise ModelError(
                f"{self.path} has no CTC blank symbol ({' or '.join(_CTC_BLANKS)})",
                fix="use the tokens.txt shipped with this CTC model",
            )


def _read_tokens(path: Path) -> _Tokens:
    """Parse tokens.txt as sherpa-onnx does: "symbol id", or "id" alone for a space."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read {path}: {exc}", fix=_FETCH_FIX) from exc
    ids: set[int] = set()
    symbols: set[str] = set()
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) > 2 or not fields[-1].isdigit():
            raise ModelError(
                f"{path} line {number} is not 'symbol id': {line[:80]!r}", fix=_FETCH_FIX
            )
        ids.add(int(fields[-1]))
        symbols.add(fields[0] if len(fields) == 2 else " ")
    if not ids:
        raise ModelError(f"{path} lists no tokens", fix=_FETCH_FIX)
    return _Tokens(path, frozenset(ids), frozenset(symbols))


def _read_manifest(root: Path) -> ModelRecord | None:
    record = read_record(root)
    if record is None:
        return None
    if "asr-streaming" not in record.kinds:
        raise ModelError(
            f"{root / RECORD_FILE} has kind {record.kind or None!r}: not a streaming speech "
            "recognizer",
            fix=f"pass a directory whose {RECORD_FILE} has kind 'asr-streaming'",
        )
    return record


def _manifest_files(root: Path, manifest: ModelRecord) -> tuple[str, dict[str, Path]]:
    backend = manifest.backend
    if backend not in BACKEND_ROLES:
        raise ModelError(
            f"{root / RECORD_FILE} names backend {backend or None!r}",
            fix=f"use one of {', '.join(BACKEND_ROLES)}",
        )
    # A hand-written record names the files under "files"; the model manager's, which
    # lists the installed files there, under "options" (from the catalog entry).
    named: Mapping[str, object] = manifest.roles or manifest.options
    files: dict[str, Path] = {}
    for role in BACKEND_ROLES[backend]:
        name = named.get(role, "tokens.txt" if role == "tokens" else None)
        if not name:
            raise ModelError(
                f"{root / RECORD_FILE} names no {role} file for {backend}",
                fix=f'add "{role}": "<file name>" under "files"',
            )
        files[role] = root / str(name) if role == "tokens" else _existing(root / str(name), role)
    return backend, files


def _check_languages(languages: tuple[str, ...]) -> None:
    for code in languages:
        if not _FLORES_CODE.match(code):
            raise LanguageError(
                f"{code!r} is not a FLORES-200 language code",
                fix="use codes like eng_Latn, deu_Latn, zho_Hans",
            )


def _detect_files(root: Path, prefer_int8: bool) -> tuple[str, dict[str, Path]]:
    """Recognize a release archive by its file names; CTC kinds are resolved by metadata later."""
    by_role: dict[str, dict[str, dict[str, Path]]] = {}
    for path in sorted(root.glob("*.onnx")):
        quantized = path.name.endswith(".int8.onnx")
        base = path.name.removesuffix(".onnx").removesuffix(".int8")
        role = next((r for r in ("encoder", "decoder", "joiner") if base.startswith(r)), "model")
        by_role.setdefault(role, {}).setdefault(base, {})["int8" if quantized else "float"] = path

    if "joiner" in by_role:
        backend = TRANSDUCER
    elif "encoder" in by_role or "decoder" in by_role:
        backend = PARAFORMER
    elif "model" in by_role:
        backend = _CTC_BY_METADATA
    else:
        raise ModelError(
            f"{root} holds no streaming speech model (no *.onnx files)",
            fix="download a streaming model from the sherpa-onnx releases and extract it here",
        )
    roles = BACKEND_ROLES[ZIPFORMER2_CTC if backend == _CTC_BY_METADATA else backend]
    files = {
        role: _pick_variant(root, role, by_role.get(role, {}), prefer_int8)
        for role in roles
        if role != "tokens"
    }
    files["tokens"] = root / "tokens.txt"
    return backend, files


def _pick_variant(
    root: Path, role: str, variants_by_base: Mapping[str, Mapping[str, Path]], prefer_int8: bool
) -> Path:
    if not variants_by_base:
        raise ModelError(
            f"{root} has no {role}*.onnx file; the model is incomplete", fix=_FETCH_FIX
        )
    if len(variants_by_base) > 1:
        names = ", ".join(sorted(variants_by_base))
        raise ModelError(
            f"{root} holds several {role} models ({names}) and it is unclear which to use",
            fix=f"write {RECORD_FILE} naming the files, or remove the ones not wanted",
        )
    variants = next(iter(variants_by_base.values()))
    order = ("int8", "float") if prefer_int8 else ("float", "int8")
    return next(variants[v] for v in order if v in variants)


def _existing(path: Path, role: str) -> Path:
    if not path.is_file():
        raise ModelError(f"the {role} file {path} is missing", fix=_FETCH_FIX)
    return path


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
