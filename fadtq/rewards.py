"""The FAD-TQ reward (paper §2.3; docs/design.md, Rewards), one small pure function per term.

``R = r_format + r_acc + r_acc·r_tq`` ∈ [0, 3], with ``r_tq = η·r_conc + (1−η)·r_rel`` from the
frozen judge's 0–3 scores, and LR-IAD's focal rare-class bonus as an option. The parsing of a
response and the answer-to-class matcher live here too: evaluation reads predictions with the same
functions, so a prediction is scored the same way in training and in the report.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from fadtq.data.prompt import option_texts_of_label
from fadtq.labels import ANOMALOUS, LOGICAL, NORMAL, STRUCTURAL

# --- Parsing a response ``<think>…</think><answer>…</answer>`` ---

_TAG = re.compile(r"</?\s*(think|answer)\s*>", re.IGNORECASE)
_WELL_FORMED = re.compile(r"\s*<think>(?P<think>.*?)</think>\s*<answer>(?P<answer>.*?)</answer>\s*", re.DOTALL)
_SPAN = {name: re.compile(rf"<{name}>(.*?)</{name}>", re.DOTALL) for name in ("think", "answer")}


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


# --- Format and accuracy ---


def format_reward(parsed: ParsedResponse) -> float:
    """``r_format = 1`` iff the response is exactly ``<think>…</think><answer>…</answer>`` (see
    :func:`parse_response` for the precise rule), else 0."""
    return 1.0 if parsed.well_formed else 0.0


def accuracy_reward(answer: str | None, options: Mapping[str, str], ground_truth: str) -> float:
    """``r_acc = 1`` iff the answer span maps to exactly one class and it equals the ground truth, else 0."""
    predicted = answer_to_label(answer, options)
    return 1.0 if predicted is not None and predicted == str(ground_truth).strip().lower() else 0.0


# --- Thinking quality (the judge's conciseness and relevance) ---

#: The judge scores each criterion on this integer scale (0 worst, 3 best).
JUDGE_SCALE_MAX = 3.0


def clamp_judge_score(score: float) -> float:
    """A judge score clamped to the rubric's scale ``[0, JUDGE_SCALE_MAX]``."""
    return min(max(float(score), 0.0), JUDGE_SCALE_MAX)


def normalised_judge_score(score: float) -> float:
    """``r = clamp(s, 0, 3) / 3``: a judge score 0–3 mapped to [0, 1]; out-of-range values are clamped."""
    return clamp_judge_score(score) / JUDGE_SCALE_MAX


