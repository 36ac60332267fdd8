"""`fadtq synth-loco --difficulty easy|standard`: both levels keep the official layout and counts, the
standard level is the frozen generator (the hard control), and the easy level's defects are larger
than the standard ones in every category, measured in pixels."""

import hashlib
import importlib.util
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fadtq.cli import main as fadtq_main
from fadtq.commands.synth_loco import preview_sheet
from fadtq.data.layout import LOCO_CATEGORIES, OFFICIAL_COUNTS, scan_loco
from fadtq.labels import LOGICAL, NORMAL, STRUCTURAL
from fadtq.offline.synth_loco import MARKER, RULES, SMALL_COUNTS, draw_image, draw_scene, generate_loco_tree

REPO = Path(__file__).resolve().parents[1]
#: The last commit whose generator had no difficulty levels: the standard level must reproduce it.
GENERATOR_BEFORE_LEVELS = "494a2a0095d68fa81f81666a5651fee920f45121"
#: Pixels (and the non-image files) of the small standard tree drawn by that generator, per seed.
#: Decoded pixels, not PNG bytes, so a new zlib or Pillow cannot change the digest.
FROZEN_STANDARD_DIGESTS = {0: "7db049b39adad48de6ab9e07096d0bcc953f0298118533eb194c68ee0aa67986",
                           7: "1f89f021de38ee88e5feee425cdcd7d3bae3932da2a5de0e637ad1e9199f5033"}
FOLDERS = {"train": "train/good", "validation": "validation/good", NORMAL: "test/good",
           LOGICAL: "test/logical_anomalies", STRUCTURAL: "test/structural_anomalies"}


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        if path.suffix == ".png":
            image = Image.open(path)
            digest.update(f"{image.mode} {image.size}".encode())
            digest.update(np.asarray(image).tobytes())
        else:
            digest.update(path.read_bytes())
    return digest.hexdigest()


