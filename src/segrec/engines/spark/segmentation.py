"""K-Means segmentation in Spark with the local engine's preprocessing, k rule, model and profiles.

Steps, each the distributed twin of :mod:`segrec.segment.segmenter` / :mod:`segrec.segment.selection`:

* fill missing values with the median, winsorise at the same quantiles (``approxQuantile``, relative error
  ``quantile_error``; 0 gives exact order statistics, the local engine interpolates between them), ``log1p``
  the money and count columns, standardise (population standard deviation);
* sweep k with ``pyspark.ml.clustering.KMeans`` on a seeded sample of at most ``sample_size`` customers:
  inertia is the model's training cost, Calinski-Harabasz, Davies-Bouldin and the smallest segment's share are
  Spark aggregations over the sample; the silhouette is scikit-learn's on ``silhouette_sample`` collected rows,
  because Spark's ``ClusteringEvaluator`` only offers squared-Euclidean or cosine silhouettes, whose values
  the rule's tolerance was not calibrated for (its squared-Euclidean value is reported beside it);
* choose k with the same rule (:func:`segrec.segment.selection.choose_k`, elbow by kneed);
* fit the final K-Means on every customer, relabel segments by descending revenue, and build a
  :class:`segrec.segment.segmenter.Segmenter` from the learned numbers, so the bundle and the API assign new
  customers exactly as they would with a locally trained model;
* profiles: only the per-segment aggregates (a few rows) are collected, then named with
  :data:`segrec.segment.profiles.RULES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from kneed import KneeLocator
from sklearn.metrics import silhouette_score

from ...columns import Columns
from ...exceptions import InputError
from ...segment.profiles import name_from_medians
from ...segment.segmenter import DEFAULT_FEATURES, LOG_FEATURES, STATE_VERSION, Segmenter
from ...segment.selection import KMetrics, KSweep, Stability, choose_k, stability
from .features import line_spending

__all__ = ["STABILITY_SAMPLE", "SWEEP_PARALLELISM", "fit_segments", "preprocess", "segment_profiles", "stability_on_sample",
           "sweep_k"]

C = Columns
VECTOR = "z"
#: Customers the stability check refits on (the local check's own ``sample_size``).
STABILITY_SAMPLE = 50_000
#: K-Means fits of the k sweep run at once (driver threads): a 2..10 sweep of the 300-customer test shop
#: (local[2], load 2.6-5.6 on 2 cores, two rounds) took 28.7 / 21.4 s with 2, 20.3 / 17.3 s with 3 and
#: 21.6 / 19.8 s with 4 (one at a time: 32.8 s, load ~4).
SWEEP_PARALLELISM = 3


@dataclass(frozen=True)
class Preprocessed:
    frame: Any  # user_id, total_spending, z (vector)
    features: list[str]
    arrays: dict[str, np.ndarray]


def preprocess(features: Any, columns: Sequence[str] | None = None, *,
               cap_quantiles: tuple[float, float] = (0.01, 0.99), quantile_error: float = 1e-4) -> Preprocessed:
    """Median-fill, winsorise, log1p and standardise the feature columns; add the vector column ``z``."""
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    wanted = DEFAULT_FEATURES if columns is None else tuple(columns)
    present = [f for f in wanted if f in features.columns]
    absent = [f for f in wanted if f not in features.columns]
    if columns is not None and absent:
        raise InputError(f"feature(s) {absent} not in the customer table; available: {features.columns}")
    if not present:
        raise InputError(f"none of the features {list(wanted)} is in the customer table")
    row = features.agg(*[F.median(F.col(f).cast("double")).alias(f) for f in present]).first()
    fill = np.array([0.0 if row[f] is None else float(row[f]) for f in present])
    filled = features.select(C.User, *[F.coalesce(F.col(f).cast("double"), F.lit(float(v))).alias(f)
                                       for f, v in zip(present, fill, strict=True)])
    if C.Spending not in present:
        filled = filled.join(features.select(C.User, C.Spending), C.User)
    bounds = filled.approxQuantile(present, list(cap_quantiles), quantile_error)
    lower = np.array([b[0] for b in bounds]) if bounds and bounds[0] else fill
    upper = np.array([b[1] for b in bounds]) if bounds and bounds[0] else fill
    log = np.array([f in LOG_FEATURES for f in present])

    def transformed(i: int, f: str) -> Any:
        capped = F.least(F.greatest(F.col(f), F.lit(float(lower[i]))), F.lit(float(upper[i])))
        return F.log1p(F.greatest(capped, F.lit(0.0))) if log[i] else capped

    z = filled.select(C.User, F.col(C.Spending).alias("_revenue"),
                      *[transformed(i, f).alias(f) for i, f in enumerate(present)])
    moments = z.agg(*[F.avg(f).alias(f"m{i}") for i, f in enumerate(present)],
                    *[F.stddev_pop(f).alias(f"s{i}") for i, f in enumerate(present)]).first()
    mean = np.array([moments[f"m{i}"] for i in range(len(present))], dtype=float)
    std = np.array([moments[f"s{i}"] or 0.0 for i in range(len(present))], dtype=float)
    scale = np.where(std > 0, std, 1.0)
    scaled = F.array(*[(F.col(f) - float(mean[i])) / float(scale[i]) for i, f in enumerate(present)])
    out = z.select(C.User, "_revenue", array_to_vector(scaled).alias(VECTOR))
    return Preprocessed(out, present, {"fill": fill, "lower": lower, "upper": upper, "log": log, "mean": mean,
                                       "scale": scale})


def _kmeans(k: int, seed: int, max_iter: int) -> Any:
    from pyspark.ml.clustering import KMeans

    return KMeans(k=k, seed=seed, maxIter=max_iter, featuresCol=VECTOR, predictionCol="_cluster", tol=1e-6)


def _cluster_stats(predicted: Any, centers: np.ndarray) -> pd.DataFrame:
    """Per cluster: size and mean Euclidean distance to its centre (a Spark aggregation)."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    table = F.array(*[F.array(*[F.lit(float(x)) for x in c]) for c in centers])
    centre = F.element_at(table, F.col("_cluster") + 1)
    diff = F.zip_with(vector_to_array(F.col(VECTOR)), centre, lambda a, b: (a - b) * (a - b))
    dist = F.sqrt(F.aggregate(diff, F.lit(0.0), lambda acc, x: acc + x))
    rows = predicted.groupBy("_cluster").agg(F.count("*").alias("n"), F.avg(dist).alias("spread")).toPandas()
    return rows.set_index("_cluster").reindex(range(len(centers))).fillna(0.0)


