"""Pair3C builder: the paper's Table 1 exactly, split hygiene, determinism, manifests, the CLI table."""

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from fadtq.cli import main as fadtq_main
from fadtq.data.build import PAPER_TABLE1_TEST, build_pair3c, matches_paper_table1
from fadtq.data.layout import LOCO_CATEGORIES, OFFICIAL_COUNTS, scan_loco
from fadtq.data.split import read_manifest, sample_pair3c, table1_counts
from fadtq.labels import LOCO_FOLDER_TO_LABEL, PAIR3C_LABELS
from fadtq.offline.synth_loco import generate_loco_tree

COMMITTED_MANIFEST = Path(__file__).resolve().parents[1] / "data" / "pair3c_seed42_manifest.csv"


@pytest.fixture(scope="session")
def official_tree(tmp_path_factory):
    """The synthetic tree with the archive's counts (3,651 images), drawn once for the session."""
    return generate_loco_tree(tmp_path_factory.mktemp("loco") / "official", counts="official")


@pytest.fixture(scope="session")
def official_build(official_tree, tmp_path_factory):
    return build_pair3c(official_tree, tmp_path_factory.mktemp("pair3c") / "seed42", progress=False)


@pytest.fixture(scope="session")
def official_frames(official_build):
    return {split: pd.read_parquet(official_build.files[split]) for split in ("train", "test")}


def test_synthetic_tree_has_the_official_counts(official_tree):
    folders = {"train": "train/good", "validation": "validation/good", "normal": "test/good",
               "logical": "test/logical_anomalies", "structural": "test/structural_anomalies"}
    for category in LOCO_CATEGORIES:
        for key, folder in folders.items():
            assert len(list((official_tree / category / folder).glob("*.png"))) == OFFICIAL_COUNTS[category][key]
    assert sum(1 for _ in official_tree.glob("*/*/*/*.png")) == 3651


def test_table1_equals_the_paper_exactly(official_build):
    counts = official_build.counts
    assert counts["test"] == PAPER_TABLE1_TEST
    assert counts["test"]["breakfast_box"] == {"normal": 62, "structural": 50, "logical": 43}
    assert counts["train"] == {c: {label: 40 for label in PAIR3C_LABELS} for c in LOCO_CATEGORIES}
    assert sum(sum(v.values()) for v in counts["train"].values()) == 600
    assert sum(sum(v.values()) for v in counts["test"].values()) == 968
    # the paper's per-category test totals (Table 2 denominators)
    assert {c: sum(v.values()) for c, v in counts["test"].items()} == {
        "breakfast_box": 155, "splicing_connectors": 192, "juice_bottle": 210, "screw_bag": 221, "pushpins": 190}
    assert matches_paper_table1(counts)


def test_counts_are_read_from_the_parquet_too(official_build, official_frames):
    """Table 1 recounted from the written rows, not from the builder's own bookkeeping."""
    for split, frame in official_frames.items():
        recount = frame.groupby([frame.extra_info.map(lambda e: e["category"]),
                                 frame.reward_model.map(lambda r: r["ground_truth"])]).size()
        assert {(c, label): n for (c, label), n in recount.items()} == {
            (c, label): n for c, per in official_build.counts[split].items() for label, n in per.items()}
        assert list(frame.extra_info.map(lambda e: e["index"])) == list(range(len(frame)))


def test_split_hygiene(official_tree, official_frames):
    train, test = official_frames["train"], official_frames["test"]
    train_images = {e["test_path"] for e in train.extra_info}
    test_images = {e["test_path"] for e in test.extra_info}
    assert len(train_images) == 600 and len(test_images) == 968
    assert not train_images & test_images  # disjoint
    every_test_image = {str(p.relative_to(official_tree)) for p in official_tree.glob("*/test/*/*.png")}
    assert train_images | test_images == every_test_image  # all of the official test split, nothing else
    train_good = {str(p.relative_to(official_tree)) for p in official_tree.glob("*/train/good/*.png")}
    validation_good = {str(p.relative_to(official_tree)) for p in official_tree.glob("*/validation/good/*.png")}
    assert {e["reference_path"] for e in train.extra_info} <= train_good
    assert {e["reference_path"] for e in test.extra_info} <= validation_good
    for frame in (train, test):
        for info, reward in zip(frame.extra_info, frame.reward_model, strict=True):
            parts = Path(info["test_path"]).parts
            assert parts[0] == Path(info["reference_path"]).parts[0] == info["category"]  # same product
            assert LOCO_FOLDER_TO_LABEL[parts[-2]] == info["label"] == reward["ground_truth"]  # label from folder


def test_rows_follow_the_contract(official_frames):
    for split, frame in official_frames.items():
        row = frame.iloc[-1]
        assert row.data_source == "mvtec_loco_pair3c" and row.ability == "anomaly_detection"
        user = row.prompt[-1]["content"]
        assert "".join(m["content"] for m in row.prompt).count("<image>") == 2
        assert user.index("Reference") < user.index("<image>") < user.index("Test") < user.rindex("<image>")
        assert len(row.images) == 2 and all(img["max_pixels"] == 512 * 28 * 28 for img in row.images)
        assert row.reward_model == {"style": "rule", "ground_truth": row.extra_info["label"]}
        info = row.extra_info
        assert info["options"] == {"A": "normal", "B": "structural", "C": "logical"}
        assert info["question"] in user and info["split"] == split and info["prompt_version"] == "pair3c-paper-v1"
        assert info["category"].replace("_", " ") in info["question"]


