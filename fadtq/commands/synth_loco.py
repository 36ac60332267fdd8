"""`fadtq synth-loco`: draw a synthetic dataset in MVTec LOCO AD's exact layout."""

from __future__ import annotations

import argparse
import sys

NAME = "synth-loco"
HELP = "draw a synthetic MVTec-LOCO-layout dataset (tests, CI, demo; the real images may not be shared)"
DESCRIPTION = """\
Draw procedural images in MVTec LOCO AD's official layout: five categories, train/good,
validation/good, test/{good,logical_anomalies,structural_anomalies}, ground_truth masks and
defects_config.json. Logical anomalies break a category rule (a fruit too many, two pins in one
compartment, a missing nut, the wrong cable colour); structural ones are local damage (scratch,
missing chunk, stain). --out is replaced only if it is new, empty or an earlier synthetic tree.

--difficulty standard (default) draws thin, small defects (a 2-px scratch, one pin too many): the
hard control, its output frozen for a given seed. --difficulty easy draws the same kinds of defect
large and salient (a 6-px scratch, a ~28×22 chunk, a violet object no normal scene has, a missing
pair of tangerines, label, connector or row of pins), for learning studies with small models.
Both levels share the normal scenes.

  fadtq synth-loco --out data/synth_loco --counts official    # the shipped counts (3,651 images)
  fadtq synth-loco --out data/synth_small --counts small      # a few images per folder
  fadtq synth-loco --out data/synth_easy --difficulty easy    # large, salient defects
  fadtq synth-loco --preview docs/synth_easy.png --difficulty easy   # one picture: reference vs test per class
"""


#: The categories shown by --preview (three shapes of scene: a box, a grid of pins, cables).
PREVIEW_CATEGORIES = ("breakfast_box", "pushpins", "splicing_connectors")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="dataset root to write")
    parser.add_argument("--counts", choices=["official", "small"], default="small",
                        help="official: the archive's counts; small: fast tests and the demo (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="drawing seed (default: %(default)s)")
    parser.add_argument("--difficulty", choices=["standard", "easy"], default="standard",
                        help="standard: thin, small defects (frozen output); easy: large, salient defects "
                             "(default: %(default)s)")
    parser.add_argument("--preview", metavar="PNG",
                        help="also (or only) write one picture: reference vs test image, one row per class, for "
                             + ", ".join(PREVIEW_CATEGORIES))
    parser.add_argument("--preview-index", type=int, default=0,
                        help="which test image of each folder --preview shows (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from fadtq.data import DataError
    from fadtq.offline.synth_loco import SMALL_PER_CLASS, generate_loco_tree

    if not args.out and not args.preview:
        print("fadtq synth-loco: error: give --out DIR (a dataset), --preview PNG (a picture), or both", file=sys.stderr)
        return 2
    if args.preview:
        try:
            preview_sheet(args.difficulty, args.seed, index=args.preview_index).save(args.preview)
        except (OSError, ValueError) as exc:  # ValueError: Pillow knows no format for the file's extension
            print(f"fadtq synth-loco: error: {args.preview}: cannot write the picture ({getattr(exc, 'strerror', None) or exc})"
                  " — give a writable .png path", file=sys.stderr)
            return 2
        print(f"preview ({args.difficulty}, seed {args.seed}) → {args.preview}")
    if not args.out:
        return 0
    try:
        root = generate_loco_tree(args.out, counts=args.counts, seed=args.seed, progress=not args.no_progress,
                                  difficulty=args.difficulty)
    except DataError as exc:
        print(f"fadtq synth-loco: error: {exc}", file=sys.stderr)
        return 2
    n = sum(1 for _ in root.glob("*/*/*/*.png"))
    hint = f" --per-class {SMALL_PER_CLASS}" if args.counts == "small" else ""
    print(f"{n} images → {root}\nnext: fadtq build-data pair3c --root {root} --out <dir>{hint}")
    return 0


def preview_sheet(difficulty: str = "easy", seed: int = 0, categories=PREVIEW_CATEGORIES, index: int = 0,
                  scale: int = 2):
    """One picture of the level: for each category a reference (a train/good image, as Pair3C pairs
    them) next to a test image, one row per class. Same arguments → the same pixels."""
    from PIL import Image, ImageDraw, ImageFont

    from fadtq.labels import PAIR3C_LABELS
    from fadtq.offline.synth_loco import SIZES, draw_image

    cell_w = max(SIZES[c][0] for c in categories) * scale + 8
    cell_h = max(SIZES[c][1] for c in categories) * scale + 8
    left, top = 86, 34
    sheet = Image.new("RGB", (left + 2 * cell_w * len(categories), top + cell_h * len(PAIR3C_LABELS)), "white")
    draw = ImageDraw.Draw(sheet)
    # Pillow's built-in bitmap font: the same pixels on every machine (FreeType versions differ).
    draw.font = ImageFont.load_default_imagefont() if hasattr(ImageFont, "load_default_imagefont") else ImageFont.load_default()

    def paste(image, col, row):
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
        x = left + col * cell_w + (cell_w - image.width) // 2
        y = top + row * cell_h + (cell_h - image.height) // 2
        sheet.paste(image, (x, y))

    for k, category in enumerate(categories):
        draw.text((left + 2 * k * cell_w + 4, 4), category, fill="black")
        draw.text((left + 2 * k * cell_w + 4, 18), "reference", fill="gray")
        draw.text((left + (2 * k + 1) * cell_w + 4, 18), f"test ({difficulty})", fill="gray")
        reference, _ = draw_image(category, "normal", seed, 1000 + index)  # a train/good image
        for row, label in enumerate(PAIR3C_LABELS):
            paste(reference, 2 * k, row)
            paste(draw_image(category, label, seed, index, difficulty)[0], 2 * k + 1, row)
    for row, label in enumerate(PAIR3C_LABELS):
        draw.text((6, top + row * cell_h + cell_h // 2 - 6), label, fill="black")
    return sheet
