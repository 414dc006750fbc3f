"""The Spark engine against the local one: features, segments, stability, ALS -> bundle -> API (the file and
the API give one answer), evaluation, ingestion rules and rejects, one read, released caches, Java check, CLI.

One module-scoped ``local[2]`` session keeps the module within CI's budget; skipped without pyspark or Java. The
session runs with ``spark.driver.maxResultSize=1m``: no Spark action of the engine may bring more than 1 MiB to
the driver (``test_nothing_user_sized_is_collected`` gives it data whose ids alone are larger).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from segrec.columns import Columns
from segrec.data.generate import generate_shop
from segrec.engines import get_engine
from segrec.features.customers import build_customer_features
from segrec.features.rfm import rfm_table
from segrec.report.plots import HEATMAP_FEATURES
from segrec.segment.profiles import relative_means
from segrec.segment.segmenter import Segmenter
from segrec.segment.selection import stability
from spark_helpers import java_ok

pytestmark = pytest.mark.spark
C = Columns


needs_spark = pytest.mark.skipif(not java_ok(), reason="needs pyspark (pip install segrec[spark]) and Java 17")
# Shuffle partitions: the engine's own local default (4 on local[2]). Results: 1 MiB, the smallest limit Spark
# accepts. A distributed sort samples up to 3 x sampleSizePerPartition x partitions keys to the driver (Spark's
# RangePartitioner: bounded, whatever the number of rows); 20 instead of 100 keeps the sample of 1,000-character
# ids below that limit; and a broadcast join passes its small side through the driver (up to the 10 MB
# autoBroadcastJoinThreshold, whatever the data size), so it is lowered below the limit too.
CONF = {"spark.ui.enabled": "false", "spark.driver.maxResultSize": "1m",
        "spark.sql.execution.rangeExchange.sampleSizePerPartition": "20",
        "spark.sql.autoBroadcastJoinThreshold": "256k"}


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
    from segrec.engines.spark import segmentation as sseg
    from segrec.engines.spark.figures import relative_means as spark_relative_means

    events = engine.load(shop)  # cached: the input stays cached, the stage's own caches must not
    before = _cached(engine)
    result = engine.segment(events, tmp_path, k=None, ks=(2, 3), seed=42)
    k = result["sweep"].chosen
    X = build_customer_features(shop).frame
    local = Segmenter(n_clusters=k, random_state=42).fit(X)
    spark = result["segments"].toPandas().set_index(C.User).reindex(X.index.astype(str))[C.Segment].to_numpy()
    assert adjusted_rand_score(local.labels_, spark) >= 0.9
    assert (result["model"].predict(X) == spark).mean() > 0.99  # the exported Segmenter assigns the same way
    assert len(result["profiles"]) == k and (tmp_path / "segmenter" / "segmenter.json").is_file()
    written = pd.read_parquet(tmp_path / "segments.parquet")
    csv = pd.read_csv(tmp_path / "segments.csv", dtype={C.User: str, C.RFMScore: str})
    assert csv[C.User].tolist() == sorted(written[C.User])  # the CSV is the Parquet table, sorted by id
    pd.testing.assert_frame_equal(csv[[C.Segment, C.RFMScore]],
                                  written.sort_values(C.User, ignore_index=True)[[C.Segment, C.RFMScore]],
                                  check_dtype=False)
    table = written.set_index(C.User).reindex(X.index.astype(str))
    assert len(table) == len(X) and len(csv) == len(X)
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
    # stability: the local check (same seeds, same bootstraps) on every customer (fewer than its sample size)
    expected = stability(X, result["model"], random_state=42).to_dict()
    got = result["report"]["stability"]
    np.testing.assert_allclose(got["seeds"]["runs"] + got["bootstrap"]["runs"],
                               expected["seeds"]["runs"] + expected["bootstrap"]["runs"], atol=1e-12)
    assert len(got["seeds"]["runs"]) == 5 and len(got["bootstrap"]["runs"]) == 5
    assert _cached(engine) == before  # segment() with an output directory releases every cache it made
    # the sweep's fits ran side by side; each is the fit it is alone (the same metrics and choice; the inertia
    # to Spark's summation order, which varies from run to run anyway)
    alone, alone_sil = sseg.sweep_k(sseg.preprocess(engine.features(events).frame), (2, 3), parallelism=1)
    together, together_sil = result["sweep"], result["report"]["spark_silhouette_squared_euclidean"]
    assert (together.chosen, together.knee, together.why) == (alone.chosen, alone.knee, alone.why)
    for a, b in zip(alone.metrics, together.metrics, strict=True):
        assert a.k == b.k and a.min_share == b.min_share and a.silhouette == b.silhouette, a.k
        np.testing.assert_allclose([a.inertia, a.calinski_harabasz, a.davies_bouldin],
                                   [b.inertia, b.calinski_harabasz, b.davies_bouldin], rtol=1e-12, err_msg=a.k)
    assert list(together_sil.values()) == pytest.approx(list(alone_sil.values()), rel=1e-12)


def _cached(engine) -> int:
    """Cached RDDs of the session (DataFrame caches included once materialised)."""
    return int(engine.spark.sparkContext._jsc.getPersistentRDDs().size())


@needs_spark
def test_file_and_api_give_one_answer(spark_run: SparkRun) -> None:
    """``recommendations.parquet`` of a Spark run is what the API serves from its bundle, for every user; the
    bundle's dataset is the local one of the events the local reader reads from the same file. (The module's
    run: training again would fit the same ALS on the same events; that train releases its own caches is
    checked by the reader test.)"""
    from fastapi.testclient import TestClient

    from segrec.bundle import load_bundle
    from segrec.data.read import ingest
    from segrec.features.interactions import Dataset
    from segrec.recommend.baselines import ALSRecommender
    from segrec.service import Settings, create_app

    out = spark_run.out
    assert spark_run.exit_code == 0, spark_run.output
    bundle = load_bundle(out / "bundle", expected=ALSRecommender)
    local = Dataset.from_events(ingest(str(spark_run.source)).events)
    assert list(bundle.dataset.users.external_ids) == list(local.users.external_ids)
    assert list(bundle.dataset.items.external_ids) == list(local.items.external_ids)
    assert (bundle.dataset.purchases != local.purchases).nnz == 0
    np.testing.assert_allclose(bundle.dataset.interactions.toarray(), local.interactions.toarray(), rtol=1e-6)
    pd.testing.assert_frame_equal(bundle.dataset.catalogue[[C.Item, C.Category]],
                                  local.catalogue[[C.Item, C.Category]], check_dtype=False)
    assert bundle.manifest["params"]["engine"] == "spark"
    assert bundle.manifest["params"]["als"]["blocks"] == 2  # one ALS block per thread of local[2]
    users = pd.read_parquet(out / "id_maps" / "users.parquet").sort_values("uidx")
    assert users[C.User].tolist() == list(local.users.external_ids) and users["uidx"].tolist() == list(range(len(users)))
    recs = pd.read_parquet(out / "recommendations.parquet").sort_values([C.User, C.Rank], ignore_index=True)
    assert recs.groupby(C.User).size().max() == 5 and recs[C.User].nunique() == local.n_users
    catalogue = bundle.dataset.catalogue.set_index(C.Item)[C.ItemName]
    assert recs[C.ItemName].tolist() == catalogue.reindex(recs[C.Item]).tolist()  # the file names as the API does
    assert not recs[C.ItemName].str.startswith("zzz").any()  # the most frequent name, not the largest
    served = []
    ids = [str(u) for u in local.users.external_ids]
    with TestClient(create_app(Settings(bundle=out / "bundle"))) as client:
        for start in range(0, len(ids), 100):
            response = client.post("/v1/recommendations", json={"user_ids": ids[start:start + 100], "k": 5})
            assert response.status_code == 200, response.text
            served += [(r["user_id"], item["rank"], item["product_id"], item["product_name"], item["score"])
                       for r in response.json()["results"] for item in r["items"]]
        single = client.get(f"/v1/users/{ids[0]}/recommendations", params={"k": 5}).json()["items"]
    api = pd.DataFrame(served, columns=[C.User, C.Rank, C.Item, C.ItemName, C.Score]).sort_values(
        [C.User, C.Rank], ignore_index=True)
    pd.testing.assert_frame_equal(recs[[C.User, C.Rank, C.Item, C.ItemName]], api[[C.User, C.Rank, C.Item, C.ItemName]],
                                  check_dtype=False)
    np.testing.assert_allclose(recs[C.Score], api[C.Score], rtol=1e-5, atol=1e-6)  # float32 scores
    assert [i["product_id"] for i in single] == recs.loc[recs[C.User] == ids[0], C.Item].tolist()


@needs_spark
def test_nothing_user_sized_is_collected(engine, tmp_path: Path) -> None:
    """Ids of 1,000 random hex digits: the user ids alone (~1.5 MB, incompressible) exceed the session's 1 MiB
    result limit, so the index, ALS, the bundle export, the recommendations and the segmentation must not
    collect them."""
    from segrec.engines.spark.recommend import ALSParams
    from segrec.features.interactions import Dataset

    assert engine.spark.sparkContext.getConf().get("spark.driver.maxResultSize") == "1m"
    events = generate_shop(customers=1500, products=40, months=2, seed=3).events
    rng = np.random.default_rng(0)
    long_ids = {u: rng.bytes(500).hex() + u for u in events[C.User].astype(str).unique()}
    events[C.User] = events[C.User].astype(str).map(long_ids)
    frame = engine.load(events)
    with pytest.raises(Exception, match="maxResultSize"):  # the limit is real: collecting the ids fails
        frame.select(C.User).distinct().collect()
    result = engine.train(frame, tmp_path, k=3, params=ALSParams(factors=4, iterations=2))
    local = Dataset.from_events(events)
    assert list(result["recommender"].dataset_.users.external_ids) == list(local.users.external_ids)
    assert pd.read_parquet(tmp_path / "recommendations.parquet")[C.User].nunique() == local.n_users
    seg = engine.segment(frame, tmp_path / "seg", k=2, ks=(2, 3))
    assert len(pd.read_parquet(tmp_path / "seg" / "segments.parquet")) == local.n_users
    assert seg["report"]["chosen_k"] == 2
    engine.release()
    assert _cached(engine) == 0


@needs_spark
def test_evaluation_matches_the_local_runner(spark_run: SparkRun) -> None:
    """The run's ``evaluation.json``: Spark popularity judged by the executors equals the local runner's
    popularity on the same split of the events the local reader reads from the same file (every metric and the
    split's counts); Spark ALS (the default settings) is judged by the same protocol. It checks the run's own
    evaluation: a second ``engine.evaluate`` would fit the same two models on the same events again."""
    from segrec.data.read import ingest
    from segrec.evaluation.runner import evaluate
    from segrec.evaluation.splits import default_cutoff, temporal_split

    got = json.loads((spark_run.out / "evaluation.json").read_text())
    events = ingest(str(spark_run.source)).events
    split = temporal_split(events, default_cutoff(events))
    local = evaluate(split.train, split.test, ["popularity"], 5, "discover").to_dict()
    assert got["split"]["cutoff"] == split.description["cutoff"]
    for key, value in split.description.items():
        assert got["split"][key] == value, key
    assert got["split"]["evaluated_users"] == local["split"]["evaluated_users"]
    spark_pop = next(m for m in got["models"] if m["name"] == "popularity")["metrics"]
    for name, value in local["models"][0]["metrics"].items():
        assert spark_pop[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    als = next(m for m in got["models"] if m["name"] == "als")
    assert got["default_model"] == "als" and 0 <= als["metrics"]["precision@5"] <= 1
    assert set(als["metrics"]) == set(spark_pop)
    assert als["params"]["factors"] == 64 and als["params"]["blocks"] == 2  # the settings used, blocks resolved


@needs_spark
def test_reader_checks_rows_as_the_local_reader_and_reads_once(engine, tmp_path: Path) -> None:
    """Every local reject reason, counted as the local reader counts them; the rejects itemised as Parquet with
    their original text; and the source read once: it is deleted before the later stages run."""
    from segrec.data.read import ingest
    from segrec.engines.spark.recommend import ALSParams

    shop = generate_shop(customers=120, products=30, months=3, seed=2).events
    data = shop.astype({c: "object" for c in shop.columns}).astype(str).replace({"<NA>": "", "nan": ""})
    bad = {C.User: (0, "NA"), C.Item: (1, ""), C.Date: (2, "yesterday"), C.Price: (3, "cheap"),
           C.Quantity: (4, "1.5"), C.Clicks: (5, "many"), C.Age: (6, "130"), C.Income: (7, "-5")}
    for column, (row, value) in bad.items():
        data.loc[row, column] = value
    data.loc[8, C.Quantity] = "0"
    data.loc[9, C.Price] = "-1"
    data.loc[10, C.Date] = "12/1/2010 8:26"  # a local date format: accepted
    data.loc[11, C.User] = " C00001 "  # trimmed
    data.loc[12, C.User] = "17850.0"  # 17850
    source = tmp_path / "shop.csv"
    data.to_csv(source, index=False)
    local = ingest(str(source))
    expected = local.report.to_dict()
    events, report = engine.read(str(source), rejects=tmp_path / "rejects")
    assert report["rejected_by_reason"] == expected["rejected_by_reason"]
    assert len(report["rejected_by_reason"]) == 10
    for key in ("rows_read", "rows_accepted", "rows_rejected", "n_users", "n_products", "date_min", "date_max"):
        assert report[key] == expected[key], key
    rejects = pd.read_parquet(tmp_path / "rejects")
    assert sorted(rejects[C.RejectReason]) == sorted(r for r, n in expected["rejected_by_reason"].items()
                                                     for _ in range(n))
    assert rejects.loc[rejects[C.RejectReason] == "impossible_age", C.Age].tolist() == ["130"]
    assert rejects["source_file"].str.endswith("shop.csv").all()
    got = events.toPandas().sort_values([C.User, C.Date, C.Item], ignore_index=True)
    want = local.events.sort_values([C.User, C.Date, C.Item], ignore_index=True)
    assert "17850" in set(got[C.User]) and "C00001" in set(got[C.User])
    for column in (C.User, C.Item, C.Order, C.Category):
        assert got[column].tolist() == want[column].astype(str).tolist(), column
    for column in (C.Quantity, C.Price, C.Spending, C.Age, C.Income, C.Engagement):
        np.testing.assert_allclose(got[column].to_numpy(float), want[column].to_numpy(float), err_msg=column)
    assert (pd.to_datetime(got[C.Date]) == want[C.Date]).all()
    source.unlink()  # every later stage must read the cached events, not the source
    before = _cached(engine)
    engine.train(events, tmp_path / "rec", k=3, params=ALSParams(factors=4, iterations=2))
    assert _cached(engine) == before  # train releases its caches (ALS's factors included); the input stays
    engine.segment(events, tmp_path / "seg", k=2, ks=(2, 3))
    engine.release()


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


def test_als_gets_a_block_per_local_thread_and_sparks_default_on_a_cluster() -> None:
    pytest.importorskip("pyspark", reason="the Spark engine ships with the spark extra")
    from segrec.engines.spark.recommend import CLUSTER_BLOCKS, ALSParams

    assert [ALSParams().for_master(m).blocks for m in ("local", "local[2]", "local[4,2]", "yarn",
                                                       "spark://h:7077")] == [1, 2, 4, 10, 10]
    assert CLUSTER_BLOCKS == 10 and ALSParams(blocks=3).for_master("local[2]").blocks == 3  # set: kept
    assert ALSParams().for_master("local[2]").to_dict() == {**ALSParams().to_dict(), "blocks": 2}


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
    """``segrec segment --engine spark`` on a CSV of six customers: the command's wiring (engine options, read,
    segment, release, summary) and its files. Six customers, because the stage sweeps only the k below the
    number of customers (2..5 here instead of 2..10: the k sweep is most of the stage's time); the whole
    stage on the module's shop is checked by the run tests and ``test_segments_agree_with_the_local_engine``."""
    from typer.testing import CliRunner

    from segrec.cli import app

    source = tmp_path / "shop.csv"
    shop[shop[C.User].isin(shop[C.User].drop_duplicates().head(6))].to_csv(source, index=False)
    out = tmp_path / "seg"
    result = CliRunner().invoke(app, ["segment", str(source), "--out", str(out), "--k", "3", "--engine", "spark",
                                      "--spark-master", "local[2]", "--spark-conf", "spark.sql.shuffle.partitions=4"])
    assert result.exit_code == 0, result.output
    assert (out / "segmentation.json").is_file() and (out / "segmenter" / "segmenter.npz").is_file()
    assert set(pd.read_parquet(out / "segments.parquet")[C.Segment]) == {0, 1, 2}


@dataclass(frozen=True)
class SparkRun:
    """``segrec run --engine spark`` of the module's shop (7 rows to reject; a rarer name, alphabetically last,
    on one line of each product), run once for the tests that check its outputs."""

    source: Path
    out: Path
    data: pd.DataFrame
    output: str
    exit_code: int
    cached_after: int


@pytest.fixture(scope="module")
def spark_run(engine, shop: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> SparkRun:
    from typer.testing import CliRunner

    from segrec.cli import app

    if not java_ok():
        pytest.skip("needs pyspark (pip install segrec[spark]) and Java 17")
    tmp_path = tmp_path_factory.mktemp("spark-run")
    source = tmp_path / "shop.parquet"
    data = shop.assign(**{C.Quantity: np.where(np.arange(len(shop)) < 7, 0, shop[C.Quantity])})
    first_rows = data.groupby(C.Item).head(1).index  # a rarer, alphabetically last name on one line per product
    data.loc[first_rows, C.ItemName] = "zzz " + data.loc[first_rows, C.ItemName].astype(str)
    data.to_parquet(source)  # 7 rows the reader must reject
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(source), "--out", str(out), "--segments-k", "3", "-k", "5",
                                      "--engine", "spark", "--spark-master", "local[2]"])
    return SparkRun(source, out, data, result.output, result.exit_code, _cached(engine))


