"""Hallucination guards for segment recognition: a translator must not speak what it did not hear.

Whisper (and Moonshine, to a lesser degree) produce fluent text from silence, noise and music
("Thank you.", "I'll see you in the next video.") and fall into loops on hard speech
("I'm sorry, I'm sorry, ...", "6-6-8-8-8-8-..."). The checks here are the ones faster-whisper
applies, as pure functions so they can be tested without a model:

* compression ratio of the text (zlib): a repetitive text compresses far better than speech;
* average log-probability per token (Whisper) and the no-speech probability (Whisper's
  ``<|nospeech|>`` token), which together say "nothing was said";
* a cap on tokens per second of audio: speech is 3-5 tokens/s, a runaway decoder is not;
* a repeated n-gram cut: a loop is cut back to the text before it and one occurrence, or the
  whole recognition is rejected when the loop is most of it;
* a text made of non-speech markers only ("♪♪♪", "[Music]") is no speech.

``whisper_ct2`` adds temperature fallback on top (decode again, hotter, when a check fails);
``sherpa_offline`` has no scores, so only the text checks apply there.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class GuardConfig:
    """Settings of the hallucination guards; ``None`` turns one check off."""

    enabled: bool = True
    """False: recognizers return the raw decode, unchecked (the "before" of tools/guard_eval.py)."""

    compression_ratio_threshold: float | None = 2.4
    """A text whose UTF-8 bytes zlib-compress by more than this is repetitive (faster-whisper's
    value): Whisper decodes again at the next temperature and rejects if none passes; the
    sherpa-onnx models, which cannot decode again, reject at once."""

    log_prob_threshold: float | None = -1.0
    """Whisper: an average log-probability per token (end of text included) below this is a
    failed decode: try the next temperature (see ``log_prob_low_threshold`` for what happens
    when none passes)."""

    log_prob_low_threshold: float | None = -1.5
    """Whisper: when no temperature gets above ``log_prob_threshold``, the best decode is
    rejected if its average log-probability is below this, and passed on marked ``failed``
    (a guess) if it is between the two. Measured here on synthetic speech Whisper base hears
    badly, every decode below -1.5 was unrelated to what was said ("I'll be back with you, you
    bastard!" for a Portuguese request); between -1.5 and -1.0 half were partly right. Set it
    to ``log_prob_threshold`` to reject every failed decode, None to pass them all on
    (faster-whisper's default). Loops and no speech are rejected either way."""

    fallback_no_speech_threshold: float | None = 0.4
    """Whisper: when the first decode fails, a no-speech probability above this rejects as no
    speech, with no fallback (random samples of noise are hallucinations picked at random).
    Lower than ``no_speech_threshold`` because the decoder has already shown it hears
    nothing it can say. Measured here: noise and music that reach this point 0.51-0.56;
    speech segments cut by the VAD (espeak-ng in four languages at 140-260 words/min, Piper
    English) at most 0.28; fast espeak-ng fed whole, without the VAD's padding, up to 0.63,
    and those decodes were wrong anyway."""

    no_speech_threshold: float | None = 0.6
    """Whisper: P(<|nospeech|>) above this, while the average log-probability is below
    ``log_prob_threshold``, means nothing was said: rejected at once, no fallback."""

    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    """Whisper: decode at these temperatures in turn until one passes every check; 0 is the
    recognizer's beam search, above 0 random sampling (CTranslate2 cannot reseed it per call,
    so a fallback decode may differ from run to run)."""

    best_of: int = 1
    """Whisper: samples drawn at each temperature above 0, the most probable kept. faster-whisper
    draws 5; 1 keeps the fallback affordable on a small CPU."""

    max_tokens_per_s: float = 12.0
    """Tokens allowed per second of segment audio. Measured here: Piper English 3-6 tokens/s
    (8 at 1.7x speed, Whisper and Moonshine alike), espeak-ng French at 260 words/min up to
    13 in a Whisper transcript; a decoder running away in a loop 20-130."""

    max_tokens_base: int = 10
    """Tokens allowed on top of the per-second rate, so that a short segment ("Thank you very
    much." in 0.8 s) is never cut."""

    max_ngram: int = 6
    """Longest n-gram (in tokens) looked for in a loop."""

    max_repeats: int = 3
    """An n-gram may occur this many times in a row; one more occurrence makes a loop ("no,
    no, no" stays, "no, no, no, no" is a loop)."""

    loop_reject_fraction: float = 0.5
    """A loop covering more than this fraction of the tokens rejects the recognition; a shorter
    one is cut: the text before it and one occurrence are kept, the rest is dropped (what a
    decoder says after looping is not trusted)."""

    def __post_init__(self) -> None:
        from ..errors import EdgeError

        if self.max_ngram < 1 or self.max_repeats < 1 or self.best_of < 1:
            raise EdgeError(
                "guard settings max_ngram, max_repeats and best_of must be at least 1",
                "fix the GuardConfig",
            )
        if not 0.0 < self.loop_reject_fraction <= 1.0 or self.max_tokens_per_s <= 0:
            raise EdgeError(
                "guard settings out of range: loop_reject_fraction must be in (0, 1] and "
                "max_tokens_per_s above 0",
                "fix the GuardConfig",
            )


DEFAULT_GUARDS = GuardConfig()
OFF = GuardConfig(enabled=False)


class Loop(NamedTuple):
    """``count`` consecutive occurrences of the ``size``-token n-gram starting at ``start``."""

    start: int
    size: int
    count: int

    @property
    def end(self) -> int:
        return self.start + self.size * self.count


class Verdict(NamedTuple):
    """What the text checks decided about one decode."""

    keep: int  # tokens kept (all of them unless a loop was cut)
    text: str  # the text of the tokens kept
    rejected: str | None  # why the whole decode is rejected, or None
    loop: Loop | None  # the loop found (cut, or the reason of the rejection)


def compression_ratio(text: str) -> float:
    """UTF-8 length over zlib-compressed length; 0 for an empty text."""
    data = text.encode("utf-8")
    if not data:
        return 0.0
    return len(data) / len(zlib.compress(data))


def max_tokens(duration_s: float, config: GuardConfig = DEFAULT_GUARDS) -> int:
    """The most tokens a segment of this length may decode to."""
    return config.max_tokens_base + math.ceil(config.max_tokens_per_s * max(0.0, duration_s))


def token_key(token: str) -> str:
    """A token as loops compare it: no word-boundary marker, no case ("I" == " i")."""
    return token.replace("Ġ", " ").replace("▁", " ").strip().lower()


def find_loop(keys: Sequence[Hashable], max_ngram: int = 6, max_repeats: int = 3) -> Loop | None:
    """The earliest n-gram (1..max_ngram items) repeated more than ``max_repeats`` times in a row.

    Where several sizes loop from the same position, the one covering the most items wins (the
    smaller on a tie: "a a a a a a" is six "a", not three "a a").
    """
    n_items = len(keys)
    for start in range(n_items):
        best: Loop | None = None
        for size in range(1, max_ngram + 1):
            if start + size * (max_repeats + 1) > n_items:
                break
            gram = keys[start : start + size]
            count = 1
            while keys[start + count * size : start + (count + 1) * size] == gram:
                count += 1
            if count > max_repeats and (best is None or size * count > best.size * best.count):
                best = Loop(start, size, count)
        if best is not None:
            return best
    return None


def check_loop(keys: Sequence[Hashable], config: GuardConfig = DEFAULT_GUARDS) -> Loop | None:
    """The loop to act on: None when there is none (or the guards are off)."""
    if not config.enabled:
        return None
    return find_loop(list(keys), config.max_ngram, config.max_repeats)


def loop_rejects(loop: Loop, n_tokens: int, config: GuardConfig = DEFAULT_GUARDS) -> bool:
    """A loop that is most of the text rejects it; a shorter one is cut."""
    return loop.size * loop.count > config.loop_reject_fraction * n_tokens


_MARKERS = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|[♪♫♬♩🎵🎶]")


def is_non_speech(text: str) -> bool:
    """True for a text of non-speech markers only: "♪♪♪", "[Music]", "(applause)", "*cough*"."""
    if not text.strip():
        return False
    rest = _MARKERS.sub(" ", text)
    return not any(c.isalnum() for c in rest)


def check_text(
    keys: Sequence[Hashable],
    text_of: Callable[[int], str],
    duration_s: float,
    config: GuardConfig = DEFAULT_GUARDS,
    count: Callable[[int], int] | None = None,
) -> Verdict:
    """The checks that need no scores: non-speech markers, loops, token rate, compression.

    ``keys`` are the decode's tokens (``token_key``); ``text_of(k)`` is the text of the first
    ``k``; ``count(k)`` the tokens they stand for, where keys are words (default: ``k``). The
    rate cap and the compression ratio apply to what is kept after a loop cut, so a long, good
    text that ends in a short loop survives as its good part.
    """
    text = text_of(len(keys))
    if not config.enabled:
        return Verdict(len(keys), text, None, None)
    if is_non_speech(text):
        return Verdict(len(keys), text, "non-speech", None)
    loop = check_loop(keys, config)
    keep = len(keys)
    if loop is not None:
        if loop_rejects(loop, len(keys), config):
            return Verdict(keep, text, "repetition loop", loop)
        keep = loop.start + loop.size
        text = text_of(keep)
    limit = max_tokens(duration_s, config)
    n_tokens = count(keep) if count is not None else keep
    if n_tokens > limit:
        reason = f"too many tokens for {duration_s:.1f} s of audio ({n_tokens} > {limit})"
        return Verdict(keep, text, reason, loop)
    threshold = config.compression_ratio_threshold
    if threshold is not None and (ratio := compression_ratio(text)) > threshold:
        return Verdict(keep, text, f"repetitive text (compression ratio {ratio:.1f})", loop)
    return Verdict(keep, text, None, loop)
