"""Bad input to `fadtq build-data` / `fadtq synth-loco`: one line naming the path and the fix, a
non-zero exit, no partial output — and nothing that is not ours is ever deleted."""

import shutil
import subprocess
import sys
from types import SimpleNamespace

import pytest

from fadtq.cli import main as fadtq_main
from fadtq.data.build import build_pair3c
from fadtq.offline.synth_binary import make_synthetic_mvtec_ad, make_synthetic_visa
from fadtq.offline.synth_loco import SMALL_PER_CLASS


@pytest.fixture(scope="module")
def pristine_tree(small_loco_tree):
    return small_loco_tree


@pytest.fixture()
def tree(pristine_tree, tmp_path):
    """A fresh copy per test (tests break it)."""
    return shutil.copytree(pristine_tree, tmp_path / "loco")


@pytest.fixture(autouse=True)
def _capture(capsys):
    global _capsys
    _capsys = capsys


def fadtq(*args):
    """The CLI in-process (one import of the image stack for the whole file); stdout/stderr captured."""
    _capsys.readouterr()
    code = fadtq_main([str(a) for a in args])
    out, err = _capsys.readouterr()
    return SimpleNamespace(returncode=code, stdout=out, stderr=err)


def build(root, out, *extra):
    return fadtq("build-data", "pair3c", "--root", root, "--out", out, "--per-class", SMALL_PER_CLASS, "--no-progress",
                 *extra)


def test_the_real_entry_point_fails_cleanly(tmp_path):
    """``python -m fadtq`` itself: exit status 2, one line on stderr, no traceback."""
    result = subprocess.run([sys.executable, "-m", "fadtq", "build-data", "pair3c", "--root", str(tmp_path / "absent"),
                             "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"fadtq build-data: error: {tmp_path / 'absent'}: dataset root not found — pass the folder that holds the "
        "five LOCO categories (see data/README.md)"]
    assert not (tmp_path / "out").exists()


def assert_clean_failure(result, out, mentions):
    """Non-zero exit; stderr is one line naming ``mentions`` with a fix after the dash; nothing written."""
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fadtq ") and ": error: " in lines[0] and " — " in lines[0]
    assert str(mentions) in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]  # no staging left behind


def test_missing_root(tmp_path):
    assert_clean_failure(build(tmp_path / "absent", tmp_path / "out"), tmp_path / "out", tmp_path / "absent")


def test_missing_category(tree, tmp_path):
    shutil.rmtree(tree / "pushpins")
    assert_clean_failure(build(tree, tmp_path / "out"), tmp_path / "out", tree / "pushpins")


@pytest.mark.parametrize("folder", ["test/logical_anomalies", "test/good", "train/good", "validation/good"])
def test_missing_class_folder(tree, tmp_path, folder):
    shutil.rmtree(tree / "screw_bag" / folder)
    assert_clean_failure(build(tree, tmp_path / "out"), tmp_path / "out", tree / "screw_bag" / folder)


def test_empty_class(tree, tmp_path):
    folder = tree / "juice_bottle" / "test" / "structural_anomalies"
    for f in folder.iterdir():
        f.unlink()
    assert_clean_failure(build(tree, tmp_path / "out"), tmp_path / "out", folder)


def test_fewer_images_than_per_class(tree, tmp_path):
    result = build(tree, tmp_path / "out", "--per-class", "99")
    assert_clean_failure(result, tmp_path / "out", "--per-class 99")
    assert str(tree / "breakfast_box" / "test" / "good") in result.stderr  # the first short folder


@pytest.mark.parametrize("value", ["0", "-3"])
def test_per_class_below_one(tree, tmp_path, value):
    assert_clean_failure(build(tree, tmp_path / "out", "--per-class", value), tmp_path / "out", f"--per-class {value}")


def test_max_pixels_below_the_minimum(tree, tmp_path):
    assert_clean_failure(build(tree, tmp_path / "out", "--max-pixels", "100"), tmp_path / "out", "--max-pixels 100")


def test_non_image_file(tree, tmp_path):
    stray = tree / "pushpins" / "validation" / "good" / "notes.txt"
    stray.write_text("not an image")
    assert_clean_failure(build(tree, tmp_path / "out"), tmp_path / "out", stray)


