"""MVTec-AD and VisA pair sets from synthetic trees in their official layouts; the synthetic LOCO tree."""

import csv

import numpy as np
import pandas as pd
from PIL import Image

from fadtq.data.binary_sets import sample_binary_pairs, scan_mvtec_ad, scan_visa
from fadtq.data.build_binary import build_binary
from fadtq.data.loco_layout import LOCO_CATEGORIES
from fadtq.data.synth_binary import make_synthetic_mvtec_ad, make_synthetic_visa
from fadtq.data.synth_loco import (
    MARKER,
    RULES,
    draw_image,
    draw_scene,
    generate_loco_tree,
)
from fadtq.labels import ANOMALOUS, LOGICAL, NORMAL, STRUCTURAL


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
        for e, reward in zip(frame.extra_info, frame.reward_model):
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