@needs_spark
def test_cli_run_with_the_spark_engine_ends_with_the_report(spark_run: SparkRun, shop: pd.DataFrame) -> None:
    out, data = spark_run.out, spark_run.data
    assert spark_run.exit_code == 0, spark_run.output
    assert str(out / "report.html") in spark_run.output.replace("\n", "")
    validation = json.loads((out / "validation.json").read_text())
    assert (validation["rows_read"], validation["rows_rejected"]) == (len(shop), 7)
    assert validation["rejected_by_reason"] == {"nonpositive_quantity": 7}
    assert validation["n_users"] == data.loc[data[C.Quantity] > 0, C.User].nunique()
    text = (out / "report.html").read_text()
    assert "no ingestion report" not in text and "No per-customer table" not in text
    assert "is missing from this run" not in text  # the plots
    assert text.count("data:image/png;base64,") >= 4 and "was not evaluated" not in text
    assert "--engine spark" in text  # the rerun command
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert [m["name"] for m in evaluation["models"]] == ["als", "popularity"] and evaluation["split"]["method"] == "temporal"
    assert (pd.read_parquet(out / "rejects")[C.RejectReason] == "nonpositive_quantity").sum() == 7
    segmentation = json.loads((out / "segmentation.json").read_text())
    assert segmentation["stability"]["seeds"]["runs"] and "not_computed" not in segmentation
    assert (out / "id_maps" / "users.parquet").is_dir() and (out / "bundle" / "manifest.json").is_file()
    assert spark_run.cached_after == 0  # everything the run cached is released


@needs_spark
def test_reads_pandas_parquet_with_nanosecond_timestamps(engine, shop: pd.DataFrame, tmp_path: Path) -> None:
    """``segrec generate`` and pandas write TIMESTAMP(NANOS), which Spark 4 refuses by default."""
    source = tmp_path / "shop.parquet"
    shop.to_parquet(source, index=False)  # pandas' default: nanosecond timestamps
    got = engine.load(str(source)).select(C.User, C.Date).toPandas()
    expected = shop[[C.User, C.Date]].dropna()
    assert len(got) == len(expected)
    assert sorted(pd.to_datetime(got[C.Date]).dt.floor("us").tolist()) == sorted(expected[C.Date].dt.floor("us").tolist())
