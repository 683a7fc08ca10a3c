"""Voice activity detection: Silero VAD (ONNX, shipped with the package) and a segmenter.

The segmenter turns per-frame speech probabilities into utterances with the rules users
tune on real devices: threshold, minimum speech (ignore clicks and coughs), minimum
silence (the hangover that ends an utterance), padding, and a maximum segment length
(long speech is split at its quietest recent pause, never dropped).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import ModelError
from .hardware import ort_session, ort_session_options
from .settings import Bounds, setting

SAMPLE_RATE = 16000
FRAME = 512  # samples per Silero decision at 16 kHz (32 ms)
CONFIDENT = 0.9  # a frame's speech probability the VAD is sure of (see min_confident_s)
_CONTEXT = 64  # samples of the previous frame Silero v5+ expects in front of each frame


def bundled_model_path() -> Path:
    return Path(str(resources.files("edge") / "data" / "silero_vad.onnx"))


class SileroVad:
    """Speech probability per 32 ms frame; keeps its recurrent state between calls."""

    def __init__(
        self, model_path: str | Path | None = None, num_threads: int = 1, device: str = "cpu"
    ) -> None:
        path = Path(model_path) if model_path else bundled_model_path()
        if not path.is_file():
            raise ModelError(
                f"VAD model not found: {path}", "reinstall edge or pass a silero_vad.onnx"
            )
        if device not in ("cpu", "cuda"):
            raise ModelError(f"unknown VAD device '{device}'", "use cpu or cuda")
        # Small model, many tiny runs: the CPU arena only costs memory here.
        options = ort_session_options(num_threads)
        try:
            self._session = ort_session(str(path), device, options)
        except Exception as exc:  # onnxruntime raises several unrelated types
            raise ModelError(
                f"cannot load VAD model {path}: {exc}", "use silero_vad.onnx v5 or v6"
            ) from None
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), np.float32)
        self._context = np.zeros((1, _CONTEXT), np.float32)

    def __call__(self, frame: np.ndarray) -> float:
        """Probability that one 512-sample frame is speech."""
        x = np.concatenate([self._context, frame.reshape(1, FRAME).astype(np.float32)], axis=1)
        out, self._state = self._session.run(
            None, {"input": x, "state": self._state, "sr": self._sr}
        )
        self._context = x[:, -_CONTEXT:]
        return float(out[0, 0])


# Old names of VadConfig settings (edge live's until 0.x): still accepted, with a warning.
RENAMED = {"hangover_s": "min_silence_s", "max_utterance_s": "max_segment_s"}


@dataclass
class VadConfig:
    """The segmenter's settings; each is a flag of every command and a key of ``[vad]``."""

    threshold: float = setting(
        0.5, section="vad", name="vad_threshold", bounds=Bounds(0, 1, exclusive=True), help="0 to 1"
    )
    min_speech_s: float = setting(
        0.25, section="vad", bounds=Bounds(0, 3600), metavar="S", help="ignore shorter sounds"
    )
    min_silence_s: float = setting(
        0.35,
        section="vad",
        bounds=Bounds(0.05, 60),
        metavar="S",
        help="silence that ends an utterance (the hangover)",
    )
    speech_pad_s: float = setting(
        0.1, section="vad", bounds=Bounds(0, 3600), metavar="S", help="audio kept around speech"
    )
    max_segment_s: float = setting(
        20.0, section="vad", bounds=Bounds(1, 3600), metavar="S", help="split longer speech"
    )
    # When silence has lasted this long, the segment is offered for speculative decoding so
    # translation can be ready the moment the hangover confirms the end.
    speculate_after_s: float = 0.12
    # A segment must hold a run of frames this long that the VAD is sure of (probability at
    # least 0.9), or it is discarded as not speech. Measured here (tools/guard_eval.py): speech
    # runs 0.38-3.1 s (clean, in pink noise down to 0 dB SNR, under music at 10 dB); tunes the
    # VAD half-believes 0-0.064 s. 0 keeps every segment.
    min_confident_s: float = setting(
        0.15,
        section="vad",
        bounds=Bounds(0, 1),
        metavar="S",
        help="discard segments without this long a run of frames the VAD is sure of (0: off)",
    )

    def validate(self) -> None:
        from .errors import EdgeError

        if not 0.0 < self.threshold < 1.0:
            raise EdgeError(
                f"VAD threshold {self.threshold} is out of range", "use a value between 0 and 1"
            )
        if self.max_segment_s < 1.0:
            raise EdgeError("maximum segment length is under 1 s", "use at least 1 s")
        if not 0.0 <= self.min_confident_s <= 1.0:
            raise EdgeError(
                f"minimum confident speech {self.min_confident_s} s is out of range",
                "use a value from 0 (off) to 1 s",
            )
        if self.min_silence_s < 0.05:
            raise EdgeError("minimum silence is under 50 ms", "use at least 0.05 s")


