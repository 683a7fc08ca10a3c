"""Host side of the firmware link: serial port, protocol upkeep, and the mapping both ways.

Device input (buttons, swap, volume) becomes ``Controller`` calls; engine events become
STATE / LANG_PAIR / VOLUME messages. The host owns those three values and keeps resending
any the device has not acknowledged; the whole snapshot goes out whenever a device
(re)appears. Device fields only ever select among fixed actions or are shown as sanitized
text: nothing from the wire is executed, used as a path or passed to a shell.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar

import serial

from edge.events import Event, StateChanged
from edge.live.events import LanguagePairChanged, VolumeChanged
from firmware_bridge.controller import Controller
from firmware_bridge.port import check_port_spec, resolve_port
from firmware_bridge.protocol import (
    DEDUP_WINDOW_S,
    DEVICE_TO_HOST,
    HEARTBEAT_INTERVAL_S,
    LINK_TIMEOUT_S,
    MAX_TRIES,
    RETRANSMIT_INTERVAL_S,
    UNACKED_TYPES,
    VOLUME_MAX,
    Ack,
    Button,
    ButtonId,
    EngineState,
    Gesture,
    Heartbeat,
    Hello,
    LangPair,
    LangSwap,
    Message,
    MessageDecoder,
    MsgType,
    Received,
    State,
    Volume,
    encode_message,
    message_fields,
)

DEFAULT_BAUD = 115200
READ_TIMEOUT_S = 0.05  # also the cadence of heartbeats, retransmits and link checks
RECONNECT_INTERVAL_S = 0.5
WRITE_TIMEOUT_S = 0.1
VOLUME_STEP = 20
UNMUTE_VOLUME = 60


# --- events the bridge reports (printed by ``edge bridge``) ----------------------------


@dataclass
class PortOpened(Event):
    name: ClassVar[str] = "port_opened"
    port: str


@dataclass
class PortClosed(Event):
    name: ClassVar[str] = "port_closed"
    port: str
    reason: str


@dataclass
class PortUnavailable(Event):
    """Reported once per distinct reason while the bridge waits for the port."""

    name: ClassVar[str] = "port_unavailable"
    port: str
    reason: str


@dataclass
class LinkUp(Event):
    name: ClassVar[str] = "link_up"
    device: str


@dataclass
class LinkLost(Event):
    name: ClassVar[str] = "link_lost"
    reason: str


@dataclass
class DeviceMessage(Event):
    """A message from the device, after validation and sanitizing."""

    name: ClassVar[str] = "device"
    message: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Pending:
    seq: int
    message: Message
    wire: bytes
    sent_s: float
    tries: int


@dataclass
class _Link:
    """Per-port protocol state; a fresh one for every open."""

    port: serial.Serial
    decoder: MessageDecoder = field(default_factory=lambda: MessageDecoder(DEVICE_TO_HOST))
    tx_seq: int = 0
    up: bool = False
    last_rx_s: float = 0.0
    last_heartbeat_s: float = float("-inf")
    pending: dict[MsgType, _Pending] = field(default_factory=dict)
    device_has: dict[MsgType, Message] = field(default_factory=dict)
    last_accepted: tuple[int, Message, float] | None = None


def open_serial(path: str, baud: int) -> serial.Serial:
    # exclusive: two bridges on one port would each see half the bytes.
    exclusive = True if os.name == "posix" else None
    # A bounded write: values are sent from the controller's listeners, under its lock, so
    # a device that stops draining its buffer must not stall the live session.
    return serial.Serial(
        path,
        baud,
        timeout=READ_TIMEOUT_S,
        write_timeout=WRITE_TIMEOUT_S,
        exclusive=exclusive,
    )


class Bridge:
    def __init__(
        self,
        controller: Controller,
        port: str,
        *,
        baud: int = DEFAULT_BAUD,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.controller = controller
        self.port_spec = check_port_spec(port)  # fail here, not later in the thread
        self.baud = baud
        self._report = on_event or (lambda event: None)
        self._lock = threading.Lock()
        self._link: _Link | None = None
        self._desired: dict[MsgType, Message] = {}
        self._ptt_held = False
        self._volume_before_mute = UNMUTE_VOLUME
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Run in a background thread until ``stop``."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="firmware-bridge", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Bridge:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self) -> None:
        """Open the port, serve it, and reopen it after an unplug, until ``stop``."""
        self._unsubscribe = self.controller.subscribe(self.on_engine_event)
        last_problem = ""
        try:
            while not self._stop.is_set():
                path = resolve_port(self.port_spec)
                if path is None:
                    last_problem = self._unavailable(last_problem, "no USB device with this id")
                    self._stop.wait(RECONNECT_INTERVAL_S)
                    continue
                try:
                    port = open_serial(path, self.baud)
                except (serial.SerialException, OSError, ValueError) as exc:
                    last_problem = self._unavailable(last_problem, str(exc))
                    self._stop.wait(RECONNECT_INTERVAL_S)
                    continue
                last_problem = ""
                self._serve(path, port)
        finally:
            self._unsubscribe()

    def _unavailable(self, last_problem: str, problem: str) -> str:
        if problem != last_problem:
            self._report(PortUnavailable(self.port_spec, problem))
        return problem

    def _serve(self, path: str, port: serial.Serial) -> None:
        link = _Link(port)
        with self._lock:
            self._link = link
            self._write(link, b"\x00")  # ends any partial frame the device holds
        self._report(PortOpened(path))
        reason = "stopped"
        try:
            while not self._stop.is_set():
                data = port.read(1)
                waiting = port.in_waiting
                if waiting:
                    data += port.read(waiting)
                now = time.monotonic()
                if data:
                    self._receive(link, data, now)
                self._tick(link, now)
        except (serial.SerialException, OSError) as exc:
            reason = f"port error: {exc}"
        finally:
            with self._lock:
                self._link = None
            port.close()
            self._release_ptt()
            self._report(PortClosed(path, reason))

    # --- engine -> device --------------------------------------------------------------

    def on_engine_event(self, event: Event) -> None:
        """Controller listener: turn engine events into device messages."""
        message: Message
        if isinstance(event, StateChanged):
            try:
                message = State(EngineState.from_name(event.state))
            except ValueError:
                message = State(EngineState.ERROR)  # an engine bug still shows on the device
        elif isinstance(event, LanguagePairChanged):
            message = LangPair(event.pair)
        elif isinstance(event, VolumeChanged):
            message = Volume(max(0, min(VOLUME_MAX, event.level)))
        else:
            return
        with self._lock:
            self._desired[message.TYPE] = message
            if self._link is not None and self._link.up:
                self._sync(self._link, time.monotonic())

    def consume(self, events: Iterable[Event]) -> None:
        """Forward an engine event stream (e.g. the live pipeline's) to the device."""
        for event in events:
            self.on_engine_event(event)

    def _load_snapshot(self) -> None:
        snap = self.controller.snapshot()
        self.on_engine_event(StateChanged(state=snap.state, previous=snap.state))
        self.on_engine_event(LanguagePairChanged(snap.language_pair))
        self.on_engine_event(VolumeChanged(snap.volume))

    def _sync(self, link: _Link, now: float) -> None:
        """Send every desired value the device neither has nor is being sent."""
        for msg_type, message in self._desired.items():
            pending = link.pending.get(msg_type)
            if link.device_has.get(msg_type) == message or (
                pending is not None and pending.message == message
            ):
                continue
            seq, wire = self._next_frame(link, message)
            link.pending[msg_type] = _Pending(seq, message, wire, now, 1)
            self._write(link, wire)

    # --- device -> engine --------------------------------------------------------------

    def _receive(self, link: _Link, data: bytes, now: float) -> None:
        actions: list[Callable[[], None]] = []
        reports: list[Event] = []
        with self._lock:
            for result in link.decoder.feed_results(data):
                if isinstance(result, Received):
                    self._accept(link, result, now, actions, reports)
        for event in reports:
            self._report(event)
        # Controller calls happen outside the lock: they publish engine events right back.
        for action in actions:
            action()

    def _accept(
        self,
        link: _Link,
        received: Received,
        now: float,
        actions: list[Callable[[], None]],
        reports: list[Event],
    ) -> None:
        message = received.message
        link.last_rx_s = now
        if not link.up:
            link.up = True
            link.device_has.clear()
            if not isinstance(message, Hello):
                reports.append(LinkUp("device (no HELLO yet)"))
                actions.append(self._load_snapshot_and_sync)
        if isinstance(message, Ack):
            self._acknowledged(link, message.acked_seq)
            return
        if message.TYPE in UNACKED_TYPES:
            return
        self._write(link, self._next_frame(link, Ack(received.seq))[1])
        if isinstance(message, Hello):
            link.last_accepted = (received.seq, message, now)
            link.device_has.clear()
            link.pending.clear()
            reports.append(LinkUp(f"{message.name} firmware {_version(message)}"))
            actions.append(self._release_ptt)
            actions.append(self._load_snapshot_and_sync)
            return
        last = link.last_accepted
        if (
            last is not None
            and last[:2] == (received.seq, message)
            and now - last[2] < (DEDUP_WINDOW_S)
        ):
            return  # a retransmission whose ACK was lost
        link.last_accepted = (received.seq, message, now)
        reports.append(DeviceMessage(MsgType(message.TYPE).name.lower(), _named(message)))
        action = self._action_for(message)
        if action is not None:
            actions.append(action)

    def _action_for(self, message: Message) -> Callable[[], None] | None:
        controller = self.controller
        if isinstance(message, Button):
            if message.button == ButtonId.PTT:
                if message.gesture == Gesture.DOWN:
                    return self._press_ptt
                if message.gesture == Gesture.UP:
                    return self._release_ptt
                return None
            return {
                Gesture.SHORT: controller.swap_languages,
                Gesture.DOUBLE: self._volume_step,
                Gesture.LONG: self._toggle_mute,
            }.get(message.gesture)
        if isinstance(message, LangSwap):
            return controller.swap_languages
        if isinstance(message, Volume):
            level = message.level
            return lambda: controller.set_volume(level)
        return None  # BATTERY, ERROR: reported only

    def _press_ptt(self) -> None:
        self._ptt_held = True
        self.controller.ptt_down()

    def _release_ptt(self) -> None:
        # Also called when the device vanishes mid-press: it will never send the UP.
        if self._ptt_held:
            self._ptt_held = False
            self.controller.ptt_up()

    def _volume_step(self) -> None:
        level = self.controller.snapshot().volume
        self.controller.set_volume(VOLUME_STEP if level >= 100 else level + VOLUME_STEP)

    def _toggle_mute(self) -> None:
        level = self.controller.snapshot().volume
        if level > 0:
            self._volume_before_mute = level
            self.controller.set_volume(0)
        else:
            self.controller.set_volume(self._volume_before_mute)

    def _load_snapshot_and_sync(self) -> None:
        self._load_snapshot()
        with self._lock:
            if self._link is not None and self._link.up:
                self._sync(self._link, time.monotonic())

    def _acknowledged(self, link: _Link, seq: int) -> None:
        for msg_type, pending in list(link.pending.items()):
            if pending.seq == seq:
                link.device_has[msg_type] = pending.message
                del link.pending[msg_type]
                self._sync(link, time.monotonic())  # the value may have changed meanwhile

    # --- link upkeep -------------------------------------------------------------------

    def _tick(self, link: _Link, now: float) -> None:
        lost = False
        with self._lock:
            if now - link.last_heartbeat_s >= HEARTBEAT_INTERVAL_S:
                link.last_heartbeat_s = now
                uptime_ms = int(now * 1000)
                self._write(link, self._next_frame(link, Heartbeat(uptime_ms))[1])
            for msg_type, pending in list(link.pending.items()):
                if now - pending.sent_s < RETRANSMIT_INTERVAL_S:
                    continue
                if pending.tries >= MAX_TRIES:
                    del link.pending[msg_type]  # resent in full when the link comes back
                    continue
                pending.tries += 1
                pending.sent_s = now
                self._write(link, pending.wire)
            if link.up and now - link.last_rx_s >= LINK_TIMEOUT_S:
                link.up = False
                link.pending.clear()
                link.device_has.clear()
                lost = True
        if lost:
            self._report(LinkLost(f"no valid frame for {LINK_TIMEOUT_S:g} s"))
            self._release_ptt()

    def _next_frame(self, link: _Link, message: Message) -> tuple[int, bytes]:
        seq = link.tx_seq
        link.tx_seq = (seq + 1) & 0xFF
        return seq, encode_message(message, seq)

    @staticmethod
    def _write(link: _Link, data: bytes) -> None:
        # A failed write needs no handling here: the read loop sees the same failure.
        with contextlib.suppress(serial.SerialException, OSError):
            link.port.write(data)

    def decode_errors(self) -> dict[str, int]:
        """Frames dropped on the current port, by reason."""
        with self._lock:
            if self._link is None:
                return {}
            return {kind.value: n for kind, n in self._link.decoder.errors.items()}


def _version(hello: Hello) -> str:
    return f"{hello.major}.{hello.minor}.{hello.patch}"


def _named(message: Message) -> dict[str, Any]:
    """Fields with enum members as lower-case names, for readable logs."""
    out: dict[str, Any] = {}
    for name, value in message_fields(message).items():
        member = getattr(message, name)
        out[name] = member.name.lower() if isinstance(member, IntEnum) else value
    return out
