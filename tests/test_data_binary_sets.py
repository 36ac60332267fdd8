"""MVTec-AD and VisA pair sets from synthetic trees in their official layouts; the synthetic LOCO tree."""

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fadtq.data import DataError
from fadtq.data.binary import (
    MVTEC_AD_CATEGORIES,
    MVTEC_AD_OFFICIAL_COUNTS,
    NATURAL_DEFECT_SHARE,
    VISA_CATEGORIES,
    VISA_OFFICIAL_COUNTS,
    binary_counts,
    build_binary,
    natural_counts,
    sample_binary_pairs,
    sample_natural_binary_pairs,
    scan_mvtec_ad,
    scan_visa,
)
from fadtq.data.layout import LOCO_CATEGORIES
from fadtq.data.split import TEST, TRAIN
from fadtq.labels import ANOMALOUS, LOGICAL, NORMAL, STRUCTURAL
from fadtq.offline.synth_binary import make_synthetic_mvtec_ad, make_synthetic_visa
from fadtq.offline.synth_loco import (
    MARKER,
    RULES,
    draw_image,
    draw_scene,
    generate_loco_tree,
)

REPO = Path(__file__).resolve().parents[1]


def test_mvtec_ad_pairs(tmp_path):
    root = make_synthetic_mvtec_ad(tmp_path / "mvtec")
    assert (root / "bottle" / "ground_truth" / "crack" / "000_mask.png").is_file()  # the official layout
    result = build_binary("mvtec-ad", root, tmp_path / "out", per_class=2, categories=("bottle", "cable"), progress=False)
    # per category: 4 good + 2 defects × 3 = 6 anomalous test images; 2 + 2 go to train
    assert result.counts["train"] == {c: {NORMAL: 2, ANOMALOUS: 2} for c in ("bottle", "cable")}
    assert result.counts["test"] == {c: {NORMAL: 2, ANOMALOUS: 4} for c in ("bottle", "cable")}
    train, test = pd.read_parquet(result.files["train"]), pd.read_parquet(result.files["test"])
    info = train.iloc[0].extra_info
    assert info["options"] == {"A": NORMAL, "B": ANOMALOUS} and info["prompt_version"] == "pair2c-v1"
    assert "B) anomalous" in info["question"] and "C)" not in info["question"]
    for frame in (train, test):
        for e, reward in zip(frame.extra_info, frame.reward_model, strict=True):
            folder = e["test_path"].split("/")[-2]
            assert e["defect_type"] == folder and reward["ground_truth"] == (NORMAL if folder == "good" else ANOMALOUS)
    train_refs = {e["reference_path"] for e in train.extra_info}
    test_refs = {e["reference_path"] for e in test.extra_info}
    assert not train_refs & test_refs  # disjoint reference halves
    assert all("/train/good/" in r for r in train_refs | test_refs)
    assert not {e["test_path"] for e in train.extra_info} & {e["test_path"] for e in test.extra_info}


def test_visa_pairs(tmp_path):
    root = make_synthetic_visa(tmp_path / "visa")
    with open(root / "split_csv" / "1cls.csv", newline="") as fh:
        masks = [r["mask"] for r in csv.DictReader(fh) if r["label"] == "anomaly"]
    assert masks and all((root / m).is_file() for m in masks)
    result = build_binary("visa", root, tmp_path / "out", per_class=2, progress=False)
    assert result.counts["test"] == {o: {NORMAL: 2, ANOMALOUS: 3} for o in ("candle", "pcb1")}
    frame = pd.read_parquet(result.files["test"])
    row = frame.iloc[0]
    assert row.data_source == "visa_pair2c" and "/Data/Images/Normal/train_" in row.extra_info["reference_path"]
    pcb = next(e for e in frame.extra_info if e["category"] == "pcb1")
    assert "printed circuit board" in pcb["question"]
    assert {e["defect_type"] for e in frame.extra_info} == {"good", "anomaly"}


