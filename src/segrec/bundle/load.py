"""Loading and verifying a model bundle: never executes code, checks the format version and every file's
sha256, and builds the model through the registry.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._atomic import file_sha256
from ..exceptions import BundleError
from ..features.interactions import Dataset, IdMap
from ..recommend.base import Recommender
from .format import CSR_PARTS, DATASET_FIELDS, FORMAT, FORMAT_VERSION, MANIFEST, Bundle
from .swap import aside

__all__ = ["load_bundle", "read_manifest", "verify_bundle"]


def _resolve(path: str | os.PathLike[str]) -> Path:
    """The bundle directory to read: ``path``, or the previous bundle a save interrupted between its renames left aside."""
    root = Path(path)
    if not (root / MANIFEST).is_file() and (aside(root) / MANIFEST).is_file():
        return aside(root)
    return root


def load_bundle(path: str | os.PathLike[str], *, expected: type[Recommender] = Recommender) -> Bundle:
    """Load and verify a bundle; raise :class:`BundleError` if it is missing, corrupt or too new.

    ``expected`` is the recommender class the caller needs; a bundle holding another class raises
    ``TypeError`` (as RecTools' ``load`` does).
    """
    root = _resolve(path)
    manifest = verify_bundle(root)
    try:
        dataset = _load_dataset(root)
        recommender = _load_recommender(root, manifest, dataset)
        segmenter = _load_segmenter(root) if "segmenter.json" in manifest["files"] else None
        segments = pd.read_parquet(root / "segments.parquet") if "segments.parquet" in manifest["files"] else None
        profiles = _read_json(root / "profiles.json") if "profiles.json" in manifest["files"] else None
    except (KeyError, ValueError, OSError) as exc:  # checksums passed, so the writer was inconsistent
        raise BundleError(f"bundle {root} is inconsistent: {type(exc).__name__}: {exc}") from exc
    if not isinstance(recommender, expected):
        raise TypeError(f"bundle {root} holds a {type(recommender).__name__}, not a {expected.__name__}")
    return Bundle(manifest, dataset, recommender, segmenter, segments, profiles, root)


def verify_bundle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Check format, version and every checksum without building the model; return the manifest."""
    root = _resolve(path)
    manifest = read_manifest(root)
    _verify_files(root, manifest)
    return manifest


def read_manifest(root: Path) -> dict[str, Any]:
    """The manifest, checked for format and version (cheap: reads one small file)."""
    if not root.is_dir():
        raise BundleError(f"no bundle at {root}: the directory does not exist; build one with save_bundle")
    manifest = _read_json(root / MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{root / MANIFEST} is not a segrec bundle manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int):
        raise BundleError(f"{root / MANIFEST} has no valid format_version")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"bundle {root} has format version {version}, newer than this segrec reads ({FORMAT_VERSION}); "
            f"upgrade segrec (bundle written by segrec {manifest.get('segrec_version')})"
        )
    if not isinstance(manifest.get("files"), dict) or "model.json" not in manifest["files"]:
        raise BundleError(f"{root / MANIFEST} lists no model files")
    return manifest


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BundleError(f"bundle file {path} is missing") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"bundle file {path} is corrupt or truncated: {exc}") from exc


def _verify_files(root: Path, manifest: dict[str, Any]) -> None:
    for name, meta in manifest["files"].items():
        file = root / name
        if Path(name).name != name or name == MANIFEST:
            raise BundleError(f"{root / MANIFEST} lists an invalid file name {name!r}")
        if not file.is_file():
            raise BundleError(f"bundle {root} is incomplete: {name} is missing")
        if file.stat().st_size != meta.get("bytes"):
            raise BundleError(f"bundle file {file} is truncated or altered: {file.stat().st_size} bytes, "
                              f"expected {meta.get('bytes')}")
        if file_sha256(file) != meta.get("sha256"):
            raise BundleError(f"bundle file {file} fails its sha256 check: it was altered after saving")


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def _load_dataset(root: Path) -> Dataset:
    arrays = _load_npz(root / "dataset.npz")
    meta = _read_json(root / "dataset.json")
    values: dict[str, Any] = {}
    for name, kind in meta["kinds"].items():
        if kind == "ids":
            values[name] = IdMap(arrays[f"{name}__ids"].astype(object))
        elif kind == "csr":
            data, indices, indptr, shape = (arrays[f"{name}__{part}"] for part in CSR_PARTS)
            values[name] = sp.csr_matrix((data, indices, indptr), shape=tuple(int(n) for n in shape))
        elif kind == "parquet":
            values[name] = pd.read_parquet(root / f"{name}.parquet")
        else:
            values[name] = meta["values"][name]
    unknown = set(values) - set(DATASET_FIELDS)
    if unknown:
        raise BundleError(f"bundle {root} has dataset field(s) {sorted(unknown)} this segrec does not know; "
                          "upgrade segrec")
    return Dataset(**values)


def _load_recommender(root: Path, manifest: dict[str, Any], dataset: Dataset) -> Recommender:
    """Build the model through the registry (never from an arbitrary import string) and type-check it."""
    config = _read_json(root / "model.json")
    cls = _model_class(config)
    if cls.__name__ != manifest["model"].get("class"):
        raise BundleError(f"bundle {root}: model.json describes {cls.__name__}, the manifest "
                          f"{manifest['model'].get('class')!r}")
    try:
        model = cls.from_state(config, _load_npz(root / "model.npz"), dataset)
    except TypeError as exc:
        raise BundleError(f"bundle {root}: cannot rebuild {cls.__name__}: {exc}") from exc
    if not isinstance(model, cls):
        raise BundleError(f"bundle {root}: {cls.__name__}.from_state returned a {type(model).__name__}")
    return model


def _model_class(config: dict[str, Any]) -> type[Recommender]:
    """The registered class named by ``config["class"]``; a name outside the registry is refused."""
    from ..recommend import registry  # late: the registry imports the models

    name = config.get("class")
    for registered in registry.available_models():
        cls = registry.MODELS[registered]
        if cls.__name__ == name:
            return cls
    raise BundleError(f"bundle model class {name!r} is not a registered segrec model "
                      f"(known: {', '.join(registry.available_models())}); was it saved by a newer segrec?")


def _load_segmenter(root: Path) -> Any:
    from ..segment.segmenter import Segmenter

    try:
        return Segmenter.from_state(_read_json(root / "segmenter.json"), _load_npz(root / "segmenter.npz"))
    except TypeError as exc:
        raise BundleError(f"bundle {root}: {exc}") from exc
