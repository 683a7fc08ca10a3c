"""The linear echo canceller of speexdsp (its MDF adaptive filter), through ctypes.

Why a second canceller beside AEC3: AEC3's echo *suppressor* is what makes it safe for the
VAD (about 50 dB of echo removed), but during double talk it also takes 5-60 dB off the
user's first syllables, and the recognizer then mishears them. A linear filter only
subtracts its model of the echo: the user comes through untouched (measured: -0.1 dB at
onset over the device's voice), with about 20 dB of echo left, which a recognizer ignores but
a VAD does not. So the ASR hears this signal and the VAD hears AEC3's (``aec.EchoCanceller``).

The library is the system's ``libspeexdsp.so.1`` (BSD; Debian/Ubuntu/Raspberry Pi OS package
``libspeexdsp1``, already there wherever PulseAudio is): no wheel ships it, and ctypes needs
no compiler. Three calls are used: state init, set the sample rate, cancel one frame.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

import numpy as np

from ..asr.base import SAMPLE_RATE

LIBRARY = "libspeexdsp.so.1"
INSTALL_HINT = "sudo apt install libspeexdsp1"
_SET_SAMPLING_RATE = 24  # SPEEX_ECHO_SET_SAMPLING_RATE in speex/speex_echo.h

_lib: Any = None
_load_error: str | None = None


def _load() -> Any:
    global _lib, _load_error
    if _lib is not None or _load_error is not None:
        return _lib
    name = ctypes.util.find_library("speexdsp") or LIBRARY
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        _load_error = f"{LIBRARY} is not installed ({exc})"
        return None
    lib.speex_echo_state_init.restype = ctypes.c_void_p
    lib.speex_echo_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.speex_echo_state_destroy.argtypes = [ctypes.c_void_p]
    lib.speex_echo_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.speex_echo_cancellation.argtypes = [ctypes.c_void_p] + [ctypes.c_void_p] * 3
    _lib = lib
    return lib


def unavailable_reason() -> str | None:
    """None when the linear canceller can run here, else why not."""
    _load()
    return _load_error


class LinearCanceller:
    """speexdsp's MDF filter on 16 kHz int16 frames: ``cancel(mic, reference)`` subtracts
    the filter's estimate of the reference's echo from ``mic``.

    ``reference`` must be what was played at the same sample times as ``mic`` was captured
    (the caller's delay line absorbs the devices' latency); the filter then covers echoes
    from 0 to ``tail_s`` later: the room's delay and most of its reverberation.
    """

    def __init__(self, frame: int = 160, tail_s: float = 0.25) -> None:
        lib = _load()
        if lib is None:
            raise RuntimeError(_load_error)
        self._lib = lib
        self._state = lib.speex_echo_state_init(frame, int(tail_s * SAMPLE_RATE))
        rate = ctypes.c_int(SAMPLE_RATE)
        lib.speex_echo_ctl(self._state, _SET_SAMPLING_RATE, ctypes.byref(rate))
        self._out = np.zeros(frame, np.int16)

    def cancel(self, mic: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """One frame each (int16, ``frame`` samples): the microphone without the echo."""
        mic = np.ascontiguousarray(mic, np.int16)
        reference = np.ascontiguousarray(reference, np.int16)
        self._lib.speex_echo_cancellation(
            self._state, mic.ctypes.data, reference.ctypes.data, self._out.ctypes.data
        )
        return self._out.copy()

    def __del__(self) -> None:
        state, self._state = getattr(self, "_state", None), None
        if state:
            self._lib.speex_echo_state_destroy(state)
