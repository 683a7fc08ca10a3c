"""Voice matching: the translated speech takes the speaker's pitch and speaking rate.

Listener side (cheap, once per utterance): :func:`measure` reads the utterance's median F0,
its F0 range and its speaking rate (syllables of the transcript per second of speech), and a
:class:`SpeakerProfile` per side of the conversation (keyed by the spoken language) keeps a
running, duration-weighted summary of the last utterances. A frozen :class:`VoiceTarget`
snapshot of it travels with each sentence job.

Speaker side (per phrase, as it is synthesized): :class:`OutputMatcher` sets the voice's
speed (Piper ``length_scale``, espeak-ng words per minute) from the ratio of the speaker's
rate to the voice's own (measured once per voice on a calibration sentence, then refined on
its output), picks among a multi-speaker voice's speakers the one closest in pitch, and
moves the remaining F0 difference with TD-PSOLA (:func:`shift_pitch`): pitch-synchronous
overlap-add keeps the duration and the formants, unlike resampling. Shifts are capped at
``MAX_SHIFT_ST`` semitones and speeds at ``SPEED_LIMITS`` so the speech stays intelligible.

The F0 tracker is YIN (de Cheveigne and Kawahara 2002) in numpy: pyworld ships no wheels and
Praat (parselmouth) none for aarch64, and this needs nothing the device does not already
have. The tests and ``tools/voice_match_eval.py`` check it against Praat's tracker.
"""

from __future__ import annotations

import math
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import soxr

MODES = ("off", "rate", "pitch", "full")
# The CLI's and the live TOML's default (edge.settings); the library (EngineConfig,
# SpeechTranslator) defaults to "off". docs/voice-matching.md has the measurements.
DEFAULT_MODE = "rate"
MAX_SHIFT_ST = 6.0  # the largest median pitch change applied, in semitones
SPEED_LIMITS = (0.7, 1.45)  # slowest and fastest speed applied (1: the voice's own)
# One sentence's syllables per second scatter around the speaker's rate: Piper joe read by
# the feature against its own calibration gives 0.76-1.26 on single short sentences at one
# speed. So a rate ratio is trusted in full only from this many syllables of speech on
# (less: its log is scaled down in proportion), and a ratio within RATE_DEAD_BAND of 1
# leaves the voice at its own speed.
RATE_TRUST_SYLLABLES = 15.0
RATE_DEAD_BAND = 1.12
RANGE_LIMITS = (0.6, 1.6)  # how far the F0 range (expressiveness) may be scaled
FMIN, FMAX = 60.0, 500.0
HOP_S = 0.01  # F0 frame step
_TRACK_RATE = 8000  # F0 is tracked at 8 kHz: plenty below FMAX, 2-3x less work
_YIN_THRESHOLD = 0.45  # the deepest dip under this: voiced
_OCTAVE_MARGIN = 0.03
_WINDOW = 240  # 30 ms integration window at 8 kHz: two periods of a 60 Hz voice
_MAX_LAG = int(_TRACK_RATE / FMIN) + 1
_MIN_LAG = int(_TRACK_RATE / FMAX)
_FFT = 1024


# --- measuring ---------------------------------------------------------------------------


