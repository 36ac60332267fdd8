"""MVTec-AD and VisA pair sets from synthetic trees in their official layouts."""

import pandas as pd

from fadtq.data.build_binary import build_binary
from fadtq.data.synth_binary import make_synthetic_mvtec_ad, make_synthetic_visa
from fadtq.data.synth_loco import generate_loco_tree
from fadtq.labels import ANOMALOUS, NORMAL


def test_mvtec_ad_pairs(tmp_path):
    root = make_synthetic_mvtec_ad(tmp_path / "mvtec")
    result = build_binary("mvtec-ad", root, tmp_path / "out", per_class=2, categories=("bottle", "cable"), progress=False)
    # per category: 4 good + 2 defects × 3 = 6 anomalous test images; 2 + 2 go to train
    assert result.counts["train"] == {c: {NORMAL: 2, ANOMALOUS: 2} for c in ("bottle", "cable")}
    assert result.counts["test"] == {c: {NORMAL: 2, ANOMALOUS: 4} for c in ("bottle", "cable")}
    train, test = pd.read_parquet(result.files["train"]), pd.read_parquet(result.files["test"])
    assert train.iloc[0].extra_info["options"] == {"A": NORMAL, "B": ANOMALOUS}
    train_refs = {e["reference_path"] for e in train.extra_info}
    test_refs = {e["reference_path"] for e in test.extra_info}
    assert not train_refs & test_refs  # disjoint reference halves
    assert all("/train/good/" in r for r in train_refs | test_refs)


def test_visa_pairs(tmp_path):
    root = make_synthetic_visa(tmp_path / "visa")
    result = build_binary("visa", root, tmp_path / "out", per_class=2, progress=False)
    assert result.counts["test"] == {o: {NORMAL: 2, ANOMALOUS: 3} for o in ("candle", "pcb1")}
    row = pd.read_parquet(result.files["test"]).iloc[0]
    assert row.data_source == "visa_pair2c" and "Normal" in row.extra_info["reference_path"]


def test_synthetic_loco_tree_layout_and_counts(tmp_path):
    root = generate_loco_tree(tmp_path / "loco", counts="small", seed=3)
    for category in ("breakfast_box", "splicing_connectors"):
        assert len(list((root / category / "test" / "logical_anomalies").glob("*.png"))) == 4
        assert (root / category / "defects_config.json").is_file()
        assert (root / category / "ground_truth" / "structural_anomalies" / "000" / "000.png").is_file()
    again = generate_loco_tree(tmp_path / "again", counts="small", seed=3)
    a = (root / "pushpins" / "test" / "logical_anomalies" / "001.png").read_bytes()
    assert a == (again / "pushpins" / "test" / "logical_anomalies" / "001.png").read_bytes()
    normal = (root / "pushpins" / "test" / "good" / "001.png").read_bytes()
    assert a != normal
