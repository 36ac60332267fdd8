"""Tiny synthetic trees in the official MVTec-AD and VisA layouts (test fixtures and demos).

- MVTec-AD: ``<category>/{train/good, test/good, test/<defect>}/NNN.png`` and
  ``<category>/ground_truth/<defect>/NNN_mask.png``.
- VisA: ``<object>/Data/Images/{Normal,Anomaly}/*.JPG``, ``<object>/Data/Masks/Anomaly/*.png`` and
  ``split_csv/1cls.csv`` (columns object, split, label, image, mask; labels normal / anomaly).

With ``official_counts=True`` each category gets its official numbers of images
(``fadtq.data.binary.*_OFFICIAL_COUNTS``) instead of the few of the ``n_*`` arguments.
"""

from __future__ import annotations

import csv
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from fadtq.data.binary import MVTEC_AD_OFFICIAL_COUNTS, VISA_OFFICIAL_COUNTS


def _image(seed: int, defect: bool, size=(96, 96)) -> tuple[Image.Image, Image.Image | None]:
    """A product (a disc) on a plain background; a defect is a dark scratch. Returns image and mask."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", size, (200, 200, 205))
    draw = ImageDraw.Draw(image)
    draw.ellipse([20, 20, 76, 76], fill=(120, 140, 170), outline=(60, 60, 80), width=3)
    if not defect:
        return image, None
    mask = Image.new("L", size, 0)
    x, y = int(rng.integers(25, 60)), int(rng.integers(25, 60))
    draw.line([x, y, x + 12, y + 9], fill=(20, 20, 20), width=3)
    ImageDraw.Draw(mask).line([x, y, x + 12, y + 9], fill=255, width=5)
    return image, mask


def make_synthetic_mvtec_ad(out: Path, categories=("bottle", "cable"), n_train=6, n_good=4, defects=("crack", "scratch"),
                            n_defect=3, official_counts: bool = False) -> Path:
    """``n_defect`` images per defect folder; with ``official_counts`` the category's defective test
    images are spread over the ``defects`` folders (the first folders take the remainder)."""
    out = Path(out)
    for c, name in enumerate(categories):
        if official_counts:
            counts = MVTEC_AD_OFFICIAL_COUNTS[name]
            n_train, n_good = counts.train_normal, counts.test_normal
            per_folder = [counts.test_anomalous // len(defects) + (k < counts.test_anomalous % len(defects))
                          for k in range(len(defects))]
        else:
            per_folder = [n_defect] * len(defects)
        for folder, n, defect in [("train/good", n_train, False), ("test/good", n_good, False),
                                  *[(f"test/{d}", n_d, True) for d, n_d in zip(defects, per_folder, strict=True)]]:
            (out / name / folder).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                image, mask = _image(zlib.crc32(f"{c}/{folder}/{i}".encode()), defect)
                image.save(out / name / folder / f"{i:03d}.png")
                if mask is not None:
                    mask_dir = out / name / "ground_truth" / folder.split("/")[1]
                    mask_dir.mkdir(parents=True, exist_ok=True)
                    mask.save(mask_dir / f"{i:03d}_mask.png")
    return out


def make_synthetic_visa(out: Path, objects=("candle", "pcb1"), n_train=6, n_test_normal=4, n_anomaly=5,
                        official_counts: bool = False) -> Path:
    out = Path(out)
    rows = []
    for o, obj in enumerate(objects):
        if official_counts:
            n_train, n_test_normal, n_anomaly = VISA_OFFICIAL_COUNTS[obj]
        for kind, split, n in (("Normal", "train", n_train), ("Normal", "test", n_test_normal),
                               ("Anomaly", "test", n_anomaly)):
            folder = out / obj / "Data" / "Images" / kind
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                name = f"{split}_{i:03d}.JPG"
                image, mask = _image(zlib.crc32(f"{o}/{kind}/{split}/{i}".encode()), kind == "Anomaly")
                image.save(folder / name, format="JPEG")
                mask_rel = ""
                if mask is not None:
                    mask_rel = f"{obj}/Data/Masks/Anomaly/{split}_{i:03d}.png"
                    (out / mask_rel).parent.mkdir(parents=True, exist_ok=True)
                    mask.save(out / mask_rel)
                rows.append({"object": obj, "split": split, "label": "normal" if kind == "Normal" else "anomaly",
                             "image": f"{obj}/Data/Images/{kind}/{name}", "mask": mask_rel})
    (out / "split_csv").mkdir(parents=True, exist_ok=True)
    with open(out / "split_csv" / "1cls.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["object", "split", "label", "image", "mask"])
        writer.writeheader()
        writer.writerows(rows)
    return out
