"""Bad input to `fadtq build-data`: one line naming the path and the fix, non-zero exit, no partial output."""

import shutil
import subprocess
import sys

import pytest

from fadtq.data.synth_loco import SMALL_PER_CLASS, generate_loco_tree


@pytest.fixture()
def tree(tmp_path):
    return generate_loco_tree(tmp_path / "loco", counts="small")


def build(root, out, *extra):
    return subprocess.run([sys.executable, "-m", "fadtq", "build-data", "pair3c", "--root", str(root), "--out", str(out),
                           "--per-class", str(SMALL_PER_CLASS), "--no-progress", *extra], capture_output=True, text=True)


def assert_clean_failure(result, out, mentions):
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "error:" in lines[0] and mentions in lines[0] and " — " in lines[0]
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]  # no staging left behind


def test_missing_root(tmp_path):
    assert_clean_failure(build(tmp_path / "absent", tmp_path / "out"), tmp_path / "out", str(tmp_path / "absent"))


def test_missing_category(tree, tmp_path):
    shutil.rmtree(tree / "pushpins")
    assert_clean_failure(build(tree, tmp_path / "out"), tmp_path / "out", "pushpins")


def test_missing_class_folder(tree, tmp_path):
    shutil.rmtree(tree / "screw_bag" / "test" / "logical_anomalies")
    assert_clean_failure(build(tree, tmp_path / "out"), tmp_path / "out", "logical_anomalies")


def test_empty_class(tree, tmp_path):
    for f in (tree / "juice_bottle" / "test" / "structural_anomalies").iterdir():
        f.unlink()
    assert_clean_failure(build(tree, tmp_path / "out"), tmp_path / "out", "structural_anomalies")


def test_fewer_images_than_per_class(tree, tmp_path):
    result = build(tree, tmp_path / "out", "--per-class", "99")
    assert_clean_failure(result, tmp_path / "out", "--per-class 99")


def test_corrupt_png(tree, tmp_path):
    bad = tree / "breakfast_box" / "test" / "good" / "001.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    assert_clean_failure(build(tree, tmp_path / "out"), tmp_path / "out", str(bad))


def test_manifest_names_absent_file(tree, tmp_path):
    (tree / "breakfast_box" / "test" / "good" / "000.png").unlink()
    result = build(tree, tmp_path / "out", "--manifest", "data/pair3c_seed42_manifest.csv")
    assert_clean_failure(result, tmp_path / "out", "missing")


def test_failed_rebuild_keeps_previous_output(tree, tmp_path):
    out = tmp_path / "out"
    assert build(tree, out).returncode == 0
    before = sorted(p.name for p in out.iterdir())
    (tree / "pushpins" / "test" / "good" / "000.png").write_bytes(b"junk")
    assert build(tree, out).returncode != 0
    assert sorted(p.name for p in out.iterdir()) == before
