"""Bundles: exact round trip, no pickle, clear errors on damage, and atomic saves."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

import segrec.bundle.save as bundle_module
from segrec.bundle import FORMAT_VERSION, MANIFEST, load_bundle, save_bundle, verify_bundle
from segrec.columns import Columns
from segrec.exceptions import BundleError
from segrec.recommend.baselines import PopularityRecommender

if TYPE_CHECKING:
    from bundle_helpers import Trained

pytest_plugins = ["bundle_helpers"]  # the trained and bundle_path fixtures


@pytest.fixture
def saved(bundle_path: Path) -> Path:
    return bundle_path


@pytest.fixture
def copy(saved: Path, tmp_path: Path) -> Path:
    """A private copy to damage."""
    return Path(shutil.copytree(saved, tmp_path / "copy"))


def _rewrite_manifest(path: Path, **changes: object) -> None:
    manifest = json.loads((path / MANIFEST).read_text())
    manifest.update(changes)
    (path / MANIFEST).write_text(json.dumps(manifest))


def _refresh_checksum(path: Path, name: str) -> None:
    """Make the manifest agree with an edited file, as a tamperer who knows the format would."""
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["files"][name] = {"sha256": bundle_module.file_sha256(path / name), "bytes": (path / name).stat().st_size}
    (path / MANIFEST).write_text(json.dumps(manifest))


# --- round trip -----------------------------------------------------------------------------------------------
def test_round_trip_gives_identical_recommendations(trained: Trained, saved: Path) -> None:
    loaded = load_bundle(saved)
    users = trained.recommender.dataset_.users.external_ids
    for filter_seen in (True, False):
        expected = trained.recommender.recommend(users, 10, filter_seen=filter_seen)
        pd.testing.assert_frame_equal(loaded.recommender.recommend(users, 10, filter_seen=filter_seen), expected)
    product = str(trained.recommender.dataset_.items.external_ids[3])
    for attributes, products in [(None, None), ({"age": 30.0, "gender": "F", "segment": 1}, [product])]:
        pd.testing.assert_frame_equal(
            loaded.recommender.recommend_cold(attributes=attributes, product_ids=products, k=5),
            trained.recommender.recommend_cold(attributes=attributes, product_ids=products, k=5))
    pd.testing.assert_frame_equal(loaded.recommender.similar_products(product, 5),
                                  trained.recommender.similar_products(product, 5))


def test_round_trip_keeps_the_hybrids_second_stage(trained: Trained, tmp_path: Path) -> None:
    """A hybrid with a learned ranker (names in the manifest, coefficients in the npz) loads with the same one."""
    from bundle_helpers import save_trained
    from recommend_helpers import with_forced_ranker

    if not hasattr(trained.recommender, "ranker_"):
        pytest.skip("the bundle's model is not the hybrid")
    ranked = dataclasses.replace(trained, recommender=with_forced_ranker(trained.recommender))
    loaded = load_bundle(save_trained(ranked, tmp_path / "ranked")).recommender
    assert loaded.ranker_.names == ranked.recommender.ranker_.names
    np.testing.assert_array_equal(loaded.ranker_.coef, ranked.recommender.ranker_.coef)
    users = ranked.recommender.dataset_.users.external_ids
    pd.testing.assert_frame_equal(loaded.recommend(users, 10), ranked.recommender.recommend(users, 10))


def test_round_trip_keeps_dataset_segments_and_profiles(trained: Trained, saved: Path) -> None:
    loaded = load_bundle(saved)
    original = trained.recommender.dataset_
    assert list(loaded.dataset.users.external_ids) == list(original.users.external_ids)
    for name in ("interactions", "purchases", "recency_days"):
        assert (getattr(loaded.dataset, name) != getattr(original, name)).nnz == 0, name
    assert loaded.dataset.weighting == original.weighting
    pd.testing.assert_frame_equal(loaded.dataset.catalogue, original.catalogue)
    pd.testing.assert_frame_equal(loaded.dataset.user_attributes, original.user_attributes)
    assert loaded.segments[Columns.Segment].tolist() == trained.segments[Columns.Segment].tolist()
    assert [p[Columns.SegmentName] for p in loaded.profiles] == trained.profiles[Columns.SegmentName].tolist()
    sample = customer_sample(trained)
    np.testing.assert_array_equal(loaded.segmenter.predict(sample), trained.segmenter.predict(sample))


def customer_sample(trained: Trained) -> pd.DataFrame:
    return pd.DataFrame({f: [1.0, 100.0, np.nan] for f in trained.segmenter.features_})


def test_manifest_records_versions_fingerprint_and_checksums(trained: Trained, saved: Path) -> None:
    manifest = json.loads((saved / MANIFEST).read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["model"]["class"] == type(trained.recommender).__name__
    assert manifest["evaluation"] == {"precision@10": 0.1} and manifest["params"] == {"seed": 7}
    assert len(manifest["data_fingerprint"]) == 16
    assert set(manifest["files"]) == {p.name for p in saved.iterdir()} - {MANIFEST}


def test_no_pickle_anywhere(saved: Path) -> None:
    for file in saved.iterdir():
        head = file.read_bytes()[:4]
        if file.suffix == ".npz":
            with np.load(file, allow_pickle=False) as npz:  # raises on any object array
                assert all(npz[name].dtype != object for name in npz.files)
            assert all(n.endswith(".npy") for n in zipfile.ZipFile(file).namelist())
        elif file.suffix == ".parquet":
            assert head == b"PAR1"
        else:
            assert file.suffix == ".json"
            json.loads(file.read_text())
        assert b"\x80\x04\x95" not in file.read_bytes() and b"\x80\x05\x95" not in file.read_bytes()


def test_type_mismatch_is_a_type_error(saved: Path) -> None:
    with pytest.raises(TypeError, match="not a PopularityRecommender"):
        load_bundle(saved, expected=PopularityRecommender)


# --- damaged bundles --------------------------------------------------------------------------------------------
def test_corrupt_file_is_refused(copy: Path) -> None:
    data = bytearray((copy / "model.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.npz").write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"model\.npz fails its sha256 check"):
        load_bundle(copy)


def test_truncated_file_is_refused(copy: Path) -> None:
    data = (copy / "dataset.npz").read_bytes()
    (copy / "dataset.npz").write_bytes(data[: len(data) // 3])
    with pytest.raises(BundleError, match=r"dataset\.npz is truncated"):
        load_bundle(copy)


def test_truncated_manifest_is_refused(copy: Path) -> None:
    text = (copy / MANIFEST).read_text()
    (copy / MANIFEST).write_text(text[: len(text) // 2])
    with pytest.raises(BundleError, match="corrupt or truncated"):
        load_bundle(copy)


def test_tampered_catalogue_is_refused(copy: Path) -> None:
    frame = pd.read_parquet(copy / "catalogue.parquet")
    frame.loc[0, Columns.ItemName] = "free money"
    frame.to_parquet(copy / "catalogue.parquet", index=False)
    with pytest.raises(BundleError, match=r"catalogue.parquet"):
        load_bundle(copy)


def test_missing_file_is_refused(copy: Path) -> None:
    (copy / "segmenter.npz").unlink()
    with pytest.raises(BundleError, match=r"incomplete: segmenter\.npz is missing"):
        load_bundle(copy)


def test_newer_format_is_refused_with_the_fix(copy: Path) -> None:
    _rewrite_manifest(copy, format_version=FORMAT_VERSION + 1)
    with pytest.raises(BundleError, match=r"newer than this segrec reads.*upgrade segrec"):
        load_bundle(copy)


@pytest.mark.parametrize("manifest", [{"format": "other"}, {"format": "segrec-bundle", "format_version": "1"}, []])
def test_foreign_manifest_is_refused(copy: Path, manifest: object) -> None:
    (copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError):
        load_bundle(copy)


def test_unregistered_model_class_is_refused_not_imported(copy: Path) -> None:
    config = json.loads((copy / "model.json").read_text())
    (copy / "model.json").write_text(json.dumps({**config, "class": "os.system"}))
    _refresh_checksum(copy, "model.json")
    with pytest.raises(BundleError, match=r"'os\.system' is not a registered segrec model"):
        load_bundle(copy)


def test_missing_directory_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no bundle at"):
        load_bundle(tmp_path / "nowhere")


def test_refuses_to_overwrite_a_foreign_directory(trained: Trained, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "precious.csv").write_text("keep me")
    with pytest.raises(BundleError, match="not a segrec bundle"):
        save_bundle(tmp_path / "data", recommender=trained.recommender)
    assert (tmp_path / "data" / "precious.csv").read_text() == "keep me"


# --- atomic saves -----------------------------------------------------------------------------------------------
def test_failed_save_leaves_previous_bundle_whole(trained: Trained, copy: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    before = json.loads((copy / MANIFEST).read_text())

    def crash(path: Path, frame: pd.DataFrame) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(bundle_module, "_save_parquet", crash)
    with pytest.raises(OSError, match="disk full"):
        save_bundle(copy, recommender=trained.recommender)
    assert json.loads((copy / MANIFEST).read_text()) == before
    load_bundle(copy)
    assert [p.name for p in copy.parent.iterdir()] == [copy.name]  # the temporary directory is gone


def _interrupt_save_between_renames(trained: Trained, copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Re-save ``copy`` and die after the old bundle is renamed aside, before the new one is renamed in."""
    real_rename = os.rename
    calls = []

    def rename_then_die(src: Path, dst: Path) -> None:
        calls.append(dst)
        if len(calls) == 2:  # the old bundle is aside, the new one not yet in place
            raise KeyboardInterrupt
        real_rename(src, dst)

    monkeypatch.setattr(bundle_module.os, "rename", rename_then_die)
    with pytest.raises(KeyboardInterrupt):
        save_bundle(copy, recommender=trained.recommender)
    monkeypatch.setattr(bundle_module.os, "rename", real_rename)


