"""Push-to-talk on a terminal key.

A terminal reports key presses, not releases: holding a key sends it once, then again at
the autorepeat rate (every 30-50 ms, after a first delay of 250-700 ms). So a held key is
released when its repeats stop; a key tapped without repeats latches instead (tap to talk,
tap again to stop). Other keys: ``s`` swaps the languages, ``+``/``-`` change the volume,
``q`` quits. Ctrl-C still interrupts (cbreak mode keeps signals).
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import threading
import time
import tty
from typing import Protocol

FIRST_REPEAT_S = 0.75  # longest wait for the first autorepeat before a press counts as a tap
REPEAT_GAP_S = 0.15  # a held key repeats faster than this


class _Target(Protocol):
    def ptt_down(self) -> None: ...

    def ptt_up(self) -> None: ...

    def swap_languages(self) -> None: ...

    def set_volume(self, level: int) -> None: ...

    def stop(self) -> None: ...


KEYS = {"space": " ", "enter": "\n", "tab": "\t"}


class KeyDecoder:
    """Turns key characters and the passing of time into press and release calls."""

    def __init__(self, target: _Target, key: str = " ", volume: int = 80) -> None:
        self.target = target
        self.key = key
        self.volume = volume
        self._down_at: float | None = None
        self._last: float = 0.0
        self._repeating = False
        self._latched = False

    def feed(self, char: str, now: float) -> None:
        if char == self.key:
            if self._latched:
                self._latched = False
                self._release()
            elif self._down_at is None:
                self._down_at = self._last = now
                self.target.ptt_down()
            else:
                self._repeating = True
                self._last = now
        elif char in "sS":
            self.target.swap_languages()
        elif char in "+=-_":
            # From the controller's level when it has one: a handheld may have changed it.
            snapshot = getattr(self.target, "snapshot", None)
            current = snapshot().volume if snapshot is not None else self.volume
            self.volume = max(0, min(100, current + (10 if char in "+=" else -10)))
            self.target.set_volume(self.volume)
        elif char in "qQ":
            self.target.stop()

    def tick(self, now: float) -> None:
        if self._down_at is None or self._latched:
            return
        if self._repeating and now - self._last > REPEAT_GAP_S:
            self._release()
        elif not self._repeating and now - self._down_at > FIRST_REPEAT_S:
            self._latched = True  # tapped: talk until the next tap

    def _release(self) -> None:
        self._down_at = None
        self._repeating = False
        self.target.ptt_up()


class TerminalKeys:
    """Reads the terminal in a thread and drives a controller through ``KeyDecoder``."""

    def __init__(self, target: _Target, key: str = "space", volume: int = 80) -> None:
        self.decoder = KeyDecoder(target, KEYS.get(key, key[:1] or " "), volume)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edge-keys", daemon=True)
        self._fd = sys.stdin.fileno()
        self._saved = termios.tcgetattr(self._fd)

    @staticmethod
    def available() -> bool:
        return sys.stdin.isatty()

    def __enter__(self) -> TerminalKeys:
        tty.setcbreak(self._fd)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=0.5)
        with contextlib.suppress(termios.error):
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.02)
            now = time.monotonic()
            if ready:
                data = os.read(self._fd, 64).decode("utf-8", "replace")
                for char in data:
                    self.decoder.feed(char, now)
            self.decoder.tick(now)