def test_binary_sampling_is_seeded_and_per_category_stable(tmp_path):
    root = make_synthetic_mvtec_ad(tmp_path / "mvtec", categories=("bottle", "cable", "screw"))
    everything = scan_mvtec_ad(root, ("bottle", "cable", "screw"))
    a = sample_binary_pairs(everything, seed=1, per_class=2)
    assert a == sample_binary_pairs(everything, seed=1, per_class=2)
    assert a != sample_binary_pairs(everything, seed=2, per_class=2)
    alone = sample_binary_pairs(scan_mvtec_ad(root, ("cable",)), seed=1, per_class=2)
    assert alone == [p for p in a if p.category == "cable"]
    visa = scan_visa(make_synthetic_visa(tmp_path / "visa"))
    assert sample_binary_pairs(visa, seed=3, per_class=1) == sample_binary_pairs(visa, seed=3, per_class=1)


def test_synthetic_loco_tree_layout_and_determinism(tmp_path):
    root = generate_loco_tree(tmp_path / "loco", counts="small", seed=3)
    assert (root / MARKER).is_file()
    for category in ("breakfast_box", "juice_bottle", "pushpins", "screw_bag", "splicing_connectors"):
        for folder, n in (("train/good", 4), ("validation/good", 3), ("test/good", 4), ("test/logical_anomalies", 4),
                          ("test/structural_anomalies", 4)):
            assert sorted(p.name for p in (root / category / folder).iterdir()) == [f"{i:03d}.png" for i in range(n)]
        assert (root / category / "defects_config.json").is_file()
        for kind in ("structural_anomalies", "logical_anomalies"):
            assert sorted(p.name for p in (root / category / "ground_truth" / kind).iterdir()) == [
                f"{i:03d}" for i in range(4)]
            assert (root / category / "ground_truth" / kind / "000" / "000.png").is_file()
    again = generate_loco_tree(tmp_path / "again", counts="small", seed=3)
    other = generate_loco_tree(tmp_path / "other", counts="small", seed=4)
    files = sorted(p.relative_to(root) for p in root.rglob("*.png"))
    assert files == sorted(p.relative_to(again) for p in again.rglob("*.png"))
    assert all((root / f).read_bytes() == (again / f).read_bytes() for f in files)
    assert any((root / f).read_bytes() != (other / f).read_bytes() for f in files)


def test_structural_damage_is_local_and_masked():
    for category in ("breakfast_box", "screw_bag"):
        for index in range(5):
            normal, _ = draw_image(category, NORMAL, 0, index)
            damaged, mask = draw_image(category, "structural", 0, index)
            mask = np.asarray(mask) > 0
            assert 0 < mask.mean() < 0.05  # a small region of the image
            assert normal.size == damaged.size == Image.fromarray(mask).size


def test_logical_anomalies_break_the_category_rule():
    """Normal and structural scenes keep their category's rule; every logical scene breaks it."""
    for category in LOCO_CATEGORIES:
        for index in range(30):
            for label, holds in ((NORMAL, True), (STRUCTURAL, True), (LOGICAL, False)):
                _, mask, facts = draw_scene(category, label, 0, index)
                assert RULES[category](facts) is holds, (category, label, index, facts)
            assert np.asarray(mask).min() == 255  # the logical mask covers the scene


# --- --balance natural: LR-IAD's class imbalance ----------------------------------------------------

@pytest.fixture(scope="module")
def official_trees(tmp_path_factory):
    """Synthetic MVTec-AD and VisA trees with every category's official image counts (16,175 images)."""
    folder = tmp_path_factory.mktemp("official")
    return {"mvtec-ad": scan_mvtec_ad(make_synthetic_mvtec_ad(folder / "mvtec", MVTEC_AD_CATEGORIES,
                                                              official_counts=True)),
            "visa": scan_visa(make_synthetic_visa(folder / "visa", VISA_CATEGORIES, official_counts=True))}


def test_official_counts_give_the_shares_lr_iad_quotes():
    assert sum(c.total for c in MVTEC_AD_OFFICIAL_COUNTS.values()) == 5354  # the dataset paper's total
    assert sum(c.test_anomalous for c in MVTEC_AD_OFFICIAL_COUNTS.values()) == 1258
    assert sum(c.total for c in VISA_OFFICIAL_COUNTS.values()) == 10821
    assert sum(c.test_anomalous for c in VISA_OFFICIAL_COUNTS.values()) == 1200
    assert NATURAL_DEFECT_SHARE == {"mvtec-ad": pytest.approx(1258 / 5354), "visa": pytest.approx(1200 / 10821)}
    assert NATURAL_DEFECT_SHARE["mvtec-ad"] == pytest.approx(0.238, abs=0.005)  # LR-IAD: 23.8 %
    assert NATURAL_DEFECT_SHARE["visa"] == pytest.approx(0.111, abs=0.0005)  # LR-IAD: 11.1 %


