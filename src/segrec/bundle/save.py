"""Writing a model bundle: everything the API serves in one directory, no pickle anywhere (the layout is in
:mod:`segrec.bundle.format`), written atomically (:mod:`segrec.bundle.swap`).
"""

from __future__ import annotations

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

from .. import __version__
from .._atomic import file_sha256
from ..columns import Columns
from ..exceptions import BundleError
from ..features.interactions import Dataset, IdMap
from ..recommend.base import Recommender
from .format import CSR_PARTS, DATASET_FIELDS, FORMAT, FORMAT_VERSION, MANIFEST
from .swap import fsync_tree, recover, swap_in

__all__ = ["data_fingerprint", "save_bundle"]


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
    recover(target)
    if target.exists() and not (target / MANIFEST).is_file() and (not target.is_dir() or any(target.iterdir())):
        raise BundleError(f"{target} exists and is not a segrec bundle; choose another path or remove it")
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        _write_contents(tmp, recommender, segmenter, segments, profiles, evaluation, params)
        fsync_tree(tmp)
        swap_in(tmp, target)
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
    for name in DATASET_FIELDS:
        value = getattr(dataset, name)
        if isinstance(value, IdMap):
            kinds[name], arrays[f"{name}__ids"] = "ids", _str_array(value.external_ids)
        elif sp.issparse(value):
            kinds[name] = "csr"
            csr = sp.csr_matrix(value)
            arrays.update({f"{name}__{part}": np.asarray(getattr(csr, part)) for part in CSR_PARTS})
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
