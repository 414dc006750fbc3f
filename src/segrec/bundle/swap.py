"""The atomic directory swap under every bundle save.

Saving is atomic: files go to a temporary directory beside the target, are fsynced, and the directory is
renamed in (an existing bundle is renamed aside first and deleted last), so a crash leaves the previous bundle
whole. If a crash falls between the two renames, :func:`load_bundle`, :func:`verify_bundle` and the next
:func:`save_bundle` find the previous bundle at ``.<name>.old``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["aside", "fsync_tree", "recover", "swap_in"]


def fsync_tree(directory: Path) -> None:
    for file in directory.iterdir():
        with open(file, "rb") as fh:
            os.fsync(fh.fileno())
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def aside(target: Path) -> Path:
    return target.parent / f".{target.name}.old"


def swap_in(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``; an existing bundle is renamed aside first and deleted last."""
    old = aside(target)
    if target.exists():
        os.rename(target, old)
        os.rename(tmp, target)
        _fsync_dir(target.parent)
        shutil.rmtree(old)
    else:
        os.rename(tmp, target)
        _fsync_dir(target.parent)


def recover(target: Path) -> None:
    """Finish an interrupted swap: put the previous bundle back, or drop a stale aside copy."""
    old = aside(target)
    if not old.exists():
        return
    if target.exists():
        shutil.rmtree(old)
    else:
        os.rename(old, target)
