#!/usr/bin/env python3
"""The handheld on a real live session: button latency, time to translated audio, soak.

    python tools/bridge_soak.py [--presses 1000] [--speech-presses 10] [--json]

Not a test (minutes of wall time). A simulated device on a pseudo-terminal
(``firmware_bridge.simulator``) drives a ``LiveController`` with the real models (English
-> Portuguese: Moonshine tiny, Bergamot tiny, espeak-ng) through ``edge.live.handheld``;
files stand in for the microphone and the speaker, paced in real time. Three figures:

- press -> listening LED: from the device's PTT DOWN edge to the device having decoded
  STATE(listening) (what lights the LED), p50 / p95 / max; target <= 20 ms. Also press ->
  controller in listening (what the capture waits for).
- release -> first translated audio, on ``--speech-presses`` presses over real English
  speech: from the UP edge to the translated speech starting to play (the controller's
  ``speaking``), and the session's own ``end_of_speech_to_first_played_ms``.
- soak: ``--presses`` short presses over silence (each one discarded by the engine: no
  speech in it), checking after each that the device's LED and the controller agree
  (``lost``: a press whose listening never showed, or a settled state that differs), with
  thread count and resident memory at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.engine import SpeechDiscarded  # noqa: E402
from edge.events import Event, StateChanged, Translation  # noqa: E402
from edge.live import LiveConfig, LiveController, ModelLoader  # noqa: E402
from edge.live.events import Playback  # noqa: E402
from edge.live.handheld import Handheld  # noqa: E402
from edge.live.soak import speak, write_wav  # noqa: E402
from firmware_bridge.protocol import EngineState  # noqa: E402
from firmware_bridge.simulator import SimulatedDevice  # noqa: E402

SENTENCES = [
    "I would like a cup of coffee with milk.",
    "Please show me the way to the museum.",
    "How much does this ticket cost?",
    "The train to the airport leaves at nine.",
    "Thank you very much for your help.",
]
TARGET_MS = 20.0
PRESS_SLOT_S = 0.6  # silence per soak press in the input: longer than a press and its settling


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]

    return {
        "n": len(values),
        "p50_ms": round(at(50), 2),
        "p95_ms": round(at(95), 2),
        "p99_ms": round(at(99), 2),
        "max_ms": round(ordered[-1], 2),
        "mean_ms": round(statistics.fmean(values), 2),
    }


class Recorder:
    """The session's events with their monotonic arrival times."""

    def __init__(self) -> None:
        self.events: list[tuple[float, Event]] = []
        self.cond = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self.cond:
            self.events.append((time.monotonic(), event))
            self.cond.notify_all()

    def first_after(self, kind: type, since: float, predicate: Any = None) -> float | None:
        with self.cond:
            for t, e in self.events:
                if t >= since and isinstance(e, kind) and (predicate is None or predicate(e)):
                    return t
        return None

    def count(self, kind: type) -> int:
        with self.cond:
            return sum(1 for _t, e in self.events if isinstance(e, kind))

    def wait(self, predicate: Any, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def run(presses: int, speech_presses: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    config = LiveConfig(source="en", target="pt")
    loader = ModelLoader(config)
    t0 = time.perf_counter()
    loader.stages("en", "pt")
    load_s = time.perf_counter() - t0
    # Input: speech turns (each with room for its reply), then silence for the soak.
    from edge.models import ModelStore
    from edge.tts.piper_tts import PiperTTS

    joe = ModelStore().get("piper-en_US-joe-medium").path
    english_voice = PiperTTS.load(joe, noise_scale=0.0, noise_w_scale=0.0)
    pieces, spans, at = [np.zeros(16000, np.float32)], [], 1.0
    for i in range(speech_presses):
        speech = speak(english_voice, SENTENCES[i % len(SENTENCES)])
        spans.append((at, at + len(speech) / 16000))
        pieces += [speech, np.zeros(int(6.0 * 16000), np.float32)]
        at = spans[-1][1] + 6.0
    soak_from = at
    pieces.append(np.zeros(int((presses * PRESS_SLOT_S + 30) * 16000), np.float32))
    workdir = Path(tempfile.mkdtemp(prefix="bridge-soak-"))
    wav = write_wav(workdir / "in.wav", np.concatenate(pieces))
    config.mode, config.input, config.output = "ptt", str(wav), str(workdir / "out.wav")
    config.bridge = "pty"

    log = Recorder()
    controller = LiveController(config, loader.stages, on_event=log)
    device = SimulatedDevice(name="soak")
    handheld = Handheld(controller, device.port_path, on_event=log)
    threads_before = threading.active_count()
    handheld.start()
    session = threading.Thread(target=controller.run, name="soak-session", daemon=True)
    if not device.wait_for(lambda v: v.host_up and v.state == EngineState.IDLE, 5):
        raise RuntimeError("the simulated device did not connect")
    session.start()
    clock = controller._clock  # noqa: SLF001 - presses must land on the speech in the file

    def wait_media(t: float) -> None:
        while clock.now() < t:
            time.sleep(0.002)

    def press(hold: Any) -> tuple[float | None, float | None, float]:
        """One press; (press->LED ms, press->controller ms, release time)."""
        pressed = time.monotonic()
        device.ptt(True)
        shown = device.wait_for(lambda v: v.state == EngineState.LISTENING, 2)
        led = (time.monotonic() - pressed) * 1000 if shown else None
        # The bridge hears of the state before the session's log does: wait for the log.
        log.wait(
            lambda: log.first_after(StateChanged, pressed, lambda e: e.state == "listening"), 1
        )
        entered = log.first_after(StateChanged, pressed, lambda e: e.state == "listening")
        engine = (entered - pressed) * 1000 if entered is not None else None
        hold()
        released = time.monotonic()
        device.ptt(False)
        return led, engine, released

    led_ms: list[float] = []
    engine_ms: list[float] = []
    first_audio_ms: list[float] = []
    lost: list[str] = []
    # 1. Presses over speech: release -> first translated audio.
    for index, (start, end) in enumerate(spans):
        wait_media(start - 0.3)
        # Released 0.1 s after the speech ends, as a person would: little of the work is
        # done by then (a longer hold lets the engine finish before the release).
        led, engine, released = press(lambda end=end: wait_media(end + 0.1))
        if led is None:
            lost.append(f"speech press {index}: no listening LED")
        else:
            led_ms.append(led)
        if engine is not None:
            engine_ms.append(engine)
        spoke = log.wait(
            lambda r=released: log.first_after(StateChanged, r, lambda e: e.state == "speaking"),
            20,
        )
        started = log.first_after(StateChanged, released, lambda e: e.state == "speaking")
        if spoke and started is not None:
            first_audio_ms.append((started - released) * 1000)
        else:
            lost.append(f"speech press {index}: nothing played")
        log.wait(lambda: controller.state == "idle", 20)
    playback_ms = [
        p.end_of_speech_to_first_played_ms
        for _t, p in log.events
        if isinstance(p, Playback) and p.end_of_speech_to_first_played_ms is not None
    ]
    translations = [e.text for _t, e in log.events if isinstance(e, Translation)]

    # 2. Soak: short presses over silence.
    wait_media(soak_from)
    time.sleep(0.5)
    rss_start, threads_start = rss_mb(), threading.active_count()
    soak_started = time.monotonic()
    discarded_before = log.count(SpeechDiscarded)
    for index in range(presses):
        led, engine, _released = press(lambda: time.sleep(rng.uniform(0.04, 0.12)))
        if led is None:
            lost.append(f"soak press {index}: no listening LED")
        else:
            led_ms.append(led)
        if engine is not None:
            engine_ms.append(engine)
        settled = device.wait_for(
            lambda v: v.state == EngineState.IDLE and controller.state == "idle", 3
        )
        if not settled:
            shown = device.view().state
            lost.append(f"soak press {index}: device {shown}, controller {controller.state}")
        time.sleep(rng.uniform(0.03, 0.08))
        if index == 9:  # after warm-up: the reference for flat memory
            rss_start = rss_mb()
    soak_s = time.monotonic() - soak_started
    rss_end, threads_end = rss_mb(), threading.active_count()
    discarded = log.count(SpeechDiscarded) - discarded_before

    controller.stop()
    session.join(timeout=10)
    handheld.stop()
    device.close()
    deadline = time.monotonic() + 3
    while threading.active_count() > threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    led_summary = percentiles(led_ms)
    return {
        "machine": f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end",
        "models": "moonshine-tiny-en, bergamot-en-pt-tiny, espeak-ng pt",
        "model_load_s": round(load_s, 2),
        "press_to_listening_led": led_summary,
        "press_to_controller_listening": percentiles(engine_ms),
        "meets_target": bool(led_summary) and led_summary["p95_ms"] <= TARGET_MS,
        "release_to_first_translated_audio": percentiles(first_audio_ms),
        "end_of_speech_to_first_played": percentiles(playback_ms),
        "translations": translations,
        "soak": {
            "presses": presses,
            "wall_s": round(soak_s, 1),
            "discarded_presses": discarded,
            "lost": len(lost),
            "lost_detail": lost[:20],
            "threads_before_session": threads_before,
            "threads_soak_start": threads_start,
            "threads_soak_end": threads_end,
            "threads_after_session": threading.active_count(),
            "rss_start_mb": round(rss_start, 1),
            "rss_end_mb": round(rss_end, 1),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presses", type=int, default=1000)
    parser.add_argument("--speech-presses", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    report = run(args.presses, args.speech_presses, args.seed)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0 if report["meets_target"] and not report["soak"]["lost"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
