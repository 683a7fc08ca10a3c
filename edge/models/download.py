"""HTTPS downloads that survive bad links: resume with HTTP Range, retries with backoff,
stall detection, size and sha256 verification, and an atomic rename at the end.

A partial download stays on disk as ``NAME.part`` so that the next run, even after the
process was killed, continues where it stopped. ``If-Range`` guards against appending to a
file that changed on the server in between.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import http.client
import json
import os
import random
import re
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .. import __version__
from ..errors import ModelError

CHUNK = 1 << 16
# Statuses that another attempt at the same URL will not fix.
PERMANENT_STATUS = frozenset({400, 401, 403, 404, 405, 410, 451})


class DownloadError(ModelError):
    """A file could not be downloaded from one source."""


class ChecksumError(ModelError):
    """Downloaded or imported bytes differ from the published size or sha256.

    ``actual`` is the sha256 the bytes have ("" when the size was already wrong) and
    ``actual_size`` their size.
    """

    actual: str = ""
    actual_size: int = 0


class PinMismatchError(ChecksumError):
    """A download differs from the sha256 pinned locally on an earlier first use.

    Never reported as corruption: the upstream file changed (or the download is broken)
    since the pin was taken, and only the user can decide to trust the new bytes.
    """

    def __init__(
        self,
        model_id: str,
        key: str,
        pinned: str,
        actual: str,
        actual_size: int,
        pinned_at: str = "",
        pinned_size: int = 0,
    ) -> None:
        name = key.split(":", 1)[-1]
        when = f"on {pinned_at[:10]}" if pinned_at else "on an earlier download"
        was = f"{pinned_size} bytes, " if pinned_size else ""
        now = f"{actual_size} bytes, " if actual_size else ""
        super().__init__(
            f"{model_id}: the upstream file {name} changed since it was pinned {when} "
            f"(now {now}sha256 {actual[:12] or '?'}..., pinned {was}sha256 {pinned[:12]}...)",
            f"nothing was installed; if the publisher changed it on purpose, re-pin it "
            f"deliberately: edge models pull {model_id} --repin",
        )
        self.model_id = model_id
        self.key = key
        self.pinned = pinned
        self.actual = actual
        self.actual_size = actual_size


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    # A read that waits longer than this is a stalled connection: drop it and resume.
    timeout_s: float = 30.0


class _Permanent(Exception):
    pass


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def check_file(path: Path, size: int, sha256: str, label: str) -> str:
    """Return the file's sha256 after checking it against the expected size and digest."""
    actual_size = path.stat().st_size
    if size and actual_size != size:
        error = ChecksumError(
            f"{label} is {actual_size} bytes, expected {size}",
            "the file is incomplete or not the published one; download it again",
        )
        error.actual_size = actual_size
        raise error
    digest = sha256_file(path)
    if sha256 and digest != sha256.lower():
        error = ChecksumError(
            f"{label} has sha256 {digest[:16]}..., expected {sha256[:16]}...",
            "the file is corrupt or not the published one; download it again",
        )
        error.actual, error.actual_size = digest, actual_size
        raise error
    return digest


