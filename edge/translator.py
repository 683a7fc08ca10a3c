"""The Python facade: load a language pair once, then translate files or streams.

from edge import SpeechTranslator

translator = SpeechTranslator.load("es", "en")
result = translator.translate_file("question.wav", "answer.wav")
for event in translator.stream("question.wav"):
    print(event.to_dict())
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from . import hardware
from .asr.base import SAMPLE_RATE, EndpointConfig, SegmentRecognizer, StreamingRecognizer
from .asr.model_files import require_dir
from .asr.whisper_ct2 import WhisperCT2
from .audio import (
    AtomicWavWriter,
    audio_duration,
    check_output_path,
    check_output_rate,
    file_blocks,
    iter_audio,
)
from .engine import AudioBlock, Engine, EngineConfig, Stages
from .errors import ModelError
from .events import AudioOut, Event, Metrics, Transcript, Translation, UtteranceMetrics
from .hardware import Placement, check_device, default_threads
from .languages import to_flores
from .models.record import BACKENDS, backend_of
from .mt.base import TextTranslator
from .tts.base import Voice
from .tts.chunking import FIRST_PHRASE_WORDS
from .tts.espeak_tts import ESPEAK, espeak_voice
from .vad import VadConfig

if TYPE_CHECKING:
    from .models.catalog import Catalog

T = TypeVar("T")
log = logging.getLogger(__name__)

# Routing by backend reads the registry (edge.models.record), which the loaders also serve.
STREAMING_BACKENDS = tuple(n for n, b in BACKENDS.items() if b.kind == "asr-streaming")
# Pause between translated sentences and between utterances in file output.
SENTENCE_GAP_S = 0.15
UTTERANCE_GAP_S = 0.4


@dataclass
class RuntimeOptions:
    """Where and how the models run.

    ``device`` (auto, cpu or cuda) applies to every stage whose own ``*_device`` is None;
    ``auto`` uses CUDA only where the model loads and runs there (``edge.hardware``).
    Threads left at None take the per-stage defaults measured for this many cores
    (``edge.hardware.default_threads``); ``tts_threads=0`` lets onnxruntime decide.
    ``compute_type`` is CTranslate2's (auto: int8 on CPU, the best int8 type on a GPU).
    """

    device: str = "auto"
    compute_type: str = "auto"
    asr_threads: int | None = None
    mt_threads: int | None = None
    tts_threads: int | None = None
    beam_size: int = 1
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    asr_device: str | None = None
    mt_device: str | None = None
    tts_device: str | None = None
    # Sentences per CTranslate2 batch: longer lists are split, which bounds MT memory.
    mt_max_batch_size: int = 8
    # No onnxruntime CPU arena, and large freed blocks go back to the system: less memory,
    # slower TTS. None: on for devices under edge.hardware.LOW_MEMORY_BELOW_MB of RAM.
    low_memory: bool | None = None
    # Filled by the loaders: where each stage ended up ("asr", "mt", "tts").
    placements: dict[str, Placement] = field(default_factory=dict, compare=False, repr=False)

    def device_for(self, stage: str) -> str:
        own = {"asr": self.asr_device, "mt": self.mt_device, "tts": self.tts_device}.get(stage)
        return check_device(own or self.device)

    def uses_low_memory(self) -> bool:
        return hardware.low_memory_default() if self.low_memory is None else self.low_memory

    def threads_for(self, stage: str) -> int:
        own = {"asr": self.asr_threads, "mt": self.mt_threads, "tts": self.tts_threads}[stage]
        return own if own is not None else getattr(default_threads(), stage)


def load_recognizer(
    model_dir: str | Path, options: RuntimeOptions, *, task: str = "transcribe"
) -> SegmentRecognizer | StreamingRecognizer | WhisperCT2:
    path = require_dir(model_dir)
    backend = BACKENDS.get(backend_of(path))
    threads = options.threads_for("asr")
    _prepare_memory(options)
    if backend is not None and backend.runtime == "ctranslate2" and backend.kind == "asr-segment":
        load_whisper = backend.load()  # WhisperCT2.load
        return _place_ct2(
            "asr",
            options,
            threads,
            lambda device, compute_type: load_whisper(
                path,
                task=task,
                device=device,
                compute_type=compute_type,
                num_threads=threads,
                beam_size=options.beam_size,
            ),
            _probe_whisper,
        )
    if task == "translate" and (backend is None or backend.kind != "asr-segment"):
        raise ModelError(
            f"{path} cannot translate speech directly", "use a multilingual Whisper model"
        )
    if backend is not None and backend.kind == "asr-streaming":
        load_model = backend.load()  # SherpaStreamingRecognizer.load

        def load_streaming(device: str) -> StreamingRecognizer:
            def load() -> StreamingRecognizer:
                return load_model(
                    path, endpoint=options.endpoint, num_threads=threads, provider=device
                )

            return hardware.sherpa_on_cuda(load) if device == "cuda" else load()

        recognizer: SegmentRecognizer | StreamingRecognizer
        recognizer, device, why = hardware.place(
            "asr",
            options.device_for("asr"),
            hardware.sherpa_onnx_support(),
            load_streaming,
            _probe_streaming,
        )
    else:
        # The sherpa-onnx segment recognizers; their loader refuses an unknown backend.
        from .asr.sherpa_offline import SherpaSegmentRecognizer

        load_segment_model = (
            backend.load()
            if backend is not None and backend.kind == "asr-segment"
            else SherpaSegmentRecognizer.load
        )

        def load_segment(device: str) -> SegmentRecognizer:
            def load() -> SegmentRecognizer:
                # The loader refuses "translate" for a model that is not Whisper.
                return load_segment_model(path, num_threads=threads, provider=device, task=task)

            return hardware.sherpa_on_cuda(load) if device == "cuda" else load()

        recognizer, device, why = hardware.place(
            "asr",
            options.device_for("asr"),
            hardware.sherpa_onnx_support(),
            load_segment,
            _probe_segment,
        )
    _record(options, "asr", device, threads, why)
    return recognizer


def load_mt(model_dir: str | Path, options: RuntimeOptions) -> TextTranslator:
    from .mt.loader import load_text_translator

    path = require_dir(model_dir)
    threads = options.threads_for("mt")
    _prepare_memory(options)
    backend = BACKENDS.get(backend_of(path))
    if backend is not None and backend.kind == "mt" and backend.runtime == "onnxruntime":
        # onnxruntime graphs: placed like the other onnxruntime stages, no compute type.
        # Its matrices are small: one thread decodes faster than two (2.2 vs 4.0 ms per
        # sentence on 2 x86_64 cores, tools/mt_eval.py) and leaves the other core to TTS.
        threads = options.mt_threads if options.mt_threads is not None else 1

        def load(device: str) -> TextTranslator:
            return load_text_translator(
                path,
                device=device,
                intra_threads=threads,
                max_batch_size=options.mt_max_batch_size,
                decoding={"beam_size": options.beam_size},
                memory_arena=not options.uses_low_memory(),
            )

        translator, device, why = hardware.place(
            "mt", options.device_for("mt"), hardware.onnxruntime_support(), load, _probe_mt
        )
        _record(options, "mt", device, threads, why)
        return translator
    return _place_ct2(
        "mt",
        options,
        threads,
        lambda device, compute_type: load_text_translator(
            path,
            device=device,
            compute_type=compute_type,
            intra_threads=threads,
            max_batch_size=options.mt_max_batch_size,
            decoding={"beam_size": options.beam_size},
        ),
        _probe_mt,
    )


def load_voice(model_dir: str | Path, options: RuntimeOptions) -> Voice:
    from .tts.piper_tts import PiperTTS

    threads = options.threads_for("tts")
    _prepare_memory(options)

    def load(device: str) -> PiperTTS:
        return PiperTTS.load(
            model_dir,
            use_cuda=device == "cuda",
            num_threads=threads,
            memory_arena=not options.uses_low_memory(),
        )

    voice, device, why = hardware.place(
        "tts", options.device_for("tts"), hardware.onnxruntime_support(), load, _probe_voice
    )
    _record(options, "tts", device, threads, why)
    return voice


def load_espeak(
    language: str, options: RuntimeOptions, catalog: Catalog | None = None, *, fallback: bool = True
) -> Voice:
    """espeak-ng speaking ``language`` (CPU only).

    As a ``fallback`` for a missing Piper voice it logs, once per language, which Piper voice
    of ``catalog`` to pull for a natural voice; ``fallback=False`` is for an explicit choice.
    """
    from .tts.espeak_tts import EspeakTTS, fallback_voice

    voice = fallback_voice(language, catalog) if fallback else EspeakTTS.load(language)
    why = "espeak-ng runs on CPU only" if options.device_for("tts") == "cuda" else ""
    _record(options, "tts", "cpu", 1, why)
    return voice


def _prepare_memory(options: RuntimeOptions) -> None:
    if options.uses_low_memory():
        hardware.limit_heap_retention()


def _ct2_compute_type(
    device: str, options: RuntimeOptions, support: hardware.RuntimeSupport
) -> str:
    supported = support.compute_types if device == "cuda" else hardware.cpu_compute_types()
    return hardware.ct2_compute_type(device, options.compute_type, supported)


def _place_ct2(
    stage: str,
    options: RuntimeOptions,
    threads: int,
    load: Callable[[str, str], T],
    probe: Callable[[T], object],
) -> T:
    """A CTranslate2 model on the device ``options`` ask for, with that device's compute type."""
    support = hardware.ctranslate2_support()
    compute: dict[str, str] = {}

    def load_on(device: str) -> T:
        compute[device] = _ct2_compute_type(device, options, support)
        return load(device, compute[device])

    model, device, why = hardware.place(stage, options.device_for(stage), support, load_on, probe)
    _record(options, stage, device, threads, why, compute[device])
    return model


