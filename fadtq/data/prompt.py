"""THE prompt of Pair3C (and of the binary MVTec-AD / VisA sets): question, options, answer format.

Every row records the exact text it was built with (``extra_info.question``, ``prompt_version``),
so evaluation and the judge use what the policy saw. Change any text here → bump the version
(``PROMPT_VERSION`` for Pair3C, ``BINARY_PROMPT_VERSION`` for MVTec-AD / VisA).

The question names the product (``category_display_name``): it is information a human inspector
has, and it makes prompt lengths differ across categories (the trainer must cope with that).

Options are **fixed** (A = normal, B = structural anomaly, C = logical anomaly), not shuffled per
row. Why: the task is a fixed three-class decision, so the letter is only a code for the class;
shuffling would add an option-tracking step that has nothing to do with inspection and would mix
its errors into the accuracy of a 3B policy under RL. With fixed letters a letter preference *is*
a class preference, which the Balance Score measures directly, and every evaluation sees the same
prompt. The mapping is still stored in every row (``extra_info.options``) and the reward and the
evaluation read it from there, so a shuffled variant needs no change outside this module; the
reward also accepts the class word instead of the letter.
"""

from __future__ import annotations

from fadtq.labels import ANOMALOUS, LOGICAL, NORMAL, STRUCTURAL

PROMPT_VERSION = "pair3c-v2"
BINARY_PROMPT_VERSION = "pair2c-v1"
IMAGE_PLACEHOLDER = "<image>"

PAIR3C_OPTIONS: dict[str, str] = {"A": NORMAL, "B": STRUCTURAL, "C": LOGICAL}
BINARY_OPTIONS: dict[str, str] = {"A": NORMAL, "B": ANOMALOUS}

_OPTION_TEXT = {
    NORMAL: "normal",
    STRUCTURAL: "structural anomaly (local damage such as a scratch, crack, dent, stain or a missing chunk)",
    LOGICAL: "logical anomaly (a broken rule such as a missing, extra, misplaced or wrong part, count or colour)",
    ANOMALOUS: "anomalous (any defect)",
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


def prompt_version(options: dict[str, str]) -> str:
    """The version of the prompt built with ``options`` (three-class Pair3C or the binary sets)."""
    return BINARY_PROMPT_VERSION if set(options.values()) == set(BINARY_OPTIONS.values()) else PROMPT_VERSION


def category_display_name(category: str) -> str:
    """The product as the question names it, e.g. ``breakfast_box`` -> ``breakfast box``."""
    return _DISPLAY_NAMES.get(category, category.replace("_", " "))


def question_text(category: str, options: dict[str, str]) -> str:
    """The user question (without image placeholders) for one pair of a ``category``."""
    lines = [
        f"Product: {category_display_name(category)}. The first image is a reference image known to be normal; "
        "the second image is a test image of the same product.",
        "Which option describes the test image?",
        *(f"{letter}) {_OPTION_TEXT[label]}" for letter, label in options.items()),
        ANSWER_FORMAT,
    ]
    return "\n".join(lines)


def chat_messages(question: str) -> list[dict]:
    """verl chat messages with exactly one ``<image>`` per image, the reference first."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Reference image: {IMAGE_PLACEHOLDER}\nTest image: {IMAGE_PLACEHOLDER}\n{question}"},
    ]