def test_hidden_files_are_ignored(tree, tmp_path):
    (tree / "pushpins" / "test" / "good" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    assert build(tree, tmp_path / "out").returncode == 0


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n this is not a png", b"", b"plain text"])
def test_corrupt_png(tree, tmp_path, content):
    bad = tree / "breakfast_box" / "test" / "good" / "001.png"
    bad.write_bytes(content)
    assert_clean_failure(build(tree, tmp_path / "out"), tmp_path / "out", bad)


def test_truncated_png(tree, tmp_path):
    bad = tree / "screw_bag" / "test" / "structural_anomalies" / "000.png"
    bad.write_bytes(bad.read_bytes()[:200])
    assert_clean_failure(build(tree, tmp_path / "out"), tmp_path / "out", bad)


@pytest.fixture()
def manifest(tree, tmp_path):
    """A manifest of the small tree, built in-process (fast)."""
    built = build_pair3c(tree, tmp_path / "first", per_class=SMALL_PER_CLASS, progress=False)
    return built.files["manifest"]


def test_manifest_names_an_absent_file(tree, tmp_path, manifest):
    reference = manifest.read_text().splitlines()[1].split(",")[4]
    (tree / reference).unlink()
    assert_clean_failure(build(tree, tmp_path / "out", "--manifest", manifest), tmp_path / "out", tree / reference)


def test_missing_manifest(tree, tmp_path):
    assert_clean_failure(build(tree, tmp_path / "out", "--manifest", tmp_path / "none.csv"), tmp_path / "out",
                         tmp_path / "none.csv")


@pytest.mark.parametrize("edit, mentions", [
    (lambda line: "validation," + line.split(",", 1)[1], "split 'validation'"),
    (lambda line: line.replace(",normal,", ",structural,", 1), "labelled 'structural'"),
    (lambda line: line.replace(",normal,", ",broken,", 1), "label 'broken'"),
    (lambda line: line.replace(",breakfast_box/test/", ",../breakfast_box/test/", 1), "not relative"),
])
def test_malformed_manifest_row(tree, tmp_path, manifest, edit, mentions):
    lines = manifest.read_text().splitlines()
    lines[1] = edit(lines[1])
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    result = build(tree, tmp_path / "out", "--manifest", bad)
    assert_clean_failure(result, tmp_path / "out", bad)
    assert mentions in result.stderr


def test_manifest_lacking_columns(tree, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("split,category\ntest,pushpins\n")
    assert_clean_failure(build(tree, tmp_path / "out", "--manifest", bad), tmp_path / "out", "lacks columns")


def test_failed_rebuild_keeps_previous_output(tree, tmp_path):
    out = tmp_path / "out"
    assert build(tree, out).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (tree / "pushpins" / "test" / "good" / "000.png").write_bytes(b"junk")
    result = build(tree, out)
    assert result.returncode != 0 and "000.png" in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_rebuild_replaces_previous_output(tree, tmp_path):
    out = tmp_path / "out"
    assert build(tree, out).returncode == 0
    first = (out / "manifest.csv").read_bytes()
    assert build(tree, out, "--seed", "7").returncode == 0
    assert (out / "manifest.csv").read_bytes() != first


def test_never_deletes_a_foreign_folder(tree, tmp_path):
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    result = build(tree, foreign)
    assert result.returncode != 0 and str(foreign) in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert (foreign / "thesis.tex").read_text() == "precious"


@pytest.mark.parametrize("where", ["root", "inside", "parent"])
def test_output_overlapping_the_dataset_is_refused(tree, where):
    out = {"root": tree, "inside": tree / "pair3c", "parent": tree.parent}[where]
    result = build(tree, out)
    assert result.returncode != 0 and "overlaps the dataset root" in result.stderr
    assert len(list(tree.glob("*/test/good/*.png"))) == 5 * 4  # the dataset is intact


def test_synth_loco_never_deletes_a_foreign_folder(tmp_path):
    foreign = tmp_path / "data"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("keep")
    result = fadtq("synth-loco", "--out", foreign, "--no-progress")
    assert result.returncode != 0 and str(foreign) in result.stderr and " — " in result.stderr
    assert (foreign / "keep.txt").read_text() == "keep"


def test_synth_loco_replaces_its_own_tree(tmp_path):
    out = tmp_path / "loco"
    assert fadtq("synth-loco", "--out", out, "--no-progress").returncode == 0
    assert fadtq("synth-loco", "--out", out, "--no-progress", "--seed", "1").returncode == 0
    assert len(list(out.glob("*/*/*/*.png"))) == 5 * (4 + 3 + 4 + 4 + 4)


def test_mvtec_ad_missing_category(tmp_path):
    root = make_synthetic_mvtec_ad(tmp_path / "mvtec")
    out = tmp_path / "out"
    result = fadtq("build-data", "mvtec-ad", "--root", root, "--out", out, "--no-progress")  # all 15 expected
    assert_clean_failure(result, out, root / "capsule")


def test_mvtec_ad_too_few_anomalies(tmp_path):
    root = make_synthetic_mvtec_ad(tmp_path / "mvtec")
    out = tmp_path / "out"
    result = fadtq("build-data", "mvtec-ad", "--root", root, "--out", out, "--categories", "bottle", "--per-class", "7",
                   "--no-progress")
    assert_clean_failure(result, out, root / "bottle" / "test")


def test_visa_missing_split_csv(tmp_path):
    root = make_synthetic_visa(tmp_path / "visa")
    (root / "split_csv" / "1cls.csv").unlink()
    out = tmp_path / "out"
    assert_clean_failure(fadtq("build-data", "visa", "--root", root, "--out", out), out, root / "split_csv" / "1cls.csv")


def test_visa_listed_image_missing(tmp_path):
    root = make_synthetic_visa(tmp_path / "visa")
    gone = root / "pcb1" / "Data" / "Images" / "Anomaly" / "test_002.JPG"
    gone.unlink()
    out = tmp_path / "out"
    assert_clean_failure(fadtq("build-data", "visa", "--root", root, "--out", out), out, gone)


def test_visa_unknown_category(tmp_path):
    root = make_synthetic_visa(tmp_path / "visa")
    out = tmp_path / "out"
    result = fadtq("build-data", "visa", "--root", root, "--out", out, "--categories", "candle", "fryum")
    assert_clean_failure(result, out, "fryum")