def check_unit_interval(name: str, value) -> None:
    """Raise ``ValueError`` unless ``value`` is a number in [0, 1] (η, a fallback ``r_tq``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")


def thinking_quality_reward(r_conc: float, r_rel: float, eta: float = 0.5) -> float:
    """``r_tq = η·r_conc + (1−η)·r_rel`` with ``r_conc, r_rel ∈ [0, 1]`` (normalised judge scores).

    η = 0.5 by default; η = 0 is the "−efficiency" ablation, η = 1 the "−relevance" ablation.
    """
    check_unit_interval("eta", eta)
    return eta * r_conc + (1.0 - eta) * r_rel


# --- Total ---


def fadtq_reward(r_format: float, r_acc: float, r_tq: float, use_thinking_quality: bool = True) -> float:
    """``R = r_format + r_acc + min(1, max(0, r_acc))·r_tq`` ∈ [0, 3].

    The thinking-quality term counts only for correct answers (a well-argued wrong answer earns
    nothing for its argument). ``use_thinking_quality=False`` drops the third term (the "no TQ" /
    plain-GPG ablation).
    """
    gate = min(1.0, max(0.0, r_acc))
    return r_format + r_acc + (gate * r_tq if use_thinking_quality else 0.0)


# --- LR-IAD's focal rare-class bonus (option), applied per group of rollouts of one prompt ---


def focal_reward(p: np.ndarray | float, alpha: float = 1.0, gamma: float = 2.0, class_weight: np.ndarray | float = 1.0):
    """``R_focal = α·(1−p)^γ·f``, elementwise (LR-IAD, arXiv 2504.19524; it gives no values).

    Our reading: ``p`` is the group's empirical accuracy on the prompt (the mean ``r_acc`` of its N
    rollouts, the Monte-Carlo estimate of the policy's chance to answer it; the answer letter's token
    probability would ignore the reasoning that produced it); ``f`` the ground-truth class's weight
    (:func:`balanced_class_weights` by default, ``fadtq.focal.class_weights`` per class; 1 for every
    class of a balanced set, so the bonus is then only a difficulty term; ``build-data --balance
    natural`` makes the anomalous class rare); ``α = 1``, ``γ = 2`` (focal loss's usual value).
    It is paid only to correct rollouts (:func:`focal_bonus`): rewarding a wrong answer on a hard
    prompt would reward guessing, so ``R' = R + r_acc·R_focal`` can exceed 3 by at most ``α·max f``.
    It runs in the ``fadtq_sync`` trainer before the advantage: a per-sample reward cannot see the group.
    """
    return alpha * np.power(1.0 - np.asarray(p, dtype=np.float64), gamma) * np.asarray(class_weight, dtype=np.float64)


def balanced_class_weights(class_counts: Mapping[str, int]) -> dict[str, float]:
    """``f_c = N / (K·N_c)``: 1 for every class of a balanced set, larger for rare classes."""
    present = {label: count for label, count in class_counts.items() if count > 0}
    total, k = sum(present.values()), len(present)
    return {label: total / (k * count) for label, count in present.items()}


def group_accuracy(r_acc: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Per-rollout ``p``: the mean ``r_acc`` of the rollout's group (``group`` = 0..G−1 codes)."""
    r_acc = np.asarray(r_acc, dtype=np.float64)
    sums = np.bincount(group, weights=r_acc)
    counts = np.bincount(group)
    return (sums / counts)[group]


def focal_bonus(r_acc: np.ndarray, group: np.ndarray, labels, class_weights: Mapping[str, float] | None = None,
                alpha: float = 1.0, gamma: float = 2.0) -> np.ndarray:
    """Per-rollout bonus ``r_acc·α·(1−p)^γ·f_label`` added to R (vectorised over the batch)."""
    r_acc = np.asarray(r_acc, dtype=np.float64)
    weights = np.array([(class_weights or {}).get(str(label), 1.0) for label in labels], dtype=np.float64)
    return r_acc * focal_reward(group_accuracy(r_acc, group), alpha, gamma, weights)


# --- Answer -> class: template matching against the options the row was built with (paper §2.3) ---

#: The class-word rule (the fallback after the templates) reads answers of at most this many words:
#: a longer answer that is not an option copied from the prompt is prose, and not trusted.
MAX_ANSWER_WORDS = 10

#: Words that make an answer hedged or negated ("not normal", "isn't logical", "no structural …").
_NEGATIONS = frozenset({"not", "no", "non", "never", "neither", "nor", "without", "none", "cannot",
                        "isn", "isnt", "aren", "doesn", "wasn"})
#: Words naming a class besides the label itself. Matched longest first, so "no anomaly" is read as
#: normal (the paper's wording) before its "no" could count as a negation or "anomaly" as anomalous.
_CLASS_PHRASES = {
    NORMAL: ("normal", "good", "no anomaly", "no anomalies", "no defect", "no defects", "anomaly free",
             "defect free"),
    ANOMALOUS: ("anomalous", "anomaly", "anomalies", "abnormal", "defective"),
    STRUCTURAL: ("structural",),
    LOGICAL: ("logical",),
}
#: Words after which a standalone "a" is still the option letter, not the article ("A or B").
_CONJUNCTIONS = frozenset({"or", "and", "nor", "vs", "versus"})

#: Punctuation NFKC leaves alone: the Chinese full stop, enumeration comma and corner brackets.
_CJK_PUNCTUATION = str.maketrans({"。": ".", "、": ",", "【": "[", "】": "]", "「": '"', "」": '"', "『": '"',
                                  "』": '"'})
_MARKDOWN = re.compile(r"[*_`#~>|]")
_BOXED = re.compile(r"\\boxed\s*\{(?P<inner>[^{}]*)\}")
_LEAD_IN = re.compile(r"^(?:(?:(?:the|my|final|correct|right|best)\s+)*(?:answer|option|choice)s?(?![^\W_])(?:\s+is)?"
                      r"|答案是?|选项)\s*[:=\-]?\s*")
_WORD = re.compile(r"[^\W_]+")
_SINGLE_LETTER = re.compile(r"(?<![^\W_])(?P<letter>[a-z])(?![^\W_])")
_DESCRIPTION = re.compile(r"\s*\([^()]*\)")


def normalise_answer(text: str) -> str:
    """The answer as the matcher reads it: NFKC (full-width ``：（）Ｂ`` become ASCII), the Chinese
    full stop and brackets as ASCII, lower case, ``\\boxed{…}`` unwrapped, markdown marks
    (``**``, backticks, ``#``) removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).translate(_CJK_PUNCTUATION).lower()
    text = _BOXED.sub(lambda m: m.group("inner"), text)
    return " ".join(_MARKDOWN.sub(" ", text).split())


def strip_lead_in(text: str) -> str:
    """``the answer is b`` / ``final answer: option c`` / ``答案：b`` -> the part after the lead-in."""
    while (stripped := _LEAD_IN.sub("", text, count=1)) != text:
        text = stripped
    return text


def answer_words(text: str) -> tuple[str, ...]:
    """The words of a normalised text, punctuation dropped: ``c) logical (x, y)`` -> ``c logical x y``."""
    return tuple(_WORD.findall(text))


def without_description(option_text: str) -> str:
    """An option text without its parenthesised description: ``normal (no anomaly)`` -> ``normal``."""
    return _DESCRIPTION.sub("", option_text).strip()


def option_templates(options: Mapping[str, str]) -> dict[tuple[str, ...], str | None]:
    """Cached :func:`build_option_templates` (the reward calls the matcher once per rollout)."""
    return _templates_of(tuple(sorted((str(k).strip().lower(), str(v).strip().lower()) for k, v in options.items())))


@functools.lru_cache(maxsize=64)
def _templates_of(options: tuple[tuple[str, str], ...]) -> dict[tuple[str, ...], str | None]:
    return build_option_templates(dict(options))


def build_option_templates(options: Mapping[str, str]) -> dict[tuple[str, ...], str | None]:
    """Word sequence -> class, for every way of giving an option as shown in the prompt: the letter
    alone, letter + option text, option text alone, each with or without the parenthesised
    description. The texts are those of every known prompt version (``fadtq.data.prompt``): a row of
    any version (and a prediction file that does not name one) is matched with the texts it showed,
    and a version's text for a class never names another class, so the others add no ambiguity.
    A sequence that would mean two classes maps to None."""
    templates: dict[tuple[str, ...], str | None] = {}

    def add(words: tuple[str, ...], label: str) -> None:
        templates[words] = label if templates.get(words, label) == label else None

    for letter, label in options.items():
        letter, label = letter.strip().lower(), label.strip().lower()
        add((letter,), label)
        for text in option_texts_of_label(label) or (label,):
            for variant in (text, without_description(text)):
                words = answer_words(normalise_answer(variant))
                add(words, label)
                add((letter, *words), label)
    return templates


def classes_named(words: tuple[str, ...], labels) -> tuple[set[str], list[str]]:
    """The classes whose words (``_CLASS_PHRASES``, longest first) occur in ``words``, and the words
    left over; whole words only (``abnormal`` is not ``normal``, an empty text names nothing)."""
    phrases = sorted(((tuple(p.split()), label) for label in labels for p in _CLASS_PHRASES.get(label, (label,))),
                     key=lambda item: -len(item[0]))
    named, leftover, i = set(), [], 0
    while i < len(words):
        for phrase, label in phrases:
            if words[i:i + len(phrase)] == phrase:
                named.add(label)
                i += len(phrase)
                break
        else:
            leftover.append(words[i])
            i += 1
    return named, leftover


def letters_named(text: str, letters: Mapping[str, str]) -> set[str]:
    """The classes of the option letters standing alone in a normalised ``text``. A lone ``a``
    followed by a word is the article (``a structural anomaly``), unless that word is a
    conjunction (``a or b``)."""
    named = set()
    for match in _SINGLE_LETTER.finditer(text):
        letter = match.group("letter")
        if letter not in letters:
            continue
        if letter == "a":
            following = re.match(r" ([^\W_]{2,})", text[match.end():])
            if following and following.group(1) not in _CONJUNCTIONS:
                continue
        named.add(letters[letter])
    return named


def answer_to_label(answer: str | None, options: Mapping[str, str]) -> str | None:
    """Map an answer span to exactly one class label, or None (paper §2.3: template matching).

    1. Normalise (case, full-width and Chinese punctuation, markdown, ``\\boxed{}``) and drop a
       lead-in (``Answer:``, ``The answer is``, ``Final answer: Option``, ``答案：``).
    2. Template: the words, punctuation ignored, equal one option as the prompt shows it (letter,
       letter + text, text; with or without the description; see :func:`option_templates`).
    3. Otherwise class words, for answers of at most ``MAX_ANSWER_WORDS`` words: the option letters
       and class words named (``structural``, ``Normal (no anomaly)``, ``B: structural``) must be
       exactly one class, and no negation may remain (``not normal``, ``no structural damage``).

    Rejected: empty, two classes (``structural or logical``), two letters (``B or C``, ``BC``),
    a letter and a word that disagree (``B: logical``), a negated class, longer prose. There is no
    substring matching: an empty string would be a substring of every label.
    """
    if not isinstance(answer, str) or not options:
        return None
    # A parquet struct column fills options a row lacks with None (binary rows next to 3-class rows).
    letters = {str(k).strip().lower(): str(v).strip().lower() for k, v in options.items() if v is not None}
    text = strip_lead_in(normalise_answer(answer))
    words = answer_words(text)
    if not words:
        return None
    template_label = option_templates(letters).get(words)
    if template_label is not None:
        return template_label
    if len(words) > MAX_ANSWER_WORDS:
        return None
    named, leftover = classes_named(words, set(letters.values()))
    if _NEGATIONS.intersection(leftover):
        return None
    named |= letters_named(text, letters)
    return named.pop() if len(named) == 1 else None
