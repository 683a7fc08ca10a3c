"""Workstation toolchain that turns upstream checkpoints into edge's int8 models.

It converts and quantizes (CTranslate2 for NLLB, OPUS-MT and Whisper; onnxruntime for
sherpa-onnx, Piper and Silero VAD ONNX models), reduces NLLB's output vocabulary per language,
measures each variant against its float reference and writes catalog records. Its heavy
dependencies (transformers, torch, sacrebleu, jiwer, matplotlib, onnx) are the ``quantize``
extra; ``edge`` never imports this package.
"""
