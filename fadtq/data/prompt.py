"""THE prompt of Pair3C (and of the binary MVTec-AD / VisA sets): question, options, answer format.

Every row records the exact text it was built with (``extra_info.question``, ``prompt_version``),
so evaluation and the judge use what the policy saw. Change any text here → add a new version to
``OPTION_TEXTS`` and keep the old one: rows built with it must still be read (the answer matcher
and the judge's rubric take their option texts from here).

Two wordings of the three Pair3C classes (``fadtq build-data pair3c --prompt-version``):

- ``paper`` (``pair3c-paper-v1``, the default): the paper's taxonomy (§2.1) — structural =
  "missing parts, deformation, or defects", logical = "count mismatch or spatial inconsistency".
- ``loco`` (``pair3c-v2``): MVTec LOCO AD's own semantics — structural = local damage, logical =
  a broken rule (a missing, extra, misplaced or wrong part, count or colour).

Why the choice matters: the labels come from LOCO's folders, and LOCO calls a *missing* object a
logical anomaly (a pushpin missing from its compartment, a missing tangerine). The paper's
wording suggests *structural* for exactly those images ("missing parts"), so a policy that follows
the prompt literally is scored wrong on them, and a zero-shot baseline's structural/logical
confusion partly measures the prompt. The paper's wording is the default for fidelity; the
``loco`` wording is the variant that agrees with the ground truth. Report which one a run used
(every row and prediction line carries ``prompt_version``).

The question names the product (``category_display_name``): it is information a human inspector
has, and it makes prompt lengths differ across categories (the trainer must cope with that).

Options are **fixed** (A = normal, B = structural anomaly, C = logical anomaly), not shuffled per
row. Why: the task is a fixed three-class decision, so the letter is only a code for the class;
shuffling would add an option-tracking step that has nothing to do with inspection and would mix
its errors into the accuracy of a 3B policy under RL. With fixed letters a letter preference *is*
a class preference, which the Balance Score measures directly, and every evaluation sees the same
prompt. The mapping is still stored in every row (``extra_info.options``) and the reward and the
evaluation read it from there, so a shuffled variant needs no change outside this module; the
reward also accepts the option text or the class word instead of the letter.
"""

from __future__ import annotations

import re

from fadtq.labels import ANOMALOUS, LOGICAL, NORMAL, STRUCTURAL

PAPER_PROMPT_VERSION = "pair3c-paper-v1"
LOCO_PROMPT_VERSION = "pair3c-v2"
BINARY_PROMPT_VERSION = "pair2c-v1"

#: ``--prompt-version`` choices of ``fadtq build-data pair3c``: wording name -> prompt version.
PAIR3C_WORDINGS: dict[str, str] = {"paper": PAPER_PROMPT_VERSION, "loco": LOCO_PROMPT_VERSION}
DEFAULT_PAIR3C_WORDING = "paper"
#: The Pair3C prompt version a build uses unless told otherwise.
PROMPT_VERSION = PAIR3C_WORDINGS[DEFAULT_PAIR3C_WORDING]

IMAGE_PLACEHOLDER = "<image>"

PAIR3C_OPTIONS: dict[str, str] = {"A": NORMAL, "B": STRUCTURAL, "C": LOGICAL}
BINARY_OPTIONS: dict[str, str] = {"A": NORMAL, "B": ANOMALOUS}

#: prompt version -> class label -> the option text shown after "X) ". Each text starts with its
#: class's own words and names no other class, so a verbatim copy of it identifies the class.
OPTION_TEXTS: dict[str, dict[str, str]] = {
    PAPER_PROMPT_VERSION: {
        NORMAL: "normal (no anomaly)",
        STRUCTURAL: "structural anomaly (missing parts, deformation, or defects)",
        LOGICAL: "logical anomaly (count mismatch or spatial inconsistency)",
    },
    LOCO_PROMPT_VERSION: {
        NORMAL: "normal",
        STRUCTURAL: "structural anomaly (local damage such as a scratch, crack, dent, stain or a missing chunk)",
        LOGICAL: "logical anomaly (a broken rule such as a missing, extra, misplaced or wrong part, count or colour)",
    },
    BINARY_PROMPT_VERSION: {
        NORMAL: "normal",
        ANOMALOUS: "anomalous (any defect)",
    },
}

