"""The ``info`` answer to ``describe``: exactly the models this server serves.

Languages are given as Home Assistant expects them (ISO 639-1 such as ``en`` where the
language has one, else the FLORES-200 code); requests may use either form. Each model's
attribution is who publishes it and where (the catalog's homepage), and its description
names the licence so that whoever wires the server into a product sees it.
"""

from __future__ import annotations

from urllib.parse import urlparse

from wyoming.info import (
    AsrModel,
    AsrProgram,
    Attribution,
    HandleModel,
    HandleProgram,
    Info,
    TtsProgram,
    TtsVoice,
    TtsVoiceSpeaker,
)

from .. import __version__
from ..errors import EdgeError
from ..languages import language_name, to_iso639_1
from ..models.store import InstalledModel
from .pool import ESPEAK_BACKEND, ESPEAK_URL, ModelPool, Served, mt_pairs
from .tts import speakers_of

EDGE = Attribution(name="edge", url="")
ASR_PROGRAM = "edge asr"
TTS_PROGRAM = "edge tts"
HANDLE_PROGRAM = "edge translate"


def wire_language(flores: str) -> str:
    """The code a Wyoming client is shown for a FLORES-200 language."""
    return to_iso639_1(flores) or flores


def wire_languages(codes: tuple[str, ...] | list[str]) -> list[str]:
    return list(dict.fromkeys(wire_language(c) for c in codes))


def attribution(pool: ModelPool, model: InstalledModel) -> Attribution:
    """Publisher (from the homepage: ``github.com/<owner>/...``) and the homepage itself."""
    if model.backend == ESPEAK_BACKEND:
        return Attribution(name="espeak-ng", url=ESPEAK_URL)
    try:
        homepage = pool.store.catalog.get(model.id).homepage
    except EdgeError:
        return Attribution(name="unknown (not in the catalog)", url="")
    parts = urlparse(homepage)
    owner = parts.path.strip("/").split("/")[0] if parts.path.strip("/") else ""
    return Attribution(name=owner or parts.netloc, url=homepage)


def licence(model: InstalledModel) -> str:
    text = f"licence {model.license or 'unknown'}"
    if model.non_commercial:
        text += ", non-commercial use only"
    if model.license.lower() == "unverified":
        text += " (the weights' licence is not confirmed: edge models info " + model.id + ")"
    return text


def describe_model(model: InstalledModel) -> str:
    source = f"; from {model.source}" if model.source else ""
    return f"{model.name}; {licence(model)}{source}"


def describe_voice(pool: ModelPool, served: Served) -> str:
    """A voice's description; an espeak-ng voice's says it is robotic and what is better."""
    text = describe_model(served.record)
    if not served.espeak:
        return text
    language = served.record.languages[0]
    piper = [e.id for e in pool.store.catalog.covering("tts", language) if e.backend == "piper"]
    better = f" (edge models pull {piper[0]})" if piper else ""
    return f"{text}; robotic (formant synthesis): a Piper voice sounds natural{better}"


def build_info(pool: ModelPool, target: str | None = None) -> Info:
    info = Info()
    if pool.asr:
        info.asr.append(
            AsrProgram(
                name=ASR_PROGRAM,
                description="edge offline speech recognition",
                attribution=EDGE,
                installed=True,
                version=__version__,
                models=[
                    AsrModel(
                        name=s.id,
                        description=describe_model(s.record)
                        + ("; streams partial transcripts" if s.streaming else ""),
                        attribution=attribution(pool, s.record),
                        installed=True,
                        version=None,
                        languages=wire_languages(s.record.languages),
                    )
                    for s in pool.asr
                ],
                # Advertised only when a streaming model is served: a segment model's text is
                # known only at the end of the audio, so it has nothing to stream.
                supports_transcript_streaming=any(s.streaming for s in pool.asr),
            )
        )
    if pool.tts:
        voices = []
        for s in pool.tts:
            speakers = [] if s.espeak else speakers_of(s.record.path)
            voices.append(
                TtsVoice(
                    name=s.id,
                    description=describe_voice(pool, s),
                    attribution=attribution(pool, s.record),
                    installed=True,
                    version=None,
                    languages=wire_languages(s.record.languages),
                    speakers=[TtsVoiceSpeaker(name=n) for n in speakers] or None,
                )
            )
        info.tts.append(
            TtsProgram(
                name=TTS_PROGRAM,
                description="edge offline voices (Piper"
                + (
                    ", and espeak-ng where no Piper voice speaks a translation's language)"
                    if any(s.espeak for s in pool.tts)
                    else ")"
                ),
                attribution=EDGE,
                installed=True,
                version=__version__,
                voices=voices,
                supports_synthesize_streaming=True,
            )
        )
    if pool.mt:
        into = f" into {language_name(target)}" if target else ""
        models = []
        for s in pool.mt:
            pairs = mt_pairs(s.record)
            shown = ", ".join(f"{wire_language(a)}->{wire_language(b)}" for a, b in pairs[:12])
            more = f" and {len(pairs) - 12} more" if len(pairs) > 12 else ""
            models.append(
                HandleModel(
                    name=s.id,
                    description=f"{describe_model(s.record)}; translates {shown}{more}",
                    attribution=attribution(pool, s.record),
                    installed=True,
                    version=None,
                    languages=wire_languages([a for a, _b in pairs]),
                )
            )
        info.handle.append(
            HandleProgram(
                name=HANDLE_PROGRAM,
                description=f"edge offline text translation{into}: the handled text is the "
                "translation of the transcript",
                attribution=EDGE,
                installed=True,
                version=__version__,
                models=models,
            )
        )
    return info
