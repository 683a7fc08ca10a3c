#!/usr/bin/env python3
"""Load run of ``edge wyoming``: M clients x K requests per program; throughput and latency.

    python tools/wyoming_load.py [--clients 4] [--requests 10] [--programs asr,tts,handle]
    python tools/wyoming_load.py --uri tcp://127.0.0.1:10300   # a server that already runs

Without ``--uri`` it starts ``python -m edge.wyoming --preload`` on a free loopback port
(Moonshine tiny, Piper joe, Bergamot en->pt) and stops it at the end. Each request is a new
connection, as Home Assistant makes them; the M clients of a program run at once, each
sending its K requests one after another. Audio is sent as fast as the socket takes it.

Latency per program (seconds, p50 and p95 over all M x K requests):

* asr: from ``audio-stop`` sent to ``transcript`` received (what a speaker waits for once
  the end of speech is detected); the request is ``samples/en_station.flac`` (7.1 s).
* tts: from ``synthesize`` sent to the first ``audio-chunk`` (time to first sound), and
  to ``audio-stop``; the text is one 9-word sentence.
* handle: from ``transcript`` sent to ``handled`` received; one 7-word English sentence.

Not run in CI: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient
from wyoming.info import Describe
from wyoming.tts import Synthesize

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "samples" / "en_station.flac"
TTS_TEXT = "The train to the airport leaves at nine this evening."
MT_TEXT = "Please show me the way to the museum."
CHUNK_BYTES = 2048  # 64 ms of 16 kHz 16-bit mono, as a satellite sends it


@dataclass
class Stats:
    program: str
    latencies: list[float] = field(default_factory=list)
    firsts: list[float] = field(default_factory=list)  # tts: time to the first audio
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def line(self) -> str:
        def pct(values: list[float], q: float) -> str:
            if not values:
                return "-"
            ordered = sorted(values)
            return f"{ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]:.3f}"

        done = len(self.latencies)
        rate = done / self.wall_s if self.wall_s else 0.0
        first = (
            f"  first audio p50 {pct(self.firsts, 0.5)} p95 {pct(self.firsts, 0.95)}"
            if self.firsts
            else ""
        )
        return (
            f"{self.program:7} {done:4} ok {len(self.errors):3} errors  {rate:6.2f} req/s  "
            f"latency p50 {pct(self.latencies, 0.5)} p95 {pct(self.latencies, 0.95)} "
            f"mean {statistics.fmean(self.latencies) if done else 0:.3f}{first}"
        )


async def _until(client: AsyncClient, wanted: str) -> tuple[str, dict]:
    while True:
        event = await asyncio.wait_for(client.read_event(), 120)
        if event is None:
            return "closed", {}
        if event.type in (wanted, "error"):
            return event.type, event.data


async def asr_request(uri: str, pcm: bytes, stats: Stats) -> None:
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        for offset in range(0, len(pcm), CHUNK_BYTES):
            chunk = pcm[offset : offset + CHUNK_BYTES]
            await client.write_event(
                AudioChunk(rate=16000, width=2, channels=1, audio=chunk).event()
            )
        started = time.perf_counter()
        await client.write_event(AudioStop().event())
        kind, data = await _until(client, "transcript")
    if kind != "transcript" or "lisbon" not in data.get("text", "").lower():
        stats.errors.append(f"{kind}: {data}")
    else:
        stats.latencies.append(time.perf_counter() - started)


async def tts_request(uri: str, stats: Stats) -> None:
    started = time.perf_counter()
    first: float | None = None
    audio = 0
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Synthesize(text=TTS_TEXT).event())
        while True:
            event = await asyncio.wait_for(client.read_event(), 120)
            if event is None or event.type == "error":
                stats.errors.append(str(event and event.data))
                return
            if event.type == "audio-chunk":
                first = first if first is not None else time.perf_counter() - started
                audio += len(event.payload or b"")
            if event.type == "audio-stop":
                break
    if audio == 0 or first is None:
        stats.errors.append("no audio")
        return
    stats.firsts.append(first)
    stats.latencies.append(time.perf_counter() - started)


async def handle_request(uri: str, stats: Stats) -> None:
    started = time.perf_counter()
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Transcript(text=MT_TEXT, language="en").event())
        kind, data = await _until(client, "handled")
    if kind != "handled" or not data.get("text"):
        stats.errors.append(f"{kind}: {data}")
    else:
        stats.latencies.append(time.perf_counter() - started)


async def run_program(
    program: str, clients: int, requests: int, one: Callable[[Stats], Awaitable[None]]
) -> Stats:
    stats = Stats(program)

    async def client() -> None:
        for _ in range(requests):
            try:
                await one(stats)
            except (OSError, asyncio.TimeoutError) as exc:
                stats.errors.append(repr(exc))

    await one(Stats(program))  # warm-up, not counted
    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    stats.wall_s = time.perf_counter() - started
    return stats


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_ready(uri: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            async with AsyncClient.from_uri(uri) as client:
                await client.write_event(Describe().event())
                if await _until(client, "info"):
                    return
        except OSError:
            await asyncio.sleep(0.5)
    raise SystemExit("the server did not answer within 180 s")


async def main_async(args: argparse.Namespace) -> int:
    speech, rate = sf.read(SPEECH, dtype="float32")
    assert rate == 16000
    pcm = (np.clip(speech, -1, 1) * 32767).astype("<i2").tobytes()
    server = None
    uri = args.uri
    if uri is None:
        uri = f"tcp://127.0.0.1:{_free_port()}"
        command = [
            sys.executable, "-m", "edge.wyoming", "--uri", uri, "--preload",
            "--asr", "moonshine-tiny-en", "--voice", "piper-en_US-joe-medium",
            "--mt", "bergamot-en-pt-tiny", "--max-clients", str(max(8, args.clients + 1)),
        ]  # fmt: skip
        if args.threads:
            command += ["--threads", str(args.threads)]
        server = subprocess.Popen(command, cwd=ROOT, env=os.environ.copy())
    try:
        await _wait_ready(uri, server) if server else None
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores ({_cpu_name()}); "
            f"{args.clients} clients x {args.requests} requests per program; {uri}"
        )
        work = {
            "asr": lambda s: asr_request(uri, pcm, s),
            "tts": lambda s: tts_request(uri, s),
            "handle": lambda s: handle_request(uri, s),
        }
        failed = False
        for program in args.programs.split(","):
            stats = await run_program(program, args.clients, args.requests, work[program])
            print(stats.line(), flush=True)
            for error in stats.errors[:3]:
                print(f"  error: {error}")
            failed = failed or bool(stats.errors)
        return 1 if failed else 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", help="a running server (default: start one)")
    parser.add_argument("--clients", type=int, default=4, help="clients at once (M)")
    parser.add_argument("--requests", type=int, default=10, help="requests per client (K)")
    parser.add_argument("--programs", default="asr,tts,handle")
    parser.add_argument("--threads", type=int, help="--threads of the started server")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