SYSTEM_PROMPT = (
    "You are an industrial visual inspector. You compare a test image of a product with a reference "
    "image of the same product that is known to be normal."
)

ANSWER_FORMAT = (
    "First think step by step inside <think></think>, comparing the test image with the reference image, "
    "then give only the letter of your choice inside <answer></answer>."
)


#: Folder names that do not read as English; everything else just loses its underscores.
_DISPLAY_NAMES = {"pcb1": "printed circuit board", "pcb2": "printed circuit board", "pcb3": "printed circuit board",
                  "pcb4": "printed circuit board", "chewinggum": "chewing gum", "macaroni1": "macaroni",
                  "macaroni2": "macaroni"}

_OPTION_LINE = re.compile(r"^[A-Z]\) (?P<text>.+)$", re.MULTILINE)


def pair3c_prompt_version(wording: str) -> str:
    """The Pair3C prompt version of a wording name (``paper``, ``loco``) or of a version id itself."""
    if wording in PAIR3C_WORDINGS:
        return PAIR3C_WORDINGS[wording]
    if wording in PAIR3C_WORDINGS.values():
        return wording
    raise ValueError(f"unknown Pair3C prompt wording {wording!r}: use one of {', '.join(PAIR3C_WORDINGS)} "
                     f"(or {', '.join(PAIR3C_WORDINGS.values())})")


def default_prompt_version(options: dict[str, str]) -> str:
    """The version a row built with ``options`` gets when none is chosen: binary or the default Pair3C one."""
    return BINARY_PROMPT_VERSION if set(options.values()) == set(BINARY_OPTIONS.values()) else PROMPT_VERSION


def option_texts(version: str) -> dict[str, str]:
    """Class label -> option text of prompt ``version`` (a copy); ValueError names the known versions."""
    if version not in OPTION_TEXTS:
        raise ValueError(f"unknown prompt version {version!r}: known are {', '.join(OPTION_TEXTS)}")
    return dict(OPTION_TEXTS[version])


def option_texts_of_label(label: str) -> tuple[str, ...]:
    """Every known version's option text for ``label``, without repeats: what a row of any version
    (including rows written before the current default) may have shown for that class."""
    return tuple(dict.fromkeys(texts[label] for texts in OPTION_TEXTS.values() if label in texts))


def prompt_version_of_question(question: str) -> str | None:
    """The version whose option lines the ``question`` text lists (exactly its set of option texts),
    or None for a question not built here (e.g. a hand-written health-check question)."""
    shown = {m.group("text").strip() for m in _OPTION_LINE.finditer(question or "")}
    for version, texts in OPTION_TEXTS.items():
        if shown and shown == set(texts.values()):
            return version
    return None


def category_display_name(category: str) -> str:
    """The product as the question names it, e.g. ``breakfast_box`` -> ``breakfast box``."""
    return _DISPLAY_NAMES.get(category, category.replace("_", " "))


def option_lines(options: dict[str, str], version: str) -> list[str]:
    """``["A) normal (no anomaly)", …]``: one line per option, in the row's letter order."""
    texts = option_texts(version)
    missing = [label for label in options.values() if label not in texts]
    if missing:
        raise ValueError(f"prompt version {version!r} has no option text for {', '.join(map(repr, missing))}")
    return [f"{letter}) {texts[label]}" for letter, label in options.items()]


def question_text(category: str, options: dict[str, str], version: str | None = None) -> str:
    """The user question (without image placeholders) for one pair of a ``category``, in the
    wording of prompt ``version`` (default: :func:`default_prompt_version` of ``options``)."""
    lines = [
        f"Product: {category_display_name(category)}. The first image is a reference image known to be normal; "
        "the second image is a test image of the same product.",
        "Which option describes the test image?",
        *option_lines(options, version or default_prompt_version(options)),
        ANSWER_FORMAT,
    ]
    return "\n".join(lines)


def chat_messages(question: str) -> list[dict]:
    """verl chat messages with exactly one ``<image>`` per image, the reference first."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Reference image: {IMAGE_PLACEHOLDER}\nTest image: {IMAGE_PLACEHOLDER}\n{question}"},
    ]
