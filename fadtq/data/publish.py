"""Publishing a folder built in a temporary sibling: all or nothing, never deleting foreign data."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fadtq.data.errors import DataError


def staging_folder(out_dir: Path) -> Path:
    """A fresh hidden sibling of ``out_dir`` on the same file system (so the final rename is atomic)."""
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-building-", dir=out_dir.parent))
    except OSError as exc:
        raise DataError(f"{out_dir}: cannot create the output folder ({exc.strerror or exc}) — check the path and "
                        "its permissions") from None
    staging.chmod(0o755)  # mkdtemp makes it private; the published folder should not be
    return staging


def check_replaceable(out_dir: Path, is_previous_output, what: str) -> None:
    """An existing ``out_dir`` may be replaced only if it is empty or ``is_previous_output(out_dir)``."""
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise DataError(f"{out_dir}: exists and is not a folder — choose another --out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not is_previous_output(out_dir):
        raise DataError(f"{out_dir}: exists and is not the output of `{what}` — choose a new or empty --out "
                        "(it is replaced as a whole)")


def publish(staging: Path, out_dir: Path) -> None:
    """Move ``staging`` to ``out_dir``; a previous output is moved aside first and deleted last."""
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-old-", dir=out_dir.parent))
        out_dir.rename(old / out_dir.name)
    try:
        staging.rename(out_dir)
    except BaseException:
        if old is not None:
            (old / out_dir.name).rename(out_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
