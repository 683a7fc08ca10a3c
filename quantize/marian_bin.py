"""Read Marian's binary model format (``model.*.bin``), including intgemm int8 weights.

The layout (marian-dev ``src/common/binary.cpp``, format version 1), all little-endian:

    uint64 version (1) | uint64 n | n x {uint64 name_len, type, shape_len, data_len}
    | names (NUL-terminated) | shapes (int32 each) | uint64 pad | pad bytes | data ...

Each item's data is padded to 256 bytes. An ``intgemm8`` item holds the int8 matrix,
quantized as ``q = round(w * quant_mult)``, then the float32 ``quant_mult`` right after it.
Its bytes are stored transposed, ``[out, in]`` row-major, although the shape says
``[in, out]``: Marian only transposes when it prepares the matrix for intgemm.
The Bergamot "alphas" models add ``*_QuantMultA`` scalars, the static quantization
multipliers of each matmul's activations. ``special:model.yml`` holds the model's config.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import ModelError

VERSION = 1
FLOAT32 = 0x0404
INT8 = 0x0101
# intgemm int8, hardware-independent (Marian's Type::intgemm8); the hardware-specific
# variants (prepared for SSSE3/AVX2/AVX512) cannot be read back portably.
INTGEMM8 = 0x4101
_HEADER = struct.Struct("<4Q")


@dataclass(frozen=True)
class Int8Matrix:
    """An int8 weight stored ``[out, in]`` with ``w = q / quant_mult``."""

    q: np.ndarray  # int8 [out, in]
    quant_mult: float

    def dequantize(self) -> np.ndarray:
        return self.q.astype(np.float32) / np.float32(self.quant_mult)


@dataclass
class MarianModel:
    """The tensors and config of one Marian binary model."""

    path: Path
    config: dict[str, object]
    floats: dict[str, np.ndarray]
    matrices: dict[str, Int8Matrix]

    def float(self, name: str) -> np.ndarray:
        try:
            return self.floats[name]
        except KeyError:
            raise ModelError(
                f"{self.path} has no parameter {name}",
                "this is not a Bergamot/Firefox Translations transformer model",
            ) from None

    def matrix(self, name: str) -> Int8Matrix:
        """An int8 weight; float32 weights (non-quantized models) are quantized here."""
        if name in self.matrices:
            return self.matrices[name]
        w = self.float(name)  # [in, out] as Marian uses it
        quant_mult = 127.0 / max(float(np.abs(w).max()), 1e-12)
        q = np.clip(np.rint(w.T * quant_mult), -127, 127).astype(np.int8)
        return Int8Matrix(np.ascontiguousarray(q), quant_mult)

    def scalar(self, name: str) -> float | None:
        value = self.floats.get(name)
        return None if value is None else float(value.reshape(-1)[0])

    def int(self, key: str) -> int:
        value = self.config.get(key)
        if isinstance(value, list):
            value = value[0]
        try:
            return int(str(value))
        except (TypeError, ValueError):
            raise ModelError(
                f"{self.path}: model.yml has no usable {key!r}", "this model is not supported"
            ) from None

    def text(self, key: str, default: str = "") -> str:
        value = self.config.get(key, default)
        return default if value is None else str(value).strip().strip('"')


def _bad(path: Path, what: str) -> ModelError:
    return ModelError(
        f"{path} is not a readable Marian binary model: {what}",
        "download the model again; only Marian .bin models (not .npz) are read",
    )


def parse_model_yml(text: str) -> dict[str, object]:
    """The flat YAML Marian writes into ``special:model.yml``: ``key: value`` and lists."""
    config: dict[str, object] = {}
    current: str | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.lstrip().startswith("- ") and current is not None:
            items = config.setdefault(current, [])
            if isinstance(items, list):
                items.append(line.lstrip()[2:].strip().strip('"'))
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        current = key.strip()
        value = value.strip()
        config[current] = [] if value in ("", "[]") else value.strip('"')
    return config


def read_marian(path: str | Path) -> MarianModel:
    """Read a Marian binary model; one clear ModelError for anything wrong with the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror}", "check the path") from None
    if len(data) < 16:
        raise _bad(path, "the file is too short")
    version, count = struct.unpack_from("<QQ", data, 0)
    if version != VERSION:
        raise _bad(path, f"wrong magic number (format version {version}, expected {VERSION})")
    if count > 100_000:
        raise _bad(path, f"implausible item count {count}")
    pos = 16
    try:
        headers = [_HEADER.unpack_from(data, pos + i * _HEADER.size) for i in range(count)]
        pos += count * _HEADER.size
        names = []
        for name_len, *_ in headers:
            names.append(data[pos : pos + name_len].rstrip(b"\0").decode("utf-8"))
            pos += name_len
        shapes = []
        for _, _, shape_len, _ in headers:
            shapes.append(tuple(struct.unpack_from(f"<{shape_len}i", data, pos)))
            pos += 4 * shape_len
        (pad,) = struct.unpack_from("<Q", data, pos)
        pos += 8 + pad
    except (struct.error, UnicodeDecodeError):
        raise _bad(path, "the header is cut short or corrupt") from None
    floats: dict[str, np.ndarray] = {}
    matrices: dict[str, Int8Matrix] = {}
    config: dict[str, object] = {}
    for name, (_, kind, _, length), shape in zip(names, headers, shapes, strict=True):
        if pos + length > len(data):
            raise _bad(path, f"the file is truncated inside {name}")
        raw = memoryview(data)[pos : pos + length]
        pos += length
        elements = int(np.prod(shape)) if shape else 1
        if name == "special:model.yml":
            config = parse_model_yml(bytes(raw).rstrip(b"\0").decode("utf-8", "replace"))
        elif kind == FLOAT32:
            if length < 4 * elements:
                raise _bad(path, f"{name} is shorter than its shape")
            floats[name] = np.frombuffer(raw, "<f4", elements).reshape(shape).copy()
        elif kind == INTGEMM8:
            if name.endswith("_QuantMultA"):
                # Only the output layer's alpha is stored this way (as "Wemb_QuantMultA");
                # Marian itself uses the float32 "none_QuantMultA" there.
                continue
            if len(shape) != 2 or length < elements + 4:
                raise _bad(path, f"{name} is shorter than its shape")
            (mult,) = struct.unpack_from("<f", raw, elements)
            rows, cols = (shape[0], shape[1]) if name == "Wemb" else (shape[1], shape[0])
            q = np.frombuffer(raw, np.int8, elements).reshape(rows, cols).copy()
            matrices[name] = Int8Matrix(q, float(mult))
        elif kind == INT8:
            continue
        else:
            raise _bad(
                path,
                f"{name} has tensor type 0x{kind:x}, which needs the CPU it was prepared on "
                "(only portable float32 and intgemm8 models are read)",
            )
    if not config:
        raise _bad(path, "no special:model.yml config inside")
    return MarianModel(path, config, floats, matrices)
