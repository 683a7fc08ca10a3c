"""What a model path is, and which files make it up (for sizes and catalog records)."""

from __future__ import annotations

import json
from pathlib import Path

from edge.errors import ModelError

# Model kinds the report and the catalog know how to run.
WHISPER = "whisper"  # CTranslate2 Whisper directory
SHERPA_ASR = "sherpa-asr"  # sherpa-onnx offline model directory (Moonshine, Whisper, SenseVoice)
MT = "mt"  # CTranslate2 NLLB/M2M100/Marian directory
PIPER = "piper"  # Piper voice .onnx with its .onnx.json (or a directory holding one)
VAD = "vad"  # Silero VAD .onnx
ONNX = "onnx"  # any other ONNX file, such as one part of a sherpa-onnx model
KINDS = (WHISPER, SHERPA_ASR, MT, PIPER, VAD)
# edge's catalog kinds for each.
CATALOG_KIND = {WHISPER: "asr", SHERPA_ASR: "asr", MT: "mt", PIPER: "tts", VAD: "vad"}


def piper_model(path: Path) -> Path:
    if path.is_file():
        return path
    models = sorted(path.glob("*.onnx"))
    if len(models) != 1:
        raise ModelError(f"{path} holds {len(models)} .onnx files", "pass the voice's .onnx file")
    return models[0]


def onnx_file_kind(path: Path) -> str:
    """PIPER (it has a Piper .onnx.json), VAD (Silero's inputs) or ONNX (anything else)."""
    config = path.with_name(path.name + ".json")
    if config.is_file():
        try:
            if "phoneme_id_map" in json.loads(config.read_text(encoding="utf-8")):
                return PIPER
        except (OSError, ValueError):
            pass
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several unrelated types
        raise ModelError(f"onnxruntime cannot load {path}: {exc}", "check the file") from None
    return VAD if {i.name for i in session.get_inputs()} == {"input", "state", "sr"} else ONNX


def detect_kind(path: str | Path) -> str:
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model not found: {path}", "check the path")
    if path.is_file():
        if path.suffix != ".onnx":
            raise ModelError(f"{path} is not an .onnx model or a model directory", "check the path")
        kind = onnx_file_kind(path)
        if kind == ONNX:
            raise ModelError(
                f"{path} is a single ONNX file that is neither a Piper voice nor Silero VAD",
                "pass the whole sherpa-onnx model directory for an ASR model",
            )
        return kind
    names = {p.name for p in path.iterdir()}
    if "model.bin" in names:
        config_path = path / "config.json"
        config = (
            json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        )
        return WHISPER if "suppress_ids" in config or "lang_ids" in config else MT
    if any(name.endswith(".onnx.json") for name in names):
        return PIPER
    if "tokens.txt" in names or any(name.endswith("tokens.txt") for name in names):
        return SHERPA_ASR
    raise ModelError(
        f"cannot tell what kind of model {path} is",
        "pass a CTranslate2 directory, a sherpa-onnx directory, a Piper .onnx or silero_vad.onnx",
    )


def model_files(path: str | Path) -> list[Path]:
    """The files a model consists of: a directory's files, or a voice with its .onnx.json."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    files = [path]
    config = path.with_name(path.name + ".json")
    if config.is_file():
        files.append(config)
    return files


def model_bytes(path: str | Path) -> int:
    return sum(p.stat().st_size for p in model_files(path))
