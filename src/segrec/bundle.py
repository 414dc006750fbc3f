"""Model bundles: everything the API serves, in one directory, with no pickle anywhere.

Why this format: a bundle is loaded by a long-running server and may come from another machine, so loading it
must never execute code (``np.load(..., allow_pickle=False)``, Parquet and JSON only), must notice a truncated
or edited file (sha256 of every file in ``manifest.json``), and must refuse a bundle written by a newer segrec
(``format_version``). The model class is looked up by name in :mod:`segrec.recommend.registry` and
type-checked, never imported from a string found in the bundle.

Layout::

    manifest.json          format version, segrec version, created at, data fingerprint, params, evaluation,
                           sha256 and size of every other file
    dataset.npz/.json      user/item ids, interactions, purchases, recency (CSR parts), weighting
    catalogue.parquet      one row per item index (every DataFrame field of the Dataset)
    user_attributes.parquet
    model.json, model.npz  recommender config and arrays (``get_state`` / ``from_state``)
    segmenter.json/.npz    optional segmenter state
    segments.parquet       optional user_id -> segment (and name)
    profiles.json          optional segment profiles (records)

Saving is atomic: files go to a temporary directory beside the target, are fsynced, and the directory is
renamed in (an existing bundle is renamed aside first and deleted last), so a crash leaves the previous bundle
whole. If a crash falls between the two renames, :func:`load_bundle`, :func:`verify_bundle` and the next
:func:`save_bundle` find the previous bundle at ``.<name>.old``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from . import __version__
from ._atomic import file_sha256
from .columns import Columns
from .exceptions import BundleError
from .recommend.base import Recommender
from .recommend.data import Dataset, IdMap

__all__ = ["FORMAT_VERSION", "Bundle", "load_bundle", "save_bundle", "verify_bundle"]

FORMAT = "segrec-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_CSR_PARTS = ("data", "indices", "indptr", "shape")
_DATASET_FIELDS = tuple(f.name for f in dataclasses.fields(Dataset))


@dataclasses.dataclass(frozen=True, eq=False)
class Bundle:
    """A loaded bundle: the fitted recommender on its dataset, plus optional segmentation results."""

    manifest: dict[str, Any]
    dataset: Dataset
    recommender: Recommender
    segmenter: Any = None
    segments: pd.DataFrame | None = None
    profiles: list[dict[str, Any]] | None = None
    path: Path | None = None


# ----------------------------------------------------------------------------------------------- saving
def save_bundle(
    path: str | os.PathLike[str],
    *,
    recommender: Recommender,
    segmenter: Any = None,
    segments: pd.DataFrame | pd.Series | None = None,
    profiles: pd.DataFrame | list[dict[str, Any]] | None = None,
    evaluation: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
) -> Path:
    """Write a bundle directory at ``path`` atomically and return it.

    ``segments`` maps user ids to segments (a frame with ``user_id`` and ``segment`` columns, or a Series
    indexed by user id). ``evaluation`` and ``params`` are copied into the manifest as given (JSON).
    """
    recommender.check_fitted()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _recover(target)
    if target.exists() and not (target / MANIFEST).is_file() and (not target.is_dir() or any(target.iterdir())):
        raise BundleError(f"{target} exists and is not a segrec bundle; choose another path or remove it")
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        _write_contents(tmp, recommender, segmenter, segments, profiles, evaluation, params)
        _fsync(tmp)
        _swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _write_contents(
    out: Path,
    recommender: Recommender,
    segmenter: Any,
    segments: pd.DataFrame | pd.Series | None,
    profiles: pd.DataFrame | list[dict[str, Any]] | None,
    evaluation: Mapping[str, Any] | None,
    params: Mapping[str, Any] | None,
) -> None:
    """Write every file, the manifest last (a directory without a manifest is never a bundle)."""
    dataset = recommender.dataset_
    _save_dataset(out, dataset)
    config, arrays = recommender.get_state()
    _save_json(out / "model.json", config)
    _save_npz(out / "model.npz", arrays)
    if segmenter is not None:
        seg_meta, seg_arrays = segmenter.get_state()
        _save_json(out / "segmenter.json", seg_meta)
        _save_npz(out / "segmenter.npz", seg_arrays)
    if segments is not None:
        _save_parquet(out / "segments.parquet", _segments_frame(segments))
    if profiles is not None:
        _save_json(out / "profiles.json", _profile_records(profiles))
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "segrec_version": __version__,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "data_fingerprint": data_fingerprint(dataset),
        "model": {"class": type(recommender).__name__, "config": config},
        "counts": {"users": dataset.n_users, "items": dataset.n_items,
                   "purchases": int(dataset.purchases.nnz)},
        "params": dict(params or {}),
        "evaluation": dict(evaluation or {}),
        "files": {p.name: {"sha256": file_sha256(p), "bytes": p.stat().st_size} for p in sorted(out.iterdir())},
    }
    _save_json(out / MANIFEST, manifest)


def _save_dataset(out: Path, dataset: Dataset) -> None:
    """Every field of the Dataset by kind: ids and sparse matrices to ``dataset.npz``, frames to Parquet,
    the rest to ``dataset.json`` (so a field added to Dataset is saved without touching this module)."""
    arrays: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    scalars: dict[str, Any] = {}
    for name in _DATASET_FIELDS:
        value = getattr(dataset, name)
        if isinstance(value, IdMap):
            kinds[name], arrays[f"{name}__ids"] = "ids", _str_array(value.external_ids)
        elif sp.issparse(value):
            kinds[name] = "csr"
            csr = sp.csr_matrix(value)
            arrays.update({f"{name}__{part}": np.asarray(getattr(csr, part)) for part in _CSR_PARTS})
        elif isinstance(value, pd.DataFrame):
            kinds[name] = "parquet"
            _save_parquet(out / f"{name}.parquet", value)
        else:
            kinds[name], scalars[name] = "json", value
    _save_npz(out / "dataset.npz", arrays)
    _save_json(out / "dataset.json", {"kinds": kinds, "values": scalars})


def _segments_frame(segments: pd.DataFrame | pd.Series) -> pd.DataFrame:
    frame = segments.rename(Columns.Segment).to_frame() if isinstance(segments, pd.Series) else segments
    if Columns.User not in frame.columns:
        frame = frame.rename_axis(Columns.User).reset_index()
    if Columns.Segment not in frame.columns:
        raise BundleError(f"segments need a {Columns.Segment!r} column; got {list(frame.columns)}")
    frame = frame.reset_index(drop=True)
    return frame.assign(**{Columns.User: frame[Columns.User].astype(str)})


def _profile_records(profiles: pd.DataFrame | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Profiles as JSON records; a frame indexed by segment (as ``segment_profiles`` returns) keeps it."""
    if isinstance(profiles, list):
        return profiles
    frame = profiles.reset_index() if profiles.index.name == Columns.Segment else profiles
    return json.loads(frame.to_json(orient="records"))


