"""The Spark engine against the local one: features, segments, ALS -> bundle -> API, Java check, CLI.

One module-scoped ``local[2]`` session keeps the module within CI's budget; skipped without pyspark or Java.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from segrec.columns import Columns
from segrec.datasets import generate_shop
from segrec.engines import HAS_SPARK, get_engine
from segrec.features import build_customer_features
from segrec.plots import HEATMAP_FEATURES
from segrec.profiles import relative_means
from segrec.rfm import rfm_table
from segrec.segmentation import Segmenter

pytestmark = pytest.mark.spark
C = Columns


def _java_ok() -> bool:
    if not HAS_SPARK:
        return False
    from segrec.engines.spark.session import JavaError, check_java

    try:
        check_java()
    except JavaError:
        return False
    return True


needs_spark = pytest.mark.skipif(not _java_ok(), reason="needs pyspark (pip install segrec[spark]) and Java 17")
CONF = {"spark.ui.enabled": "false"}  # shuffle partitions: the engine's own local default (4 on local[2])


@pytest.fixture(scope="module")
def engine():
    eng = get_engine("spark", master="local[2]", conf=CONF)
    yield eng
    eng.stop()


@pytest.fixture(scope="module")
def shop() -> pd.DataFrame:
    events = generate_shop(customers=300, products=60, months=3, seed=11).events
    events.loc[events.index[:30], C.Age] = pd.NA  # imputation and indicator columns
    events.loc[events.index[10:40], C.Order] = pd.NA  # one order per user and day
    return events


@needs_spark
def test_features_match_the_local_engine(engine, shop: pd.DataFrame) -> None:
    local = build_customer_features(shop)
    spark = engine.features(engine.load(shop))
    got = spark.frame.toPandas().set_index(C.User).sort_index()
    assert list(got.columns) == list(local.frame.columns)
    assert spark.imputed == local.imputed and spark.dropped == local.dropped
    for column in local.frame.columns:
        np.testing.assert_allclose(got[column].to_numpy(float), local.frame[column].to_numpy(float), rtol=1e-12,
                                   err_msg=column)


@needs_spark
def test_segments_agree_with_the_local_engine(engine, shop: pd.DataFrame, tmp_path: Path) -> None:
    from segrec.engines.spark.figures import relative_means as spark_relative_means

    result = engine.segment(engine.load(shop), tmp_path, k=None, ks=(2, 3), seed=42)
    k = result["sweep"].chosen
    X = build_customer_features(shop).frame
    local = Segmenter(n_clusters=k, random_state=42).fit(X)
    spark = result["segments"].toPandas().set_index(C.User).reindex(X.index.astype(str))[C.Segment].to_numpy()
    assert adjusted_rand_score(local.labels_, spark) >= 0.9
    assert (result["model"].predict(X) == spark).mean() > 0.99  # the exported Segmenter assigns the same way
    assert len(result["profiles"]) == k and (tmp_path / "segmenter" / "segmenter.json").is_file()
    table = pd.read_parquet(tmp_path / "segments.parquet").set_index(C.User).reindex(X.index.astype(str))
    assert len(table) == len(X) and len(pd.read_csv(tmp_path / "segments.csv")) == len(X)
    # RFM: the local definitions (rank quintiles, ties by customer id; the R x F grid), at Spark scale
    rfm = rfm_table(X)
    assert table[C.RFMScore].tolist() == rfm[C.RFMScore].astype(str).tolist()
    assert table[C.RFMGroup].tolist() == rfm[C.RFMGroup].astype(str).tolist()
    # the four figures of the local engine, and the heat-map's ratios as the local engine defines them
    for name in ("k_selection.png", "projection.png", "profile_heatmap.png", "sizes_revenue.png"):
        png = (tmp_path / name).read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000, name
    heat = [c for c in HEATMAP_FEATURES if c in X.columns]
    pd.testing.assert_frame_equal(spark_relative_means(result["profiles"], heat),
                                  relative_means(X, spark, heat), check_names=False, check_index_type=False)
    assert result["report"]["not_computed"] == ["stability"]


@needs_spark
def test_spark_als_bundle_is_served_by_the_api(engine, shop: pd.DataFrame, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from segrec.bundle import load_bundle
    from segrec.engines.spark.recommend import ALSParams
    from segrec.recommend.baselines import ALSRecommender
    from segrec.recommend.data import Dataset
    from segrec.service import Settings, create_app

    shop = shop.copy()
    first_rows = shop.groupby(C.Item).head(1).index  # a rarer, alphabetically last name on one line per product
    shop.loc[first_rows, C.ItemName] = "zzz " + shop.loc[first_rows, C.ItemName].astype(str)
    result = engine.train(engine.load(shop), tmp_path, k=5,
                          params=ALSParams(factors=8, iterations=5, content_weight=0.2))
    bundle = load_bundle(tmp_path / "model", expected=ALSRecommender)
    local = Dataset.from_events(shop)
    assert (bundle.dataset.purchases != local.purchases).nnz == 0
    np.testing.assert_allclose(bundle.dataset.interactions.toarray(), local.interactions.toarray(), rtol=1e-6)
    assert bundle.manifest["params"]["engine"] == "spark"
    recs = pd.read_parquet(tmp_path / "recommendations.parquet")
    assert recs.groupby(C.User).size().max() == 5
    catalogue = bundle.dataset.catalogue.set_index(C.Item)[C.ItemName]
    assert recs[C.ItemName].tolist() == catalogue.reindex(recs[C.Item]).tolist()  # the file names as the API does
    assert not recs[C.ItemName].str.startswith("zzz").any()  # the most frequent name, not the largest
    user = str(local.users.external_ids[0])
    expected = result["recommender"].recommend([user], k=5)[C.Item].tolist()
    with TestClient(create_app(Settings(bundle=tmp_path / "model"))) as client:
        response = client.get(f"/v1/users/{user}/recommendations", params={"k": 5})
        assert response.status_code == 200, response.text
        served = [item[C.Item] for item in response.json()["items"]]
    assert served == expected and len(served) == 5


def test_missing_java_names_java_17(tmp_path: Path) -> None:
    pytest.importorskip("pyspark", reason="the Java check ships with the spark extra")
    from segrec.engines.spark.session import JavaError, check_java, java_major

    with pytest.raises(JavaError, match="Java 17"):
        check_java({"PATH": str(tmp_path)})
    with pytest.raises(JavaError, match="JAVA_HOME"):
        check_java({"JAVA_HOME": str(tmp_path), "PATH": ""})
    old = tmp_path / "jdk" / "bin"
    old.mkdir(parents=True)
    (old / "java").write_text('#!/bin/sh\necho \'openjdk version "1.8.0_392"\' >&2\n')
    (old / "java").chmod(0o755)
    with pytest.raises(JavaError, match=r"found Java 8.*Java 17|Java 17.*found Java 8"):
        check_java({"JAVA_HOME": str(tmp_path / "jdk")}, minimum=17)
    assert java_major('openjdk version "17.0.9" 2023-10-17') == 17


def test_local_masters_get_few_shuffle_partitions() -> None:
    from segrec.engines.spark.session import local_conf, local_threads

    assert [local_threads(m) for m in ("local", "local[3]", "local[4,2]", "yarn", "spark://h:7077")] == [
        1, 3, 4, None, None]
    assert local_conf("local[2]") == {"spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "4"}
    assert local_conf("k8s://https://host:443") == {}  # a cluster keeps Spark's defaults


@needs_spark
def test_session_uses_the_local_default_partitions(engine) -> None:
    assert engine.spark.conf.get("spark.sql.shuffle.partitions") == "4"


def test_missing_extra_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    import segrec.engines as engines
    from segrec.engines import MissingExtraError

    monkeypatch.setattr(engines, "HAS_SPARK", False)
    with pytest.raises(MissingExtraError, match=r"pip install segrec\[spark\]"):
        engines.get_engine("spark")


@needs_spark
def test_cli_segment_with_the_spark_engine(engine, shop: pd.DataFrame, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from segrec.cli import app

    source = tmp_path / "shop.csv"
    shop.head(1500).to_csv(source, index=False)
    out = tmp_path / "seg"
    result = CliRunner().invoke(app, ["segment", str(source), "--out", str(out), "--k", "3", "--engine", "spark",
                                      "--spark-master", "local[2]", "--spark-conf", "spark.sql.shuffle.partitions=4"])
    assert result.exit_code == 0, result.output
    assert (out / "segmentation.json").is_file() and (out / "segmenter" / "segmenter.npz").is_file()
    assert set(pd.read_parquet(out / "segments.parquet")[C.Segment]) == {0, 1, 2}


@needs_spark
def test_cli_run_with_the_spark_engine_ends_with_the_report(engine, shop: pd.DataFrame, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from segrec.cli import app

    source = tmp_path / "shop.parquet"
    data = shop.assign(**{C.Quantity: np.where(np.arange(len(shop)) < 7, 0, shop[C.Quantity])})
    data.to_parquet(source)  # 7 rows the reader must reject
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(source), "--out", str(out), "--segments-k", "3", "-k", "5",
                                      "--engine", "spark", "--spark-master", "local[2]"])
    assert result.exit_code == 0, result.output
    assert str(out / "report.html") in result.output.replace("\n", "")
    validation = json.loads((out / "validation.json").read_text())
    assert (validation["rows_read"], validation["rows_rejected"]) == (len(shop), 7)
    assert validation["rejected_by_reason"] == {"nonpositive_quantity": 7}
    assert validation["n_users"] == data.loc[data[C.Quantity] > 0, C.User].nunique()
    text = (out / "report.html").read_text()
    assert "no ingestion report" not in text and "No per-customer table" not in text
    assert "is missing from this run" not in text  # the plots
    assert text.count("data:image/png;base64,") >= 4 and "was not evaluated" in text
    assert "--engine spark" in text  # the rerun command


@needs_spark
def test_reads_pandas_parquet_with_nanosecond_timestamps(engine, shop: pd.DataFrame, tmp_path: Path) -> None:
    """``segrec generate`` and pandas write TIMESTAMP(NANOS), which Spark 4 refuses by default."""
    source = tmp_path / "shop.parquet"
    shop.to_parquet(source, index=False)  # pandas' default: nanosecond timestamps
    got = engine.load(str(source)).select(C.User, C.Date).toPandas()
    expected = shop[[C.User, C.Date]].dropna()
    assert len(got) == len(expected)
    assert sorted(pd.to_datetime(got[C.Date]).dt.floor("us").tolist()) == sorted(expected[C.Date].dt.floor("us").tolist())
