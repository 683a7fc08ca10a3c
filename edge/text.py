"""Sentence splitting of recognized text, so each sentence is translated as soon as it is complete."""

from __future__ import annotations

import re

# Terminal punctuation of the scripts the product speaks: Latin/Cyrillic/Greek, CJK, Arabic,
# Devanagari, Ethiopic, Armenian.
_TERMINALS = ".!?。！？؟।॥።։…"
_CLOSERS = "\"'”’»)]}」』"
_BOUNDARY = re.compile(rf"([{re.escape(_TERMINALS)}]+[{re.escape(_CLOSERS)}]*)(\s+|$)")
_NO_SPACE_TERMINALS = "。！？"
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "no",
    "approx", "dept", "fig", "sra", "dra", "ca", "bzw", "z.b", "usw", "evtl", "nr",
}  # fmt: skip


def _is_abbreviation(before: str) -> bool:
    word = before.rsplit(None, 1)[-1].lower().rstrip(".") if before.strip() else ""
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def split_sentences(text: str) -> list[str]:
    """Split text into sentences, keeping punctuation; never drops characters other than spaces."""
    text = " ".join(text.split())
    if not text:
        return []
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end(1)
        candidate = text[start:end]
        after = text[match.end() :]
        ends_on_period = match.group(1).startswith(".") and len(match.group(1)) == 1
        if ends_on_period and _is_abbreviation(candidate[:-1]):
            continue
        if ends_on_period and after[:1].isdigit():
            continue
        sentences.append(candidate.strip())
        start = match.end()
    # CJK full stops need no following space.
    out: list[str] = []
    for sentence in sentences + ([text[start:].strip()] if text[start:].strip() else []):
        out.extend(_split_cjk(sentence))
    return [s for s in out if s]


def _split_cjk(sentence: str) -> list[str]:
    parts = re.split(rf"(?<=[{_NO_SPACE_TERMINALS}])", sentence)
    return [p.strip() for p in parts if p.strip()]


def complete_sentences(text: str) -> tuple[list[str], str]:
    """Split a growing hypothesis into sentences known to be complete and the unfinished rest.

    A sentence counts as complete only when more text follows it: the last sentence may still
    grow (or lose its punctuation) on the next decode.
    """
    sentences = split_sentences(text)
    if not sentences:
        return [], ""
    return sentences[:-1], sentences[-1]
