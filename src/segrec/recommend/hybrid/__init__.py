"""The hybrid recommender, one module per stage (see :mod:`.model` for the flow).

>>> from segrec.recommend.hybrid import HybridRecommender
"""

from .explain import REASON_PEERS, REASON_POPULAR, REASON_REPEAT, REASON_SEGMENT, REASON_SIMILAR
from .model import HybridRecommender
from .signals import ALL_SIGNALS, REPEAT_SIGNALS, SIGNALS

__all__ = ["ALL_SIGNALS", "REASON_PEERS", "REASON_POPULAR", "REASON_REPEAT", "REASON_SEGMENT", "REASON_SIMILAR",
           "REPEAT_SIGNALS", "SIGNALS", "HybridRecommender"]
