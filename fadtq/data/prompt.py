"""THE prompt of Pair3C (and of the binary MVTec-AD / VisA sets): question, options, answer format.

Every row records the exact text it was built with (``extra_info.question``, ``prompt_version``),
so evaluation and the judge use what the policy saw.

Options are **fixed** (A = normal, B = structural anomaly, C = logical anomaly) rather than shuffled
per row: the letter then always means the same class, so per-class statistics, the Balance Score
and letter-position bias are directly readable, and a policy cannot gain from the mapping. The
reward also accepts the class word, so a model is never penalised for naming the class instead.
"""

from __future__ import annotations

from fadtq.labels import ANOMALOUS, LOGICAL, NORMAL, STRUCTURAL

PROMPT_VERSION = "pair3c-v1"
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


def category_display_name(category: str) -> str:
    return category.replace("_", " ")


def question_text(category: str, options: dict[str, str]) -> str:
    """The user question (without image placeholders) for one pair of a ``category``."""
    lines = [
        f"The first image is a reference image of a normal {category_display_name(category)}. "
        f"The second image is a test image of the same kind of product.",
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
