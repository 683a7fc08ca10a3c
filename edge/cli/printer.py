"""Events -> lines: text for people, or one JSON object per line (``--json``).

``file_printer`` serves ``edge translate`` and ``edge transcribe``; ``live_printer`` serves
``edge live``, whose status lines go to stderr so stdout holds only what was said.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable


def not_spoken(event: object) -> str | None:
    """The line for speech that is not translated: rejected by the guards, or discarded as not
    speech by the VAD (a discard for being too short is not worth a line)."""
    from ..events import Rejected, SpeechDiscarded

    if isinstance(event, Rejected):
        heard = event.text if len(event.text) <= 60 else event.text[:57].rstrip() + " ..."
        return f"[{event.start_s:7.2f} - {event.end_s:7.2f}] (not spoken: {event.reason}" + (
            f': "{heard}")' if heard else ")"
        )
    if isinstance(event, SpeechDiscarded) and event.reason != "too short":
        return f"[{event.start_s:7.2f}{'':10}] (not spoken: {event.reason})"
    return None


def file_printer(as_json: bool) -> Callable[[object], None]:
    """Transcripts with their times, each translation under its transcript, metrics last."""
    from ..events import AudioOut, Event, Metrics, Transcript, Translation

    # Direct speech translation reports the translation before the source transcript (the
    # second decode): hold translation lines until their utterance's transcript is printed.
    held: dict[int, list[str]] = {}
    last_printed = [0]  # the newest utterance whose transcript is out (ids only grow)

    def show(event: object) -> None:
        assert isinstance(event, Event)
        if as_json:
            if not isinstance(event, AudioOut):
                print(json.dumps(event.to_dict(), ensure_ascii=False), flush=True)
        elif isinstance(event, Transcript):
            print(
                f"[{event.start_s:7.2f} - {event.end_s:7.2f}] {event.lang}: {event.text}",
                flush=True,
            )
            last_printed[0] = max(last_printed[0], event.utterance_id)
            for line in held.pop(event.utterance_id, []):
                print(line, flush=True)
        elif (line := not_spoken(event)) is not None:
            print(line, flush=True)
        elif isinstance(event, Translation):
            line = f"{'':21}-> {event.lang}: {event.text}"
            if event.utterance_id <= last_printed[0]:
                print(line, flush=True)
            else:
                held.setdefault(event.utterance_id, []).append(line)
        elif isinstance(event, Metrics):
            for lines in held.values():
                print("\n".join(lines), flush=True)
            held.clear()
            latencies = event.end_of_speech_to_first_audio_ms
            rtf = ", ".join(f"{k} {v:.3f}" for k, v in event.real_time_factor.items())
            print(
                f"{event.utterances} utterances, {event.audio_s:.1f} s of audio in {event.wall_s:.1f} s"
                f" (real-time factor: {rtf})",
                file=sys.stderr,
            )
            if latencies:
                print(
                    f"end of speech -> first audio: median {sorted(latencies)[len(latencies) // 2]:.0f} ms",
                    file=sys.stderr,
                )

    return show


def live_printer(as_json: bool) -> Callable[[object], None]:
    """What was said on stdout; states, latencies and stage errors on stderr."""
    from ..events import AudioOut, Event, StageError, StateChanged, Transcript, Translation
    from ..live.events import LiveStats, Playback, SessionStarted
    from ..live.handheld import HandheldChanged

    def show(event: object) -> None:
        assert isinstance(event, Event)
        if isinstance(event, AudioOut):
            return
        if as_json:
            print(json.dumps(event.to_dict(), ensure_ascii=False), flush=True)
        elif isinstance(event, SessionStarted):
            print(
                f"edge live {event.language_pair} ({event.mode}, {event.duplex} duplex): "
                f"{event.input} -> {event.output}",
                file=sys.stderr,
                flush=True,
            )
        elif isinstance(event, StateChanged):
            print(f"[{event.state}]", file=sys.stderr, flush=True)
        elif isinstance(event, Transcript):
            print(f"{event.lang}: {event.text}", flush=True)
        elif isinstance(event, Translation):
            print(f"  -> {event.lang}: {event.text}", flush=True)
        elif isinstance(event, Playback) and event.end_of_speech_to_first_played_ms is not None:
            print(
                f"  ({event.end_of_speech_to_first_played_ms:.0f} ms to first sound"
                f"{', interrupted' if event.interrupted else ''})",
                file=sys.stderr,
                flush=True,
            )
        elif isinstance(event, StageError):
            print(f"edge: {event.stage}: {event.message}", file=sys.stderr, flush=True)
        elif isinstance(event, HandheldChanged):
            print(f"edge: {event.describe()}", file=sys.stderr, flush=True)
        elif (line := not_spoken(event)) is not None:
            print(line, file=sys.stderr, flush=True)
        elif isinstance(event, LiveStats):
            print(
                f"{event.utterances} utterances, {event.played} played, {event.barge_ins} "
                f"barge-ins, {event.overruns} overruns in {event.wall_s:.0f} s",
                file=sys.stderr,
            )

    return show


def print_json_line(record: dict[str, object]) -> None:
    print(json.dumps(record, ensure_ascii=False), flush=True)
