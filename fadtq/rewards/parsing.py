"""Parsing a policy response ``<think>…</think><answer>…</answer>`` and mapping the answer to a class.

Shared by the reward and the evaluation, so a prediction is read the same way in both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

_TAG = re.compile(r"</?\s*(think|answer)\s*>", re.IGNORECASE)
_WELL_FORMED = re.compile(r"\s*<think>(?P<think>.*?)</think>\s*<answer>(?P<answer>.*?)</answer>\s*", re.DOTALL)
_SPAN = {name: re.compile(rf"<{name}>(.*?)</{name}>", re.DOTALL) for name in ("think", "answer")}

#: An answer longer than this many words is not "an option": it is prose, and not trusted.
MAX_ANSWER_WORDS = 10
_NEGATIONS = {"not", "no", "non", "never", "neither", "nor", "without"}
#: Extra words that name a class besides the label itself.
_ALIASES = {"normal": ("good",), "anomalous": ("anomaly", "abnormal", "defective")}
_LETTER_ANSWER = re.compile(
    r"(?:option|answer|choice)?\s*[(\[]?\s*(?P<letter>[A-Za-z])\s*[)\]]?\s*(?:[.:)\-]\s*(?P<rest>.*))?", re.DOTALL | re.IGNORECASE
)


@dataclass(frozen=True)
class ParsedResponse:
    think: str | None
    answer: str | None
    well_formed: bool


def parse_response(text: str) -> ParsedResponse:
    """Split a response into its think and answer spans.

    ``well_formed`` iff the whole text is exactly one ``<think>…</think>`` followed by one
    ``<answer>…</answer>``, whitespace around allowed, nothing else outside, no nested or repeated
    tags, both spans non-empty. Spans are still extracted from a malformed text when each tag pair
    occurs exactly once, so accuracy can be scored separately from format.
    """
    if not isinstance(text, str):
        return ParsedResponse(None, None, False)
    tags = [m.group(0).lower().replace(" ", "") for m in _TAG.finditer(text)]
    match = _WELL_FORMED.fullmatch(text)
    well_formed = (
        match is not None
        and tags == ["<think>", "</think>", "<answer>", "</answer>"]
        and bool(match.group("think").strip())
        and bool(match.group("answer").strip())
    )
    spans = {}
    for name, pattern in _SPAN.items():
        found = pattern.findall(text)
        only_pair = len(found) == 1 and tags.count(f"<{name}>") == 1 and tags.count(f"</{name}>") == 1
        spans[name] = found[0].strip() if only_pair and not _TAG.search(found[0]) else None
    return ParsedResponse(spans["think"], spans["answer"], well_formed)


def _label_words(label: str) -> tuple[str, ...]:
    return (label.lower(), *_ALIASES.get(label.lower(), ()))


def labels_named(text: str, labels) -> set[str]:
    """The labels whose word (or alias) occurs as a whole word in ``text``."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    return {label for label in labels if words.intersection(_label_words(label))}


def answer_to_label(answer: str | None, options: Mapping[str, str]) -> str | None:
    """Map an answer span to exactly one class label, or None.

    Accepted: the option letter (``B``, ``(B)``, ``B.``, ``Option B``, ``B: structural`` — a class
    word after the letter must agree with it) or one class word in any case (``Structural anomaly``).
    Rejected: empty, two classes (``structural or logical``), two letters, negations
    (``not normal``), prose longer than ``MAX_ANSWER_WORDS`` words. There is no substring matching:
    an empty string would be a substring of every label.
    """
    if not isinstance(answer, str) or not options:
        return None
    text = answer.strip()
    if not text or len(text.split()) > MAX_ANSWER_WORDS:
        return None
    # A parquet struct column fills options a row lacks with None (binary rows next to 3-class rows).
    letters = {str(k).strip().upper(): str(v).strip().lower() for k, v in options.items() if v is not None}
    labels = set(letters.values())
    match = _LETTER_ANSWER.fullmatch(text)
    if match and match.group("letter").upper() in letters:
        label = letters[match.group("letter").upper()]
        rest = (match.group("rest") or "").strip()
        if rest and (labels_named(rest, labels) - {label} or set(re.findall(r"[a-z]+", rest.lower())) & _NEGATIONS):
            return None
        return label
    words = set(re.findall(r"[a-z]+", text.lower()))
    if words & _NEGATIONS:
        return None
    named = labels_named(text, labels)
    return named.pop() if len(named) == 1 else None
