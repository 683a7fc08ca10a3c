"""Live translation: microphone in, speaker out, push-to-talk or hands-free (VAD).

from edge.live import LiveConfig, LiveController, ModelLoader

config = LiveConfig(source="es", target="en", mode="vad")
controller = LiveController(config, ModelLoader(config).stages, on_event=print)
controller.run()  # until Ctrl-C (or the end of --input FILE.wav)
"""

from .config import LiveConfig, load_config
from .controller import STATES, LiveController
from .devices import DeviceError, DeviceInfo, list_devices
from .events import ControllerSnapshot, LanguagePairChanged, LiveStats, Playback, VolumeChanged
from .pipeline import ModelLoader

__all__ = [
    "STATES",
    "ControllerSnapshot",
    "DeviceError",
    "DeviceInfo",
    "LanguagePairChanged",
    "LiveConfig",
    "LiveController",
    "LiveStats",
    "ModelLoader",
    "Playback",
    "VolumeChanged",
    "list_devices",
    "load_config",
]
