"""The translator thread: sentences in, phrases out, in order.

It batches whatever sentences are waiting (one decode call amortizes the overhead), streams
the first one still to be decoded word by word so its first phrase can be spoken before the
sentence is translated to the end, and cuts the translation into phrases for the speaker.

Thread ownership: the translator thread alone runs this class and owns its MT memo and the
"mt" counters in ``Meter``. It reads the ``Ledger`` (stale, cancelled) and peeks at the
sentence queue under its mutex to find a job to hand a decode over to.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Sequence
from typing import TypeGuard

from ..errors import EdgeError
from ..events import StageError
from ..mt.base import TextTranslator, WordStreamingTranslator
from ..tts.chunking import PhraseCutter
from .messages import Phrase, Sentence, SentenceItem, Stop, UtteranceDone
from .shared import Part, Shared
from .speculation import Memo

log = logging.getLogger(__name__)

BATCH = 8  # sentences decoded together at most
# Output still to play (edge.engine.metrics.Meter.audio_until) beyond which a sentence is not
# cut into phrases: synthesizing a whole sentence takes about this long on a slow device.
BACKLOG_S = 0.5

Job = Sentence | UtteranceDone


class Translator(Part):
    def __init__(self, shared: Shared) -> None:
        super().__init__(shared)
        self._memo = Memo()  # translations by ``Sentence.mt_key``

    def run(self) -> None:
        channels = self.channels
        while True:
            item = channels.get(channels.sentences)
            if isinstance(item, Stop):
                break
            batch: list[SentenceItem] = [item]
            # Batch whatever else is already waiting: one decode call amortizes the overhead.
            while len(batch) < BATCH:
                try:
                    nxt = channels.sentences.get_nowait()
                except queue.Empty:
                    break
                batch.append(nxt)
            stop_after = any(isinstance(job, Stop) for job in batch)
            self._translate_batch([job for job in batch if not isinstance(job, Stop)])
            if stop_after:
                break
        channels.put(channels.speech, Stop())

    def _translate_batch(self, items: list[Job]) -> None:
        """Translate the sentences among ``items`` into phrases for the speaker, in order.

        The first sentence still to be decoded is streamed word by word, so its first phrase
        can be spoken before it is translated to the end; the ones after it are decoded
        together in one batch.
        """
        streamed = False
        for position, item in enumerate(items):
            if not isinstance(item, Sentence):
                self.channels.put(self.channels.speech, item)
                continue
            job = item
            if job.inherited:  # its phrases came from an earlier job's decode
                continue
            if self.ledger.dropped(job):
                self._say(job, "", last=True)
                continue
            if job.translated is None:
                text = self._memo.get(job.mt_key)
                if text is None and streamed:
                    self._decode_batch([j for j in items[position:] if self._needs_mt(j)])
                    text = self._memo.get(job.mt_key)
                if text is None:
                    streamed = True
                    self._stream(job, items[position + 1 :])
                    continue
                job.translated = str(text)
            self._put_phrases(job, job.translated.split())

    def _needs_mt(self, job: Job) -> TypeGuard[Sentence]:
        return (
            isinstance(job, Sentence)
            and not self.ledger.dropped(job)
            and job.translated is None
            and self._memo.get(job.mt_key) is None
        )

    def _decode_batch(self, jobs: Sequence[Sentence]) -> None:
        """Translate ``jobs`` into the memo, one decode call per language pair."""
        # A speculative job and the final one for the same sentence can share a batch (the
        # translator was busy when both arrived): decode each sentence once.
        unique = list({j.mt_key: j for j in jobs}.values())
        groups: dict[tuple[str, str], list[Sentence]] = {}
        for job in unique:
            assert job.target is not None
            groups.setdefault((job.lang, job.target), []).append(job)
        for (lang, target), group in groups.items():
            mt = self._mt_for(lang, target)
            t0 = time.perf_counter()
            if mt is None:  # same source and target language: nothing to translate
                outputs = [j.text for j in group]
            else:
                try:
                    outputs = mt.translate([j.text for j in group], lang, target)
                except EdgeError:
                    raise
                except Exception as exc:  # one failed batch must not end the session
                    log.exception("translation failed")
                    self.channels.emit(StageError("mt", str(exc), group[0].utterance_id))
                    outputs = [""] * len(group)
            for job, out in zip(group, outputs, strict=True):
                self._memo.put(job.mt_key, out)
            self._count(group, time.perf_counter() - t0)

    def _stream(self, job: Sentence, pending: Sequence[Job] = ()) -> None:
        """Translate one sentence, handing each phrase to the speaker as soon as it is decoded.

        A job that nobody will hear as it is (a warm-up from partials, or a speculation whose
        audio has since grown) hands its decode over to a job queued for the same sentence
        (``pending``: the rest of the batch, then the queue) instead of being abandoned and
        started over: the phrases cut so far become the new job's, the rest follow as decoded.
        """
        assert job.target is not None
        mt = self._mt_for(job.lang, job.target)
        if mt is None or not isinstance(mt, WordStreamingTranslator):
            self._decode_batch([job])
            job.translated = str(self._memo.get(job.mt_key))
            self._put_phrases(job, job.translated.split())
            return
        stopping, dropped = self.channels.stop.is_set, self.ledger.dropped
        cutter = self._cutter(job)
        words: list[str] = []
        phrases: list[str] = []
        owners = [job]  # the jobs this decode has been for, the current one last
        t0 = time.perf_counter()
        stream = mt.translate_words(job.text, job.lang, job.target)
        try:
            for word in stream:
                heir = None if stopping() else self._heir(job, pending)
                if heir is not None:
                    heir.inherited = True
                    for text in phrases:
                        self._say(heir, text, last=False)
                    owners.append(heir)
                    job = heir
                if dropped(job):  # an earlier owner may still want it (a warm-up)
                    job = next((o for o in reversed(owners) if not dropped(o)), job)
                if stopping() or dropped(job):
                    # Abandoned: nobody will hear it, the cores have better things to do. The
                    # speaker still gets the sentence's end, to close a cancelled utterance.
                    self._say(job, "", last=True)
                    return
                words.append(word)
                phrase = cutter.push(word)
                if phrase is not None:
                    phrases.append(phrase)
                    self._say(job, phrase, last=False)
        except EdgeError:
            raise
        except Exception as exc:  # one failed sentence must not end the session
            log.exception("translation failed")
            self.channels.emit(StageError("mt", str(exc), job.utterance_id))
        finally:
            stream.close()
            self._count([job], time.perf_counter() - t0)
        job.translated = " ".join(words)
        self._memo.put(job.mt_key, job.translated)
        self._say(job, cutter.finish() or "", last=True)

    def _heir(self, job: Sentence, pending: Sequence[Job]) -> Sentence | None:
        """A queued job for ``job``'s sentence to take its decode over, if ``job`` will not
        be heard as it is: one that may be spoken first, else another warm-up."""
        if not (job.warm_only or self.ledger.stale(job)):
            return None
        with self.channels.sentences.mutex:
            queued = list(self.channels.sentences.queue)
        same = [
            j
            for j in (*pending, *queued)
            if isinstance(j, Sentence)
            and j is not job
            and not j.inherited
            and j.translated is None
            and (j.utterance_id, j.index, j.mt_key) == (job.utterance_id, job.index, job.mt_key)
            and not self.ledger.dropped(j)
        ]
        spoken = [j for j in same if not j.warm_only]
        return (spoken or same or [None])[0]

    def _put_phrases(self, job: Sentence, words: list[str]) -> None:
        cutter = self._cutter(job)
        for word in words:
            phrase = cutter.push(word)
            if phrase is not None:
                self._say(job, phrase, last=False)
        self._say(job, cutter.finish() or "", last=True)

    def _say(self, job: Sentence, text: str, *, last: bool) -> None:
        self.channels.put(self.channels.speech, Phrase(job, text, last=last))

    def _cutter(self, job: Sentence) -> PhraseCutter:
        # Only the first sentence's first sound waits on its decode; later sentences are
        # ready while earlier ones play, and keep their phrasing whole. While earlier audio
        # still plays for a while no cut can bring this sentence's sound forward, and each
        # cut lengthens it (edge.tts.chunking.SEAM_KEEP_S): it stays whole.
        if self.meter.audio_until - time.perf_counter() > BACKLOG_S:
            return PhraseCutter(cut=False)
        first = self.config.first_phrase_words if job.index == 0 else 0
        return PhraseCutter(first, expected_words=len(job.text.split()))

    def _count(self, jobs: Sequence[Sentence], seconds: float) -> None:
        """MT time, counted in the utterances whose jobs are still current."""
        self.meter.add_mt({j.utterance_id for j in jobs if not self.ledger.stale(j)}, seconds)

    def _mt_for(self, source: str, target: str) -> TextTranslator | None:
        if source == target:
            return None
        if self.config.languages is None:
            return self.stages.mt
        return self.stages.mt_for(source, target)
