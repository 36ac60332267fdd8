"""The prompt's two class wordings (the paper's, the default, and MVTec LOCO's), one source of option
texts for the builder, the answer matcher and the judge's rubric, and the version in every row."""

import json

import pandas as pd
import pytest

from fadtq.cli import main as fadtq_main
from fadtq.data import DataError
from fadtq.data.build import build_pair3c
from fadtq.data.prompt import (
    BINARY_OPTIONS,
    BINARY_PROMPT_VERSION,
    DEFAULT_PAIR3C_WORDING,
    LOCO_PROMPT_VERSION,
    OPTION_TEXTS,
    PAIR3C_OPTIONS,
    PAIR3C_WORDINGS,
    PAPER_PROMPT_VERSION,
    PROMPT_VERSION,
    default_prompt_version,
    option_lines,
    option_texts,
    pair3c_prompt_version,
    prompt_version_of_question,
    question_text,
)
from fadtq.judge.rubric import RUBRIC_VERSION, build_messages, rubric_version, system_prompt
from fadtq.labels import ANOMALOUS, LOGICAL, NORMAL, STRUCTURAL
from fadtq.offline.synth_loco import SMALL_PER_CLASS
from fadtq.rewards import answer_to_label

#: The question of rows built before the paper's wording existed (version pair3c-v2): unchanged.
LOCO_QUESTION = (
    "Product: breakfast box. The first image is a reference image known to be normal; the second image is a test "
    "image of the same product.\nWhich option describes the test image?\nA) normal\n"
    "B) structural anomaly (local damage such as a scratch, crack, dent, stain or a missing chunk)\n"
    "C) logical anomaly (a broken rule such as a missing, extra, misplaced or wrong part, count or colour)\n"
    "First think step by step inside <think></think>, comparing the test image with the reference image, then "
    "give only the letter of your choice inside <answer></answer>."
)
VERSIONS = [(PAPER_PROMPT_VERSION, PAIR3C_OPTIONS), (LOCO_PROMPT_VERSION, PAIR3C_OPTIONS),
            (BINARY_PROMPT_VERSION, BINARY_OPTIONS)]


def test_the_paper_wording_is_the_default():
    assert DEFAULT_PAIR3C_WORDING == "paper" and PROMPT_VERSION == PAPER_PROMPT_VERSION == "pair3c-paper-v1"
    assert PAIR3C_WORDINGS == {"paper": "pair3c-paper-v1", "loco": "pair3c-v2"}
    assert default_prompt_version(PAIR3C_OPTIONS) == PAPER_PROMPT_VERSION
    assert default_prompt_version(BINARY_OPTIONS) == BINARY_PROMPT_VERSION
    assert pair3c_prompt_version("loco") == pair3c_prompt_version("pair3c-v2") == LOCO_PROMPT_VERSION
    with pytest.raises(ValueError, match="paper, loco"):
        pair3c_prompt_version("mine")


def test_the_paper_taxonomy_words():
    """Paper §2.1: structural = missing parts, deformation, or defects; logical = count mismatch or
    spatial inconsistency; normal = no anomaly."""
    paper = option_texts(PAPER_PROMPT_VERSION)
    assert paper[STRUCTURAL] == "structural anomaly (missing parts, deformation, or defects)"
    assert paper[LOGICAL] == "logical anomaly (count mismatch or spatial inconsistency)"
    assert paper[NORMAL] == "normal (no anomaly)"
    assert "missing" in option_texts(LOCO_PROMPT_VERSION)[LOGICAL]  # LOCO: a missing part is logical


def test_old_rows_keep_their_question():
    assert question_text("breakfast_box", PAIR3C_OPTIONS, LOCO_PROMPT_VERSION) == LOCO_QUESTION
    paper = question_text("breakfast_box", PAIR3C_OPTIONS)
    assert paper.replace("\n".join(option_lines(PAIR3C_OPTIONS, PAPER_PROMPT_VERSION)),
                         "\n".join(option_lines(PAIR3C_OPTIONS, LOCO_PROMPT_VERSION))) == LOCO_QUESTION
    with pytest.raises(ValueError, match="known are"):
        question_text("breakfast_box", PAIR3C_OPTIONS, "pair3c-v0")
    with pytest.raises(ValueError, match="no option text"):
        question_text("bottle", BINARY_OPTIONS, PAPER_PROMPT_VERSION)


@pytest.mark.parametrize("version,options", VERSIONS)
def test_option_lines_copied_back_verbatim_are_accepted(version, options):
    question = question_text("pushpins", options, version)
    lines = option_lines(options, version)
    assert all(line in question.splitlines() for line in lines)
    for line, label in zip(lines, options.values(), strict=True):
        text = line.split(") ", 1)[1]
        for answer in (line, text, line + ".", line.upper(), f"**{line}**", f"Answer: {line}"):
            assert answer_to_label(answer, options) == label, answer


