"""The cascade engine: audio -> VAD -> ASR -> MT -> TTS as concurrent stages.

Four threads joined by bounded queues, so sentence 1 is synthesized while sentence 2 is
translated and the next utterance is recognized:

    source ──audio──▶ listener (VAD + ASR) ──sentences──▶ translator (MT) ──▶ speaker (TTS)
                          │                                   │                  │
                          └───────────────── events ──────────┴──────────────────┘

Every stage reports through typed events (``edge.events``) on one queue that the caller
iterates. Sentences are handed to MT one by one as soon as the transcript is final; MT
streams the first one word by word and the speaker synthesizes it phrase by phrase, so the
first sound does not wait for the whole sentence. When the VAD reports a pause the open
segment is decoded, translated and synthesized speculatively; its audio is held and released
the moment the hangover confirms the end of the utterance (or thrown away if speech
resumes).

Live mode (``edge.live``) adds three things: ``PushToTalk`` items in the audio stream cut
utterances at a key's press and release instead of the VAD (``segmentation="ptt"``);
``cancel_output`` drops the speech of earlier utterances when the user barges in; and a
two-way conversation identifies each utterance's language among two and translates it into
the other.

One module per job (docs/ARCHITECTURE.md, "The engine package"):

    config       Stages, EngineConfig, the input items (AudioBlock, PushToTalk)
    messages     what travels on the queues        channels     the queues and stop flags
    engine       Engine: the threads and run()     lifecycle    one utterance's life
    listeners    VAD and streaming segmentation    ptt          push-to-talk segmentation
    speculation  which jobs are stale / live       translating  the MT stage
    speaking     the TTS stage, held speech        metrics      timings and summary
"""

from ..events import SpeechDiscarded
from .config import (
    SEGMENTATIONS,
    AudioBlock,
    EchoCheck,
    EngineConfig,
    LanguageIdentifier,
    PushToTalk,
    Stages,
)
from .engine import Engine
from .listeners import OWN_VOICE

__all__ = [
    "OWN_VOICE",
    "SEGMENTATIONS",
    "AudioBlock",
    "EchoCheck",
    "Engine",
    "EngineConfig",
    "LanguageIdentifier",
    "PushToTalk",
    "SpeechDiscarded",
    "Stages",
]
