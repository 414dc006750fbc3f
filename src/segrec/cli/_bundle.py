"""The one rule by which every command that takes a bundle finds it (``serve``, ``recommend``).

A user holds one of three directories: the bundle itself, the ``--out`` of ``segrec train`` (bundle in
``model/``) or the ``--out`` of ``segrec run`` (bundle in ``bundle/``). All three are accepted everywhere, and
a directory holding none of them is an error that names the command building one, not a library function.
"""

from __future__ import annotations

from pathlib import Path

from ..bundle import MANIFEST, verify_bundle
from ..exceptions import BundleError
from ..run_dir import RunFiles

_INSIDE = (RunFiles.Model, RunFiles.Bundle)  # train's --out, then run's --out


def resolve_bundle(path: Path) -> Path:
    """The bundle directory ``path`` designates: itself, ``path/model`` or ``path/bundle``.

    Raises :class:`BundleError` naming the places looked at and the command that builds a bundle.
    """
    candidates = [path, *(path / name for name in _INSIDE)]
    for candidate in candidates:
        if (candidate / MANIFEST).is_file():
            return candidate
    try:
        verify_bundle(path)  # a save interrupted between its two renames left the previous bundle aside
        return path
    except BundleError:
        pass
    where = "does not exist" if not path.exists() else (
        f"holds no bundle (looked for {MANIFEST} in {', '.join(str(c) for c in candidates)})")
    raise BundleError(f"no bundle at {path}: it {where}; build one with `segrec train SOURCE --out {path}` "
                      f"or `segrec run SOURCE --out {path}`")
