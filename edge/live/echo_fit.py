"""A batch fit of the echo path over one segment: the device's voice out of a finished
segment, and whether it was all there was.

The live cancellers work causally, frame by frame: early in a session (the first second of
the first reply) neither has learned the room, and AEC3's suppressor can let a stretch of
the device's voice through, which the VAD then takes for the user. Once a segment has ended
the whole of it is known, so the path can be fitted on it at once, not learned: a least-
squares fit, per frequency, of the microphone's spectrum on the reference's over the last
``TAPS`` frames (a convolutive transfer function), over the segment and the audio before it.

* The residual is the segment with the echo removed (measured 15-21 dB in the simulated
  rooms) and the user untouched, as far as the fit's few degrees of freedom allow (about
  ``TAPS / frames`` of the user's energy, under 0.5 dB at 2 s of context).
* How much of the segment's energy the fit explains says whose voice it is: 15-21 dB for
  the device's voice alone; 3 dB with the user as loud as the echo, 6 dB at 6 dB under it,
  9 dB at 10 dB under (measured: ``tests/test_echo_fit.py``, three rooms).

A path the fit cannot follow (clocks drifting between two sound cards, a distorting speaker)
explains less: nothing is then called the device's voice, the safe side.
"""

from __future__ import annotations

import numpy as np

from ..asr.base import SAMPLE_RATE

WINDOW = 512  # 32 ms at 16 kHz
HOP = WINDOW // 2
TAPS = 20  # frames of echo path: 320 ms, a room's delay and most of its reverberation
MIN_FRAMES = 4 * TAPS  # fewer and the fit would explain the user's speech too
REWEIGHTS = 2
USER_FRAME = 320  # 20 ms
USER_FRAME_DB = 6.0  # a frame the fit explains less than this holds something else ...
USER_OVER_FLOOR_DB = 10.0  # ... when that is this far over the noise
# Periodic sqrt-Hann for analysis and synthesis: at half overlap the squares sum to 1.
_WIN = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)).astype(np.float32)


def _stft(x: np.ndarray) -> np.ndarray:
    frames = 1 + (len(x) - WINDOW) // HOP
    index = np.arange(WINDOW)[None, :] + HOP * np.arange(frames)[:, None]
    return np.fft.rfft(x[index] * _WIN, axis=1).T.astype(np.complex64)  # (bins, frames)


def _istft(spec: np.ndarray, length: int) -> np.ndarray:
    frames = np.fft.irfft(spec.T, WINDOW, axis=1) * _WIN
    out = np.zeros(length, np.float32)
    for t, frame in enumerate(frames):
        out[t * HOP : t * HOP + WINDOW] += frame
    return out


def remove_echo(mic: np.ndarray, reference: np.ndarray) -> np.ndarray | None:
    """``mic`` without the echo of ``reference`` (float, same length, sample-aligned: the
    reference as played when each mic sample was taken, less the devices' latency), by one
    fit over all of it; None when there is too little audio to fit.

    Iteratively reweighted: frames the fit leaves loud (the user talking over the echo)
    count less in the next fit. A plain fit lets a user 14 dB over the echo wreck the path
    (measured: 1.4 dB removed from the echo alone around it, 19.3 dB after two reweights).
    """
    if len(mic) != len(reference):
        raise ValueError("mic and reference must have the same length")
    pad = np.zeros(WINDOW, np.float32)  # whole frames over every sample, edges included
    spec_m = _stft(np.concatenate([pad, mic.astype(np.float32), pad]))
    spec_r = _stft(np.concatenate([pad, reference.astype(np.float32), pad]))
    bins, frames = spec_m.shape
    if frames < MIN_FRAMES:
        return None
    lagged = np.zeros((bins, frames, TAPS), np.complex64)
    for k in range(TAPS):
        lagged[:, k:, k] = spec_r[:, : frames - k]
    lagged_h = lagged.conj().transpose(0, 2, 1)  # (bins, taps, frames)
    weight = np.ones(frames, np.float32)
    for _ in range(1 + REWEIGHTS):
        weighted_h = lagged_h * weight
        gram = weighted_h @ lagged
        cross = weighted_h @ spec_m[..., None]
        # A little ridge: bins the reference never excited get no filter instead of noise.
        ridge = 1e-3 * np.trace(gram, axis1=1, axis2=2).real / TAPS + 1e-12
        path = np.linalg.solve(gram + ridge[:, None, None] * np.eye(TAPS, dtype=gram.dtype), cross)
        residual = spec_m - (lagged @ path)[..., 0]
        power = np.mean(np.abs(residual) ** 2, axis=0)
        weight = (1.0 / (power + 1e-3 * power.mean() + 1e-12)).astype(np.float32)
    return _istft(residual, len(mic) + 2 * WINDOW)[WINDOW : WINDOW + len(mic)]


def explained_db(before: np.ndarray, after: np.ndarray) -> float:
    """How far ``after`` is under ``before`` (energies, dB)."""
    num = float(np.sum(before.astype(np.float64) ** 2))
    den = float(np.sum(after.astype(np.float64) ** 2))
    return 10 * np.log10(max(num, 1e-12) / max(den, 1e-12))


def user_seconds(mic: np.ndarray, cleaned: np.ndarray, floor: float) -> float:
    """How long, in ``mic``, something other than the echo was heard: 20 ms frames the fit
    explains less than ``USER_FRAME_DB`` of, whose residual stands ``USER_OVER_FLOOR_DB``
    above ``floor`` (the residual's noise power). Echo alone has a few such frames at most
    (where the fit lags a sudden change); a user's syllable has many."""
    before, after = _frame_powers(mic), _frame_powers(cleaned)
    other = (before < after * 10 ** (USER_FRAME_DB / 10)) & (
        after > floor * 10 ** (USER_OVER_FLOOR_DB / 10)
    )
    return float(np.sum(other)) * USER_FRAME / SAMPLE_RATE


def explained_seconds(
    mic: np.ndarray, cleaned: np.ndarray, where: np.ndarray, db: float, floor: float
) -> float:
    """How long the fit removed at least ``db`` from the microphone: 20 ms frames inside
    ``where`` (per sample) that stand ``USER_OVER_FLOOR_DB`` above ``floor``. Only echo can
    be explained, so this is how much echo the fit shows it follows, wherever the user
    spoke around it."""
    before, after = _frame_powers(mic), _frame_powers(cleaned)
    inside = where[: len(before) * USER_FRAME].reshape(len(before), -1).all(axis=1)
    judged = inside & (before > floor * 10 ** (USER_OVER_FLOOR_DB / 10))
    return float(np.sum(judged & (before >= after * 10 ** (db / 10)))) * USER_FRAME / SAMPLE_RATE


def noise_floor(cleaned: np.ndarray) -> float:
    """The residual's noise power: its quietest 20 ms frames (10th percentile)."""
    return float(np.percentile(_frame_powers(cleaned), 10)) + 1e-12


def _frame_powers(x: np.ndarray) -> np.ndarray:
    """Mean square of each whole ``USER_FRAME`` of ``x``."""
    n = len(x) // USER_FRAME
    return np.mean(x[: n * USER_FRAME].astype(np.float64).reshape(n, -1) ** 2, axis=1)
