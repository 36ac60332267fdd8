"""Image loading and the resize rule shared with qwen-vl-utils, so trainer and vLLM see one grid."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from fadtq.data import DataError

#: Qwen2.5-VL: 14-pixel patches merged 2 × 2 → one vision token per 28 × 28 pixels.
PATCH_FACTOR = 28
MIN_PIXELS = 4 * PATCH_FACTOR * PATCH_FACTOR
#: 512 vision tokens per image: two images plus the question stay well under a 2,048-token prompt
#: for Qwen2.5-VL-3B, and fine LOCO defects (thin scratches, a single missing pin) stay visible.
DEFAULT_MAX_PIXELS = 512 * PATCH_FACTOR * PATCH_FACTOR


def target_size(width: int, height: int, max_pixels: int, min_pixels: int = MIN_PIXELS) -> tuple[int, int]:
    """(width, height) after qwen-vl-utils' ``smart_resize`` (factor 28, pixel bounds)."""
    from qwen_vl_utils.vision_process import smart_resize

    h, w = smart_resize(height, width, factor=PATCH_FACTOR, min_pixels=min_pixels, max_pixels=max_pixels)
    return w, h


def encode_resized_png(path: Path, max_pixels: int) -> bytes:
    """Open an image, convert to RGB, resize as qwen-vl-utils would, return PNG bytes."""
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            size = target_size(*image.size, max_pixels=max_pixels)
            if size != image.size:
                image = image.resize(size, Image.Resampling.BICUBIC)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG", compress_level=1)
            return buffer.getvalue()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        reason = " ".join(str(exc).split())  # one line, whatever PIL says
        raise DataError(f"{path}: not a readable image ({type(exc).__name__}: {reason}) — replace the file with the "
                        "original from the dataset archive") from None
