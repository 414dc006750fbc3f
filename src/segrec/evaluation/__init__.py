"""Honest offline evaluation: splits that do not leak, metrics with stated definitions, one runner for all models.

>>> from segrec.evaluation import temporal_split, evaluate
"""

from .beyond import catalogue_coverage, intra_list_diversity, item_text_vectors, novelty
from .metrics import (
    auc_from_ranks,
    average_precision_at_k,
    hit_rate_at_k,
    hits_at_k,
    ndcg_at_k,
    positive_ranks,
    precision_at_k,
    recall_at_k,
    reciprocal_rank_from_ranks,
    topk_metrics,
)
from .runner import (
    EvaluationResult,
    ModelResult,
    evaluate,
    evaluate_modes,
    events_fingerprint,
    fit_segments,
    metric_names,
)
from .splits import Split, default_cutoff, explicit_split, last_n_split, random_split, temporal_split
from .tables import markdown_table, rich_table

__all__ = [
    "EvaluationResult",
    "ModelResult",
    "Split",
    "auc_from_ranks",
    "average_precision_at_k",
    "catalogue_coverage",
    "default_cutoff",
    "evaluate",
    "evaluate_modes",
    "events_fingerprint",
    "explicit_split",
    "fit_segments",
    "hit_rate_at_k",
    "hits_at_k",
    "intra_list_diversity",
    "item_text_vectors",
    "last_n_split",
    "markdown_table",
    "metric_names",
    "ndcg_at_k",
    "novelty",
    "positive_ranks",
    "precision_at_k",
    "random_split",
    "recall_at_k",
    "reciprocal_rank_from_ranks",
    "rich_table",
    "temporal_split",
    "topk_metrics",
]
