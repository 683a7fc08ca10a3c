"""A simulated handheld on a pseudo-terminal, speaking the protocol like the reference firmware.

The device side mirrors ``firmware/core/fb_device.c``: HELLO at boot and whenever the host
link comes back, heartbeats, one unacknowledged event in flight with retransmission, ACKs
for host messages, and the engine state / language pair / volume mirrored for its LEDs and
display. The bridge opens ``SimulatedDevice.port_path`` like any serial port.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import shlex
import threading
import time
import tty
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from firmware_bridge.press import Edge, PressClassifier, PressMode
from firmware_bridge.protocol import (
    HEARTBEAT_INTERVAL_S,
    HOST_TO_DEVICE,
    LINK_TIMEOUT_S,
    MAX_TRIES,
    RETRANSMIT_INTERVAL_S,
    UNACKED_TYPES,
    Ack,
    Battery,
    Button,
    ButtonId,
    Charging,
    DeviceError,
    EngineState,
    Heartbeat,
    Hello,
    LangPair,
    LangSwap,
    Message,
    MessageDecoder,
    State,
    Volume,
    encode_message,
)

FIRMWARE_VERSION = (1, 0, 0)
CAPS_DISPLAY, CAPS_BATTERY, CAPS_VOLUME, CAPS_LEDS = 1, 2, 4, 8
EVENT_QUEUE_MAX = 8
POLL_S = 0.01

LED_PATTERNS = {
    None: "red blink 1 Hz (no host)",
    EngineState.IDLE: "dim green",
    EngineState.LISTENING: "solid blue",
    EngineState.THINKING: "yellow blink 4 Hz",
    EngineState.SPEAKING: "green pulse",
    EngineState.ERROR: "red blink 5 Hz",
}


@dataclass(frozen=True)
class DeviceView:
    """What the device shows: LEDs follow ``state``, the display shows the pair."""

    host_up: bool
    state: EngineState | None
    language_pair: str
    volume: int | None

    def to_dict(self) -> dict[str, object]:
        state = self.state.name.lower() if self.state is not None else None
        return {"event": "device_view", **vars(self), "state": state}

    def describe(self) -> str:
        state = self.state if self.host_up else None
        name = state.name.lower() if state is not None else "no host"
        volume = "-" if self.volume is None else str(self.volume)
        pair = self.language_pair or "--"
        return f"LED {name}: {LED_PATTERNS[state]} | display {pair} | volume {volume}"


@dataclass
class _InFlight:
    seq: int
    message: Message
    wire: bytes
    sent_s: float
    tries: int


class SimulatedDevice:
    def __init__(
        self, name: str = "sim-device", on_change: Callable[[DeviceView], None] | None = None
    ) -> None:
        self.name = name
        self._on_change = on_change
        self._master, self._slave = pty.openpty()
        tty.setraw(self._slave)  # no echo or line editing before the bridge configures it
        self.port_path = os.ttyname(self._slave)
        self._t0 = time.monotonic()
        self._cond = threading.Condition()
        self._decoder = MessageDecoder(HOST_TO_DEVICE)
        self._ptt = PressClassifier(PressMode.RAW)
        self._func = PressClassifier(PressMode.CLASSIFY)
        self._tx_seq = 0
        self._queue: deque[Message] = deque()
        self._in_flight: _InFlight | None = None
        self._hello_due = True
        self._host_up = False
        self._last_rx_s = 0.0
        self._last_heartbeat_s = float("-inf")
        self._silent_until_s = 0.0
        self._state: EngineState | None = None
        self._pair = ""
        self._volume: int | None = None
        self.battery = Battery(3900, 80, Charging.DISCHARGING)
        self.state_log: list[tuple[float, EngineState]] = []
        self._closed = False
        self._write(b"\x00")  # ends whatever partial frame the host holds
        self._enqueue(self._hello())
        self._thread = threading.Thread(target=self._loop, name="sim-device", daemon=True)
        self._thread.start()

    # --- inputs (any thread) -----------------------------------------------------------

    def ptt(self, down: bool) -> None:
        self._edge(ButtonId.PTT, Edge.DOWN if down else Edge.UP)

    def func(self, down: bool) -> None:
        self._edge(ButtonId.FUNC, Edge.DOWN if down else Edge.UP)

    def send(self, message: LangSwap | Volume | Battery | DeviceError) -> None:
        """A message from a control the reference board lacks (swap switch, volume knob)."""
        with self._cond:
            if isinstance(message, Battery):
                self.battery = message
            if isinstance(message, Volume) and message.level != self._volume:
                self._volume = message.level
                self._changed()
            self._enqueue(message)

    def send_raw(self, data: bytes) -> None:
        """Bytes straight onto the line, e.g. garbage to show the host resynchronizing."""
        with self._cond:
            self._write(data)

    def go_silent(self, seconds: float) -> None:
        """Stop transmitting for a while, as a hung device would."""
        with self._cond:
            self._silent_until_s = time.monotonic() + seconds

    def view(self) -> DeviceView:
        with self._cond:
            return self._view()

    def wait_for(self, predicate: Callable[[DeviceView], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self._view()), timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
        self._thread.join(timeout=2)
        os.close(self._master)
        os.close(self._slave)

    def __enter__(self) -> SimulatedDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- device logic (under the lock) ---------------------------------------------------

    def _uptime_ms(self) -> int:
        return int((time.monotonic() - self._t0) * 1000) & 0xFFFFFFFF

    def _hello(self) -> Hello:
        caps = CAPS_DISPLAY | CAPS_BATTERY | CAPS_VOLUME | CAPS_LEDS
        return Hello(*FIRMWARE_VERSION, caps, self.name)

    def _edge(self, button: ButtonId, edge: Edge) -> None:
        with self._cond:
            now_ms = self._uptime_ms()
            classifier = self._ptt if button == ButtonId.PTT else self._func
            for gesture in classifier.update(now_ms, edge):
                self._enqueue(Button(button, gesture, now_ms))

    def _enqueue(self, message: Message) -> None:
        # Input while no host listens is dropped: a stale PTT press must not replay later.
        if not (self._host_up or isinstance(message, Hello)):
            return
        if len(self._queue) >= EVENT_QUEUE_MAX:
            self._queue.popleft()
        self._queue.append(message)
        self._send_next(time.monotonic())

    def _send_next(self, now: float) -> None:
        if self._in_flight is None and self._queue:
            message = self._queue.popleft()
            seq, wire = self._frame(message)
            self._in_flight = _InFlight(seq, message, wire, now, 1)
            self._write(wire)

    def _frame(self, message: Message) -> tuple[int, bytes]:
        seq = self._tx_seq
        self._tx_seq = (seq + 1) & 0xFF
        return seq, encode_message(message, seq)

    def _write(self, data: bytes) -> None:
        if time.monotonic() < self._silent_until_s:
            return
        # With nobody on the port the write fails, like a UART with no one listening.
        with contextlib.suppress(OSError):
            os.write(self._master, data)

    def _receive(self, data: bytes, now: float) -> None:
        changed = False
        for received in self._decoder.feed(data):
            message = received.message
            self._last_rx_s = now
            # An ACK is matched before the link-up check: the ACK of the boot HELLO is
            # often the frame that brings the link up, and must not cause a second HELLO.
            if isinstance(message, Ack):
                self._acknowledged(message.acked_seq, now)
            if not self._host_up:
                self._host_up, changed = True, True
                self._on_host_up(now)
            if message.TYPE in UNACKED_TYPES:
                continue
            self._write(self._frame(Ack(received.seq))[1])
            changed |= self._apply(message, now)
        if changed:
            self._changed()

    def _acknowledged(self, seq: int, now: float) -> None:
        if self._in_flight is not None and self._in_flight.seq == seq:
            if isinstance(self._in_flight.message, Hello):
                self._hello_due = False
            self._in_flight = None
            self._send_next(now)

    def _on_host_up(self, now: float) -> None:
        # Only a HELLO can be waiting here (input is dropped while no host listens); send a
        # fresh one at once rather than on the retransmission timer of a stale one.
        if self._hello_due:
            self._queue.clear()
            self._in_flight = None
            self._enqueue(self._hello())
        self._enqueue(self.battery)

    def _apply(self, message: Message, now: float) -> bool:
        if isinstance(message, State):
            if message.state != self._state:
                self._state = message.state
                self.state_log.append((now, message.state))
                return True
        elif isinstance(message, LangPair):
            if message.text != self._pair:
                self._pair = message.text
                return True
        elif isinstance(message, Volume) and message.level != self._volume:
            self._volume = message.level
            return True
        return False

    def _tick(self, now: float) -> None:
        if now - self._last_heartbeat_s >= HEARTBEAT_INTERVAL_S:
            self._last_heartbeat_s = now
            self._write(self._frame(Heartbeat(self._uptime_ms()))[1])
        flight = self._in_flight
        if flight is not None and now - flight.sent_s >= RETRANSMIT_INTERVAL_S:
            if flight.tries >= MAX_TRIES:
                self._in_flight = None
                self._send_next(now)
            else:
                flight.tries += 1
                flight.sent_s = now
                self._write(flight.wire)
        now_ms = self._uptime_ms()
        for gesture in self._func.update(now_ms):  # SHORT and LONG are decided by timeouts
            self._enqueue(Button(ButtonId.FUNC, gesture, now_ms))
        if self._host_up and now - self._last_rx_s >= LINK_TIMEOUT_S:
            self._host_up = False
            self._hello_due = True
            self._queue.clear()
            self._in_flight = None
            self._changed()

    def _view(self) -> DeviceView:
        return DeviceView(self._host_up, self._state, self._pair, self._volume)

    def _changed(self) -> None:
        self._cond.notify_all()
        if self._on_change is not None:
            self._on_change(self._view())

    def _loop(self) -> None:
        while True:
            readable, _, _ = select.select([self._master], [], [], POLL_S)
            with self._cond:
                if self._closed:
                    return
                now = time.monotonic()
                if readable:
                    try:
                        data = os.read(self._master, 4096)
                    except OSError:
                        data = b""  # the host side is closed; keep ticking until it returns
                    if data:
                        self._receive(data, now)
                self._tick(now)


# --- scripted and interactive input ----------------------------------------------------

COMMANDS = """\
ptt down | ptt up | ptt hold MS     push-to-talk (p = ptt hold 800)
func press [MS] | func down | func up   function button: one press
                                    (s = short press: swap, d = double press: volume step,
                                     l = long press: mute)