def test_natural_counts_hand_values():
    assert natural_counts(3, 0.25, 100) == (3, 9)  # 3·0.75/0.25 = 9 normal
    assert natural_counts(20, 1258 / 5354, 104) == (20, 65)  # 20·4096/1258 = 65.1
    assert natural_counts(20, 1258 / 5354, 30) == (9, 29)  # toothbrush: 30 training-side images hold 9 + 29
    assert natural_counts(20, 1200 / 10821, 450) == (20, 160)  # 20·9621/1200 = 160.35
    assert natural_counts(1, 0.01, 50) == (0, 0)  # one anomalous image would need 99 normal ones


@pytest.mark.parametrize("dataset", ["mvtec-ad", "visa"])
def test_natural_split_has_the_dataset_share_in_every_category(official_trees, dataset):
    scanned, share = official_trees[dataset], NATURAL_DEFECT_SHARE[dataset]
    pairs = sample_natural_binary_pairs(scanned, share, seed=42, per_class=20)
    counts = binary_counts(pairs)
    assert sorted(counts[TRAIN]) == sorted(scanned)
    for name, per in counts[TRAIN].items():
        total = per[NORMAL] + per[ANOMALOUS]
        assert abs(per[ANOMALOUS] - share * total) <= 1, (name, per)  # ± one image
        assert per[ANOMALOUS] == (9 if name == "toothbrush" else 20), name  # only toothbrush is too small for 20
        test = counts[TEST][name]
        assert test[NORMAL] == len(scanned[name].test[NORMAL])  # every official normal test image is tested
        assert test[ANOMALOUS] == len(scanned[name].test[ANOMALOUS]) - per[ANOMALOUS]
    pooled = [sum(per[label] for per in counts[TRAIN].values()) for label in (NORMAL, ANOMALOUS)]
    assert pooled[1] / sum(pooled) == pytest.approx(share, abs=0.002)
    tested = [sum(per[label] for per in counts[TEST].values()) for label in (NORMAL, ANOMALOUS)]
    readme = (REPO / "data" / "README.md").read_text()  # the documented composition is this split's
    title = {"mvtec-ad": "MVTec-AD", "visa": "VisA"}[dataset]
    assert f"| {title} | **total** | " + " | ".join(f"**{n}**" for n in pooled + tested) + " |" in readme
    train_images = {p.test_image for p in pairs if p.split == TRAIN} | {p.reference_image for p in pairs
                                                                        if p.split == TRAIN}
    test_images = {p.test_image for p in pairs if p.split == TEST} | {p.reference_image for p in pairs
                                                                      if p.split == TEST}
    assert not train_images & test_images  # no image in both splits, as test or as reference
    assert all(p.test_image != p.reference_image for p in pairs)
    assert len({p.test_image for p in pairs}) == len(pairs)


def test_natural_split_is_seeded_subset_stable_and_keeps_the_balanced_anomalies(tmp_path):
    root = make_synthetic_mvtec_ad(tmp_path / "mvtec", categories=("bottle", "cable", "screw"), n_train=40, n_defect=4)
    everything = scan_mvtec_ad(root, ("bottle", "cable", "screw"))
    share = NATURAL_DEFECT_SHARE["mvtec-ad"]
    a = sample_natural_binary_pairs(everything, share, seed=1, per_class=3)
    assert a == sample_natural_binary_pairs(everything, share, seed=1, per_class=3)
    assert a != sample_natural_binary_pairs(everything, share, seed=2, per_class=3)
    alone = sample_natural_binary_pairs(scan_mvtec_ad(root, ("cable",)), share, seed=1, per_class=3)
    assert alone == [p for p in a if p.category == "cable"]
    balanced = sample_binary_pairs(everything, seed=1, per_class=3)

    def anomalous_training_images(pairs):
        return {p.test_image for p in pairs if p.split == TRAIN and p.label == ANOMALOUS}

    assert anomalous_training_images(a) == anomalous_training_images(balanced)
    normal_training = [p for p in a if p.split == TRAIN and p.label == NORMAL]
    assert len(normal_training) == 3 * 10 and all("/train/good/" in p.test_image for p in normal_training)