def test_crash_between_renames_keeps_previous_bundle_loadable(trained: Trained, copy: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _interrupt_save_between_renames(trained, copy, monkeypatch)
    assert not copy.exists()
    assert load_bundle(copy).segmenter is not None  # served from the aside copy
    save_bundle(copy, recommender=trained.recommender)  # the next save recovers, then replaces
    assert load_bundle(copy).segmenter is None
    assert [p.name for p in copy.parent.iterdir()] == [copy.name]


def test_verify_accepts_the_layout_an_interrupted_save_leaves(trained: Trained, copy: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``segrec serve`` verifies before it loads: both must find the previous bundle at ``.<name>.old``."""
    _interrupt_save_between_renames(trained, copy, monkeypatch)
    assert not copy.exists()
    assert verify_bundle(copy) == load_bundle(copy).manifest


def test_save_killed_midway_in_a_subprocess(copy: Path) -> None:
    """SIGKILL a process that re-saves the bundle in a loop: whatever the moment, the bundle loads."""
    script = textwrap.dedent(f"""
        import sys
        from segrec.bundle import load_bundle, save_bundle
        b = load_bundle({str(copy)!r})
        print("ready", flush=True)
        for _ in range(200):
            save_bundle({str(copy)!r}, recommender=b.recommender, segmenter=b.segmenter, segments=b.segments,
                        profiles=b.profiles)
    """)
    for delay in (0.1,):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            time.sleep(delay)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        loaded = load_bundle(copy)
        assert loaded.segmenter is not None and loaded.profiles
