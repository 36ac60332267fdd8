"""Answer -> class, as the paper scores it ("template matching against the ground truth", §2.3).

One table of answers in the styles vision-language models write, each with the class it must map to
(None = no single class) and why. The same table goes through the matcher, the verl reward entry
point (with the judge unreachable) and `fadtq report` on a prediction file, and all three must agree.
"""

import asyncio
import json
import socket
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from fadtq.data.prompt import PAIR3C_OPTIONS
from fadtq.eval.metrics import UNPARSABLE
from fadtq.eval.predictions import make_record, read_predictions
from fadtq.rewards import answer_to_label
from fadtq.verl_ext.reward import compute_score

N, S, L = "normal", "structural", "logical"
THINK = "<think>The reference has three pushpins in the top row; the test image has two.</think>"

# (answer, expected class or None, why)
TABLE = [
    # the option lines copied back as shown, both wordings (fadtq.data.prompt)
    ("A) normal (no anomaly)", N, "paper option A copied"),
    ("B) structural anomaly (missing parts, deformation, or defects)", S, "paper option B copied"),
    ("C) logical anomaly (count mismatch or spatial inconsistency)", L, "paper option C copied"),
    ("A) normal", N, "loco option A copied"),
    ("B) structural anomaly (local damage such as a scratch, crack, dent, stain or a missing chunk)", S,
     "loco option B copied, 15 words"),
    ("C) logical anomaly (a broken rule such as a missing, extra, misplaced or wrong part, count or colour)", L,
     "loco option C copied, 18 words"),
    ("B) structural anomaly", S, "letter + option text without its description"),
    ("C) Logical anomaly", L, "letter + option text, other case"),
    ("structural anomaly (missing parts, deformation, or defects)", S, "option text alone, with description"),
    ("logical anomaly (a broken rule such as a missing, extra, misplaced or wrong part, count or colour)", L,
     "loco option text alone, with description"),
    ("Normal (no anomaly)", N, "the paper's wording of the normal class"),
    ("normal (no anomaly).", N, "trailing period"),
    ("C. logical anomaly (count mismatch or spatial inconsistency).", L, "letter with a dot, trailing period"),
    ("c) LOGICAL ANOMALY (COUNT MISMATCH OR SPATIAL INCONSISTENCY)", L, "upper case copy"),
    ("B)  structural   anomaly\n(missing parts, deformation, or defects)", S, "extra spaces and a line break"),
    ("Option C: logical anomaly (count mismatch or spatial inconsistency)", L, "'Option' lead-in"),
    ("(B) structural anomaly", S, "letter in parentheses"),
    ("B - structural anomaly", S, "dash after the letter"),
    ("B: structural", S, "letter + agreeing class word"),
    # the letter alone
    ("B", S, "letter"),
    ("b", S, "lower-case letter"),
    ("(C)", L, "letter in parentheses"),
    ("C.", L, "letter, trailing period"),
    ("A", N, "letter A alone is the option, not the article"),
    ("[A]", N, "letter in brackets"),
    ("Option B", S, "'Option' lead-in"),
    # markdown, lead-ins, LaTeX
    ("**C**", L, "markdown bold"),
    ("**B) structural anomaly**", S, "markdown bold option"),
    ("`A`", N, "markdown code"),
    ("### C", L, "markdown heading"),
    ("*Answer:* **B**", S, "markdown lead-in"),
    ("Answer: B", S, "'Answer:' lead-in"),
    ("The answer is B.", S, "'The answer is' lead-in, trailing period"),
    ("The correct answer is (C).", L, "'The correct answer is' lead-in"),
    ("Final answer: Option A", N, "two lead-ins"),
    ("\\boxed{C}", L, "LaTeX box"),
    # Chinese punctuation (full-width forms)
    ("答案：B", S, "Chinese 'answer' and full-width colon"),
    ("答案是C", L, "Chinese 'the answer is'"),
    ("C。", L, "Chinese full stop"),
    ("（A）", N, "full-width parentheses"),
    ("B）structural anomaly（missing parts, deformation, or defects）。", S, "full-width brackets, full stop"),
    ("Ｃ", L, "full-width letter"),
    # class words (short answers)
    ("structural", S, "class word"),
    ("Structural anomaly.", S, "class words, trailing period"),
    ("LOGICAL", L, "class word, upper case"),
    ("Answer: logical", L, "lead-in + class word"),
    ("normal", N, "class word"),
    ("Good", N, "synonym of normal"),
    ("No anomaly", N, "the paper's wording: 'no anomaly' is normal, not a negation"),
    ("no anomalies, normal", N, "two names of the same class"),
    ("A structural anomaly", S, "'A' is the article here"),
    ("The test image is normal.", N, "short sentence naming one class"),
    ("It is a logical anomaly: one pushpin is missing.", L, "short sentence naming one class"),
    ("The answer is B because the cap is cracked", S, "letter in a short sentence"),
    ("structural anomaly (B)", S, "option text + agreeing letter"),
    # rejected: nothing, negations, two classes or letters, disagreement, prose
    ("", None, "empty"),
    ("not normal", None, "negated class"),
    ("Not a logical anomaly", None, "negated class"),
    ("It isn't normal", None, "negated class (contraction)"),
    ("No structural or logical anomaly", None, "negated classes: rejected, not guessed"),
    ("structural or logical", None, "two classes"),
    ("normal structural logical", None, "every class (substring trick)"),
    ("B or C", None, "two letters"),
    ("BC", None, "two letters run together"),
    ("B, C", None, "two letters"),
    ("A or B", None, "two letters ('A' before a conjunction is the letter)"),
    ("B: logical anomaly", None, "letter and class word disagree"),
    ("C) structural anomaly", None, "letter and option text disagree"),
    ("A) structural anomaly", None, "letter and option text disagree"),
    ("logical anomaly (B)", None, "class word and letter disagree"),
    ("D", None, "no such option"),
    ("E) none of the above", None, "no such option, negation"),
    ("anomaly", None, "names no Pair3C class"),
    ("Abnormal", None, "names no Pair3C class (whole words: not 'normal')"),
    ("I don't know", None, "no class"),
    ("It could be a structural anomaly, but the missing part suggests a logical anomaly", None,
     "prose naming two classes"),
    ("Comparing both images carefully, I see a deep scratch on the lid surface, so this is structural", None,
     "prose over 10 words: not an option, not trusted"),
    ("C) logical anomaly (a broken rule such as a missing, extra, misplaced or wrong part, count or color)", None,
     "paraphrased option (color) over 10 words: prose, not the template"),
]
IDS = [f"{i:02d}" for i in range(len(TABLE))]