def data_fingerprint(dataset: Dataset) -> str:
    """Short sha256 of the ids and purchases: two bundles trained on the same data share it."""
    digest = hashlib.sha256()
    for array in (_str_array(dataset.users.external_ids), _str_array(dataset.items.external_ids),
                  dataset.purchases.indptr, dataset.purchases.indices, dataset.purchases.data):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def _str_array(values: np.ndarray) -> np.ndarray:
    return np.asarray([str(v) for v in values], dtype=np.str_)


def _save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Plain arrays only: object arrays of strings become unicode, any other object array is refused."""
    clean = {}
    for name, value in arrays.items():
        array = np.asarray(value)
        if array.dtype == object:
            if not all(isinstance(v, str) for v in array.ravel()):
                raise BundleError(f"array {name!r} holds Python objects; bundles store numbers and strings only")
            array = array.astype(np.str_)
        clean[name] = array
    with open(path, "wb") as fh:
        np.savez(fh, **clean)


def _save_parquet(path: Path, frame: pd.DataFrame) -> None:
    frame.to_parquet(path, index=False)


def _save_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, default=_json_default), encoding="utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike | dt.date):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _fsync(directory: Path) -> None:
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


def _aside(target: Path) -> Path:
    return target.parent / f".{target.name}.old"


def _swap_in(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``; an existing bundle is renamed aside first and deleted last."""
    aside = _aside(target)
    if target.exists():
        os.rename(target, aside)
        os.rename(tmp, target)
        _fsync_dir(target.parent)
        shutil.rmtree(aside)
    else:
        os.rename(tmp, target)
        _fsync_dir(target.parent)


def _recover(target: Path) -> None:
    """Finish an interrupted swap: put the previous bundle back, or drop a stale aside copy."""
    aside = _aside(target)
    if not aside.exists():
        return
    if target.exists():
        shutil.rmtree(aside)
    else:
        os.rename(aside, target)


# ---------------------------------------------------------------------------------------------- loading
def _resolve(path: str | os.PathLike[str]) -> Path:
    """The bundle directory to read: ``path``, or the previous bundle a save interrupted between its renames left aside."""
    root = Path(path)
    if not (root / MANIFEST).is_file() and (_aside(root) / MANIFEST).is_file():
        return _aside(root)
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
            data, indices, indptr, shape = (arrays[f"{name}__{part}"] for part in _CSR_PARTS)
            values[name] = sp.csr_matrix((data, indices, indptr), shape=tuple(int(n) for n in shape))
        elif kind == "parquet":
            values[name] = pd.read_parquet(root / f"{name}.parquet")
        else:
            values[name] = meta["values"][name]
    unknown = set(values) - set(_DATASET_FIELDS)
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
    from .recommend import registry  # late: the registry imports the models

    name = config.get("class")
    for registered in registry.available_models():
        cls = registry.MODELS[registered]
        if cls.__name__ == name:
            return cls
    raise BundleError(f"bundle model class {name!r} is not a registered segrec model "
                      f"(known: {', '.join(registry.available_models())}); was it saved by a newer segrec?")


def _load_segmenter(root: Path) -> Any:
    from .segmentation import Segmenter

    try:
        return Segmenter.from_state(_read_json(root / "segmenter.json"), _load_npz(root / "segmenter.npz"))
    except TypeError as exc:
        raise BundleError(f"bundle {root}: {exc}") from exc
