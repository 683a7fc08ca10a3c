"""Reading, re-quantizing and writing CTranslate2 ``model.bin`` files without the checkpoint.

CTranslate2 ships converters from training frameworks but no reader for its own format, and the
Whisper and Marian models users already have are often CTranslate2 float16 files. The layout
(binary version 6, as written by ``ctranslate2.specs.model_spec.ModelSpec._serialize``) is::

    uint32 version, string spec_name, uint32 revision, uint32 n_variables,
    n_variables x (string name, uint8 rank, uint32 dims[rank], uint8 dtype, uint32 nbytes, data),
    uint32 n_aliases, n_aliases x (string alias, string variable)

where a string is a uint16 length (with the trailing NUL) followed by the bytes and a NUL.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from edge.errors import ModelError

SUPPORTED_BINARY_VERSIONS = (5, 6)
# Order of CTranslate2's DataType enum (include/ctranslate2/types.h).
_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
FLOAT_DTYPES = ("float32", "float16", "bfloat16")

QUANTIZATIONS = ("int8", "int8_float32", "int8_float16", "int8_bfloat16", "float16", "float32")


@dataclass
class Ct2Model:
    """The variables of a CTranslate2 model; bfloat16 arrays are held as float32."""

    spec_name: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str] = field(default_factory=dict)

    def resolve(self, name: str) -> np.ndarray:
        return self.variables[self.aliases.get(name, name)]

    def is_quantized(self) -> bool:
        return any(name.endswith("_scale") for name in self.variables)

    def float_weight(self, name: str) -> np.ndarray:
        """A weight as float32, undoing int8/int16 quantization if the file holds it quantized."""
        value = self.resolve(name)
        scale_name = self.aliases.get(name, name) + "_scale"
        if scale_name not in self.variables:
            return value.astype(np.float32)
        scale = self.variables[scale_name].astype(np.float32)
        if scale.ndim == 0:
            return value.astype(np.float32) / scale
        shape = (-1,) + (1,) * (value.ndim - 1)
        return value.astype(np.float32) / scale.reshape(shape)


def _read_string(stream: BinaryIO) -> str:
    (length,) = struct.unpack("<H", stream.read(2))
    return stream.read(length)[:-1].decode("utf-8")


def _write_string(stream: BinaryIO, text: str) -> None:
    data = text.encode("utf-8")
    stream.write(struct.pack("<H", len(data) + 1))
    stream.write(data + b"\0")


def read_model(path: str | Path) -> Ct2Model:
    path = Path(path)
    try:
        with path.open("rb") as stream:
            (version,) = struct.unpack("<I", stream.read(4))
            if version not in SUPPORTED_BINARY_VERSIONS:
                raise ModelError(
                    f"{path} is CTranslate2 binary version {version}; this tool reads "
                    f"{', '.join(map(str, SUPPORTED_BINARY_VERSIONS))}",
                    "convert the original checkpoint instead: quantize ct2 HF_DIR OUT_DIR",
                )
            spec_name = _read_string(stream)
            (revision,) = struct.unpack("<I", stream.read(4))
            (count,) = struct.unpack("<I", stream.read(4))
            variables: dict[str, np.ndarray] = {}
            for _ in range(count):
                name = _read_string(stream)
                (rank,) = struct.unpack("<B", stream.read(1))
                shape = struct.unpack(f"<{rank}I", stream.read(4 * rank))
                (type_id,) = struct.unpack("<B", stream.read(1))
                (nbytes,) = struct.unpack("<I", stream.read(4))
                raw = stream.read(nbytes)
                dtype = _DTYPES[type_id]
                if dtype == "bfloat16":
                    # bfloat16 is the upper half of a float32: widening is exact.
                    bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
                    array = bits.view(np.float32)
                else:
                    array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
                variables[name] = array.reshape(shape)
            (alias_count,) = struct.unpack("<I", stream.read(4))
            aliases = {}
            for _ in range(alias_count):
                alias = _read_string(stream)
                aliases[alias] = _read_string(stream)
    except (OSError, struct.error, IndexError, ValueError, UnicodeDecodeError) as exc:
        raise ModelError(
            f"{path} is not a readable CTranslate2 model.bin: {exc}", "re-download or reconvert it"
        ) from None
    return Ct2Model(spec_name, revision, variables, aliases)


def _to_bfloat16_bits(array: np.ndarray) -> np.ndarray:
    # Round to nearest even, as torch does when CTranslate2's converter casts to bfloat16.
    bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)
    rounding = ((bits >> 16) & 1) + 0x7FFF
    return ((bits + rounding) >> 16).astype(np.uint16)


def write_model(model: Ct2Model, path: str | Path, bfloat16: frozenset[str] = frozenset()) -> None:
    """Write ``model``; variables named in ``bfloat16`` are stored as bfloat16."""
    with Path(path).open("wb") as stream:
        stream.write(struct.pack("<I", 6))
        _write_string(stream, model.spec_name)
        stream.write(struct.pack("<I", model.revision))
        stream.write(struct.pack("<I", len(model.variables)))
        for name in sorted(model.variables):
            array = np.asarray(model.variables[name])
            if name in bfloat16:
                data, dtype = _to_bfloat16_bits(array), "bfloat16"
            else:
                dtype = array.dtype.name
                if dtype not in _DTYPES:
                    raise ValueError(f"variable {name} has unsupported dtype {dtype}")
                data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
            _write_string(stream, name)
            stream.write(struct.pack("<B", array.ndim))
            stream.write(struct.pack(f"<{array.ndim}I", *array.shape))
            stream.write(struct.pack("<B", _DTYPES.index(dtype)))
            stream.write(struct.pack("<I", data.nbytes))
            stream.write(data.tobytes())
        stream.write(struct.pack("<I", len(model.aliases)))
        for alias in sorted(model.aliases):
            _write_string(stream, alias)
            _write_string(stream, model.aliases[alias])


def is_quantizable(name: str, value: np.ndarray) -> bool:
    """Linear, convolution and embedding weights: the variables CTranslate2 gives a ``_scale``.

    In CTranslate2's specs only LinearSpec, Conv1DSpec and EmbeddingsSpec name a tensor
    ``weight``; layer norms use gamma/beta and position tables ``encodings``.
    """
    return name.rsplit("/", 1)[-1] == "weight" and value.ndim >= 2


def quantize_int8(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-row symmetric int8, the scheme of CTranslate2's converters.

    Returns (int8 weight, float32 scale) with ``weight ~= int8 / scale[:, None]``.
    """
    rows = weight.astype(np.float32).reshape(weight.shape[0], -1)
    amax = np.abs(rows).max(axis=1)
    amax[amax == 0] = 127.0
    amax = np.maximum(amax, np.float32(127) / np.finfo(np.float32).max)
    scale = (127.0 / amax).astype(np.float32)
    quantized = np.rint(rows * scale[:, None]).astype(np.int8)
    return quantized.reshape(weight.shape), scale


