"""The Python facade: load a language pair once, then translate files or streams.

from edge import SpeechTranslator

translator = SpeechTranslator.load("es", "en")
result = translator.translate_file("question.wav", "answer.wav")
for event in translator.stream("question.wav"):
    print(event.to_dict())
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .asr.base import EndpointConfig, SegmentRecognizer, StreamingRecognizer
from .asr.model_files import read_metadata, require_dir
from .asr.whisper_ct2 import WhisperCT2
from .audio import AtomicWavWriter, audio_duration, iter_audio
from .engine import AudioBlock, Engine, EngineConfig, Stages, file_blocks
from .errors import ModelError
from .events import AudioOut, Event, Metrics, Transcript, Translation, UtteranceMetrics
from .languages import to_flores
from .mt.base import TextTranslator
from .tts.base import Voice
from .vad import VadConfig

log = logging.getLogger(__name__)

STREAMING_BACKENDS = (
    "sherpa-online-transducer",
    "sherpa-online-zipformer2-ctc",
    "sherpa-online-paraformer",
)
# Pause between translated sentences and between utterances in file output.
SENTENCE_GAP_S = 0.15
UTTERANCE_GAP_S = 0.4


@dataclass
class RuntimeOptions:
    """Where and how the models run."""

    device: str = "cpu"
    compute_type: str = "int8"
    asr_threads: int = 2
    mt_threads: int = 2
    tts_threads: int = 0  # 0: onnxruntime's default
    beam_size: int = 1
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)


def backend_of(model_dir: Path) -> str:
    """The backend named in the model's record, else recognized from its files."""
    backend = read_metadata(model_dir).get("backend")
    if backend:
        return str(backend)
    names = {p.name for p in model_dir.iterdir()}
    if "model.bin" in names and "tokenizer.json" in names and "config.json" in names:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        if "lang_ids" in config or "suppress_ids" in config:
            return "ct2-whisper"
    if "model.bin" in names:
        return "ct2-marian" if "source.spm" in names else "ct2-nllb"
    if any(n.endswith(".onnx.json") for n in names):
        return "piper"
    if any("joiner" in n for n in names) or any(
        n.startswith("model") and "ctc" in n for n in names
    ):
        return (
            "sherpa-online-transducer"
            if any("joiner" in n for n in names)
            else "sherpa-online-zipformer2-ctc"
        )
    return "sherpa-offline"


def load_recognizer(
    model_dir: str | Path, options: RuntimeOptions, *, task: str = "transcribe"
) -> SegmentRecognizer | StreamingRecognizer | WhisperCT2:
    path = require_dir(model_dir)
    backend = backend_of(path)
    if backend == "ct2-whisper":
        return WhisperCT2.load(
            path,
            task=task,
            device=options.device,
            compute_type=options.compute_type,
            num_threads=options.asr_threads,
            beam_size=options.beam_size,
        )
    if task == "translate":
        raise ModelError(
            f"{path} cannot translate speech directly", "use a multilingual Whisper model"
        )
    if backend in STREAMING_BACKENDS:
        from .asr.sherpa_online import SherpaStreamingRecognizer

        return SherpaStreamingRecognizer.load(
            path,
            endpoint=options.endpoint,
            num_threads=options.asr_threads,
            provider=_provider(options),
        )
    from .asr.sherpa_offline import SherpaSegmentRecognizer

    return SherpaSegmentRecognizer.load(
        path, num_threads=options.asr_threads, provider=_provider(options)
    )


def load_mt(model_dir: str | Path, options: RuntimeOptions) -> TextTranslator:
    from .mt.loader import load_text_translator

    return load_text_translator(
        require_dir(model_dir),
        device=options.device,
        compute_type=options.compute_type,
        intra_threads=options.mt_threads,
    )


def load_voice(model_dir: str | Path, options: RuntimeOptions) -> Voice:
    from .tts.piper_tts import PiperTTS

    return PiperTTS.load(model_dir, use_cuda=options.device == "cuda")


def _provider(options: RuntimeOptions) -> str:
    return "cuda" if options.device == "cuda" else "cpu"


@dataclass
class TranslationResult:
    transcripts: list[Transcript]
    translations: list[Translation]
    utterances: list[UtteranceMetrics]
    metrics: Metrics
    output: Path | None
    audio_seconds_written: float


