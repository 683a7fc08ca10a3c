"""Button press -> listening latency, measured on the simulator over a pseudo-terminal.

    python -m firmware_bridge.bench_latency --presses 200

Each press goes the whole way: the simulated device sends BUTTON(PTT, DOWN), the bridge
decodes it and calls ``ptt_down`` on the simulated controller, the controller publishes
StateChanged(listening), and the bridge sends STATE(listening) back. Two figures per press:
``engine``: press until the controller is in listening (what the audio capture waits for);
``device``: press until the device has decoded STATE(listening) (what lights the LED).
The target is <= 20 ms for ``device``. Real hardware adds the USB or UART transfer time
(about 1 ms on USB full speed, ~1 ms per 10 bytes at 115200 baud) and the firmware's
20 ms debounce, which this measurement does not include.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from firmware_bridge.bridge import Bridge
from firmware_bridge.controller import SimulatedController
from firmware_bridge.protocol import EngineState
from firmware_bridge.simulator import SimulatedDevice

TARGET_MS = 20.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(_percentile(values, 50), 3),
        "p95_ms": round(_percentile(values, 95), 3),
        "p99_ms": round(_percentile(values, 99), 3),
        "max_ms": round(max(values), 3),
        "mean_ms": round(statistics.fmean(values), 3),
    }


def measure(presses: int, seed: int = 1) -> dict[str, object]:
    rng = random.Random(seed)
    controller = SimulatedController(think_s=0.01, speak_s=0.01)
    engine_ms: list[float] = []
    device_ms: list[float] = []
    with SimulatedDevice() as device:
        bridge = Bridge(controller, device.port_path)
        bridge.start()
        try:
            if not device.wait_for(lambda v: v.host_up and v.state == EngineState.IDLE, 5):
                raise RuntimeError("the simulated device did not connect")
            time.sleep(0.3)  # let the start-up HELLO / snapshot exchange settle
            for _ in range(presses):
                pressed = time.monotonic()
                device.ptt(True)
                if not device.wait_for(lambda v: v.state == EngineState.LISTENING, 2):
                    raise RuntimeError("no listening state within 2 s of a press")
                device_ms.append((time.monotonic() - pressed) * 1000)
                entered = next(
                    r.monotonic_s
                    for r in reversed(controller.history)
                    if r.state == "listening" and r.monotonic_s >= pressed
                )
                engine_ms.append((entered - pressed) * 1000)
                time.sleep(rng.uniform(0.01, 0.05))
                device.ptt(False)
                if not device.wait_for(lambda v: v.state == EngineState.IDLE, 2):
                    raise RuntimeError("the controller did not return to idle")
                time.sleep(rng.uniform(0.02, 0.08))
        finally:
            bridge.stop()
            controller.close()
    device_summary = _summary(device_ms)
    return {
        "presses": presses,
        "transport": "pseudo-terminal",
        "engine": _summary(engine_ms),
        "device": device_summary,
        "target_ms": TARGET_MS,
        "meets_target": device_summary["p95_ms"] <= TARGET_MS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m firmware_bridge.bench_latency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    result = measure(args.presses, args.seed)
    print(json.dumps(result, indent=2))
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