def test_table_is_large_and_covers_both_outcomes():
    assert len(TABLE) >= 60
    assert sum(expected is None for _, expected, _ in TABLE) >= 20
    assert {expected for _, expected, _ in TABLE} == {N, S, L, None}
    assert len({answer for answer, _, _ in TABLE}) == len(TABLE)


@pytest.mark.parametrize("answer,expected,why", TABLE, ids=IDS)
def test_matcher(answer, expected, why):
    assert answer_to_label(answer, PAIR3C_OPTIONS) == expected, why


def closed_port_url() -> str:
    """A 127.0.0.1 URL nothing listens on: the judge is unreachable."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_reward_entry_point_agrees_with_the_matcher():
    url = closed_port_url()

    async def score_all():
        results = []
        for answer, expected, _ in TABLE:
            extra = {"split": "train", "options": PAIR3C_OPTIONS, "question": "Which option?",
                     "prompt_version": "pair3c-paper-v1"}
            results.append(await compute_score("mvtec_loco_pair3c", f"{THINK}<answer>{answer}</answer>",
                                               expected or S, extra, judge_url=url, judge_max_retries=0,
                                               judge_timeout_s=5))
        return results

    for (answer, expected, why), out in zip(TABLE, asyncio.run(score_all()), strict=True):
        assert out["pred"] == (expected or ""), (answer, why)
        assert out["r_acc"] == (1.0 if expected else 0.0), (answer, why)
        assert out["r_format"] == (1.0 if answer.strip() else 0.0), (answer, why)
        assert out["judge_called"] == (1.0 if expected else 0.0), (answer, why)  # only a right answer is judged
        assert out["judge_ok"] == 0.0 and out["r_tq"] == 0.0  # unreachable judge: fallback 0
        assert out["score"] == pytest.approx(out["r_format"] + out["r_acc"]), (answer, why)


class SampleRows(HTMLParser):
    """(category, predicted) of every sample row of a report page."""

    def __init__(self):
        super().__init__()
        self.pred = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-category" in attrs:
            self.pred[attrs["data-category"]] = attrs["data-pred"]


def test_report_agrees_with_the_matcher(tmp_path):
    """`fadtq eval`'s records through `fadtq report`: one category per table row, so the sample page
    shows every row's predicted class."""
    preds = tmp_path / "run.jsonl"
    records = [make_record(index=i, category=f"case_{i:02d}", label=expected or S, options=PAIR3C_OPTIONS,
                           model="table", prompt_version="pair3c-paper-v1",
                           response=f"{THINK}<answer>{answer}</answer>")
               for i, (answer, expected, _) in enumerate(TABLE)]
    preds.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    out = tmp_path / "report"
    result = subprocess.run([sys.executable, "-m", "fadtq", "report", str(preds), "--out", str(out),
                             "--samples-per-group", "1"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    page = SampleRows()
    page.feed(next(out.glob("samples_*.html")).read_text(encoding="utf-8"))
    for i, (answer, expected, why) in enumerate(TABLE):
        assert records[i]["pred"] == expected, (answer, why)
        assert page.pred[f"case_{i:02d}"] == (expected or UNPARSABLE), (answer, why)
    metrics = json.loads((out / "metrics.json").read_text())[0]
    assert metrics["pairs"] == len(TABLE) and metrics["input_issues"] == {}
    assert sum(row[-1] for row in metrics["confusion_matrix"]) == sum(e is None for _, e, _ in TABLE)


def test_report_rereads_a_stale_prediction(tmp_path):
    """A file scored by an older matcher (copied option line -> null) is scored as the matcher reads
    it now, and the change is counted, not silent."""
    answer = "C) logical anomaly (a broken rule such as a missing, extra, misplaced or wrong part, count or colour)"
    record = make_record(index=0, category="pushpins", label=L, options=PAIR3C_OPTIONS, model="old",
                         prompt_version="pair3c-v2", response=f"{THINK}<answer>{answer}</answer>")
    record["pred"] = None
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps(record) + "\n")
    run = read_predictions(path)
    assert run.frame["pred"].tolist() == [L] and run.problems == {"repredicted": 1}
    assert "1 predictions re-read" in run.describe_issues()
