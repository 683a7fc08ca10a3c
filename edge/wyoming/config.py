"""Settings of ``edge wyoming``: where it listens, what it serves and the limits it enforces.

Each user setting is a field made with :func:`edge.settings.setting`: ``edge wyoming``'s
flags come from these fields (``max_audio_s`` is ``--max-audio``) and their defaults live
here only. The model filters (``--asr``, ``--voice``, ``--mt``, repeatable) and the internal
limits below them are plain fields.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ..errors import EdgeError, LanguageError
from ..languages import to_flores
from ..settings import THREADS, Bounds, ModelSettings, bounds, flag, redefault, setting, settings

DEFAULT_URI = "tcp://127.0.0.1:10300"
_URI_FIX = "use tcp://127.0.0.1:10300 (or tcp://0.0.0.0:PORT for every interface) or unix:///PATH"
SECTION = "wyoming"


@dataclass
class ServerConfig:
    """What one Wyoming server serves and how much it accepts from each client."""

    uri: str = setting(
        DEFAULT_URI,
        section=SECTION,
        metavar="URI",
        help="where to listen: tcp://HOST:PORT or unix:///PATH (tcp://0.0.0.0:PORT listens on "
        "every interface)",
    )
    """Where to listen: ``tcp://HOST:PORT`` or ``unix:///path``. Loopback by default: other
    machines (Home Assistant on another host) reach it only when a non-loopback host such as
    ``0.0.0.0`` is asked for explicitly."""

    models_dir: Path | str | None = redefault(ModelSettings, "models_dir", None)
    """The models directory (None: ``$EDGE_MODELS_DIR`` or the per-user default)."""

    target: str | None = setting(
        None,
        section=SECTION,
        metavar="LANG",
        help="language the translate program translates into (default: the request's "
        "target_language, else the only one the installed models translate into)",
    )
    """Language the ``edge translate`` handle program translates into (any code
    ``edge languages`` knows; stored as FLORES-200). None: a request's context
    ``target_language``, else the only language an installed model translates its text into."""

    asr: tuple[str, ...] = ()
    """Ids of the installed speech recognition models to serve; empty: all of them."""

    voices: tuple[str, ...] = ()
    """Ids of the voices to serve (installed Piper voices, ``espeak-ng-<FLORES code>``);
    empty: every installed Piper voice, and espeak-ng for each language the served
    translation models translate into that no Piper voice speaks."""

    mt: tuple[str, ...] = ()
    """Ids of the installed translation models to serve; empty: all of them."""

    preload: bool = setting(
        False,
        section=SECTION,
        kind=bool,
        help="load every served model at start-up, not on its first request",
    )
    """Load every served model at start-up instead of on its first request (the first
    request then pays no load time; memory is taken for models that may never be used)."""

    threads: int | None = setting(
        None,
        section="runtime",
        bounds=THREADS,
        kind=int,
        help="threads per served model (default: edge's per-stage defaults for this many cores)",
    )
    """Threads per model (None: edge's per-stage defaults for this machine's cores)."""

    max_clients: int = setting(
        8,
        section=SECTION,
        bounds=Bounds(1, 10000),
        kind=int,
        metavar="N",
        help="connections served at once; a further client gets an error and is closed",
    )
    """Connections served at once; a further client gets an ``error`` event and is closed."""

    max_audio_s: float = setting(
        60.0,
        section=SECTION,
        bounds=Bounds(0, 86400, exclusive=True),
        metavar="S",
        help="longest audio accepted per transcription request, in seconds",
    )
    """Longest audio accepted per transcription request, in seconds of input audio."""

    max_text_chars: int = setting(
        2000,
        section=SECTION,
        bounds=Bounds(1, 10**7),
        kind=int,
        metavar="N",
        help="longest text accepted per synthesis or translation request, in characters",
    )
    """Longest text accepted per synthesis (all chunks of a stream) or translation request."""

    idle_timeout_s: float = setting(
        120.0,
        section=SECTION,
        bounds=Bounds(0, 86400, exclusive=True),
        metavar="S",
        help="close a client that sends nothing for this many seconds",
    )
    """A client that sends nothing for this long is closed, so that silent connections do
    not hold the ``max_clients`` slots."""

    # Internal limits (no flags): what a network service needs, not what a user tunes.
    max_event_bytes: int = 8 * 2**20
    """Largest data + payload one event may declare (an audio chunk of 8 MiB is 87 s of
    48 kHz 16-bit stereo); a larger declaration is refused before anything is read."""

    samples_per_chunk: int = 1024
    """Samples per ``audio-chunk`` event of synthesized speech."""

    workers: int = 4
    """Threads that run model calls off the event loop (each model runs one call at a time)."""

    def __post_init__(self) -> None:
        if isinstance(self.models_dir, str):
            self.models_dir = Path(self.models_dir)

    def validate(self) -> ServerConfig:
        """Check every value; raises :class:`EdgeError` with a fix. Returns self.

        The command line refuses out-of-range flags itself (their bounds); this checks a
        config built in code against the same bounds.
        """
        endpoint(self.uri)
        if self.target is not None:
            self.target = to_flores(self.target)
        for f in settings(ServerConfig):
            limits, value = bounds(f), getattr(self, f.name)
            problem = limits.problem(value) if limits is not None and value is not None else None
            if problem is not None:
                raise EdgeError(
                    f"{flag(f)} {problem}, not {value}", f"give {flag(f)} {limits.describe()}"
                )
        for name in ("max_event_bytes", "samples_per_chunk", "workers"):
            value = getattr(self, name)
            if not value > 0:
                raise EdgeError(
                    f"{name} must be above 0, not {value}", f"give {name} a positive value"
                )
        return self


@dataclass(frozen=True)
class Endpoint:
    """A parsed listening URI."""

    scheme: str  # "tcp" or "unix"
    host: str = ""
    port: int = 0
    path: str = ""

    @property
    def all_interfaces(self) -> bool:
        return self.scheme == "tcp" and self.host in ("0.0.0.0", "::", "")

    @property
    def loopback(self) -> bool:
        if self.scheme != "tcp":
            return True  # a Unix socket is reachable from this machine only
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False  # a host name that may resolve to a public address

    def exposure_warning(self) -> str | None:
        """One line to print when the server is reachable from other machines, else None."""
        if self.all_interfaces:
            return (
                f"edge wyoming: warning: listening on all interfaces (port {self.port}): "
                "any machine that reaches this one can use the server; it has no authentication"
            )
        if not self.loopback:
            return (
                f"edge wyoming: warning: listening on {self.host}:{self.port}, reachable from "
                "other machines; the server has no authentication"
            )
        return None


def endpoint(uri: str) -> Endpoint:
    """Parse ``uri``; raises :class:`EdgeError` naming what is wrong with it."""
    try:
        parsed = urlparse(uri)
        port = parsed.port
    except ValueError as exc:
        raise EdgeError(f"bad --uri {uri!r}: {exc}", _URI_FIX) from None
    if parsed.scheme == "unix":
        if not parsed.path:
            raise EdgeError(f"bad --uri {uri!r}: no socket path", _URI_FIX)
        return Endpoint("unix", path=parsed.path)
    if parsed.scheme != "tcp":
        raise EdgeError(f"bad --uri {uri!r}: the scheme must be tcp or unix", _URI_FIX)
    if parsed.hostname is None or port is None:
        raise EdgeError(f"bad --uri {uri!r}: it needs a host and a port", _URI_FIX)
    return Endpoint("tcp", host=parsed.hostname, port=port)


def flores_or_none(code: str | None) -> str | None:
    """A request's language as FLORES-200; None for none given. Raises LanguageError."""
    if code is None or not str(code).strip():
        return None
    if not isinstance(code, str):
        raise LanguageError(f"language must be a string, not {code!r}", "send a code such as en")
    return to_flores(code)
