"""Plain words for the names people read in the report, its charts and the dashboard, defined once.

Registry names (``segment_popularity``, ``lightfm_original``) and column names (``recency_days``) are for code;
a manager reads "Segment best-sellers" and "Days since last order". A name without a label shows as itself.
"""

from __future__ import annotations

from ..columns import Columns

__all__ = ["FEATURE_LABELS", "METRIC_LABELS", "feature_label", "metric_label", "model_label"]

C = Columns

MODEL_LABELS = {
    "popularity": "Best-sellers",
    "segment_popularity": "Segment best-sellers",
    "buy_again": "Buy again (own past purchases)",
    "lightfm_original": "LightFM, original set-up",
    "als": "Matrix factorisation (ALS)",
    "ease": "Item-to-item (EASE)",
    "content": "Similar product text",
    "lightfm": "LightFM with features",
    "hybrid": "Hybrid",
}
FEATURE_LABELS = {
    C.Spending: "Spend", C.Frequency: "Orders", C.Recency: "Days since last order", C.Tenure: "Days as customer",
    C.AvgBasket: "Basket", C.Age: "Age", C.Income: "Income", C.Clicks: "Clicks", C.TimeSpent: "Minutes on site",
    C.Engagement: "Engagement", C.AbandonRate: "Abandoned carts",
}
#: Metric keys (without ``@k``) as the report's tables and chart legends name them.
METRIC_LABELS = {
    "precision": "Precision", "recall": "Recall", "ndcg": "NDCG", "map": "MAP", "hit_rate": "Hit rate",
    "mrr": "MRR", "auc": "AUC", "coverage": "Coverage", "diversity": "Diversity", "novelty": "Novelty",
}


def model_label(name: str) -> str:
    return MODEL_LABELS.get(name, name.replace("_", " "))


def feature_label(name: str) -> str:
    return FEATURE_LABELS.get(name, name.replace("_", " "))


def metric_label(name: str) -> str:
    """``precision@10`` -> ``Precision@10``; the same words in every table, chart and legend."""
    base, at, k = name.partition("@")
    return METRIC_LABELS.get(base, base.replace("_", " ")) + at + k
