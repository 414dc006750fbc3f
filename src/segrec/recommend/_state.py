"""Pickle-free state for models whose learned attributes are plain arrays.

``get_state()`` returns ``(config, arrays)``: a JSON-ready config (class name and constructor parameters)
and a dict of numpy arrays, so a bundle can write ``manifest.json`` plus ``arrays.npz`` and load it with
``allow_pickle=False``. ``from_state(config, arrays, dataset)`` checks the class name first: loading one
model's state into another class is a :class:`TypeError`, not a silently wrong model.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np

from ..features.interactions import Dataset


class ArrayStateMixin:
    """Mixin for :class:`~segrec.recommend.base.Recommender` subclasses listing their learned arrays."""

    #: Names of the learned attributes (ending in ``_``) saved by :meth:`get_state`.
    _state_arrays: ClassVar[tuple[str, ...]] = ()

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Config (class and parameters) and learned arrays of a fitted model."""
        self.check_fitted()  # type: ignore[attr-defined]
        config = {"class": type(self).__name__, "params": self.get_params()}  # type: ignore[attr-defined]
        return config, {name: np.asarray(getattr(self, name)) for name in self._state_arrays}

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, np.ndarray], dataset: Dataset) -> Self:
        """Rebuild a fitted model from :meth:`get_state` output and the dataset it was fitted on."""
        if config.get("class") != cls.__name__:
            raise TypeError(f"state of a {config.get('class')!r} cannot be loaded into {cls.__name__}")
        missing = [name for name in cls._state_arrays if name not in arrays]
        if missing:
            raise TypeError(f"{cls.__name__} state lacks array(s) {missing}")
        model = cls(**config.get("params", {}))
        for name in cls._state_arrays:
            setattr(model, name, np.asarray(arrays[name]))
        model.dataset_ = dataset  # type: ignore[attr-defined]
        return model
