"""Canonical frame -> features: per-customer features (spending, frequency, recency, demographics, engagement),
RFM scores, and the interactions :class:`Dataset` with its :class:`IdMap` (used by recommend, evaluation, the
bundle and the Spark engine).

>>> from segrec.features import customer_features, Dataset
"""

from .customers import CustomerFeatures, build_customer_features, customer_features
from .interactions import Dataset, IdMap
from .rfm import rfm_table

__all__ = ["CustomerFeatures", "Dataset", "IdMap", "build_customer_features", "customer_features", "rfm_table"]