def files_of(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("difficulty", ["standard", "easy"])
def test_both_levels_write_the_official_layout_and_counts(difficulty, tmp_path):
    root = generate_loco_tree(tmp_path / "loco", counts="official", difficulty=difficulty)
    scanned = scan_loco(root)  # the validating scan the Pair3C builder uses
    for category in LOCO_CATEGORIES:
        for key, folder in FOLDERS.items():
            expected = [f"{i:03d}.png" for i in range(OFFICIAL_COUNTS[category][key])]
            assert sorted(p.name for p in (root / category / folder).iterdir()) == expected, (category, folder)
        for label in (LOGICAL, STRUCTURAL):
            masks = sorted((root / category / "ground_truth" / FOLDERS[label].split("/")[1]).glob("*/000.png"))
            assert len(masks) == len(scanned[category].test[label]) == OFFICIAL_COUNTS[category][label]
        assert (root / category / "defects_config.json").is_file()
    assert sum(1 for _ in root.glob("*/*/*/*.png")) == 3651
    assert ("difficulty=easy" in (root / MARKER).read_text()) is (difficulty == "easy")


def test_standard_level_draws_the_frozen_pixels(tmp_path):
    for seed, expected in FROZEN_STANDARD_DIGESTS.items():
        root = generate_loco_tree(tmp_path / f"seed{seed}", counts="small", seed=seed)
        assert tree_digest(root) == expected, f"seed {seed}: the standard level's output changed"


def test_standard_level_is_byte_identical_to_the_generator_before_the_levels(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    shown = subprocess.run(["git", "show", f"{GENERATOR_BEFORE_LEVELS}:fadtq/data/synth_loco.py"], cwd=REPO,
                           capture_output=True, text=True)
    if shown.returncode != 0:
        pytest.skip(f"commit {GENERATOR_BEFORE_LEVELS[:10]} is not in this checkout's history (shallow clone?)")
    source = tmp_path / "synth_loco_before_levels.py"
    # The generator's helpers have since moved; point its imports at their modules of today.
    moved = {"fadtq.data.loco_layout": "fadtq.data.layout", "fadtq.data.publish": "fadtq.data.build"}
    text = shown.stdout
    for before_name, now_name in moved.items():
        text = text.replace(f"from {before_name} import", f"from {now_name} import")
    source.write_text(text)
    spec = importlib.util.spec_from_file_location("synth_loco_before_levels", source)
    before = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(before)
    for seed in (0, 7):
        old = before.generate_loco_tree(tmp_path / f"old{seed}", counts="small", seed=seed)
        new = generate_loco_tree(tmp_path / f"new{seed}", counts="small", seed=seed, difficulty="standard")
        assert files_of(old) == files_of(new)
        changed = [str(f) for f in files_of(old) if (old / f).read_bytes() != (new / f).read_bytes()]
        assert changed == [], f"seed {seed}: {len(changed)} files differ, e.g. {changed[:3]}"


def test_both_levels_share_the_normal_scenes_and_differ_in_the_defects():
    for category in LOCO_CATEGORIES:
        for index in range(5):
            standard, easy = (np.asarray(draw_image(category, NORMAL, 0, index, level)[0]) for level in ("standard", "easy"))
            assert np.array_equal(standard, easy), (category, index)
            for label in (STRUCTURAL, LOGICAL):
                standard, easy = (np.asarray(draw_image(category, label, 0, index, level)[0])
                                  for level in ("standard", "easy"))
                assert not np.array_equal(standard, easy), (category, label, index)


def test_easy_logical_anomalies_break_the_category_rule_and_the_others_keep_it():
    for category in LOCO_CATEGORIES:
        for index in range(40):
            for label, holds in ((NORMAL, True), (STRUCTURAL, True), (LOGICAL, False)):
                _, _, facts = draw_scene(category, label, 0, index, "easy")
                assert RULES[category](facts) is holds, (category, label, index, facts)


def test_easy_structural_damage_is_local_and_masked():
    for category in LOCO_CATEGORIES:
        for index in range(20):
            image, mask = draw_image(category, STRUCTURAL, 0, index, "easy")
            masked = np.asarray(mask) > 0
            assert 150 <= masked.sum() <= 1000, (category, index, int(masked.sum()))  # ~24×6 px up to ~30×26 px
            pixels = np.asarray(image)[masked].astype(int)
            damage = (pixels.max(axis=1) <= 30) | (np.abs(pixels - (110, 80, 40)).max(axis=1) == 0)
            assert damage.mean() > 0.6, (category, index)  # the mask sits on the drawn damage


def novel_pixels(image: Image.Image, normals: np.ndarray) -> int:
    """Pixels whose colour no normal image of the pool has at that place: what a detector can see
    without reasoning about the scene. Missing objects count too (their place is never empty in normals)."""
    differences = np.abs(normals - np.asarray(image, dtype=np.int16)[None]).max(axis=3)
    return int((differences.min(axis=0) > 4).sum())


def test_easy_defects_cover_more_pixels_than_standard_ones_in_every_category():
    """Median novel-pixel area of 20 anomalies per category and class; the easy level's must be at
    least 1.5× the standard level's (measured at seed 0: structural 3.9–4.6×, logical 1.5–5.4×; the
    standard splicing_connectors' wrong cable colour has no novel pixel at all)."""
    report, too_small = [], []
    for category in LOCO_CATEGORIES:
        normals = np.stack([np.asarray(draw_image(category, NORMAL, 0, 1000 + i)[0], dtype=np.int16)
                            for i in range(40)])  # train/good images: the pool references come from
        for label in (STRUCTURAL, LOGICAL):
            medians = {level: float(np.median([novel_pixels(draw_image(category, label, 0, i, level)[0], normals)
                                               for i in range(20)])) for level in ("standard", "easy")}
            report.append(f"{category} {label}: standard {medians['standard']:.0f} px, easy {medians['easy']:.0f} px")
            if not medians["easy"] >= max(1.5 * medians["standard"], 100):
                too_small.append(report[-1])
    print("\n" + "\n".join(report))
    assert too_small == [], "easy defects not clearly larger: " + "; ".join(too_small)


def test_cli_writes_an_easy_tree_and_a_reproducible_preview(tmp_path, capsys):
    out = tmp_path / "easy"
    assert fadtq_main(["synth-loco", "--out", str(out), "--difficulty", "easy", "--no-progress"]) == 0
    assert sum(1 for _ in out.glob("*/*/*/*.png")) == sum(sum(c.values()) for c in SMALL_COUNTS.values())
    easy_logical = np.asarray(Image.open(out / "splicing_connectors" / "test" / "logical_anomalies" / "000.png"))
    assert np.array_equal(easy_logical, np.asarray(draw_image("splicing_connectors", LOGICAL, 0, 0, "easy")[0]))
    picture = tmp_path / "preview.png"
    assert fadtq_main(["synth-loco", "--preview", str(picture), "--difficulty", "easy"]) == 0
    assert np.array_equal(np.asarray(Image.open(picture)), np.asarray(preview_sheet("easy", 0)))


@pytest.mark.parametrize("arguments,fragment", [([], "--out"), (["--preview", "{tmp}/sheet.xyz"], "sheet.xyz"),
                                                 (["--preview", "{tmp}/missing/sheet.png"], "sheet.png")])
def test_cli_errors_are_one_line(arguments, fragment, tmp_path, capsys):
    assert fadtq_main(["synth-loco", *(a.format(tmp=tmp_path) for a in arguments)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fadtq synth-loco: error:") and fragment in err[0]


def test_readme_picture_is_what_the_preview_draws():
    picture = REPO / "docs" / "synth_easy.png"
    assert picture.is_file(), f"{picture} missing — fadtq synth-loco --preview docs/synth_easy.png --difficulty easy"
    assert np.array_equal(np.asarray(Image.open(picture).convert("RGB")), np.asarray(preview_sheet("easy", 0))), (
        "docs/synth_easy.png is stale — redraw it: fadtq synth-loco --preview docs/synth_easy.png --difficulty easy")
