"""Procedurally drawn images in MVTec LOCO AD's exact layout, for tests, CI and the demo.

MVTec LOCO's images may not be redistributed, so tests use this stand-in. Each category has a
normal scene with a rule, like the real set:

- breakfast_box: two tangerines and one nectarine on the left, cereal on the right;
- juice_bottle: the fill colour matches the fruit on the label, label centred;
- pushpins: exactly one pin in each of the 15 compartments;
- screw_bag: two washers, two nuts, one long and two short screws;
- splicing_connectors: two connectors with equal clamp counts, cable colour by clamp count
  (2 yellow, 3 blue, 5 red).

*Logical* anomalies break the rule (one fruit too many, a compartment with two pins, a missing
nut, the wrong cable colour); *structural* anomalies are local damage (scratch, missing chunk,
stain). Ground-truth masks go to ``ground_truth/<class>/<NNN>/000.png`` as in the archive.

Two difficulty levels (``difficulty=``) share the normal scenes and differ only in the defects:

- ``standard`` (the default; its output is frozen — the hard control): thin 2-px scratches, small
  chunks and stains, one pin or fruit too many, a label of the wrong fruit.
- ``easy``: the same kinds of defect, large and salient, so a small model can learn them — a thick
  dark scratch (width 6, 24–36 px), a black chunk of ~28×22 or a stain of ~30×26; logical anomalies
  that add an object in a colour no normal scene uses (violet, ~20–30 px) or remove a large part
  (both tangerines, the label, a connector, a row of pins), each still breaking its category's rule.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from fadtq.data.build import check_replaceable, publish, staging_folder
from fadtq.data.layout import LOCO_CATEGORIES, OFFICIAL_COUNTS
from fadtq.labels import LOGICAL, NORMAL, STRUCTURAL

#: Small counts for fast tests and the demo; Pair3C builds from them with ``per_class=SMALL_PER_CLASS``.
SMALL_PER_CLASS = 2
SMALL_COUNTS = {name: {"train": 4, "validation": 3, NORMAL: 4, LOGICAL: 4, STRUCTURAL: 4} for name in LOCO_CATEGORIES}
COUNTS = {"official": OFFICIAL_COUNTS, "small": SMALL_COUNTS}

#: (width, height): the real aspect ratios, a tenth of the size.
SIZES = {"breakfast_box": (160, 128), "juice_bottle": (80, 160), "pushpins": (170, 100),
         "screw_bag": (160, 110), "splicing_connectors": (170, 85)}
_CABLE = {2: (230, 200, 40), 3: (40, 90, 220), 5: (210, 40, 40)}
_FRUIT = {"orange": (240, 140, 30), "cherry": (170, 20, 40), "banana": (235, 215, 80)}

STANDARD, EASY = "standard", "easy"
#: ``difficulty=`` values: the frozen generator (the hard control) and the large, salient defects.
DIFFICULTIES = (STANDARD, EASY)
#: The easy level's foreign colour: no normal scene of any category contains it.
VIOLET = (150, 50, 230)


def _jitter(rng, value, spread=3):
    return value + int(rng.integers(-spread, spread + 1))


def _breakfast_box(draw, rng, w, h, logical):
    draw.rectangle([4, 4, w - 5, h - 5], outline=(90, 70, 50), width=3, fill=(235, 225, 205))
    draw.line([w // 2, 4, w // 2, h - 5], fill=(90, 70, 50), width=3)
    fruits = [(240, 140, 30), (240, 140, 30), (245, 170, 110)]  # two tangerines, one nectarine
    if logical:
        fruits = fruits + [(240, 140, 30)] if rng.random() < 0.5 else fruits[:2]
    for i, colour in enumerate(fruits):
        x, y = _jitter(rng, 22 + (i % 2) * 28), _jitter(rng, 24 + (i // 2) * 40)
        draw.ellipse([x, y, x + 24, y + 24], fill=colour, outline=(120, 70, 20))
    for _ in range(40):
        x, y = int(rng.integers(w // 2 + 6, w - 12)), int(rng.integers(10, h - 14))
        draw.rectangle([x, y, x + 4, y + 3], fill=(200, 160, 90))
    return {"tangerines": fruits.count((240, 140, 30)), "nectarines": fruits.count((245, 170, 110)),
            "other_fruits": 0}


def _juice_bottle(draw, rng, w, h, logical):
    fruit = list(_FRUIT)[int(rng.integers(len(_FRUIT)))]
    fill = _FRUIT[fruit]
    label_fruit = fruit
    if logical:
        label_fruit = list(_FRUIT)[(list(_FRUIT).index(fruit) + 1) % len(_FRUIT)]
    draw.rectangle([w // 2 - 8, 6, w // 2 + 8, 26], fill=(60, 60, 60))
    draw.rectangle([12, 26, w - 13, h - 8], outline=(120, 120, 120), width=2, fill=(240, 240, 240))
    draw.rectangle([14, 40, w - 15, h - 10], fill=fill)
    shift = 25 if logical and rng.random() < 0.3 else 0
    cy = _jitter(rng, 95) + shift
    draw.rectangle([18, cy - 14, w - 19, cy + 14], fill=(250, 250, 245))
    draw.ellipse([w // 2 - 9, cy - 9, w // 2 + 9, cy + 9], fill=_FRUIT[label_fruit])
    return {"fill": fruit, "label": label_fruit, "label_centred": shift == 0, "label_y": cy}


def _pushpins(draw, rng, w, h, logical):
    draw.rectangle([2, 2, w - 3, h - 3], fill=(215, 215, 220), outline=(100, 100, 110), width=2)
    cols, rows = 5, 3
    counts = [1] * (cols * rows)
    if logical:
        counts[int(rng.integers(len(counts)))] = 0 if rng.random() < 0.5 else 2
    for idx, n in enumerate(counts):
        cx, cy = 2 + (idx % cols) * (w - 4) // cols, 2 + (idx // cols) * (h - 4) // rows
        draw.rectangle([cx, cy, cx + (w - 4) // cols, cy + (h - 4) // rows], outline=(140, 140, 150))
        for k in range(n):
            x, y = _jitter(rng, cx + 10 + 10 * k, 2), _jitter(rng, cy + 10, 2)
            draw.ellipse([x, y, x + 9, y + 9], fill=(230, 200, 30), outline=(120, 100, 10))
    return {"pins_per_compartment": counts}


def _screw_bag(draw, rng, w, h, logical):
    draw.rounded_rectangle([4, 4, w - 5, h - 5], radius=10, fill=(225, 230, 235), outline=(160, 170, 180), width=2)
    parts = ["washer", "washer", "nut", "nut", "long", "short", "short"]
    if logical:
        if rng.random() < 0.5:
            parts.pop(int(rng.integers(len(parts))))
        else:
            parts.append(parts[int(rng.integers(len(parts)))])
    for i, part in enumerate(parts):
        x, y = _jitter(rng, 14 + (i % 4) * 36, 4), _jitter(rng, 16 + (i // 4) * 46, 4)
        if part == "washer":
            draw.ellipse([x, y, x + 20, y + 20], outline=(110, 110, 115), width=4)
        elif part == "nut":
            draw.regular_polygon((x + 10, y + 10, 10), 6, fill=(130, 130, 135))
        else:
            length = 34 if part == "long" else 20
            draw.rectangle([x, y + 8, x + length, y + 12], fill=(150, 150, 155))
            draw.rectangle([x - 3, y + 5, x + 2, y + 15], fill=(120, 120, 125))
    return {"parts": {part: parts.count(part) for part in sorted(set(parts))}}


def _splicing_connectors(draw, rng, w, h, logical):
    clamps = [2, 3, 5][int(rng.integers(3))]
    left, right, cable = clamps, clamps, _CABLE[clamps]
    if logical:
        if rng.random() < 0.5:
            cable = _CABLE[[c for c in _CABLE if c != clamps][int(rng.integers(2))]]
        else:
            right = [c for c in _CABLE if c != clamps][int(rng.integers(2))]
    draw.rectangle([0, 0, w - 1, h - 1], fill=(240, 240, 240))
    for x0, n in ((8, left), (w - 48, right)):
        draw.rectangle([x0, 18, x0 + 40, h - 18], fill=(250, 250, 250), outline=(90, 90, 90), width=2)
        for k in range(n):
            y = 22 + k * (h - 44) // max(n, 1)
            draw.rectangle([x0 + 4, y, x0 + 14, y + 5], fill=(230, 120, 20))
    y = _jitter(rng, h // 2, 4)
    draw.line([48, y, w - 48, y], fill=cable, width=6)
    return {"left_clamps": left, "right_clamps": right, "cable_for_clamps": {v: k for k, v in _CABLE.items()}[cable]}


_SCENES = {"breakfast_box": _breakfast_box, "juice_bottle": _juice_bottle, "pushpins": _pushpins,
           "screw_bag": _screw_bag, "splicing_connectors": _splicing_connectors}

#: Each category's rule, checked on the facts its scene function returns: normal and structural
#: images keep it, logical images break it.
RULES = {
    "breakfast_box": lambda f: f["tangerines"] == 2 and f["nectarines"] == 1 and f["other_fruits"] == 0,
    "juice_bottle": lambda f: f["fill"] == f["label"] and f["label_centred"],
    "pushpins": lambda f: all(n == 1 for n in f["pins_per_compartment"]),
    "screw_bag": lambda f: f["parts"] == {"long": 1, "nut": 2, "short": 2, "washer": 2},
    "splicing_connectors": lambda f: f["left_clamps"] == f["right_clamps"] == f["cable_for_clamps"],
}


def _structural_damage(image, rng) -> Image.Image:
    """A scratch, a missing chunk or a stain at a random place; returns its mask."""
    w, h = image.size
    draw = ImageDraw.Draw(image)
    mask = Image.new("L", image.size, 0)
    mdraw = ImageDraw.Draw(mask)
    x, y = int(rng.integers(8, w - 24)), int(rng.integers(8, h - 24))
    kind = int(rng.integers(3))
    if kind == 0:
        box = [x, y, x + int(rng.integers(12, 24)), y + int(rng.integers(6, 18))]
        draw.line(box, fill=(30, 30, 30), width=2)
        mdraw.line(box, fill=255, width=4)
    elif kind == 1:
        box = [x, y, x + 12, y + 10]
        draw.rectangle(box, fill=(20, 20, 20))
        mdraw.rectangle(box, fill=255)
    else:
        box = [x, y, x + 14, y + 12]
        draw.ellipse(box, fill=(110, 80, 40))
        mdraw.ellipse(box, fill=255)
    return mask


# --- The easy level: the same kinds of defect, large and salient ------------------------------------
# Each rule break starts from a finished normal scene and edits it, using the scene's known geometry.

def _violet_fruit_or_no_tangerines(draw, rng, w, h, facts):
    """A violet fruit (⌀ 30) among the fruits (a wrong composition), or both tangerines missing."""
    if rng.random() < 0.5:
        x, y = int(rng.integers(46, 49)), int(rng.integers(62, 89))
        draw.ellipse([x, y, x + 30, y + 30], fill=VIOLET, outline=(90, 30, 140))
        return {**facts, "other_fruits": facts["other_fruits"] + 1}
    draw.rectangle([18, 20, w // 2 - 2, 52], fill=(235, 225, 205))  # the two top slots, in the box's own colour
    return {**facts, "tangerines": 0}


def _violet_juice_or_no_label(draw, rng, w, h, facts):
    """Violet juice (no fruit has that colour), or the label missing: either way the fill matches no label."""
    cy = facts["label_y"]
    if rng.random() < 0.5:
        draw.rectangle([14, 40, w - 15, h - 10], fill=VIOLET)
        draw.rectangle([18, cy - 14, w - 19, cy + 14], fill=(250, 250, 245))
        draw.ellipse([w // 2 - 9, cy - 9, w // 2 + 9, cy + 9], fill=_FRUIT[facts["label"]])
        return {**facts, "fill": "violet"}
    draw.rectangle([18, cy - 14, w - 19, cy + 14], fill=_FRUIT[facts["fill"]])
    return {**facts, "label": None}


def _violet_pin_or_empty_row(draw, rng, w, h, facts):
    """A second, violet pin (⌀ 16) in one compartment, or a whole row of five compartments empty."""
    cols, rows = 5, 3
    cw, ch = (w - 4) // cols, (h - 4) // rows
    counts = list(facts["pins_per_compartment"])

    def corner(idx):
        return 2 + (idx % cols) * (w - 4) // cols, 2 + (idx // cols) * (h - 4) // rows

    if rng.random() < 0.5:
        idx = int(rng.integers(len(counts)))
        cx, cy = corner(idx)
        x, y = cx + 15 + int(rng.integers(0, 2)), cy + 13 + int(rng.integers(0, 3))
        draw.ellipse([x, y, x + 16, y + 16], fill=VIOLET, outline=(90, 30, 140))
        counts[idx] += 1
    else:
        row = int(rng.integers(rows))
        for idx in range(row * cols, (row + 1) * cols):
            cx, cy = corner(idx)
            draw.rectangle([cx + 2, cy + 2, cx + cw - 2, cy + ch - 2], fill=(215, 215, 220))
            counts[idx] = 0
    return {**facts, "pins_per_compartment": counts}


def _violet_part(draw, rng, w, h, facts):
    """A foreign part in the bag: a violet nut (⌀ 30) or washer (⌀ 30) in the free eighth slot."""
    x, y = int(rng.integers(116, 122)), int(rng.integers(56, 67))
    if rng.random() < 0.5:
        draw.regular_polygon((x + 15, y + 15, 15), 6, fill=VIOLET)
        part = "violet_nut"
    else:
        draw.ellipse([x, y, x + 30, y + 30], outline=VIOLET, width=6)
        part = "violet_washer"
    return {**facts, "parts": {**facts["parts"], part: 1}}


def _missing_connector(draw, rng, w, h, facts):
    """One connector missing with its clamps (left or right), the cable ending in the air."""
    if rng.random() < 0.5:
        draw.rectangle([8, 18, 48, h - 18], fill=(240, 240, 240))
        return {**facts, "left_clamps": 0}
    draw.rectangle([w - 48, 18, w - 8, h - 18], fill=(240, 240, 240))
    return {**facts, "right_clamps": 0}


_EASY_RULE_BREAKS = {"breakfast_box": _violet_fruit_or_no_tangerines, "juice_bottle": _violet_juice_or_no_label,
                     "pushpins": _violet_pin_or_empty_row, "screw_bag": _violet_part,
                     "splicing_connectors": _missing_connector}


def _salient_damage(image, rng) -> Image.Image:
    """A thick dark scratch (width 6, 24–36 px long), a black chunk (~28×22) or a stain (~30×26) at a
    random place; returns its mask."""
    w, h = image.size
    draw = ImageDraw.Draw(image)
    mask = Image.new("L", image.size, 0)
    mdraw = ImageDraw.Draw(mask)
    kind = int(rng.integers(3))
    if kind == 0:
        length, angle = int(rng.integers(24, 37)), float(rng.uniform(0, np.pi))
        dx, dy = length * np.cos(angle) / 2, length * np.sin(angle) / 2
        cx = int(rng.integers(int(abs(dx)) + 4, w - int(abs(dx)) - 4))
        cy = int(rng.integers(int(abs(dy)) + 4, h - int(abs(dy)) - 4))
        line = [round(cx - dx), round(cy - dy), round(cx + dx), round(cy + dy)]
        draw.line(line, fill=(30, 30, 30), width=6)
        mdraw.line(line, fill=255, width=8)
    else:
        bw, bh = (28, 22) if kind == 1 else (30, 26)
        bw, bh = bw + int(rng.integers(-2, 3)), bh + int(rng.integers(-2, 3))
        x, y = int(rng.integers(4, w - bw - 4)), int(rng.integers(4, h - bh - 4))
        box = [x, y, x + bw, y + bh]
        if kind == 1:
            draw.rectangle(box, fill=(15, 15, 15))
            mdraw.rectangle(box, fill=255)
        else:
            draw.ellipse(box, fill=(110, 80, 40))
            mdraw.ellipse(box, fill=255)
    return mask


def check_difficulty(difficulty: str) -> None:
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {list(DIFFICULTIES)}, got {difficulty!r}")


def draw_scene(category: str, label: str, seed: int, index: int,
               difficulty: str = STANDARD) -> tuple[Image.Image, Image.Image | None, dict]:
    """One image of ``category`` with ``label`` (normal / logical / structural), its mask (None for
    normal images) and the scene's facts (``RULES[category](facts)`` is False iff logical).

    Both difficulties draw the same normal scene for the same (seed, category, label, index); the
    easy level then adds its large defect, the standard level draws its own (unchanged) one."""
    check_difficulty(difficulty)
    rng = np.random.default_rng([seed, LOCO_CATEGORIES.index(category), ["normal", "logical", "structural"].index(label),
                                 index])
    w, h = SIZES[category]
    image = Image.new("RGB", (w, h), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    easy = difficulty == EASY
    facts = _SCENES[category](draw, rng, w, h, logical=label == LOGICAL and not easy)
    if easy and label == LOGICAL:
        facts = _EASY_RULE_BREAKS[category](draw, rng, w, h, facts)
    mask = None
    if label == STRUCTURAL:
        mask = _salient_damage(image, rng) if easy else _structural_damage(image, rng)
    elif label == LOGICAL:  # the rule concerns the whole scene: LOCO marks the affected objects; we mark it all
        mask = Image.new("L", (w, h), 255)
    return image, mask, facts


def draw_image(category: str, label: str, seed: int, index: int,
               difficulty: str = STANDARD) -> tuple[Image.Image, Image.Image | None]:
    """One image of ``category`` with ``label`` and its mask (see ``draw_scene``)."""
    image, mask, _ = draw_scene(category, label, seed, index, difficulty)
    return image, mask


def _jobs(counts):
    for category in LOCO_CATEGORIES:
        c = counts[category]
        for folder, label, n in (("train/good", NORMAL, c["train"]), ("validation/good", NORMAL, c["validation"]),
                                 ("test/good", NORMAL, c[NORMAL]), ("test/logical_anomalies", LOGICAL, c[LOGICAL]),
                                 ("test/structural_anomalies", STRUCTURAL, c[STRUCTURAL])):
            for i in range(n):
                yield category, folder, label, i


#: Written at the root of every synthetic tree, so a later run may replace it (and nothing else).
MARKER = ".fadtq-synthetic-loco"


def _is_synthetic_tree(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def generate_loco_tree(out_dir, counts: str = "small", seed: int = 0, progress: bool = False,
                       workers: int = 4, difficulty: str = STANDARD) -> Path:
    """Write a synthetic tree at ``out_dir`` and return its root (the folder with the five categories).

    ``counts``: ``"official"`` (the archive's 3,651 images) or ``"small"`` (a few per folder; build
    Pair3C from it with ``per_class=SMALL_PER_CLASS``). ``difficulty``: ``"standard"`` (thin, small
    defects) or ``"easy"`` (large, salient ones; see the module docstring). An existing ``out_dir`` is
    replaced only if it is empty or an earlier synthetic tree. Same ``seed`` → byte-identical files.
    """
    if counts not in COUNTS:
        raise ValueError(f"counts must be one of {sorted(COUNTS)}, got {counts!r}")
    check_difficulty(difficulty)
    table = COUNTS[counts]
    out = Path(out_dir)
    check_replaceable(out, _is_synthetic_tree, "fadtq synth-loco")
    staging = staging_folder(out)

    def write(job):
        category, folder, label, i = job
        # Offset the index per folder so train, validation and test images all differ.
        image, mask = draw_image(category, label, seed, i + 1000 * ("train" in folder) + 2000 * ("validation" in folder),
                                 difficulty)
        target = staging / category / folder / f"{i:03d}.png"
        image.save(target, compress_level=1)
        if mask is not None:
            mask_dir = staging / category / "ground_truth" / folder.split("/")[1] / f"{i:03d}"
            mask_dir.mkdir(parents=True, exist_ok=True)
            mask.save(mask_dir / "000.png")

    try:
        level = "" if difficulty == STANDARD else f" difficulty={difficulty}"  # the standard marker is unchanged
        (staging / MARKER).write_text(f"synthetic MVTec-LOCO-layout tree: counts={counts} seed={seed}{level}\n")
        for category in LOCO_CATEGORIES:
            for folder in ("train/good", "validation/good", "test/good", "test/logical_anomalies",
                           "test/structural_anomalies"):
                (staging / category / folder).mkdir(parents=True)
            (staging / category / "defects_config.json").write_text(json.dumps([
                {"defect_name": "synthetic_structural", "pixel_value": 255, "saturation_threshold": 1.0,
                 "relative_saturation": True},
                {"defect_name": "synthetic_logical", "pixel_value": 255, "saturation_threshold": 1.0,
                 "relative_saturation": True}], indent=2))
        jobs = list(_jobs(table))
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            list(tqdm(pool.map(write, jobs), total=len(jobs), desc="drawing synthetic LOCO", unit="img",
                      disable=not progress))
        publish(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
