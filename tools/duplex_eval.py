"""Half duplex (the muted microphone) against full duplex (WebRTC AEC3) on a simulated room.

Not a test: sessions with files as devices, paced in real time, on the real models
(Moonshine tiny, Piper joe, English -> English so what the device says is the user's text).
The speaker's output comes back into the input through a synthetic room (``--simulate-echo``
with ``room_delay_s``, ``room_rt60_s``, and the room's noise floor).

Two recordings, spoken by Piper joe:

* ``pauses``: six sentences, each with a 0.5 s pause in the middle, with room for a reply
  after each (the issue's case: speech after a pause must not be lost);
* ``conversation``: six turns, each starting while the device still speaks the reply to the
  one before (barge-in by voice).

Figures per run: lost words (WER of all transcripts against the full text), self-
transcription (utterances outside the user's speech), what the listener heard (WER of the
output recording), barge-in latency (user onset to silence in the output), false barge-ins
(onsets outside the user's speech while the device spoke) per minute of device speech, AEC
CPU per second of audio and end-of-speech to first sound.

    python tools/duplex_eval.py --models-dir ~/.cache/edge/models [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.asr.base import SAMPLE_RATE  # noqa: E402
from edge.audio import read_audio  # noqa: E402
from edge.bench import BENCH_SENTENCES  # noqa: E402
from edge.events import SpeechStarted, Transcript  # noqa: E402
from edge.live import LiveConfig, ModelLoader  # noqa: E402
from edge.live.aec import EchoCanceller  # noqa: E402
from edge.live.filedev import EchoPath, Room  # noqa: E402
from edge.live.soak import Turn, run_session, speak, write_wav  # noqa: E402
from edge.vad import segments  # noqa: E402

SENTENCES = BENCH_SENTENCES  # what `edge bench` speaks
PAUSE_S = 0.5
SENTENCE_GAP_S = 1.0
ROOMS = {  # (delay s, RT60 s, echo level dB relative to the user)
    "mid": (0.04, 0.3, -3.0),
    "near": (0.02, 0.2, -6.0),
    "far": (0.08, 0.4, 0.0),
}


def normalized(text: str) -> str:
    """Lower case, words only: an apostrophe inside a word stays (you'll), quotes go (the
    recognizer's ``"'Thank`` is the word thank, not an error)."""
    words = re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()
    return " ".join(w.strip("'") for w in words if w.strip("'"))


def paused_recording(voice: Any) -> tuple[np.ndarray, list[Turn]]:
    """A monologue: six sentences with a 0.5 s pause mid-sentence and 1 s between them, so
    each translation plays while the next sentence is spoken."""
    pieces, spans, position = [np.zeros(SAMPLE_RATE, np.float32)], [], SAMPLE_RATE
    for text in SENTENCES:
        words = text.split()
        half = len(words) // 2
        first, second = speak(voice, " ".join(words[:half])), speak(voice, " ".join(words[half:]))
        pause = np.zeros(int(PAUSE_S * SAMPLE_RATE), np.float32)
        speech = np.concatenate([first, pause, second])
        start = position / SAMPLE_RATE
        spans.append(Turn(start, start + len(first) / SAMPLE_RATE, " ".join(words[:half])))
        after = start + (len(first) + len(pause)) / SAMPLE_RATE
        spans.append(Turn(after, after + len(second) / SAMPLE_RATE, " ".join(words[half:])))
        room = np.zeros(int(SENTENCE_GAP_S * SAMPLE_RATE), np.float32)
        pieces += [speech, room]
        position += len(speech) + len(room)
    pieces.append(np.zeros(5 * SAMPLE_RATE, np.float32))  # the last translation
    return np.concatenate(pieces), spans


def overlapping_conversation(voice: Any) -> tuple[np.ndarray, list[Turn]]:
    """Six turns; each next one starts while the device still speaks the previous reply."""
    pieces, spans, position = [np.zeros(SAMPLE_RATE, np.float32)], [], SAMPLE_RATE
    # The reply starts about 0.9 s after a turn ends and lasts about as long as the turn:
    # the next turn starts 2.0-3.0 s after the end, inside the reply, past the grace window.
    offsets = [2.0, 2.4, 2.8, 2.2, 2.6, 6.0]
    for text, offset in zip(SENTENCES, offsets, strict=True):
        speech = speak(voice, text)
        start = position / SAMPLE_RATE
        spans.append(Turn(start, start + len(speech) / SAMPLE_RATE, text))
        gap = np.zeros(int(offset * SAMPLE_RATE), np.float32)
        pieces += [speech, gap]
        position += len(speech) + len(gap)
    return np.concatenate(pieces), spans


@dataclass
class Run:
    recording: str
    setup: str
    wer: float
    self_utterances: int
    self_words: int
    heard_wer: float
    barge_in_ms: list[float]
    barge_in_from_vad_ms: list[float]
    false_barge_ins: int
    false_at_s: list[float]
    device_speech_min: float
    false_per_min: float
    holds: int
    barge_ins: int
    first_played_p50_ms: float | None
    aec_cpu_per_s: float
    aec_linear_s: float
    dropped_audio_s: float
    transcripts: list[str]
    resumed: int = 0  # false onsets whose pause ended with the reply resumed (no barge-in)
    own_voice_segments: int = 0  # segments the echo check discarded as the device's voice


def _segments(audio: np.ndarray) -> list[tuple[float, float, np.ndarray]]:
    return [(s.start_s, s.end_s, s.audio) for s in segments(audio)]


def _audible(out: np.ndarray, at_s: float) -> bool:
    """The output was playing at ``at_s`` (sound in the 100 ms before)."""
    a = int(at_s * SAMPLE_RATE)
    return bool(np.any(np.abs(out[max(0, a - 1600) : a]) > 1e-3))


def _silence_after(out: np.ndarray, at_s: float) -> float | None:
    """Seconds from ``at_s`` until the output goes silent for 300 ms (longer than the gaps
    between the words and sentences of a reply: a barge-in, or the reply's end)."""
    a, window = int(at_s * SAMPLE_RATE), int(0.3 * SAMPLE_RATE)
    loud = np.abs(out[a:]) > 1e-3
    for i in range(0, len(loud) - window, 16):
        if not loud[i : i + window].any():
            return i / SAMPLE_RATE
    return None


def _in_speech(t: float, spans: list[Turn], margin: float = 0.3) -> bool:
    return any(s.start_s - margin <= t <= s.end_s + margin for s in spans)


def evaluate(
    name: str,
    setup: str,
    wav: Path,
    spans: list[Turn],
    stages: Any,
    recognizer: Any,
    values: dict[str, Any],
    work: Path,
) -> Run:
    out_path = work / f"{name}-{setup}.wav"
    config = LiveConfig(
        source="en",
        target="en",
        mode="vad",
        input=str(wav),
        output=str(out_path),
        volume=100,  # the output as loud as the user: the echo level is simulate_echo's
        **values,
    )
    log, stats = run_session(config, lambda _s, _t: stages)
    said = normalized(" ".join(SENTENCES))
    transcripts = log.of(Transcript)
    import jiwer

    heard = normalized(" ".join(t.text for t in transcripts))
    wer = jiwer.wer(said, heard) if heard else 1.0
    alien = [t for t in transcripts if not any(_overlaps(t, s) for s in spans)]
    out = read_audio(out_path)
    played = " ".join(recognizer.recognize(seg).text for _a, _b, seg in _segments(out))
    heard_wer = jiwer.wer(said, normalized(played)) if played.strip() else 1.0
    starts = log.of(SpeechStarted)
    latencies, from_vad = [], []
    for span in spans:
        if values.get("duplex") == "full" and _audible(out, span.start_s):
            gone = _silence_after(out, span.start_s)
            onset = next((e for e in starts if abs(e.start_s - span.start_s) < 0.3), None)
            if gone is not None and gone < 1.0:
                latencies.append(round(gone * 1000, 1))
                if onset is not None:
                    from_vad.append(round((span.start_s + gone - onset.start_s) * 1000, 1))
    false = [e for e in starts if not _in_speech(e.start_s, spans) and _audible(out, e.start_s)]
    device_min = float(np.count_nonzero(np.abs(out) > 1e-3)) / SAMPLE_RATE / 60
    latency = statistics.median(stats.first_played_ms) if stats.first_played_ms else None
    return Run(
        recording=name,
        setup=setup,
        wer=round(wer * 100, 1),
        self_utterances=len(alien),
        self_words=sum(len(t.text.split()) for t in alien),
        heard_wer=round(heard_wer * 100, 1),
        barge_in_ms=latencies,
        barge_in_from_vad_ms=from_vad,
        false_barge_ins=len(false),
        false_at_s=[round(e.start_s, 2) for e in false],
        device_speech_min=round(device_min, 2),
        false_per_min=round(len(false) / device_min, 2) if device_min else 0.0,
        holds=stats.holds,
        barge_ins=stats.barge_ins,
        first_played_p50_ms=latency,
        aec_cpu_per_s=round(stats.aec_cpu_s / (len(out) / SAMPLE_RATE), 4),
        aec_linear_s=stats.aec_linear_s,
        dropped_audio_s=stats.dropped_audio_s,
        transcripts=[t.text for t in transcripts],
        resumed=stats.resumed,
        own_voice_segments=stats.own_voice_segments,
    )


def _overlaps(t: Transcript, span: Turn) -> bool:
    return t.start_s < span.end_s + 0.3 and t.end_s > span.start_s - 0.3


def aec_alone(wav: Path, seconds: float = 30.0) -> dict[str, float]:
    """The canceller by itself: CPU per second of audio, 32 ms blocks, both directions."""
    user = read_audio(wav)[: int(seconds * SAMPLE_RATE)]
    far = np.roll(user, SAMPLE_RATE)  # any speech as the far end
    echo = EchoPath(1.0, SAMPLE_RATE, Room())
    echo.feed(far)
    aec = EchoCanceller()
    block = 512
    started = time.process_time()
    for i in range(0, len(user) - block, block):
        aec.process_render(far[i : i + block])
        aec.process_capture(user[i : i + block] + echo.take(i, block))
    cpu = time.process_time() - started
    return {
        "audio_s": len(user) / SAMPLE_RATE,
        "cpu_per_s": round(cpu / (len(user) / SAMPLE_RATE), 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", default=os.environ.get("EDGE_MODELS_DIR"))
    parser.add_argument("--quick", action="store_true", help="the mid room only")
    parser.add_argument("--only", nargs="*", default=(), help="setups whose name has this")
    parser.add_argument("--recordings", nargs="*", default=("pauses", "conversation"))
    parser.add_argument("--json", metavar="FILE", help="write the runs here too")
    args = parser.parse_args()
    models = Path(args.models_dir or ROOT / ".cache" / "models")
    from edge.tts.piper_tts import PiperTTS

    joe = PiperTTS.load(models / "piper-en_US-joe-medium", noise_scale=0.0, noise_w_scale=0.0)
    config = LiveConfig(
        source="en",
        target="en",
        asr=str(models / "moonshine-tiny-en"),
        tts=str(models / "piper-en_US-joe-medium"),
    )
    stages = ModelLoader(config).stages("en", "en")
    recognizer = stages.recognizer_for("eng_Latn") or stages.segment_asr
    work = Path(tempfile.mkdtemp(prefix="duplex-eval-"))
    recordings = {
        "pauses": paused_recording(joe),
        "conversation": overlapping_conversation(joe),
    }
    runs: list[Run] = []
    for name, (audio, spans) in recordings.items():
        wav = write_wav(work / f"{name}.wav", audio)
        rooms = ["mid"] if args.quick else list(ROOMS)
        setups: list[tuple[str, dict[str, Any]]] = [("no playback", {"duplex": "half"})]
        for room in rooms:
            delay, rt60, level = ROOMS[room]
            echo = {
                "simulate_echo": round(10 ** (level / 20), 3),
                "room_delay_s": delay,
                "room_rt60_s": rt60,
            }
            if room == "mid":
                setups.append((f"half {room}", {"duplex": "half", **echo}))
                setups.append((f"full grace 0 {room}", {"duplex": "full", "grace_s": 0.0, **echo}))
            setups.append((f"full grace 1 {room}", {"duplex": "full", "grace_s": 1.0, **echo}))
        if name not in args.recordings:
            continue
        if args.only:
            setups = [(n, v) for n, v in setups if any(o in n for o in args.only)]
        for setup, values in setups:
            run = evaluate(name, setup, wav, spans, stages, recognizer, values, work)
            runs.append(run)
            print(json.dumps(run.__dict__), flush=True)
    alone = aec_alone(work / "pauses.wav")
    print(json.dumps({"aec_alone": alone}), flush=True)
    print()
    print(
        "| recording | setup | WER % | self utt. | heard WER % | barge-in ms (onset, VAD) "
        "| false/min | holds | p50 first sound ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        barge = (
            f"{statistics.median(r.barge_in_ms):.0f} / {statistics.median(r.barge_in_from_vad_ms):.0f}"
            if r.barge_in_ms and r.barge_in_from_vad_ms
            else "-"
        )
        print(
            f"| {r.recording} | {r.setup} | {r.wer} | {r.self_utterances} | {r.heard_wer} "
            f"| {barge} | {r.false_per_min} ({r.resumed} resumed) | {r.holds} "
            f"| {r.first_played_p50_ms} |"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"runs": [r.__dict__ for r in runs], "aec_alone": alone}, indent=1)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
