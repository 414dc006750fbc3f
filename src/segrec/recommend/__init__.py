"""Recommenders: interactions data, the common contract, and the models.

>>> from segrec.recommend import HybridRecommender
"""

from ..features.interactions import Dataset, IdMap
from .base import Recommender
from .collaborative import LightFMRecommender
from .content import ContentRecommender
from .hybrid import HybridRecommender
from .side_features import FeatureEncoder, item_encoder, user_encoder

__all__ = [
    "ContentRecommender",
    "Dataset",
    "FeatureEncoder",
    "HybridRecommender",
    "IdMap",
    "LightFMRecommender",
    "Recommender",
    "item_encoder",
    "user_encoder",
]