def _record(
    options: RuntimeOptions,
    stage: str,
    device: str,
    threads: int,
    fallback: str,
    compute_type: str = "",
) -> None:
    placement = Placement(stage, device, options.device_for(stage), compute_type, threads, fallback)
    options.placements[stage] = placement
    if not fallback:  # a fallback was already reported, once, by edge.hardware.place
        log.info("%s", placement.describe())


# The probes run each model once on a tiny input: a GPU build for another architecture
# loads fine and fails only at its first kernel launch.
_PROBE_AUDIO = np.zeros(SAMPLE_RATE // 2, np.float32)


def _probe_whisper(model: WhisperCT2) -> None:
    if model.is_multilingual:
        model.detect_language(_PROBE_AUDIO)
    else:
        model.recognize(_PROBE_AUDIO)


def _probe_segment(model: SegmentRecognizer) -> None:
    model.recognize(_PROBE_AUDIO)


def _probe_streaming(model: StreamingRecognizer) -> None:
    stream = model.create_stream()
    stream.accept(_PROBE_AUDIO)
    stream.partial()


def _probe_mt(model: TextTranslator) -> None:
    sources = getattr(model, "sources", model.languages)
    targets = getattr(model, "targets", model.languages)
    source = sources[0]
    model.translate(["Hello."], source, next(t for t in targets if t != source))


def _probe_voice(voice: Voice) -> None:
    for _chunk in voice.synthesize("Hi."):
        break


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
        first_phrase_words: int = FIRST_PHRASE_WORDS,
        voice_match: str | dict[str, str] = "off",
    ) -> None:
        self.source = source
        self.target = target
        self.stages = stages
        self.vad = vad or VadConfig()
        self.speculative = speculative
        self.partial_interval_s = partial_interval_s
        self.first_phrase_words = first_phrase_words
        self.voice_match = voice_match  # edge.voice_match.MODES; the CLI passes "rate"

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
        the installed models (``edge models list --installed``). The voice is the installed
        Piper voice for ``target``, else espeak-ng where it speaks the language (with one
        warning naming the Piper voice to pull); ``tts="espeak"`` forces espeak-ng.
        """
        options = options or RuntimeOptions()
        source = to_flores(source)
        target = to_flores(target) if target else None
        espeak_catalog: Catalog | None = None  # set when espeak-ng stands in for Piper
        if asr is None and direct is None:
            from .models import ModelStore
            from .models.plan import plan_pipeline, plan_transcription

            store = ModelStore(Path(models_dir) if models_dir else None)
            if target is None:
                plan = plan_transcription(source, store)
            else:
                plan = plan_pipeline(source, target, store, prefer=prefer, espeak_fallback=True)
            if plan.direct is not None:
                direct = plan.direct.path
            if plan.asr is not None:
                asr = plan.asr.path
            if plan.mt is not None and mt is None:
                mt = plan.mt.path
            if plan.tts is not None and tts is None:
                tts = plan.tts.path
            if plan.tts_fallback == "espeak" and tts is None:
                espeak_catalog = store.catalog
            if target == source and tts is None:
                # Same language in and out (a voice repeater): speak the transcript.
                voices = store.find("tts", target)
                if voices:
                    tts = voices[0].path
                elif espeak_voice(target) is not None:
                    espeak_catalog = store.catalog
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
            if tts is not None and os.fspath(tts) == ESPEAK and not Path(tts).exists():
                stages.tts = load_espeak(target, options, fallback=False)
            elif tts is not None:
                stages.tts = load_voice(tts, options)
            elif espeak_catalog is not None:
                stages.tts = load_espeak(target, options, espeak_catalog)
        return cls(source, target, stages, vad)

    def engine(self) -> Engine:
        config = EngineConfig(
            source=self.source,
            target=self.target,
            vad=self.vad,
            speculative=self.speculative,
            partial_interval_s=self.partial_interval_s,
            first_phrase_words=self.first_phrase_words,
            voice_match=self.voice_match,
        )
        return Engine(self.stages, config)

    def stream(
        self,
        audio: str | os.PathLike[str] | Iterable[np.ndarray],
        *,
        realtime: bool = False,
    ) -> Iterator[Event]:
        """Events for a file or an iterable of 16 kHz mono float32 blocks, lazily.

        Closing the generator (``close()``, or dropping it) stops the engine and its threads.
        """
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
        if sample_rate is not None:
            check_output_rate(sample_rate)
        rate = sample_rate or (self.stages.tts.sample_rate if self.stages.tts else 16000)
        if output is not None:
            check_output_path(output, source=audio)
            writer = AtomicWavWriter(output, rate)
        transcripts: list[Transcript] = []
        translations: list[Translation] = []
        utterances: list[UtteranceMetrics] = []
        metrics: Metrics | None = None
        last_position: tuple[int, int] | None = None
        events: Iterator[Event] | None = None
        try:
            events = self.stream(audio)
            for event in events:
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
            if isinstance(events, Generator):  # its threads stop now, not when it is freed
                events.close()
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
