"""Tiny streaming Zipformer2 models that ``sherpa_onnx.OnlineRecognizer`` really loads and runs.

They follow the on-disk contract of the icefall streaming Zipformer2 exports published in
the sherpa-onnx releases (read from sherpa-onnx's C++ source):

* the encoder (or the single CTC model) takes ``x`` of shape (N, T, 80) plus ``6 * layers + 2``
  cached states, returns its output first and the next states in the same order, and carries
  the metadata ``model_type, encoder_dims, query_head_dims, value_head_dims, num_heads,
  num_encoder_layers, cnn_module_kernels, left_context_len, T, decode_chunk_len``; sherpa-onnx
  exits the process when one of them is missing;
* the transducer decoder maps the last ``context_size`` tokens (N, context_size) int64 to
  (N, joiner_dim), has exactly one output (two or more selects the NeMo code path) and the
  metadata ``vocab_size, context_size``; the joiner maps (N, joiner_dim) twice to (N, vocab);
* token 0 is the blank; CTC models also need ``<blk>`` in ``tokens.txt``.

Instead of a trained network the encoder is an energy detector, so tests can rely on what it
does: every encoder frame (4 feature frames, 40 ms) whose mean log-mel energy is above
``LOUDNESS_THRESHOLD`` (give or take 0.2) is "loud". Digital silence (all-zero samples,
log-mel about -15.9) is never loud; uniform white noise with an amplitude of 0.01 or more
always is.

* Transducer: each loud frame emits exactly one token, the successor of the previous token in
  ``vocab`` (cycling; a fresh stream starts with ``vocab[0]``), so a fresh stream that hears one
  burst of noise reads ``vocab[0] vocab[1] vocab[2] ...`` with one token per 40 ms of noise.
  Quiet frames emit blank, which is what sherpa-onnx's endpoint rules count as silence.
* CTC: each loud frame scores ``vocab[0]``, each quiet frame the blank, so after CTC collapsing
  every burst of noise separated by silence adds one ``vocab[0]``.

``seed`` draws a bounded jitter (at most ``JITTER`` per weight) on top of those weights; it
changes the numbers on disk, never a decision: each decision has a margin of at least 1, and
the jitter moves the difference of two logits by at most ``6 * JITTER``.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FEATURE_DIM = 80
DECODE_CHUNK_LEN = 32  # feature frames per chunk (320 ms), as in the chunk-16 releases
CHUNK_T = DECODE_CHUNK_LEN + 7  # plus the right padding the Zipformer2 embed layer consumes
SUBSAMPLING = 4  # sherpa-onnx hard-codes 4 in its endpoint and timestamp arithmetic
LOUDNESS_THRESHOLD = -8.0  # mean log-mel energy; digital silence sits at log(FLT_EPSILON)
JITTER = 0.05
OPSET = 13  # old enough for the onnxruntime bundled with sherpa-onnx 1.10
IR_VERSION = 8

# One stack of one layer keeps the state list short while keeping its real layout.
ENCODER_DIM = 32
QUERY_HEAD_DIM = 8
VALUE_HEAD_DIM = 4
NUM_HEADS = 2
CNN_MODULE_KERNEL = 7
LEFT_CONTEXT_LEN = 16
CONTEXT_SIZE = 2

DEFAULT_VOCAB: tuple[str, ...] = tuple(string.ascii_lowercase)


def build_streaming_transducer(
    out_dir: str | Path, vocab: Sequence[str] = DEFAULT_VOCAB, seed: int = 0
) -> Path:
    """Write encoder.onnx, decoder.onnx, joiner.onnx and tokens.txt into ``out_dir``."""
    out = _prepare(out_dir, vocab)
    rng = np.random.default_rng(seed)
    vocab_size = len(vocab) + 1
    joiner_dim = vocab_size  # the joiner is the identity, so logits live in token space

    # Loud frames push the blank down by 3; the decoder pushes the successor token up by 2
    # and the blank bias is 3: silence -> blank by 1, loud -> successor by 2.
    loud_direction = np.zeros((1, joiner_dim), np.float32)
    loud_direction[0, 0] = -3.0
    encoder = _zipformer2_graph(
        "encoder_out", joiner_dim, loud_direction, rng, log_softmax=False, name="encoder"
    )
    _save(encoder, out / "encoder.onnx", {**_zipformer2_metadata(), "model_type": "zipformer2"})

    successor_embedding = np.zeros((vocab_size, joiner_dim), np.float32)
    for prev in range(vocab_size):
        successor_embedding[prev, prev % (vocab_size - 1) + 1] = 2.0
    successor_embedding += _jitter(rng, successor_embedding.shape)
    _save(
        _decoder_graph(successor_embedding),
        out / "decoder.onnx",
        {"vocab_size": str(vocab_size), "context_size": str(CONTEXT_SIZE)},
    )

    blank_bias = np.zeros(vocab_size, np.float32)
    blank_bias[0] = 3.0
    blank_bias += _jitter(rng, blank_bias.shape)
    _save(
        _joiner_graph(joiner_dim, blank_bias), out / "joiner.onnx", {"joiner_dim": str(joiner_dim)}
    )
    return out


def build_streaming_ctc(
    out_dir: str | Path, vocab: Sequence[str] = DEFAULT_VOCAB, seed: int = 0
) -> Path:
    """Write model.onnx (a streaming Zipformer2 CTC model) and tokens.txt into ``out_dir``."""
    out = _prepare(out_dir, vocab)
    rng = np.random.default_rng(seed)
    vocab_size = len(vocab) + 1

    # logits = loudness * direction + bias: quiet -> blank (bias 1 vs 0), loud -> token 1 (2 vs -2).
    loud_direction = np.zeros((1, vocab_size), np.float32)
    loud_direction[0, 0] = -3.0
    loud_direction[0, 1] = 2.0
    bias = np.zeros(vocab_size, np.float32)
    bias[0] = 1.0
    model = _zipformer2_graph(
        "log_probs", vocab_size, loud_direction, rng, log_softmax=True, bias=bias, name="ctc"
    )
    metadata = {
        **_zipformer2_metadata(),
        "model_type": "zipformer2",
        "comment": "streaming ctc zipformer2",
    }
    _save(model, out / "model.onnx", metadata)
    return out


def _prepare(out_dir: str | Path, vocab: Sequence[str]) -> Path:
    if len(vocab) < 2 or len(set(vocab)) != len(vocab):
        raise ValueError("vocab needs at least two distinct tokens")
    if any(not token or any(c.isspace() for c in token) for token in vocab):
        raise ValueError("tokens.txt cannot hold empty tokens or tokens with whitespace")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["<blk> 0"] + [f"{token} {i}" for i, token in enumerate(vocab, start=1)]
    (out / "tokens.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def _jitter(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(-JITTER, JITTER, size=shape).astype(np.float32)


def _zipformer2_metadata() -> dict[str, str]:
    return {
        "encoder_dims": str(ENCODER_DIM),
        "query_head_dims": str(QUERY_HEAD_DIM),
        "value_head_dims": str(VALUE_HEAD_DIM),
        "num_heads": str(NUM_HEADS),
        "num_encoder_layers": "1",
        "cnn_module_kernels": str(CNN_MODULE_KERNEL),
        "left_context_len": str(LEFT_CONTEXT_LEN),
        "T": str(CHUNK_T),
        "decode_chunk_len": str(DECODE_CHUNK_LEN),
        "version": "1",
        "model_author": "edge-translator synthetic",
    }


def _zipformer2_state_specs() -> list[tuple[str, list[int | str], int]]:
    """The cached states of one Zipformer2 layer plus the embed states, in sherpa-onnx order."""
    key_dim = QUERY_HEAD_DIM * NUM_HEADS
    value_dim = VALUE_HEAD_DIM * NUM_HEADS
    f32, i64 = TensorProto.FLOAT, TensorProto.INT64
    embed_dim = ((FEATURE_DIM - 1) // 2 - 1) // 2
    return [
        ("cached_key_0", [LEFT_CONTEXT_LEN, "N", key_dim], f32),
        ("cached_nonlin_attn_0", [1, "N", LEFT_CONTEXT_LEN, 3 * ENCODER_DIM // 4], f32),
        ("cached_val1_0", [LEFT_CONTEXT_LEN, "N", value_dim], f32),
        ("cached_val2_0", [LEFT_CONTEXT_LEN, "N", value_dim], f32),
        ("cached_conv1_0", ["N", ENCODER_DIM, CNN_MODULE_KERNEL // 2], f32),
        ("cached_conv2_0", ["N", ENCODER_DIM, CNN_MODULE_KERNEL // 2], f32),
        ("embed_states", ["N", 128, 3, embed_dim], f32),
        ("processed_lens", ["N"], i64),
    ]


def _zipformer2_graph(
    output_name: str,
    output_dim: int,
    loud_direction: np.ndarray,
    rng: np.random.Generator,
    *,
    log_softmax: bool,
    name: str,
    bias: np.ndarray | None = None,
) -> onnx.GraphProto:
    frames_out = DECODE_CHUNK_LEN // SUBSAMPLING
    out_bias = np.zeros(output_dim, np.float32) if bias is None else bias
    out_bias = out_bias + _jitter(rng, out_bias.shape)
    initializers = [
        numpy_helper.from_array(np.array([0], np.int64), "chunk_start"),
        numpy_helper.from_array(np.array([DECODE_CHUNK_LEN], np.int64), "chunk_end"),
        numpy_helper.from_array(np.array([1], np.int64), "time_axis"),
        numpy_helper.from_array(np.array([0, frames_out, SUBSAMPLING], np.int64), "group_shape"),
        numpy_helper.from_array(np.array(LOUDNESS_THRESHOLD, np.float32), "threshold"),
        numpy_helper.from_array(np.array(4.0, np.float32), "sharpness"),
        numpy_helper.from_array(loud_direction.astype(np.float32), "loud_direction"),
        numpy_helper.from_array(out_bias.astype(np.float32), "out_bias"),
        numpy_helper.from_array(np.array([DECODE_CHUNK_LEN // 2], np.int64), "lens_step"),
    ]
    nodes = [
        # The right padding frames belong to the next chunk, as in the real encoder.
        helper.make_node("Slice", ["x", "chunk_start", "chunk_end", "time_axis"], ["chunk"]),
        helper.make_node("ReduceMean", ["chunk"], ["frame_energy"], axes=[2], keepdims=1),
        helper.make_node("Reshape", ["frame_energy", "group_shape"], ["groups"]),
        helper.make_node("ReduceMean", ["groups"], ["energy"], axes=[2], keepdims=1),
        helper.make_node("Sub", ["energy", "threshold"], ["margin"]),
        helper.make_node("Mul", ["margin", "sharpness"], ["scaled"]),
        helper.make_node("Sigmoid", ["scaled"], ["loudness"]),
        helper.make_node("MatMul", ["loudness", "loud_direction"], ["projected"]),
        helper.make_node(
            "Add", ["projected", "out_bias"], ["logits" if log_softmax else output_name]
        ),
    ]
    if log_softmax:
        nodes.append(helper.make_node("LogSoftmax", ["logits"], [output_name], axis=-1))

    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", CHUNK_T, FEATURE_DIM])]
    outputs = [
        helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", frames_out, output_dim])
    ]
    for state, shape, dtype in _zipformer2_state_specs():
        inputs.append(helper.make_tensor_value_info(state, dtype, shape))
        outputs.append(helper.make_tensor_value_info(f"new_{state}", dtype, shape))
        if state == "processed_lens":
            nodes.append(helper.make_node("Add", [state, "lens_step"], [f"new_{state}"]))
        else:
            # The detector needs no memory; the caches still travel through the graph so the
            # state bookkeeping of sherpa-onnx (stacking, unstacking, batch axes) is exercised.
            nodes.append(helper.make_node("Identity", [state], [f"new_{state}"]))
    return helper.make_graph(nodes, name, inputs, outputs, initializers)


def _decoder_graph(successor_embedding: np.ndarray) -> onnx.GraphProto:
    vocab_size, joiner_dim = successor_embedding.shape
    initializers = [
        numpy_helper.from_array(successor_embedding, "embedding"),
        numpy_helper.from_array(np.array([CONTEXT_SIZE - 1], np.int64), "last_start"),
        numpy_helper.from_array(np.array([CONTEXT_SIZE], np.int64), "last_end"),
        numpy_helper.from_array(np.array([1], np.int64), "context_axis"),
    ]
    nodes = [
        helper.make_node("Slice", ["y", "last_start", "last_end", "context_axis"], ["last"]),
        helper.make_node("Gather", ["embedding", "last"], ["embedded"], axis=0),
        helper.make_node("Squeeze", ["embedded", "context_axis"], ["decoder_out"]),
    ]
    return helper.make_graph(
        nodes,
        "decoder",
        [helper.make_tensor_value_info("y", TensorProto.INT64, ["N", CONTEXT_SIZE])],
        [helper.make_tensor_value_info("decoder_out", TensorProto.FLOAT, ["N", joiner_dim])],
        initializers,
    )


def _joiner_graph(joiner_dim: int, output_bias: np.ndarray) -> onnx.GraphProto:
    nodes = [
        helper.make_node("Add", ["encoder_out", "decoder_out"], ["joined"]),
        helper.make_node("Add", ["joined", "output_bias"], ["logit"]),
    ]
    return helper.make_graph(
        nodes,
        "joiner",
        [
            helper.make_tensor_value_info("encoder_out", TensorProto.FLOAT, ["N", joiner_dim]),
            helper.make_tensor_value_info("decoder_out", TensorProto.FLOAT, ["N", joiner_dim]),
        ],
        [helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["N", len(output_bias)])],
        [numpy_helper.from_array(output_bias.astype(np.float32), "output_bias")],
    )


def _save(graph: onnx.GraphProto, path: Path, metadata: dict[str, str]) -> None:
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="edge-translator-synthetic",
    )
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
