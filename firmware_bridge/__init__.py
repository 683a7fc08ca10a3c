"""Bridge between a handheld's firmware (buttons, LEDs, display) and the translation engine.

The wire protocol is specified in ``firmware_bridge/PROTOCOL.md``. Names are imported on
first use, so ``firmware_bridge.protocol`` loads without pyserial or the bridge.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Bridge": "firmware_bridge.bridge",
    "BridgeError": "firmware_bridge.port",
    "Controller": "firmware_bridge.controller",
    "ControllerSnapshot": "edge.live.events",
    "LanguagePairChanged": "edge.live.events",
    "SimulatedController": "firmware_bridge.controller",
    "SimulatedDevice": "firmware_bridge.simulator",
    "VolumeChanged": "edge.live.events",
    "resolve_port": "firmware_bridge.port",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'firmware_bridge' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
