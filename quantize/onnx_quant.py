"""``quantize onnx``: int8 ONNX models for sherpa-onnx ASR, Piper voices and Silero VAD.

Dynamic quantization (onnxruntime.quantization.quantize_dynamic) stores weights in int8 and
quantizes activations on the fly; it needs no data. Static quantization (QDQ) also fixes the
activation ranges from a calibration set of sentences (Piper voices; Silero VAD keeps its
weights in If branches, which onnxruntime's static quantizer does not enter).

Two preparations make real models quantizable:

* Weights held in ``Constant`` nodes (Silero VAD keeps all of them so, inside ``If`` branches)
  are moved to initializers, which is what the quantizer looks for; subgraphs are quantized.
* Nodes can be left in float by name pattern (``--exclude '/dec/*'``), by operator type
  (``--exclude-op ConvTranspose``) or by position (``--keep-first-last``), since int8 hurts
  most in the first and last layers and in vocoder convolutions.

ONNX Runtime's ``.ort`` format (Moonshine in sherpa-onnx) cannot be quantized: the quantizer
reads ONNX protobuf only, and no tool turns ``.ort`` back into ``.onnx``.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import EdgeError, InputError, ModelError

from .kinds import PIPER, VAD, onnx_file_kind

# Ops whose weights dynamic quantization turns into int8 (onnxruntime's IntegerOpsRegistry).
DYNAMIC_OPS = ("Conv", "MatMul", "Gemm", "Attention", "LSTM", "Gather")
# Constants smaller than this stay nodes: shapes, axes and scalars are not weights.
_MIN_WEIGHT_ELEMENTS = 64


@dataclass
class OnnxQuantizeResult:
    output: Path
    mode: str
    weight_type: str
    excluded_nodes: list[str]
    quantized_ops: dict[str, int]
    input_bytes: int
    output_bytes: int
    copied: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output),
            "mode": self.mode,
            "weight_type": self.weight_type,
            "excluded_nodes": self.excluded_nodes,
            "quantized_ops": self.quantized_ops,
            "size_ratio": round(self.output_bytes / self.input_bytes, 4),
            "input_mb": round(self.input_bytes / 1e6, 2),
            "output_mb": round(self.output_bytes / 1e6, 2),
            "copied": self.copied,
        }


def _walk_graphs(graph: Any) -> Iterator[Any]:
    import onnx

    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield from _walk_graphs(attribute.g)
            elif attribute.type == onnx.AttributeProto.GRAPHS:
                for sub in attribute.graphs:
                    yield from _walk_graphs(sub)


def lift_constants(model: Any) -> int:
    """Move weight-sized Constant tensors into initializers of their graph; return how many."""
    import onnx
    from onnx import numpy_helper

    lifted = 0
    for graph in _walk_graphs(model.graph):
        kept = []
        for node in graph.node:
            value = None
            if node.op_type == "Constant" and len(node.attribute) == 1:
                attribute = node.attribute[0]
                if attribute.name == "value" and attribute.type == onnx.AttributeProto.TENSOR:
                    value = attribute.t
            if value is not None and numpy_helper.to_array(value).size >= _MIN_WEIGHT_ELEMENTS:
                tensor = onnx.TensorProto()
                tensor.CopyFrom(value)
                tensor.name = node.output[0]
                graph.initializer.append(tensor)
                lifted += 1
            else:
                kept.append(node)
        del graph.node[:]
        graph.node.extend(kept)
    return lifted


def select_excluded(
    model: Any,
    patterns: list[str],
    exclude_ops: list[str],
    keep_first_last: bool,
    op_types: list[str],
) -> list[str]:
    """Names of the nodes to keep in float (in all subgraphs)."""
    nodes = [node for graph in _walk_graphs(model.graph) for node in graph.node]
    unnamed = [node for node in nodes if not node.name and node.op_type in op_types]
    if unnamed and (patterns or keep_first_last):
        # The quantizer identifies nodes by name only; name them so exclusions can apply.
        for index, node in enumerate(unnamed):
            node.name = f"{node.op_type}_{index}"
    excluded = []
    for node in nodes:
        if node.op_type in exclude_ops or any(fnmatch.fnmatchcase(node.name, p) for p in patterns):
            excluded.append(node.name)
    if keep_first_last:
        # Main-graph order is topological in ONNX; subgraph weights are not first/last layers.
        # Only nodes with a stored weight count (a Gather of a shape is not a layer).
        stored = {
            t.name for t in model.graph.initializer if math.prod(t.dims) >= _MIN_WEIGHT_ELEMENTS
        }
        weighted = [
            node.name
            for node in model.graph.node
            if node.op_type in op_types and any(i in stored for i in node.input)
        ]
        outermost = dict.fromkeys(weighted[:1] + weighted[-1:])
        excluded += [name for name in outermost if name not in excluded]
    unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(n.name, p) for n in nodes)]
    if unmatched:
        raise InputError(
            f"--exclude pattern(s) {', '.join(unmatched)} match no node",
            'list node names with: python -c "import onnx; print([n.name for n in '
            "onnx.load('MODEL').graph.node])\"",
        )
    return excluded


def count_quantized(model: Any) -> dict[str, int]:
    """Quantized operators by type, in all subgraphs (static mode shows as DequantizeLinear)."""
    counts: dict[str, int] = {}
    quantized = (
        "ConvInteger",
        "MatMulInteger",
        "DynamicQuantizeLSTM",
        "QLinearConv",
        "QLinearMatMul",
        "QAttention",
        "QGemm",
        "DequantizeLinear",
    )
    for graph in _walk_graphs(model.graph):
        for node in graph.node:
            if node.op_type in quantized:
                counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def quantize_onnx(
    src: str | Path,
    out: str | Path,
    *,
    weight_type: str = "uint8",
    exclude: list[str] | None = None,
    exclude_ops: list[str] | None = None,
    op_types: list[str] | None = None,
    keep_first_last: bool = False,
    per_channel: bool = False,
    static: bool = False,
    calibration: str | Path | None = None,
    calibration_limit: int = 16,
) -> OnnxQuantizeResult:
    """Quantize ``src`` to ``out``; Piper's ``.onnx.json`` is copied so the voice loads as is."""
    src, out = Path(src), Path(out)
    if src.suffix == ".ort":
        raise ModelError(
            f"{src} is in ONNX Runtime's .ort format, which cannot be quantized",
            "quantize the original .onnx export of the model instead",
        )
    if not src.is_file():
        raise ModelError(f"model not found: {src}", "pass an .onnx file")
    if out.exists():
        raise EdgeError(f"output {out} already exists", "remove it or choose another path")
    if weight_type not in ("int8", "uint8"):
        raise InputError(f"unknown weight type '{weight_type}'", "use int8 or uint8")
    if static and calibration is None:
        raise InputError(
            "static quantization needs a calibration set",
            "pass --calibration DIR holding sentences.txt (Piper voices)",
        )
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    try:
        model = onnx.load(str(src))
    except Exception as exc:  # protobuf decode errors have no common base class
        raise ModelError(f"{src} is not an ONNX model: {exc}", "pass an .onnx file") from None
    kind = onnx_file_kind(src)
    op_types = list(op_types or DYNAMIC_OPS)
    lift_constants(model)
    excluded = select_excluded(model, exclude or [], exclude_ops or [], keep_first_last, op_types)
    quant_type = QuantType.QInt8 if weight_type == "int8" else QuantType.QUInt8

    out.parent.mkdir(parents=True, exist_ok=True)
    # The quantizer logs a warning per dynamic-shaped tensor it cannot type: thousands for VITS.
    logging.getLogger().setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="quantize-onnx-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        onnx.save(model, str(prepared))
        try:
            if static:
                reader = _calibration_reader(kind, src, Path(calibration), calibration_limit)
                quantize_static(
                    str(prepared),
                    str(out),
                    reader,
                    quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=op_types,
                    nodes_to_exclude=excluded,
                    per_channel=per_channel,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    extra_options={"EnableSubgraph": True},
                )
            else:
                quantize_dynamic(
                    str(prepared),
                    str(out),
                    op_types_to_quantize=op_types,
                    nodes_to_exclude=excluded,
                    per_channel=per_channel,
                    weight_type=quant_type,
                    extra_options={"EnableSubgraph": True},
                )
        except EdgeError:
            raise
        except Exception as exc:  # onnxruntime's quantizer raises assorted error types
            out.unlink(missing_ok=True)
            raise ModelError(
                f"onnxruntime could not quantize {src}: {exc}",
                "try --exclude-op for the failing operator, or dynamic mode",
            ) from None
    quantized_ops = count_quantized(onnx.load(str(out)))
    if not quantized_ops:
        out.unlink()
        raise ModelError(
            f"nothing in {src} was quantized (all candidate nodes excluded, or no weights "
            "the quantizer can reach)",
            "loosen --exclude/--exclude-op/--op-types",
        )
    copied = []
    config = src.with_name(src.name + ".json")
    if config.is_file():
        shutil.copy2(config, out.with_name(out.name + ".json"))
        copied.append(out.name + ".json")
    return OnnxQuantizeResult(
        output=out,
        mode="static" if static else "dynamic",
        weight_type="int8" if static else weight_type,
        excluded_nodes=excluded,
        quantized_ops=quantized_ops,
        input_bytes=src.stat().st_size,
        output_bytes=out.stat().st_size,
        copied=copied,
    )