@dataclass
class SpeechSegment:
    start_s: float
    end_s: float
    audio: np.ndarray  # padded segment audio, 16 kHz mono
    split: bool = False  # cut at the maximum length rather than at a pause


@dataclass
class VadUpdate:
    """What one frame changed; at most one of the fields is set."""

    started_at_s: float | None = None
    paused: SpeechSegment | None = None  # tentative end: silence longer than speculate_after_s
    resumed: bool = False  # speech came back after a pause was reported
    ended: SpeechSegment | None = None


class VadSegmenter:
    """Streams 16 kHz audio through Silero VAD and cuts it into speech segments."""

    def __init__(self, config: VadConfig | None = None, vad: SileroVad | None = None) -> None:
        self.config = config or VadConfig()
        self.config.validate()
        self.vad = vad or SileroVad()
        self.reset()

    def reset(self) -> None:
        self.vad.reset()
        self._pending = np.zeros(0, np.float32)
        self._buffer = np.zeros(0, np.float32)  # audio kept from _buffer_start on
        self._buffer_start = 0  # sample index of _buffer[0]
        self._position = 0  # samples consumed by the VAD
        self._speech_start: int | None = None
        self._silence_start: int | None = None
        self._pause_reported = False
        self._best_split: tuple[int, int] | None = None  # (length of silence, its start)
        self._probabilities: list[float] = []  # per frame, from the open segment's start on
        self.discarded: str | None = None  # why the last segment closed without a result

    @property
    def in_speech(self) -> bool:
        return self._speech_start is not None

    @property
    def position_s(self) -> float:
        return self._position / SAMPLE_RATE

    def accept(self, audio: np.ndarray, detect: np.ndarray | None = None) -> list[VadUpdate]:
        """Take the next block: the VAD decides on ``detect`` (when given: the same stretch
        with the echo suppressed), the segments hold ``audio``."""
        vad_in = audio if detect is None else detect
        if len(vad_in) != len(audio):
            raise ValueError("detect must cover the same samples as audio")
        self._pending = np.concatenate([self._pending, vad_in.astype(np.float32, copy=False)])
        self._buffer = np.concatenate([self._buffer, audio.astype(np.float32, copy=False)])
        updates: list[VadUpdate] = []
        offset = 0
        while len(self._pending) - offset >= FRAME:
            frame = self._pending[offset : offset + FRAME]
            offset += FRAME
            update = self._step(self.vad(frame))
            if update is not None:
                updates.append(update)
        self._pending = self._pending[offset:]
        self._trim()
        return updates

    def flush(self) -> SpeechSegment | None:
        """End of input: close the open segment, if it holds enough speech."""
        if self._speech_start is None:
            return None
        end = self._silence_start if self._silence_start is not None else self._position
        segment = self._close(end, self._position)
        return segment

    def current_audio(self) -> np.ndarray:
        """The open segment so far (for partial re-decoding)."""
        if self._speech_start is None:
            return np.zeros(0, np.float32)
        return self._slice(self._padded_start(self._speech_start), self._position)

    # --- internals -------------------------------------------------------------------

    def _samples(self, seconds: float) -> int:
        return int(round(seconds * SAMPLE_RATE))

    def _padded_start(self, start: int) -> int:
        return max(self._buffer_start, start - self._samples(self.config.speech_pad_s))

    def _slice(self, start: int, end: int) -> np.ndarray:
        return self._buffer[start - self._buffer_start : end - self._buffer_start].copy()

    def _trim(self) -> None:
        # Outside speech keep only what padding the next segment might need.
        if self._speech_start is None:
            keep_from = max(0, self._position - self._samples(self.config.speech_pad_s) - FRAME)
            if keep_from > self._buffer_start:
                self._buffer = self._buffer[keep_from - self._buffer_start :]
                self._buffer_start = keep_from

    def _speech_like(self, end: int) -> bool:
        """Whether the open segment, up to sample ``end``, holds a run of frames the VAD is sure
        of: a syllable of speech does, a tune the VAD half-believes does not."""
        assert self._speech_start is not None
        needed = self._samples(self.config.min_confident_s) / FRAME
        run = 0
        for probability in self._probabilities[: (end - self._speech_start) // FRAME]:
            run = run + 1 if probability >= CONFIDENT else 0
            if run >= needed:
                return True
        return needed <= 0

    def _close(
        self, speech_end: int, available_end: int, split: bool = False
    ) -> SpeechSegment | None:
        assert self._speech_start is not None
        start = self._speech_start
        speech_like = self._speech_like(speech_end)
        self._speech_start = None
        self._silence_start = None
        self._pause_reported = False
        self._best_split = None
        self._probabilities = []
        if speech_end - start < self._samples(self.config.min_speech_s):
            self.discarded = "too short"
            return None
        if not speech_like:
            self.discarded = (
                f"not speech (no {self.config.min_confident_s:g} s run the VAD is sure of)"
            )
            return None
        self.discarded = None
        padded_start = self._padded_start(start)
        padded_end = min(available_end, speech_end + self._samples(self.config.speech_pad_s))
        return SpeechSegment(
            start_s=padded_start / SAMPLE_RATE,
            end_s=padded_end / SAMPLE_RATE,
            audio=self._slice(padded_start, padded_end),
            split=split,
        )

    def _step(self, probability: float) -> VadUpdate | None:
        cfg = self.config
        frame_start = self._position
        self._position += FRAME
        is_speech = probability >= cfg.threshold
        is_silence = probability < max(cfg.threshold - 0.15, 0.01)

        if self._speech_start is None:
            if is_speech:
                self._speech_start = frame_start
                self._probabilities = [probability]
                return VadUpdate(started_at_s=frame_start / SAMPLE_RATE)
            return None
        self._probabilities.append(probability)

        if is_speech:
            resumed = self._pause_reported
            if self._silence_start is not None:
                gap = frame_start - self._silence_start
                if self._best_split is None or gap >= self._best_split[0]:
                    self._best_split = (gap, self._silence_start + gap // 2)
            self._silence_start = None
            self._pause_reported = False
            if self._position - self._speech_start >= self._samples(cfg.max_segment_s):
                return self._split_long()
            return VadUpdate(resumed=True) if resumed else None

        if is_silence and self._silence_start is None:
            self._silence_start = frame_start
        if self._silence_start is not None:
            silence = self._position - self._silence_start
            if silence >= self._samples(cfg.min_silence_s):
                segment = self._close(self._silence_start, self._position)
                return VadUpdate(ended=segment) if segment is not None else None
            if not self._pause_reported and silence >= self._samples(cfg.speculate_after_s):
                self._pause_reported = True
                speech_end = self._silence_start
                long_enough = speech_end - self._speech_start >= self._samples(cfg.min_speech_s)
                if long_enough and self._speech_like(speech_end):
                    padded_end = min(self._position, speech_end + self._samples(cfg.speech_pad_s))
                    start = self._padded_start(self._speech_start)
                    return VadUpdate(
                        paused=SpeechSegment(
                            start / SAMPLE_RATE,
                            padded_end / SAMPLE_RATE,
                            self._slice(start, padded_end),
                        )
                    )
        if self._position - self._speech_start >= self._samples(cfg.max_segment_s):
            return self._split_long()
        return None

    def _split_long(self) -> VadUpdate | None:
        """Cut a segment that reached the maximum length at its longest pause."""
        assert self._speech_start is not None
        cut = self._best_split[1] if self._best_split is not None else self._position
        speech_like = self._speech_like(cut)
        segment = SpeechSegment(
            start_s=self._padded_start(self._speech_start) / SAMPLE_RATE,
            end_s=cut / SAMPLE_RATE,
            audio=self._slice(self._padded_start(self._speech_start), cut),
            split=True,
        )
        # The remainder continues as a new segment that is already in speech.
        self._probabilities = self._probabilities[(cut - self._speech_start) // FRAME :]
        self._speech_start = cut
        self._silence_start = None
        self._pause_reported = False
        self._best_split = None
        # Music the VAD half-believes is dropped; speech after it goes on in the same utterance.
        return VadUpdate(ended=segment) if speech_like else None


def segments(
    audio: np.ndarray, config: VadConfig | None = None, block: int = 1600
) -> list[SpeechSegment]:
    """Every speech segment of a whole recording, fed in blocks as a live input would be."""
    segmenter = VadSegmenter(config)
    found = []
    for i in range(0, len(audio), block):
        found += [u.ended for u in segmenter.accept(audio[i : i + block]) if u.ended is not None]
    tail = segmenter.flush()
    return found + ([tail] if tail is not None else [])