class SpeechTranslator:
    """A loaded pipeline for one language pair (or one language, for transcription)."""

    def __init__(
        self,
        source: str,
        target: str | None,
        stages: Stages,
        vad: VadConfig | None = None,
        speculative: bool = True,
        partial_interval_s: float = 0.0,
    ) -> None:
        self.source = source
        self.target = target
        self.stages = stages
        self.vad = vad or VadConfig()
        self.speculative = speculative
        self.partial_interval_s = partial_interval_s

    @classmethod
    def load(
        cls,
        source: str,
        target: str | None = None,
        *,
        asr: str | os.PathLike[str] | None = None,
        mt: str | os.PathLike[str] | None = None,
        tts: str | os.PathLike[str] | None = None,
        direct: str | os.PathLike[str] | None = None,
        options: RuntimeOptions | None = None,
        vad: VadConfig | None = None,
        models_dir: str | os.PathLike[str] | None = None,
        prefer: str = "auto",
    ) -> SpeechTranslator:
        """Load the models for ``source`` -> ``target``.

        Model directories given explicitly are used as they are; the rest are chosen from
        the installed models (``edge models list --installed``).
        """
        options = options or RuntimeOptions()
        source = to_flores(source)
        target = to_flores(target) if target else None
        if asr is None and direct is None:
            from .models import ModelStore
            from .models.plan import plan_pipeline, plan_transcription

            store = ModelStore(Path(models_dir) if models_dir else None)
            if target is None:
                plan = plan_transcription(source, store)
            else:
                plan = plan_pipeline(source, target, store, prefer=prefer)
            if plan.direct is not None:
                direct = plan.direct.path
            if plan.asr is not None:
                asr = plan.asr.path
            if plan.mt is not None and mt is None:
                mt = plan.mt.path
            if plan.tts is not None and tts is None:
                tts = plan.tts.path
            if target == source and tts is None:
                # Same language in and out (a voice repeater): speak the transcript.
                voices = store.find("tts", target)
                if voices:
                    tts = voices[0].path
        stages = Stages()
        if direct is not None:
            recognizer = load_recognizer(direct, options, task="translate")
            assert isinstance(recognizer, WhisperCT2)
            stages.direct = recognizer
        elif asr is not None:
            recognizer = load_recognizer(asr, options)
            if isinstance(recognizer, StreamingRecognizer) and not isinstance(
                recognizer, WhisperCT2
            ):
                stages.streaming_asr = recognizer
            else:
                stages.segment_asr = recognizer  # type: ignore[assignment]
        if target is not None:
            if direct is None and mt is not None and target != source:
                stages.mt = load_mt(mt, options)
            if tts is not None:
                stages.tts = load_voice(tts, options)
        return cls(source, target, stages, vad)

    def engine(self) -> Engine:
        config = EngineConfig(
            source=self.source,
            target=self.target,
            vad=self.vad,
            speculative=self.speculative,
            partial_interval_s=self.partial_interval_s,
        )
        return Engine(self.stages, config)

    def stream(
        self,
        audio: str | os.PathLike[str] | Iterable[np.ndarray],
        *,
        realtime: bool = False,
    ) -> Iterator[Event]:
        """Events for a file or an iterable of 16 kHz mono float32 blocks, lazily."""
        blocks: Iterable[np.ndarray]
        if isinstance(audio, (str, os.PathLike)):
            audio_duration(audio)  # a bad file fails here, before any thread starts
            blocks = iter_audio(audio)
        else:
            blocks = audio
        stamped: Iterable[AudioBlock] = file_blocks(blocks, realtime=realtime)
        return self.engine().run(stamped)

    def translate_file(
        self,
        audio: str | os.PathLike[str],
        output: str | os.PathLike[str] | None = None,
        *,
        sample_rate: int | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> TranslationResult:
        """Translate a recording; write the translated speech to ``output`` (WAV) if given.

        The output file appears only when the run completes.
        """
        audio_duration(audio)  # validates the input before any output is created
        writer: AtomicWavWriter | None = None
        rate = sample_rate or (self.stages.tts.sample_rate if self.stages.tts else 16000)
        if output is not None:
            writer = AtomicWavWriter(output, rate)
        transcripts: list[Transcript] = []
        translations: list[Translation] = []
        utterances: list[UtteranceMetrics] = []
        metrics: Metrics | None = None
        last_position: tuple[int, int] | None = None
        try:
            for event in self.stream(audio):
                if on_event is not None:
                    on_event(event)
                if isinstance(event, Transcript):
                    transcripts.append(event)
                elif isinstance(event, Translation):
                    translations.append(event)
                elif isinstance(event, UtteranceMetrics):
                    utterances.append(event)
                elif isinstance(event, Metrics):
                    metrics = event
                elif isinstance(event, AudioOut) and writer is not None:
                    position = (event.utterance_id, event.sentence_index)
                    if last_position is not None and position != last_position:
                        gap = UTTERANCE_GAP_S if position[0] != last_position[0] else SENTENCE_GAP_S
                        writer.write_silence(gap)
                    last_position = position
                    writer.write(event.samples, event.sample_rate)
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        written = 0.0
        if writer is not None:
            written = writer.frames_written / rate
            writer.commit()
        assert metrics is not None
        return TranslationResult(
            transcripts,
            translations,
            utterances,
            metrics,
            Path(output) if output else None,
            written,
        )