def download(
    url: str,
    dest: Path,
    *,
    size: int = 0,
    sha256: str = "",
    progress: bool = False,
    policy: RetryPolicy = RetryPolicy(),
) -> str:
    """Download ``url`` to ``dest`` and return its sha256.

    ``size`` and ``sha256`` are checked when given (0 and "" mean unknown). A file whose
    checksum does not match is deleted, so the next attempt starts clean.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        try:
            return check_file(dest, size, sha256, dest.name)
        except ChecksumError:
            dest.unlink()
    part = dest.with_name(dest.name + ".part")
    meta = dest.with_name(dest.name + ".part.json")
    last_error: BaseException | None = None
    for attempt in range(policy.attempts):
        if attempt:
            delay = min(policy.max_backoff_s, policy.backoff_s * 2 ** (attempt - 1))
            time.sleep(delay * random.uniform(0.5, 1.0))
        try:
            _fetch_once(url, part, meta, size, progress, policy.timeout_s, dest.name)
            break
        except _Permanent as exc:
            raise DownloadError(f"cannot download {url}: {exc}", "try another source") from None
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DownloadError(
                    f"disk full while downloading {dest.name} to {dest.parent}",
                    "free some space or set EDGE_MODELS_DIR to a larger disk",
                ) from None
            last_error = exc
        except http.client.HTTPException as exc:
            last_error = exc
    else:
        raise DownloadError(
            f"download of {url} failed after {policy.attempts} attempts ({last_error})",
            "check the network and run the same command again: it resumes where it stopped",
        )
    try:
        digest = check_file(part, size, sha256, f"download of {url}")
    except ChecksumError:
        part.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    meta.unlink(missing_ok=True)
    return digest


def gunzip(src: Path, dest: Path, *, max_bytes: int) -> None:
    """Decompress the downloaded ``src`` into ``dest``, streamed, written atomically.

    ``src`` was checked against its pinned size and sha256 first. A stream that is not
    gzip (an HTML error page), ends early, or expands past ``max_bytes`` deletes ``src``
    so that the next run downloads it again.
    """
    part = dest.with_name(dest.name + ".part")
    written = 0
    try:
        with gzip.open(src, "rb") as f, open(part, "wb") as out:
            while block := f.read(1 << 20):
                written += len(block)
                if written > max_bytes:
                    raise ValueError(f"expands past {max_bytes} bytes")
                out.write(block)
    except (gzip.BadGzipFile, EOFError, zlib.error, ValueError) as exc:
        part.unlink(missing_ok=True)
        src.unlink(missing_ok=True)
        raise ChecksumError(
            f"{src.name} is not a complete gzip file ({exc})",
            "the download is corrupt or not the published file; download it again",
        ) from None
    except OSError as exc:
        part.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise DownloadError(
                f"disk full while decompressing {src.name} to {dest.parent}",
                "free some space or set EDGE_MODELS_DIR to a larger disk",
            ) from None
        raise
    os.replace(part, dest)


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) from a Content-Range header such as ``bytes 10-99/100``."""
    match = re.match(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", value or "")
    if not match:
        return None, None
    first = int(match.group(1)) if match.group(1) else None
    total = int(match.group(2)) if match.group(2) != "*" else None
    return first, total


def _fetch_once(
    url: str, part: Path, meta: Path, size: int, progress: bool, timeout: float, label: str
) -> None:
    have = part.stat().st_size if part.exists() else 0
    if size and have > size:
        part.unlink()
        have = 0
    if size and have == size:
        return
    headers = {"User-Agent": f"edge-translator/{__version__}", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
        validator = json.loads(meta.read_text()).get("validator") if meta.exists() else None
        if validator:
            headers["If-Range"] = validator
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=timeout
        )
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            _, total = _content_range(exc.headers.get("Content-Range"))
            if total == have:
                return  # the previous run had already received every byte
            part.unlink()
        if exc.code in PERMANENT_STATUS:
            raise _Permanent(f"HTTP {exc.code} {exc.reason}") from None
        raise
    with response:
        if response.status == 206:
            first, _ = _content_range(response.headers.get("Content-Range"))
            if first != have:
                part.unlink()
                raise ConnectionError(f"server resumed at byte {first}, expected {have}")
            mode = "ab"
        else:  # 200: the server ignored the range or the file changed; start over
            have = 0
            mode = "wb"
        etag = response.headers.get("ETag")
        validator = (
            etag if etag and not etag.startswith("W/") else response.headers.get("Last-Modified")
        )
        meta.write_text(json.dumps({"url": url, "validator": validator}))
        length = response.headers.get("Content-Length")
        expected = have + int(length) if length and length.isdigit() else None
        if size and expected is not None and expected != size:
            raise _Permanent(f"the server's file is {expected} bytes, the catalog says {size}")
        with (
            open(part, mode) as out,
            tqdm(
                total=expected or size or None,
                initial=have,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=label,
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    received = part.stat().st_size
    if expected is not None and received < expected:
        raise ConnectionError(f"connection closed after {received} of {expected} bytes")