def test_images_are_stored_resized_reference_first(official_tree, official_frames):
    from qwen_vl_utils.vision_process import smart_resize

    row = official_frames["test"].iloc[0]
    for stored, source in zip(row.images, (row.extra_info["reference_path"], row.extra_info["test_path"]), strict=True):
        with Image.open(io.BytesIO(stored["bytes"])) as image, Image.open(official_tree / source) as original:
            assert image.format == "PNG" and image.mode == "RGB"
            h, w = smart_resize(original.height, original.width, factor=28, max_pixels=stored["max_pixels"])
            assert image.size == (w, h)
            # the stored pixels are exactly the source's, resized with qwen-vl-utils' (bicubic) resampling
            expected = original.convert("RGB").resize(image.size, Image.Resampling.BICUBIC)
            assert image.tobytes() == expected.tobytes()


def test_same_seed_same_split_other_seed_different(official_tree):
    scanned = scan_loco(official_tree)
    a, b, c = sample_pair3c(scanned, 42), sample_pair3c(scanned, 42), sample_pair3c(scanned, 7)
    assert a == b
    assert {(p.split, p.test_image) for p in a} != {(p.split, p.test_image) for p in c}
    assert {p.reference_image for p in a} != {p.reference_image for p in c}
    assert table1_counts(c) == table1_counts(a)  # counts do not depend on the seed


def test_a_category_samples_the_same_alone(official_tree):
    alone = sample_pair3c(scan_loco(official_tree, categories=("pushpins",)), 42)
    assert alone == [p for p in sample_pair3c(scan_loco(official_tree), 42) if p.category == "pushpins"]


def test_same_seed_same_manifest_file(official_tree, official_build, tmp_path):
    again = build_pair3c(official_tree, tmp_path / "again", progress=False)
    assert again.files["manifest"].read_bytes() == official_build.files["manifest"].read_bytes()
    other = build_pair3c(official_tree, tmp_path / "other", seed=7, progress=False)
    assert other.files["manifest"].read_bytes() != official_build.files["manifest"].read_bytes()


def test_committed_manifest_is_the_seed42_split(official_build):
    assert COMMITTED_MANIFEST.read_bytes() == official_build.files["manifest"].read_bytes()
    with open(COMMITTED_MANIFEST, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1568 and {r["seed"] for r in rows} == {"42"}


def test_manifest_rebuild_is_exact(official_tree, official_build, official_frames, tmp_path):
    rebuilt = build_pair3c(official_tree, tmp_path / "rebuilt", manifest=COMMITTED_MANIFEST, seed=123, per_class=3,
                           progress=False)  # seed and per_class are not used: the manifest decides
    assert rebuilt.files["manifest"].read_bytes() == official_build.files["manifest"].read_bytes()
    assert rebuilt.counts == official_build.counts
    for split in ("train", "test"):
        a, b = pd.read_parquet(rebuilt.files[split]), official_frames[split]
        assert list(a.extra_info) == list(b.extra_info)
        assert [[img["bytes"] for img in row] for row in a.images] == [[img["bytes"] for img in row] for row in b.images]


def test_manifest_subset_rebuilds_only_those_pairs(official_tree, tmp_path):
    subset = tmp_path / "subset.csv"
    lines = COMMITTED_MANIFEST.read_text().splitlines()
    subset.write_text("\n".join(lines[:1] + lines[1:4] + lines[-3:]) + "\n")
    built = build_pair3c(official_tree, tmp_path / "out", manifest=subset, progress=False)
    assert read_manifest(built.files["manifest"]) == read_manifest(subset)
    assert sum(len(pd.read_parquet(built.files[s])) for s in ("train", "test")) == 6


def test_cli_prints_table1(official_tree, tmp_path, capsys):
    code = fadtq_main(["build-data", "pair3c", "--root", str(official_tree), "--out", str(tmp_path / "cli"),
                       "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    tables, rows = [], None
    for line in out.splitlines():
        if "Table 1, MVTec-LOCO-AD-Pair3C:" in line:
            rows = {}
            tables.append(rows)
        elif line.count("│") == 6:
            cells = [c.strip() for c in line.split("│")[1:-1]]
            rows[cells[0]] = cells[1:]
    train, test = tables
    assert train == {**{c: ["40", "40", "40", "120"] for c in LOCO_CATEGORIES}, "total": ["200", "200", "200", "600"]}
    assert test["breakfast_box"] == ["62", "50", "43", "155"]
    assert test["total"] == ["375", "232", "361", "968"]
    assert "equals the paper's Table 1" in out
    assert (tmp_path / "cli" / "summary.json").is_file()