class _ListReader:
    """onnxruntime CalibrationDataReader over a precomputed list of input feeds."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self._feeds = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)

    def rewind(self) -> None:  # part of the reader protocol; one pass is all calibration needs
        return None


def _calibration_reader(kind: str, model: Path, data: Path, limit: int) -> _ListReader:
    if not data.is_dir():
        raise InputError(f"calibration directory not found: {data}", "pass --calibration DIR")
    if kind == PIPER:
        return _ListReader(_piper_feeds(model, data, limit))
    if kind == VAD:
        raise EdgeError(
            "static quantization cannot reach Silero VAD's weights: they sit in If branches, "
            "and onnxruntime quantizes subgraphs in dynamic mode only",
            "use dynamic quantization (the default) for the VAD",
        )
    raise EdgeError(
        f"static quantization of {model.name} is not supported: only Piper voices have a "
        "calibration recipe here",
        "use dynamic quantization (the default) for ASR models",
    )


def _piper_feeds(model: Path, data: Path, limit: int) -> list[dict[str, np.ndarray]]:
    from piper import PiperVoice

    from .data import read_sentences

    voice = PiperVoice.load(model)
    feeds = []
    for sentence in read_sentences(data)[:limit]:
        for phonemes in voice.phonemize(sentence):
            ids = np.array([voice.phonemes_to_ids(phonemes)], dtype=np.int64)
            feed = {
                "input": ids,
                "input_lengths": np.array([ids.shape[1]], dtype=np.int64),
                "scales": np.array(
                    [
                        voice.config.noise_scale,
                        voice.config.length_scale,
                        voice.config.noise_w_scale,
                    ],
                    dtype=np.float32,
                ),
            }
            if voice.config.num_speakers > 1:
                feed["sid"] = np.array([0], dtype=np.int64)
            feeds.append(feed)
    return feeds
