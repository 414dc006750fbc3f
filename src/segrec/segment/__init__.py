"""Customer segmentation: the K-Means :class:`Segmenter`, the choice of k and the stability check, and the
segment profiles and names.

>>> from segrec.segment import Segmenter
"""

from .profiles import name_segments, segment_profiles
from .segmenter import FeaturePreprocessor, Segmenter
from .selection import KSweep, Stability, choose_k, stability, sweep_k

__all__ = ["FeaturePreprocessor", "KSweep", "Segmenter", "Stability", "choose_k", "name_segments",
           "segment_profiles", "stability", "sweep_k"]
