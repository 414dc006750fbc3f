"""Recommenders: interactions data, the common contract, and the models."""

from .base import Recommender
from .data import Dataset, IdMap

__all__ = ["Dataset", "IdMap", "Recommender"]