def requantize(model: Ct2Model, quantization: str) -> tuple[Ct2Model, frozenset[str]]:
    """Convert a float CTranslate2 model to ``quantization``.

    Returns the new model and the names of the variables to store as bfloat16. Quantizing an
    already-quantized file would compound the rounding error, so only float sources are accepted.
    """
    if quantization not in QUANTIZATIONS:
        raise ModelError(
            f"unknown quantization '{quantization}'", f"use one of {', '.join(QUANTIZATIONS)}"
        )
    if model.is_quantized():
        raise ModelError(
            "this CTranslate2 model is already quantized; re-quantizing compounds rounding error",
            "convert from a float16/float32 model or the original Hugging Face checkpoint",
        )
    int8 = quantization.startswith("int8")
    float_type = {
        "int8": "float32",
        "int8_float32": "float32",
        "float32": "float32",
        "int8_float16": "float16",
        "float16": "float16",
        "int8_bfloat16": "bfloat16",
    }[quantization]
    variables: dict[str, np.ndarray] = {}
    bfloat16: set[str] = set()
    for name, value in model.variables.items():
        if value.dtype.name not in FLOAT_DTYPES or value.ndim == 0:
            variables[name] = value
        elif int8 and is_quantizable(name, value):
            variables[name], variables[name + "_scale"] = quantize_int8(value)
        elif float_type == "bfloat16":
            variables[name] = value.astype(np.float32)
            bfloat16.add(name)
        else:
            variables[name] = value.astype(float_type)
    return Ct2Model(model.spec_name, model.revision, variables, dict(model.aliases)), frozenset(
        bfloat16
    )