def test_natural_build_writes_the_balance_and_its_manifest_rebuilds_it(tmp_path):
    root = make_synthetic_mvtec_ad(tmp_path / "mvtec", n_train=30)
    result = build_binary("mvtec-ad", root, tmp_path / "out", per_class=2, balance="natural",
                          categories=("bottle", "cable"), progress=False)
    # 2 anomalous + ⌊2·4096/1258 + ½⌋ = 7 normal per category; test: 4 good + 6 − 2 anomalous
    assert result.counts[TRAIN] == {c: {NORMAL: 7, ANOMALOUS: 2} for c in ("bottle", "cable")}
    assert result.counts[TEST] == {c: {NORMAL: 4, ANOMALOUS: 4} for c in ("bottle", "cable")}
    with open(result.files["manifest"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["split", "category", "label", "test_image", "reference_image", "seed", "balance"]
    assert {r["balance"] for r in rows} == {"natural"} and {r["seed"] for r in rows} == {"42"}
    summary = json.loads(result.files["summary"].read_text())
    assert summary["balance"] == "natural" and summary["defect_share"] == pytest.approx(1258 / 5354)
    train = pd.read_parquet(result.files["train"])
    assert {e["defect_type"] for e in train.extra_info if e["label"] == NORMAL} == {"good"}

    again = build_binary("mvtec-ad", root, tmp_path / "again", seed=7, per_class=1,
                         manifest=result.files["manifest"], progress=False)  # seed and per-class are not used
    assert again.files["manifest"].read_text() == result.files["manifest"].read_text()
    for split in (TRAIN, TEST):
        before, after = pd.read_parquet(result.files[split]), pd.read_parquet(again.files[split])
        assert before.extra_info.tolist() == after.extra_info.tolist()
        assert before.reward_model.tolist() == after.reward_model.tolist()
    assert json.loads(again.files["summary"].read_text())["balance"] == "natural"


def test_visa_natural_build_uses_the_train_split_for_normal_training_pairs(tmp_path):
    root = make_synthetic_visa(tmp_path / "visa", n_train=40)
    result = build_binary("visa", root, tmp_path / "out", per_class=1, balance="natural", progress=False)
    assert result.counts[TRAIN] == {o: {NORMAL: 8, ANOMALOUS: 1} for o in ("candle", "pcb1")}  # 1·9621/1200 = 8.0
    train, test = pd.read_parquet(result.files["train"]), pd.read_parquet(result.files["test"])
    normal = [e for e in train.extra_info if e["label"] == NORMAL]
    assert all("/Normal/train_" in e["test_path"] and e["defect_type"] == "good" for e in normal)
    train_images = {e[k] for e in train.extra_info for k in ("test_path", "reference_path")}
    test_images = {e[k] for e in test.extra_info for k in ("test_path", "reference_path")}
    assert not train_images & test_images


def test_binary_manifest_errors_name_the_file_and_the_fix(tmp_path):
    root = make_synthetic_mvtec_ad(tmp_path / "mvtec", n_train=30)
    built = build_binary("mvtec-ad", root, tmp_path / "out", per_class=2, balance="natural", categories=("bottle",),
                         progress=False)
    lines = built.files["manifest"].read_text().splitlines()
    flipped = tmp_path / "flipped.csv"
    flipped.write_text("\n".join([lines[0], lines[1].replace(",normal,", ",anomalous,")]) + "\n")
    with pytest.raises(DataError, match=f"{flipped}: .* is labelled 'anomalous' but the dataset says normal — "):
        build_binary("mvtec-ad", root, tmp_path / "o1", manifest=flipped, progress=False)
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("\n".join([lines[0], lines[1], lines[2].replace(",natural", ",balanced")]) + "\n")
    with pytest.raises(DataError, match=f"{mixed}: balance column holds .* — use a manifest written by"):
        build_binary("mvtec-ad", root, tmp_path / "o2", manifest=mixed, progress=False)
    with pytest.raises(DataError, match="are not visa categories"):
        build_binary("visa", root, tmp_path / "o3", manifest=built.files["manifest"], progress=False)
    with pytest.raises(DataError, match="--balance lopsided: unknown — use one of balanced, natural"):
        build_binary("mvtec-ad", root, tmp_path / "o4", balance="lopsided", progress=False)
    assert not any((tmp_path / name).exists() for name in ("o1", "o2", "o3", "o4"))
