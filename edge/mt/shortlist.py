"""Bergamot's binary lexical shortlist (``lex.50.50.*.s2t.bin``).

For each source token it lists the target tokens a translation may use; decoding scores only
those (plus the ``first`` most frequent targets and, with a shared vocabulary, the source
tokens themselves), which makes the output layer about 10x smaller. Layout, little-endian
(browsermt/marian-dev ``src/data/shortlist.h``, ``BinaryShortlistGenerator``)::

    uint64 magic, checksum, first, best, offsets_size, lists_size
    uint64 offsets[offsets_size]     # source token i -> lists[offsets[i]:offsets[i+1]]
    uint32 lists[lists_size]
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from edge.errors import ModelError

MAGIC = 0xF11A48D5013417F5
_HEADER = struct.Struct("<6Q")


class Shortlist:
    """Allowed target ids for a source sentence. Use :meth:`load`."""

    def __init__(self, first: int, offsets: np.ndarray, lists: np.ndarray, shared: bool) -> None:
        self.first = first
        self._offsets = offsets
        self._lists = lists
        self.shared = shared

    @classmethod
    def load(cls, path: str | Path, *, shared_vocabulary: bool = True) -> Shortlist:
        path = Path(path)
        fix = "download the model again (the shortlist is its lex.*.s2t.bin file)"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read shortlist {path}: {exc.strerror}", fix) from None
        if len(data) < _HEADER.size:
            raise ModelError(f"shortlist {path} is truncated (no header)", fix)
        magic, _checksum, first, _best, n_offsets, n_lists = _HEADER.unpack_from(data, 0)
        if magic != MAGIC:
            raise ModelError(
                f"{path} is not a binary lexical shortlist (wrong magic number)",
                "use the lex.*.s2t.bin file that came with the model; text shortlists "
                "must be converted with marian-conv --shortlist",
            )
        expected = _HEADER.size + 8 * n_offsets + 4 * n_lists
        if len(data) != expected:
            raise ModelError(
                f"shortlist {path} is truncated or padded: {len(data)} bytes, "
                f"its header promises {expected}",
                fix,
            )
        offsets = np.frombuffer(data, "<u8", n_offsets, _HEADER.size).astype(np.int64)
        lists = np.frombuffer(data, "<u4", n_lists, _HEADER.size + 8 * n_offsets)
        if n_offsets and (offsets[-1] > n_lists or np.any(np.diff(offsets) < 0)):
            raise ModelError(f"shortlist {path} has corrupt offsets", fix)
        # Kept as read (uint32, 4 MB for a 50x50 list): widened per sentence, not up front.
        return cls(int(first), offsets, lists, shared_vocabulary)

    def allowed(self, source_ids: list[int] | np.ndarray, vocab_size: int) -> np.ndarray:
        """Sorted target ids a translation of ``source_ids`` may use (always includes </s>)."""
        parts = [np.arange(min(self.first, vocab_size), dtype=np.int64)]
        ids = np.asarray(source_ids, dtype=np.int64)
        if self.shared:
            parts.append(ids)
        for token in ids:
            if 0 <= token < len(self._offsets) - 1:
                parts.append(self._lists[self._offsets[token] : self._offsets[token + 1]])
        allowed = np.unique(np.concatenate(parts).astype(np.int64))
        return allowed[allowed < vocab_size]