def _metrics(predicted: Any, model: Any, k: int, seed: int, silhouette_sample: int) -> tuple[KMetrics, float]:
    from pyspark.ml.evaluation import ClusteringEvaluator
    from pyspark.ml.functions import vector_to_array

    centers = np.array(model.clusterCenters())
    stats = _cluster_stats(predicted, centers)
    n = stats["n"].to_numpy(float)
    total = n.sum()
    within = float(model.summary.trainingCost)
    grand = (centers * n[:, None]).sum(axis=0) / total
    between = float((n * ((centers - grand) ** 2).sum(axis=1)).sum())
    ch = (between / (k - 1)) / (within / (total - k)) if within > 0 and total > k else float("inf")
    spread = stats["spread"].to_numpy(float)
    gaps = np.sqrt(((centers[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2))
    np.fill_diagonal(gaps, np.inf)
    db = float(np.mean(np.max((spread[:, None] + spread[None, :]) / gaps, axis=1)))
    fraction = min(1.0, 1.2 * silhouette_sample / total)
    sample = (predicted.sample(fraction=fraction, seed=seed).limit(silhouette_sample)
              .select(vector_to_array(VECTOR).alias("v"), "_cluster").toPandas())
    data, labels = np.vstack(sample["v"].to_numpy()) if len(sample) else np.empty((0, 1)), sample["_cluster"].to_numpy()
    silhouette = (float(silhouette_score(data, labels, random_state=seed))
                  if 1 < len(np.unique(labels)) < len(labels) else -1.0)
    spark_sil = float(ClusteringEvaluator(featuresCol=VECTOR, predictionCol="_cluster").evaluate(predicted))
    return KMetrics(k=k, inertia=within, silhouette=silhouette, calinski_harabasz=float(ch),
                    davies_bouldin=db, min_share=float(n.min() / total)), spark_sil


def sweep_k(pre: Preprocessed, ks: Sequence[int] = range(2, 11), *, random_state: int = 42,
            sample_size: int | None = 100_000, silhouette_sample: int = 4_000, max_iter: int = 300,
            min_share: float = 0.02, tolerance: float = 0.02,
            parallelism: int = SWEEP_PARALLELISM) -> tuple[KSweep, dict[int, float]]:
    """Fit Spark K-Means for each k on a seeded sample; score and choose k by the local engine's rule.

    The k values are fitted and scored by ``parallelism`` driver threads at once (as ``pyspark.ml.tuning``'s
    ``parallelism`` does): each fit is seeded and reads the same cached sample, so it is the fit it would be
    one at a time (Spark sums a fit's cost in the order its tasks end either way, so the inertia's last bits
    may differ between runs), while the many small jobs of one fit (an iteration is a job) no longer leave
    the executors idle between them (timings of 1 to 4 threads at :data:`SWEEP_PARALLELISM`).
    """
    from pyspark import inheritable_thread_target

    ks = sorted(set(int(k) for k in ks))
    if len(ks) < 2 or ks[0] < 2:
        raise InputError(f"sweep k values {ks}: need at least two values, each >= 2")
    n = pre.frame.count()
    data = pre.frame
    if sample_size is not None and n > sample_size:
        data = data.sample(fraction=sample_size / n, seed=random_state)
    data = data.cache()
    if data.count() <= ks[-1]:
        raise InputError(f"{data.count()} customers are too few to sweep k up to {ks[-1]}")

    def fit_and_score(k: int) -> tuple[KMetrics, float]:
        model = _kmeans(k, random_state, max_iter).fit(data)
        predicted = model.transform(data).cache()  # read by three metrics: transformed once
        try:
            return _metrics(predicted, model, k, random_state, silhouette_sample)
        finally:
            predicted.unpersist()

    try:
        with ThreadPoolExecutor(max(1, min(parallelism, len(ks)))) as pool:
            scored = list(pool.map(inheritable_thread_target(fit_and_score), ks))
    finally:
        data.unpersist()
    metrics = [m for m, _ in scored]
    spark_sil = {k: s for k, (_, s) in zip(ks, scored, strict=True)}
    knee = KneeLocator(ks, [m.inertia for m in metrics], curve="convex", direction="decreasing").knee
    knee = None if knee is None else int(knee)
    chosen, why = choose_k(metrics, knee, min_share=min_share, tolerance=tolerance)
    return KSweep(metrics, knee, chosen, why), spark_sil


def fit_segments(pre: Preprocessed, k: int, *, random_state: int = 42, max_iter: int = 300,
                 cap_quantiles: tuple[float, float] = (0.01, 0.99), features: Sequence[str] | None = None,
                 ) -> tuple[Any, Segmenter]:
    """Final K-Means on every customer; segments relabelled by descending revenue; the model as a Segmenter."""
    from pyspark.sql import functions as F

    model = _kmeans(k, random_state, max_iter).fit(pre.frame)
    predicted = model.transform(pre.frame)
    value = predicted.groupBy("_cluster").agg(F.sum("_revenue").alias("v")).toPandas().set_index("_cluster")["v"]
    value = value.reindex(range(k)).fillna(0.0).to_numpy()
    order = np.lexsort((np.arange(k), -value))  # as segrec.segment.segmenter.value_order
    relabel = np.argsort(order)
    mapping = F.element_at(F.array(*[F.lit(int(x)) for x in relabel]), F.col("_cluster") + 1)
    segments = predicted.select(C.User, mapping.alias(C.Segment))
    centers = np.array(model.clusterCenters())[order]
    params = Segmenter(n_clusters=k, features=None if features is None else list(features),
                       cap_quantiles=cap_quantiles, max_iter=max_iter, random_state=random_state).get_params()
    params["cap_quantiles"] = list(cap_quantiles)
    meta = {"type": "Segmenter", "version": STATE_VERSION, "params": params, "features": pre.features,
            "inertia": float(model.summary.trainingCost)}
    return segments, Segmenter.from_state(meta, {**pre.arrays, "centers": centers})


def stability_on_sample(features: Any, model: Segmenter, *, n: int, seed: int = 42,
                        sample_size: int = STABILITY_SAMPLE) -> Stability:
    """The local engine's stability check (:func:`segrec.segment.selection.stability`: the same seeds, the same
    bootstraps, the same refits) on a seeded sample of at most ``sample_size`` customers collected to the
    driver, sorted by id; with fewer customers than that, on all of them, exactly as the local engine does.
    The reference labels are the Spark model's (the exported :class:`Segmenter`); the refits are
    scikit-learn's K-Means on the sample, as in the local check."""
    data = features
    if n > sample_size:
        data = data.sample(fraction=min(1.0, 1.2 * sample_size / n), seed=seed).limit(sample_size)
    rows = data.orderBy(C.User).drop(C.User).toPandas()  # no customer id is collected
    return stability(rows, model, random_state=seed, sample_size=sample_size)


def segment_profiles(features: Any, segments: Any, events: Any | None = None, *, top_n: int = 3) -> pd.DataFrame:
    """The local profile table (name, action, size, revenue, mean_/median_ per feature, top categories) from
    per-segment aggregates computed in Spark."""
    from pyspark.sql import functions as F

    numeric = [f for f, t in features.dtypes if f != C.User and t in ("double", "bigint", "int", "boolean")]
    joined = features.join(segments, C.User)
    value = {f: F.col(f).cast("double") for f in numeric}
    per = joined.groupBy(C.Segment).agg(
        F.count("*").alias(C.Size), *[F.avg(v).alias(f"mean_{f}") for f, v in value.items()],
        *[F.median(v).alias(f"median_{f}") for f, v in value.items()]).toPandas().set_index(C.Segment).sort_index()
    population = features.agg(*[F.median(v).alias(f) for f, v in value.items()]).toPandas().iloc[0]
    medians = per[[f"median_{f}" for f in numeric]].set_axis(numeric, axis=1).astype("float64")
    table = name_from_medians(medians, population.astype("float64"))[[C.SegmentName, C.Action, "rule"]]
    table[C.Size] = per[C.Size].astype("int64")
    table[C.Share] = table[C.Size] / table[C.Size].sum()
    table[C.Revenue] = per[f"mean_{C.Spending}"] * per[C.Size]
    table[C.RevenueShare] = table[C.Revenue] / table[C.Revenue].sum()
    table = table.join(per[[c for c in per.columns if c.startswith("mean_")]])
    table = table.join(per[[c for c in per.columns if c.startswith("median_")]])
    if events is not None:
        table[C.TopCategories] = _top_categories(events, segments, top_n)
    table.index.name = C.Segment
    return table


def _top_categories(events: Any, segments: Any, top_n: int) -> pd.Series:
    from pyspark.sql import functions as F

    by = C.Category
    if by not in events.columns or events.where(F.coalesce(F.col(by), F.lit("unknown")) != "unknown").isEmpty():
        by = C.ItemName if C.ItemName in events.columns else C.Item
    totals = (events.select(C.User, F.col(by).cast("string").alias("_by"), line_spending(events).alias("_spend"))
              .join(segments, C.User).groupBy(C.Segment, "_by").agg(F.sum("_spend").alias("_spend")))
    ranked = totals.withColumn("_share", F.col("_spend") / F.sum("_spend").over(_window(C.Segment)))
    rows = (ranked.withColumn("_r", F.row_number().over(_window(C.Segment).orderBy(F.desc("_share"), "_by")))
            .where(F.col("_r") <= top_n).toPandas().sort_values([C.Segment, "_r"]))
    return pd.Series({int(s): "; ".join(f"{n} ({v:.0%})" for n, v in zip(p["_by"], p["_share"], strict=True))
                      for s, p in rows.groupby(C.Segment)}, dtype="string")


def _window(*partition: str) -> Any:
    from pyspark.sql import Window

    return Window.partitionBy(*partition)