swap                                a LANG_SWAP message (a dedicated swap switch)
volume N                            a VOLUME message, 0..100 (a volume knob)
battery MV PERCENT STATE            STATE: discharging|charging|full|external_power
error CODE TEXT                     a device ERROR message
garbage N                           N random bytes on the line
silent MS                           stop transmitting for MS (the host declares the link lost)
wait MS | help | quit"""

SHORTCUTS = {
    "p": "ptt hold 800",
    "s": "func press 80",
    "d": "func double",
    "l": "func press 1200",
}


class ScriptError(ValueError):
    """A script line that is not a command of ``COMMANDS``."""


def run_command(device: SimulatedDevice, line: str, sleep: Callable[[float], None]) -> bool:
    """Carry out one command line; returns False on ``quit``."""
    line = SHORTCUTS.get(line.strip(), line)
    words = shlex.split(line, comments=True)
    if not words:
        return True
    verb, args = words[0].lower(), words[1:]
    try:
        if verb == "quit":
            return False
        if verb == "wait":
            sleep(_ms(args[0]))
        elif verb == "ptt":
            _button_command(device.ptt, args, sleep)
        elif verb == "func":
            if args and args[0] == "double":
                for _ in range(2):
                    _button_command(device.func, ["press", "80"], sleep)
                    sleep(0.1)
            else:
                _button_command(device.func, args, sleep)
        elif verb == "swap":
            device.send(LangSwap())
        elif verb == "volume":
            device.send(Volume(_bounded(args[0], 0, 100)))
        elif verb == "battery":
            charging = Charging[args[2].upper()]
            percent = _bounded(args[1], 0, 255)
            device.send(Battery(_bounded(args[0], 0, 0xFFFF), percent, charging))
        elif verb == "error":
            device.send(DeviceError(_bounded(args[0], 0, 255), " ".join(args[1:])))
        elif verb == "garbage":
            device.send_raw(os.urandom(_bounded(args[0], 0, 4096)))
        elif verb == "silent":
            device.go_silent(_ms(args[0]))
        elif verb != "help":
            raise ScriptError(f"unknown command {verb!r}")
    except ScriptError:
        raise
    except (IndexError, KeyError, ValueError) as exc:
        raise ScriptError(f"bad arguments in {line.strip()!r}") from exc
    return True


def _button_command(
    set_pressed: Callable[[bool], None], args: list[str], sleep: Callable[[float], None]
) -> None:
    action = args[0]
    if action == "down":
        set_pressed(True)
    elif action == "up":
        set_pressed(False)
    elif action in ("hold", "press"):
        set_pressed(True)
        sleep(_ms(args[1]) if len(args) > 1 else 0.08)
        set_pressed(False)
    else:
        raise ScriptError(f"unknown button action {action!r}")


def _ms(text: str) -> float:
    return _bounded(text, 0, 600_000) / 1000


def _bounded(text: str, low: int, high: int) -> int:
    value = int(text)
    if not low <= value <= high:
        raise ScriptError(f"{value} is outside {low}..{high}")
    return value


def run_script(
    device: SimulatedDevice, lines: Iterable[str], sleep: Callable[[float], None] = time.sleep
) -> None:
    for number, line in enumerate(lines, 1):
        try:
            if not run_command(device, line, sleep):
                return
        except ScriptError as exc:
            raise ScriptError(f"line {number}: {exc}") from None
