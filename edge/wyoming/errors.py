"""The ``error`` events the server sends: a clear text for people, a stable code for programs."""

from __future__ import annotations

from wyoming.error import Error
from wyoming.event import Event

# Codes a client can act on (Error.code).
MALFORMED = "malformed-event"
TOO_LARGE = "event-too-large"
TOO_MANY_CLIENTS = "too-many-clients"
IDLE = "idle-timeout"
AUDIO_TOO_LONG = "audio-too-long"
BAD_AUDIO = "bad-audio-format"
TEXT_TOO_LONG = "text-too-long"
LANGUAGE = "unsupported-language"
UNKNOWN_MODEL = "unknown-model"
UNEXPECTED = "unexpected-event"
MODEL_FAILED = "model-error"
INTERNAL = "internal-error"


class RequestError(Exception):
    """A request the server refuses: sent to the client as one ``error`` event."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text

    def event(self) -> Event:
        return Error(text=self.text, code=self.code).event()