def f0_track(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """F0 in Hz every ``HOP_S`` seconds (frame i centred near i * HOP_S), 0 where unvoiced."""
    x = np.asarray(audio, np.float32)
    if sample_rate != _TRACK_RATE:
        x = soxr.resample(x, sample_rate, _TRACK_RATE, quality="LQ")
    hop = int(_TRACK_RATE * HOP_S)
    span = _WINDOW + _MAX_LAG
    n = len(x) // hop
    if n == 0:
        return np.zeros(0, np.float32)
    padded = np.concatenate([np.zeros(_WINDOW // 2, np.float32), x, np.zeros(span, np.float32)])
    starts = np.arange(n) * hop
    frames = padded[starts[:, None] + np.arange(span)].astype(np.float64)
    frames -= frames[:, :_WINDOW].mean(axis=1, keepdims=True)
    # Difference function d(t) = e(0) + e(t) - 2 r(t), the cross term by FFT.
    spec = np.fft.rfft(frames, _FFT) * np.conj(np.fft.rfft(frames[:, :_WINDOW], _FFT))
    r = np.fft.irfft(spec, _FFT)[:, : _MAX_LAG + 1]
    squares = np.cumsum(np.pad(frames**2, ((0, 0), (1, 0))), axis=1)
    lags = np.arange(_MAX_LAG + 1)
    e_lag = squares[:, lags + _WINDOW] - squares[:, lags]
    d = np.maximum(e_lag[:, :1] + e_lag - 2 * r, 0.0)
    # Cumulative mean normalized difference: 1 at lag 0, dips below the threshold at a period.
    cum = np.cumsum(d[:, 1:], axis=1)
    cmnd = np.ones_like(d)
    cmnd[:, 1:] = d[:, 1:] * lags[1:] / np.maximum(cum, 1e-12)
    # The deepest dip is the period or a multiple of it; a dip at a half or a third of it
    # that is nearly as deep is the period (this keeps creaky low voices off octave errors
    # both ways, where YIN's first-dip rule jumps an octave up on a strong second harmonic).
    search = cmnd[:, _MIN_LAG : _MAX_LAG + 1]
    lag = search.argmin(axis=1) + _MIN_LAG
    best = search.min(axis=1)
    rows = np.arange(n)
    for k in (2, 3):
        centre = lag // k
        near = np.clip(centre[:, None] + np.arange(-2, 3), _MIN_LAG, _MAX_LAG)
        values = cmnd[rows[:, None], near]
        pick = near[rows, values.argmin(axis=1)]
        better = (values.min(axis=1) < best + _OCTAVE_MARGIN) & (centre >= _MIN_LAG)
        lag = np.where(better, pick, lag)
        best = np.where(better, values.min(axis=1), best)
    has = best < _YIN_THRESHOLD
    lag_c = np.clip(lag, 1, _MAX_LAG - 1)
    a, b, c = cmnd[rows, lag_c - 1], cmnd[rows, lag_c], cmnd[rows, lag_c + 1]
    denom = a - 2 * b + c
    offset = np.where(np.abs(denom) > 1e-9, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0)
    period = lag_c + np.clip(offset, -0.5, 0.5)
    energy = 10 * np.log10(squares[:, _WINDOW] / _WINDOW + 1e-12)
    loud = energy > max(np.percentile(energy, 95) - 30.0, -70.0)
    f0 = np.where(has & loud, _TRACK_RATE / period, 0.0)
    return _clean(f0).astype(np.float32)


def _clean(f0: np.ndarray) -> np.ndarray:
    """Drop voiced runs under 3 frames (clicks) and octave jumps against a 5-frame median."""
    voiced = f0 > 0
    out = f0.copy()
    edges = np.flatnonzero(np.diff(np.concatenate([[0], voiced.astype(int), [0]])))
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if end - start < 3:
            out[start:end] = 0
            continue
        run = out[start:end]
        padded = np.pad(run, 2, mode="edge")
        median = np.median(np.lib.stride_tricks.sliding_window_view(padded, 5), axis=1)
        jump = np.abs(np.log2(run / median)) > 0.6
        run[jump] = median[jump]
    return out


def speech_seconds(audio: np.ndarray, sample_rate: int) -> float:
    """Seconds of speech: 10 ms frames within 35 dB of the loud ones, gaps under 150 ms
    (stop closures) included, pauses and the VAD's padding left out."""
    hop = max(1, int(sample_rate * HOP_S))
    n = len(audio) // hop
    if n == 0:
        return 0.0
    frames = np.asarray(audio[: n * hop], np.float64).reshape(n, hop)
    db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    active = db > max(np.percentile(db, 95) - 35.0, -65.0)
    idx = np.flatnonzero(active)
    if idx.size == 0:
        return 0.0
    gaps = np.diff(idx) - 1
    filled = idx.size + int(gaps[(gaps > 0) & (gaps < 15)].sum())
    return filled * HOP_S


_VOWELS = "aeiouyàáâãäåèéêëìíîïòóôõöùúûüýÿæœø"
_VOWEL_GROUP = re.compile(f"[{_VOWELS}]+")
_WORD = re.compile(r"\w+")


def count_syllables(text: str, lang: str = "eng_Latn") -> int:
    """Syllables of ``text``: vowel groups per word (English: minus a silent final e).

    A spelling heuristic, good to about 10% on running text in Latin-script languages;
    scripts without these vowels count one syllable per character (CJK) or per word.
    """
    total = 0
    english = lang.startswith("eng")
    for word in _WORD.findall(text.lower()):
        if word.isdigit():
            total += 2 * len(word)
            continue
        groups = len(_VOWEL_GROUP.findall(word))
        if english and groups > 1 and word.endswith("e") and not word.endswith(("le", "ee")):
            groups -= 1
        if groups == 0:
            groups = len(word) if any("\u3000" <= ch <= "\u9fff" for ch in word) else 1
        total += groups
    return total


@dataclass(frozen=True)
class Measure:
    """One utterance (or one synthesized phrase) of one voice."""

    median_hz: float | None  # None: too little voiced speech to tell
    range_st: float | None  # F0 spread, 10th to 90th percentile, in semitones
    syllables_per_s: float | None
    voiced_s: float  # seconds of voiced frames: the weight in a profile
    syllables: int = 0  # behind syllables_per_s (0 when it is None)


def measure(audio: np.ndarray, sample_rate: int, text: str = "", lang: str = "eng_Latn") -> Measure:
    """Pitch and speaking rate of ``audio`` (whose words are ``text``): a few ms a second."""
    f0 = f0_track(audio, sample_rate)
    voiced = f0[f0 > 0]
    voiced_s = voiced.size * HOP_S
    median = range_st = None
    if voiced.size >= 10:
        median = float(np.median(voiced))
        low, high = np.percentile(voiced, [10, 90])
        range_st = float(12 * math.log2(high / low))
    rate = None
    syllables = count_syllables(text, lang) if text else 0
    seconds = speech_seconds(audio, sample_rate)
    if syllables >= 3 and seconds > 0.3:
        rate = syllables / seconds
    return Measure(median, range_st, rate, voiced_s, syllables if rate is not None else 0)


# --- the listener's side: profiles and targets ----------------------------------------------


@dataclass(frozen=True)
class VoiceTarget:
    """What the speaker's output should sound like; travels with each sentence job."""

    mode: str  # one of MODES, never "off" (no target is sent then)
    median_hz: float | None
    range_st: float | None
    syllables_per_s: float | None
    syllables: float = math.inf  # the speech behind syllables_per_s (inf: taken as certain)

    @property
    def rate(self) -> bool:
        return self.mode in ("rate", "full") and self.syllables_per_s is not None

    @property
    def pitch(self) -> bool:
        return self.mode in ("pitch", "full") and self.median_hz is not None


@dataclass
class SpeakerProfile:
    """A running summary of one speaker's last utterances, weighted by their speech."""

    keep: int = 8
    history: deque[Measure] = field(default_factory=deque)

    def update(self, m: Measure) -> None:
        self.history.append(m)
        while len(self.history) > self.keep:
            self.history.popleft()

    def with_(self, m: Measure) -> SpeakerProfile:
        """This profile as it would be after ``m``, leaving this one unchanged."""
        copy = SpeakerProfile(self.keep, deque(self.history))
        copy.update(m)
        return copy

    def _mean(
        self, values: Iterable[tuple[float | None, float]], log: bool = False
    ) -> float | None:
        pairs = [(v, w) for v, w in values if v is not None and w > 0]
        if not pairs:
            return None
        total = sum(w for _, w in pairs)
        if log:
            return math.exp(sum(math.log(v) * w for v, w in pairs) / total)
        return sum(v * w for v, w in pairs) / total

    @property
    def median_hz(self) -> float | None:
        return self._mean(((m.median_hz, m.voiced_s) for m in self.history), log=True)

    @property
    def range_st(self) -> float | None:
        return self._mean((m.range_st, m.voiced_s) for m in self.history)

    @property
    def syllables_per_s(self) -> float | None:
        return self._mean((m.syllables_per_s, m.voiced_s) for m in self.history)

    @property
    def syllables(self) -> int:
        return sum(m.syllables for m in self.history)

    def target(self, mode: str) -> VoiceTarget | None:
        if mode == "off":
            return None
        return VoiceTarget(
            mode, self.median_hz, self.range_st, self.syllables_per_s, float(self.syllables)
        )


def mode_for(setting: str | dict[str, str], lang: str) -> str:
    """The mode for an utterance spoken in ``lang``: one mode, or one per side (two-way)."""
    if isinstance(setting, str):
        return setting
    from .languages import to_flores

    for key, mode in setting.items():
        if key == lang or to_flores(key) == lang:
            return mode
    return setting.get("default", DEFAULT_MODE)


class Profiles:
    """The listener's profiles, one per side (spoken language); owned by the listener."""

    def __init__(self, setting: str | dict[str, str]) -> None:
        self.setting = setting
        self.by_lang: dict[str, SpeakerProfile] = {}
        self.seconds = 0.0  # time spent measuring (the listener's added cost)

    def target(
        self, audio: np.ndarray, text: str, lang: str, *, commit: bool = True
    ) -> VoiceTarget | None:
        """Measure an utterance (16 kHz) and return the target its translation should meet.

        ``commit=False`` (a speculative decode) previews the profile without updating it:
        the final decode of the same audio updates it once."""
        mode = mode_for(self.setting, lang)
        if mode == "off":
            return None
        import time

        t0 = time.perf_counter()
        m = measure(audio, 16000, text, lang)
        profile = self.by_lang.setdefault(lang, SpeakerProfile())
        if commit:
            profile.update(m)
        else:
            profile = profile.with_(m)
        self.seconds += time.perf_counter() - t0
        return profile.target(mode)


# --- the speaker's side: pitch modification and voice calibration ---------------------------


def shift_pitch(
    audio: np.ndarray,
    sample_rate: int,
    target_hz: float,
    target_range_st: float | None = None,
    f0: np.ndarray | None = None,
) -> np.ndarray:
    """``audio`` with its median F0 moved toward ``target_hz`` (at most ``MAX_SHIFT_ST``) and
    its F0 range scaled toward ``target_range_st``, by TD-PSOLA; same length, same formants."""
    x = np.asarray(audio, np.float32)
    f0 = f0_track(x, sample_rate) if f0 is None else f0
    voiced = f0[f0 > 0]
    if voiced.size < 5 or len(x) < sample_rate // 20:
        return x
    median = float(np.median(voiced))
    shift = float(np.clip(12 * math.log2(target_hz / median), -MAX_SHIFT_ST, MAX_SHIFT_ST))
    ratio = 1.0
    if target_range_st is not None and voiced.size >= 10:
        low, high = np.percentile(voiced, [10, 90])
        own = 12 * math.log2(high / low)
        if own > 0.5:
            ratio = float(np.clip(target_range_st / own, *RANGE_LIMITS))
    if abs(shift) < 0.1 and abs(ratio - 1) < 0.02:
        return x

    def factor(hz: float) -> float:
        st = shift + (12 * math.log2(hz / median)) * (ratio - 1)
        return 2 ** (float(np.clip(st, -MAX_SHIFT_ST - 2, MAX_SHIFT_ST + 2)) / 12)

    return _psola(x, sample_rate, f0, factor)


def _psola(x: np.ndarray, sr: int, f0: np.ndarray, factor: Callable[[float], float]) -> np.ndarray:
    hop = sr * HOP_S
    unvoiced_period = int(sr * 0.005)

    def hz_at(pos: float) -> float:
        i = int(pos / hop)
        return float(f0[i]) if 0 <= i < len(f0) else 0.0

    # Analysis marks: one per period in voiced speech, snapped to the waveform's peak so that
    # the overlapped periods add in phase; every 5 ms elsewhere (left as it is).
    marks: list[int] = []
    periods: list[int] = []
    voiced: list[bool] = []
    pos, n = 0, len(x)
    while pos < n:
        hz = hz_at(pos)
        period = int(sr / hz) if hz > 0 else unvoiced_period
        if hz > 0:
            # Within a voiced run the next peak is about one period on; a run's first one
            # is the highest peak of its first period.
            lo, hi = (
                (pos - period // 3, pos + period // 3 + 1)
                if voiced and voiced[-1]
                else (
                    pos,
                    pos + period,
                )
            )
            lo = max(lo, marks[-1] + period // 2 if marks else 0)
            hi = min(n, hi)
            if hi > lo:
                pos = lo + int(np.argmax(x[lo:hi]))
        marks.append(pos)
        periods.append(period)
        voiced.append(hz > 0)
        pos += period
    if len(marks) < 3:
        return x
    mark_arr = np.asarray(marks)
    out = np.zeros(n + 2 * sr // 50, np.float64)
    weight = np.zeros_like(out)
    windows: dict[int, np.ndarray] = {}
    t = float(marks[0])
    while t < n:
        k = int(np.searchsorted(mark_arr, t))
        if k == len(marks) or (k > 0 and t - marks[k - 1] < marks[k] - t):
            k -= 1
        period, centre = periods[k], marks[k]
        hz = hz_at(centre)
        step = period / factor(hz) if voiced[k] and hz > 0 else period
        window = windows.get(period)
        if window is None:
            window = windows[period] = np.hanning(2 * period + 1)
        lo, hi = centre - period, centre + period + 1
        w_lo, w_hi = max(0, -lo), 2 * period + 1 - max(0, hi - n)
        segment = x[max(0, lo) : min(n, hi)] * window[w_lo:w_hi]
        dest = int(round(t)) - period + w_lo
        if dest >= 0:
            out[dest : dest + len(segment)] += segment
            weight[dest : dest + len(segment)] += window[w_lo:w_hi]
        t += max(step, 1.0)
    y = out[:n] / np.maximum(weight[:n], 0.5)  # OLA gain normalized; no blow-up at edges
    # Overlapping windows of unaligned periods cancel a little: keep the input's loudness.
    gain = math.sqrt(float(np.mean(x.astype(np.float64) ** 2)) / max(float(np.mean(y**2)), 1e-12))
    return (y * min(max(gain, 1.0), 1.5)).astype(np.float32)


# Read by each voice at speed 1 once, for its own speaking rate and pitch.
CALIBRATION = {
    "eng": "The weather was warm today, so we walked along the river to the old market.",
    "por": "O tempo estava quente hoje, por isso fomos a pé pelo rio até ao mercado velho.",
    "spa": "Hoy hacía calor, así que caminamos junto al río hasta el mercado viejo.",
    "fra": "Il faisait chaud aujourd'hui, alors nous avons marché le long du fleuve.",
    "deu": "Heute war es warm, also sind wir am Fluss entlang zum alten Markt gelaufen.",
    "ita": "Oggi faceva caldo, così abbiamo camminato lungo il fiume fino al mercato.",
}


CALIBRATION_SPEEDS = (0.6, 1.0, 1.6)


@dataclass
class _Calibration:
    """A voice's own rate at a few speeds (Piper's output does not scale with 1/length_scale:
    ``length_scale`` 2 makes joe 1.66x longer, 0.5 only 0.61x), and its speakers' pitch."""

    speeds: np.ndarray  # the knob of ``synthesize_at``, ascending
    rates: np.ndarray  # syllables per second at each
    pitches: dict[int | None, float]  # speaker id -> median F0
    correction: float = 1.0  # observed / predicted rate on the voice's output so far
    weight: float = 0.0

    @property
    def own_rate(self) -> float:
        return float(np.interp(1.0, self.speeds, self.rates)) * self.correction

    def speed_for(self, rate: float) -> float:
        """The knob that makes the voice speak ``rate`` syllables per second (log-log
        interpolation, extrapolated with the end slopes)."""
        wanted = rate / self.correction
        log_s, log_r = np.log(self.speeds), np.log(np.maximum.accumulate(self.rates))
        if wanted <= self.rates[0] or wanted >= self.rates[-1]:
            i = 0 if wanted <= self.rates[0] else len(log_s) - 2
            slope = (log_r[i + 1] - log_r[i]) / (log_s[i + 1] - log_s[i])
            end = 0 if i == 0 else -1
            return float(math.exp(log_s[end] + (math.log(wanted) - log_r[end]) / max(slope, 0.2)))
        return float(math.exp(np.interp(math.log(wanted), log_r, log_s)))


class OutputMatcher:
    """The speaker's half: synthesis with the target's speed, speaker and pitch.

    Voices that take a speed and a speaker offer ``synthesize_at(text, speed=, speaker=)``
    and ``speakers`` (Piper, espeak-ng); others (test fakes) get their pitch shifted only.
    Owned by the speaker thread; the lock only guards the calibration table.
    """

    def __init__(self) -> None:
        self._calibrations: dict[int, _Calibration | None] = {}
        self._lock = threading.Lock()
        self.seconds = 0.0  # time spent matching (calibration excluded): the added cost
        # One speed per (voice, target): an utterance's phrases share it, so a correction
        # learned on its first phrase does not change the tempo in mid-sentence.
        self._speeds: dict[tuple[int, VoiceTarget], float] = {}

    def calibrate(self, voice: object) -> _Calibration | None:
        """Measure ``voice`` once (a sentence at three speeds, each speaker once): about 0.5 s
        for a Piper voice on 2 cores; the speaker does it before the first phrase arrives."""
        with self._lock:
            if id(voice) in self._calibrations:
                return self._calibrations[id(voice)]
            found = None
            if hasattr(voice, "synthesize_at"):
                found = self._measure_voice(voice)
            self._calibrations[id(voice)] = found
            return found

    def _measure_voice(self, voice: object) -> _Calibration | None:
        lang = str(getattr(voice, "language", "eng_Latn"))
        text = CALIBRATION.get(lang[:3], CALIBRATION["eng"])
        sr = int(getattr(voice, "sample_rate", 22050))
        rates = []
        for speed in CALIBRATION_SPEEDS:
            audio = _concat(_synth(voice, text, speed, None))
            rates.append(measure(audio, sr, text, lang).syllables_per_s or 0.0)
        if min(rates) <= 0:
            return None
        pitches: dict[int | None, float] = {}
        for speaker in tuple(getattr(voice, "speakers", (None,)))[:8]:
            m = measure(_concat(_synth(voice, text, 1.0, speaker)), sr)
            if m.median_hz is not None:
                pitches[speaker] = m.median_hz
        return _Calibration(np.asarray(CALIBRATION_SPEEDS), np.asarray(rates), pitches)

    def synthesize(
        self, voice: object, text: str, target: VoiceTarget | None
    ) -> Iterator[np.ndarray]:
        """The voice's chunks for ``text``, matched to ``target`` phrase by phrase."""
        if target is None:
            yield from voice.synthesize(text)  # type: ignore[attr-defined]
            return
        import time

        t0 = time.perf_counter()
        cal = self.calibrate(voice)
        speed, speaker = 1.0, None
        if target.rate and cal is not None:
            speed = self.speed(voice, cal, target)
        if target.pitch and cal is not None and len(cal.pitches) > 1:
            hz = target.median_hz
            assert hz is not None
            speaker = min(cal.pitches, key=lambda s: abs(math.log(cal.pitches[s] / hz)))
        sr = int(getattr(voice, "sample_rate", 22050))
        chunks = _synth(voice, text, speed, speaker)
        raw: list[np.ndarray] = []
        self.seconds += time.perf_counter() - t0
        for chunk in chunks:
            raw.append(chunk)
            if target.pitch:
                t1 = time.perf_counter()
                assert target.median_hz is not None
                chunk = shift_pitch(chunk, sr, target.median_hz, target.range_st)
                self.seconds += time.perf_counter() - t1
            yield chunk
        if cal is not None and target.rate:
            self._learn_rate(cal, text, str(getattr(voice, "language", "eng_Latn")), raw, sr, speed)

    def speed(self, voice: object, cal: _Calibration, target: VoiceTarget) -> float:
        """The voice's speed knob for ``target``'s rate: 1 (the voice's own) unless the
        speaker measurably differs; the same for every phrase of one target."""
        key = (id(voice), target)
        found = self._speeds.get(key)
        if found is not None:
            return found
        ratio = rate_ratio(target, cal.own_rate)
        speed = 1.0 if ratio == 1.0 else cal.speed_for(cal.own_rate * ratio)
        if len(self._speeds) >= 64:
            self._speeds.pop(next(iter(self._speeds)))
        self._speeds[key] = speed
        return speed

    def _learn_rate(
        self, cal: _Calibration, text: str, lang: str, raw: list[np.ndarray], sr: int, speed: float
    ) -> None:
        """Refine the voice's curve on its output (the calibration sentence is one sample)."""
        syllables = count_syllables(text, lang)
        seconds = speech_seconds(_concat(raw), sr) if raw else 0.0
        if syllables < 6 or seconds <= 0.5:
            return
        predicted = float(np.exp(np.interp(np.log(speed), np.log(cal.speeds), np.log(cal.rates))))
        observed = syllables / seconds / predicted
        with self._lock:
            total = min(cal.weight + syllables, 100.0)
            cal.correction += (observed - cal.correction) * syllables / (total + 20.0)
            cal.weight = total


def rate_ratio(target: VoiceTarget, own_rate: float) -> float:
    """How much faster than ``own_rate`` the output should speak for ``target``: the measured
    ratio, its log scaled down while the speech behind it is short, capped at
    ``SPEED_LIMITS``, and 1 within ``RATE_DEAD_BAND`` (the scatter of a single sentence)."""
    if target.syllables_per_s is None or own_rate <= 0:
        return 1.0
    trust = min(1.0, target.syllables / RATE_TRUST_SYLLABLES)
    ratio = math.exp(trust * math.log(target.syllables_per_s / own_rate))
    if abs(math.log(ratio)) < math.log(RATE_DEAD_BAND):
        return 1.0
    return float(np.clip(ratio, *SPEED_LIMITS))


def _synth(voice: object, text: str, speed: float, speaker: int | None) -> Iterable[np.ndarray]:
    if hasattr(voice, "synthesize_at"):
        return voice.synthesize_at(text, speed=speed, speaker=speaker)  # type: ignore[attr-defined]
    return voice.synthesize(text)  # type: ignore[attr-defined]


def _concat(chunks: Iterable[np.ndarray]) -> np.ndarray:
    parts = list(chunks)
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)
