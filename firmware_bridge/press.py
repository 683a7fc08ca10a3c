"""Button press classification, the same state machine as ``firmware/core/fb_press.c``.

Inputs are debounced edges and clock ticks in device milliseconds (uint32, wrapping).
Timeouts are evaluated before the edge of the same call, so the result does not depend
on how often the caller ticks; ``test_vectors.txt`` pins both implementations together.
"""

from __future__ import annotations

from enum import IntEnum

from firmware_bridge.protocol import Gesture

DEBOUNCE_MS = 20
DOUBLE_GAP_MS = 250
LONG_PRESS_MS = 1000


class PressMode(IntEnum):
    RAW = 0  # push-to-talk: DOWN and UP as they happen, no delay
    CLASSIFY = 1  # function button: SHORT, DOUBLE or LONG


class Edge(IntEnum):
    NONE = 0
    DOWN = 1
    UP = 2


class _Phase(IntEnum):
    IDLE = 0
    PRESSED = 1  # first press held, not yet long
    RELEASED = 2  # short press released, waiting to see if a second one follows
    SECOND_HELD = 3  # DOUBLE reported, waiting for its release
    LONG_HELD = 4  # LONG reported, waiting for release


def _elapsed(now_ms: int, since_ms: int) -> int:
    return (now_ms - since_ms) & 0xFFFFFFFF


class PressClassifier:
    def __init__(self, mode: PressMode) -> None:
        self.mode = mode
        self._phase = _Phase.IDLE
        self._since_ms = 0

    def update(self, now_ms: int, edge: Edge = Edge.NONE) -> list[Gesture]:
        if self.mode == PressMode.RAW:
            return self._update_raw(edge)
        out: list[Gesture] = []
        elapsed = _elapsed(now_ms, self._since_ms)
        if self._phase == _Phase.PRESSED and elapsed >= LONG_PRESS_MS:
            out.append(Gesture.LONG)
            self._phase = _Phase.LONG_HELD
        elif self._phase == _Phase.RELEASED and elapsed >= DOUBLE_GAP_MS:
            out.append(Gesture.SHORT)
            self._phase = _Phase.IDLE
        if edge == Edge.DOWN:
            if self._phase == _Phase.IDLE:
                self._phase, self._since_ms = _Phase.PRESSED, now_ms
            elif self._phase == _Phase.RELEASED:
                out.append(Gesture.DOUBLE)
                self._phase = _Phase.SECOND_HELD
        elif edge == Edge.UP:
            if self._phase == _Phase.PRESSED:
                self._phase, self._since_ms = _Phase.RELEASED, now_ms
            elif self._phase in (_Phase.SECOND_HELD, _Phase.LONG_HELD):
                self._phase = _Phase.IDLE
        return out

    def _update_raw(self, edge: Edge) -> list[Gesture]:
        if edge == Edge.DOWN and self._phase == _Phase.IDLE:
            self._phase = _Phase.PRESSED
            return [Gesture.DOWN]
        if edge == Edge.UP and self._phase == _Phase.PRESSED:
            self._phase = _Phase.IDLE
            return [Gesture.UP]
        return []

    def next_deadline_ms(self) -> int | None:
        """When a pending timeout fires, so a caller can sleep until then instead of polling."""
        if self.mode == PressMode.CLASSIFY and self._phase == _Phase.PRESSED:
            return (self._since_ms + LONG_PRESS_MS) & 0xFFFFFFFF
        if self.mode == PressMode.CLASSIFY and self._phase == _Phase.RELEASED:
            return (self._since_ms + DOUBLE_GAP_MS) & 0xFFFFFFFF
        return None