def test_every_wording_names_only_its_own_class():
    """Why the matcher may accept every version's texts: none names another class."""
    everything = {"A": NORMAL, "B": STRUCTURAL, "C": LOGICAL, "D": ANOMALOUS}
    for version, texts in OPTION_TEXTS.items():
        for label, text in texts.items():
            assert answer_to_label(text, everything) == label, (version, text)


@pytest.mark.parametrize("version,options", VERSIONS)
def test_the_version_is_read_back_from_the_question(version, options):
    assert prompt_version_of_question(question_text("screw_bag", options, version)) == version


def test_a_hand_written_question_has_no_version():
    assert prompt_version_of_question("Is the test image normal?") is None
    assert prompt_version_of_question("A) normal\nB) structural anomaly\nC) logical anomaly") is None


@pytest.mark.parametrize("version,options", VERSIONS)
def test_the_rubric_describes_the_classes_as_the_question_did(version, options):
    question = question_text("juice_bottle", options, version)
    system = build_messages(question, "the test image has a crack", "B")[0]["content"]
    assert system == system_prompt(version)
    for text in option_texts(version).values():
        assert text in system
    others = {t for v, texts in OPTION_TEXTS.items() if v != version for t in texts.values()} - set(
        option_texts(version).values())
    assert not any(f"{t}," in system or f"{t} or" in system or f"{t}." in system for t in others)


def test_the_rubric_wording_defaults_to_the_paper_and_can_be_named():
    paper, loco = system_prompt(PAPER_PROMPT_VERSION), system_prompt(LOCO_PROMPT_VERSION)
    assert paper != loco and "count mismatch or spatial inconsistency" in paper and "broken rule" in loco
    assert build_messages("Is the test image normal?", "x", "A")[0]["content"] == paper
    named = build_messages("Is the test image normal?", "x", "A", prompt_version=LOCO_PROMPT_VERSION)
    assert named[0]["content"] == loco
    assert rubric_version(LOCO_PROMPT_VERSION) == f"{RUBRIC_VERSION}/pair3c-v2" and RUBRIC_VERSION != "fadtq-tq-v1"
    for text in ("conciseness", "relevance", "never instructions", "JSON only"):
        assert text in paper and text in loco


@pytest.fixture(scope="module")
def small_tree(small_loco_tree):
    return small_loco_tree


def built_rows(result) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(result.files[split]) for split in ("train", "test")], ignore_index=True)


def test_built_rows_carry_the_version_and_the_default_is_the_paper(small_tree, tmp_path):
    default = build_pair3c(small_tree, tmp_path / "default", per_class=SMALL_PER_CLASS, max_pixels=16 * 28 * 28,
                           progress=False)
    loco = build_pair3c(small_tree, tmp_path / "loco", per_class=SMALL_PER_CLASS, max_pixels=16 * 28 * 28,
                        progress=False, prompt_version="loco")
    for result, version in ((default, PAPER_PROMPT_VERSION), (loco, LOCO_PROMPT_VERSION)):
        rows = built_rows(result)
        assert len(rows) > 0 and {info["prompt_version"] for info in rows["extra_info"]} == {version}
        for info, prompt in zip(rows["extra_info"], rows["prompt"], strict=True):
            assert info["question"] == question_text(info["category"], PAIR3C_OPTIONS, version)
            assert info["question"] in prompt[-1]["content"]
        assert json.loads(result.files["summary"].read_text())["prompt_version"] == version
    # the wording changes the text only, never the split
    assert default.files["manifest"].read_text() == loco.files["manifest"].read_text()
    with pytest.raises(DataError, match="--prompt-version"):
        build_pair3c(small_tree, tmp_path / "bad", per_class=SMALL_PER_CLASS, progress=False, prompt_version="mine")


def test_cli_prompt_version(small_tree, tmp_path, capsys):
    code = fadtq_main(["build-data", "pair3c", "--root", str(small_tree), "--out", str(tmp_path / "cli"),
                       "--per-class", str(SMALL_PER_CLASS), "--max-pixels", str(16 * 28 * 28), "--no-progress",
                       "--prompt-version", "loco"])
    assert code == 0, capsys.readouterr().err
    rows = pd.read_parquet(tmp_path / "cli" / "test.parquet")
    assert {info["prompt_version"] for info in rows["extra_info"]} == {LOCO_PROMPT_VERSION}
    with pytest.raises(SystemExit):
        fadtq_main(["build-data", "pair3c", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--prompt-version {paper,loco}" in help_text and "(default: paper)" in help_text
