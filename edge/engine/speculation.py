"""The ledger of which jobs are still wanted: open, stale, confirmed and cancelled.

A job is *speculative* when the listener decoded a segment at a pause, before the hangover
confirmed its end; *stale* once that utterance's newest segment is another (speech
resumed), or, for a warm-up job from partials, once a newer partial or the final decode
took its place; *live* when it is to be spoken: final, or speculative on the segment the
hangover confirmed; *dropped* when nobody will hear it (stale, cancelled by a barge-in, or
transcription only).

Thread ownership: the listener writes the segment tables, the partial-sentence tables and
``_finalized``; the caller's thread (``Engine.cancel_output``) writes
``_cancelled_through``; the translator and the speaker only read, through ``stale``,
``live``, ``cancelled`` and ``dropped``. Each write replaces one dict entry or one int, which
the GIL makes atomic, so readers see either the old or the new state, never a torn one.
Tables keep the last few utterances only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from ..vad import SpeechSegment
from .messages import SegmentKey, Sentence

KEEP_UTTERANCES = 8  # segment tables forget utterances this much older than the newest


class Memo:
    """Small LRU of results keyed by their input, safe to share between threads."""

    def __init__(self, size: int = 32) -> None:
        self._items: OrderedDict[Hashable, object] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> object | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def put(self, key: Hashable, value: object) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def segment_key(utterance_id: int, segment: SpeechSegment) -> SegmentKey:
    return (utterance_id, round(segment.start_s, 3), round(segment.end_s, 3))


class Ledger:
    def __init__(self) -> None:
        self._cancelled_through = 0  # speech of utterances up to this id is not spoken
        # Per utterance, the segment of the newest speculation or of the final decode: older
        # speculative jobs still queued are stale and skipped instead of competing for cores.
        self._current: dict[int, SegmentKey] = {}
        # The newest speculation of each utterance, and the speculations the hangover
        # confirmed: their jobs are the final ones.
        self._speculated: dict[int, SegmentKey] = {}
        self._confirmed: dict[int, SegmentKey] = {}
        # Partial re-decoding: per open utterance, the complete sentences of the last partial
        # and the ones sent to warm the MT and TTS caches (by index); utterances up to
        # ``_finalized`` have sent their final jobs, so their warm-up jobs are stale.
        self._partial_done: dict[int, list[str]] = {}
        self._warm: dict[int, dict[int, str]] = {}
        self._finalized = 0

    # --- listener: writes ----------------------------------------------------------------

    def track(self, utterance_id: int, segment: SpeechSegment) -> SegmentKey:
        """``segment`` is now the utterance's newest: jobs from earlier ones become stale."""
        key = segment_key(utterance_id, segment)
        self._current[utterance_id] = key
        for table in (self._current, self._speculated, self._confirmed):
            for old in [u for u in table if u < utterance_id - KEEP_UTTERANCES]:
                del table[old]
        return key

    def speculated(self, utterance_id: int, key: SegmentKey) -> None:
        self._speculated[utterance_id] = key

    def adopt(self, utterance_id: int, key: SegmentKey) -> bool:
        """Confirm the speculation if it was on exactly this audio (its jobs become final)."""
        if self._speculated.get(utterance_id) != key:
            return False
        self._confirmed[utterance_id] = key
        return True

    def partial(self, utterance_id: int, done: list[str]) -> list[str]:
        """Record the complete sentences of a new partial; the previous partial's."""
        previous = self._partial_done.get(utterance_id, [])
        self._partial_done[utterance_id] = done
        return previous

    def warm(self, utterance_id: int, index: int, sentence: str) -> bool:
        """Mark ``sentence`` as the one warming at ``index`` (False if it already is): a job
        warming another text at this index is now stale."""
        warm = self._warm.setdefault(utterance_id, {})
        if warm.get(index) == sentence:
            return False
        warm[index] = sentence
        return True

    def end_partials(self, utterance_id: int) -> None:
        """The utterance's final jobs are queued (or it was discarded): its warm-up is over."""
        self._finalized = max(self._finalized, utterance_id)
        self._partial_done.pop(utterance_id, None)
        self._warm.pop(utterance_id, None)

    # --- caller's thread -----------------------------------------------------------------

    def cancel(self, through_utterance_id: int) -> None:
        self._cancelled_through = max(self._cancelled_through, through_utterance_id)

    # --- translator and speaker: reads ---------------------------------------------------

    def cancelled(self, utterance_id: int) -> bool:
        return utterance_id <= self._cancelled_through

    def stale(self, job: Sentence) -> bool:
        """A speculative job whose audio has since grown (speech resumed after the pause); a
        warm-up job once a newer partial warmed another sentence at its index, or once its
        utterance's final jobs are queued (one for the same sentence takes its decode over:
        ``Translator._stream``)."""
        if job.warm_only:
            uid = job.utterance_id
            return uid <= self._finalized or self._warm.get(uid, {}).get(job.index) != job.text
        return job.speculative and self._current.get(job.utterance_id) != job.segment_key

    def live(self, job: Sentence) -> bool:
        """Final, or speculative on audio the hangover has confirmed: to be spoken."""
        if job.warm_only:
            return False
        return not job.speculative or self._confirmed.get(job.utterance_id) == job.segment_key

    def dropped(self, job: Sentence) -> bool:
        """Nothing to translate (transcription only), or nobody will hear it."""
        return job.target is None or self.cancelled(job.utterance_id) or self.stale(job)
