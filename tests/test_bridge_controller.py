"""The simulated controller: the state machine the bridge and the latency bench drive."""

from __future__ import annotations

import threading
import time

from edge.events import Event, StateChanged
from edge.live.events import ControllerSnapshot, LanguagePairChanged, VolumeChanged
from firmware_bridge.controller import Controller, SimulatedController


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.idle_again = threading.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if isinstance(event, StateChanged) and event.state == "idle":
            self.idle_again.set()

    def states(self) -> list[tuple[str, str]]:
        return [(e.previous, e.state) for e in self.events if isinstance(e, StateChanged)]


def test_satisfies_the_controller_protocol() -> None:
    assert isinstance(SimulatedController(), Controller)


def test_full_cycle_with_timestamps() -> None:
    controller = SimulatedController(think_s=0.05, speak_s=0.05)
    recorder = Recorder()
    controller.subscribe(recorder)
    controller.ptt_down()
    controller.ptt_up()
    assert recorder.idle_again.wait(2)
    assert recorder.states() == [
        ("idle", "listening"),
        ("listening", "thinking"),
        ("thinking", "speaking"),
        ("speaking", "idle"),
    ]
    history = controller.history
    assert [r.state for r in history] == ["idle", "listening", "thinking", "speaking", "idle"]
    thinking_s = history[3].monotonic_s - history[2].monotonic_s
    speaking_s = history[4].monotonic_s - history[3].monotonic_s
    assert 0.04 <= thinking_s < 0.5 and 0.04 <= speaking_s < 0.5


def test_pressing_while_speaking_talks_over_it() -> None:
    controller = SimulatedController(think_s=0.01, speak_s=10)
    recorder = Recorder()
    controller.subscribe(recorder)
    controller.ptt_down()
    controller.ptt_up()
    deadline = time.monotonic() + 2
    while controller.snapshot().state != "speaking" and time.monotonic() < deadline:
        time.sleep(0.005)
    controller.ptt_down()
    assert controller.snapshot().state == "listening"
    time.sleep(0.05)  # the cancelled speaking -> idle timer must not fire
    assert controller.snapshot().state == "listening"
    controller.close()


def test_releases_and_presses_that_change_nothing() -> None:
    controller = SimulatedController()
    recorder = Recorder()
    controller.subscribe(recorder)
    controller.ptt_up()  # not listening: nothing to stop
    controller.ptt_down()
    controller.ptt_down()  # already listening
    assert recorder.states() == [("idle", "listening")]
    controller.close()


def test_error_state_and_recovery() -> None:
    controller = SimulatedController()
    controller.fail()
    assert controller.snapshot().state == "error"
    controller.ptt_down()
    assert controller.snapshot().state == "listening"
    controller.close()


def test_swap_volume_and_unsubscribe() -> None:
    controller = SimulatedController(language_pair="DE>FR", volume=50)
    recorder = Recorder()
    unsubscribe = controller.subscribe(recorder)
    controller.swap_languages()
    controller.set_volume(250)
    controller.set_volume(100)  # unchanged: no event
    controller.set_volume(-3)
    unsubscribe()
    controller.swap_languages()
    assert recorder.events == [LanguagePairChanged("FR>DE"), VolumeChanged(100), VolumeChanged(0)]
    assert controller.snapshot() == ControllerSnapshot("idle", "DE>FR", 0)
