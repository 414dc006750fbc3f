"""Every model by name, and the one way to build one from a config.

The CLI, the API and the bundle build models only through :func:`model_from_config`, so a config written
to disk (``{"name": "ease", "params": {"regularization": 300}}``) always rebuilds the same model, and an
unknown name or parameter fails with a message listing what is valid. Classes are imported on first use:
a model whose module is missing (or whose optional dependency is) does not break the others.

>>> model_from_config({"name": "ease", "params": {"regularization": 100.0}})
EASERecommender(regularization=100.0)
>>> model_config(model_from_config("popularity"))
{'name': 'popularity', 'params': {}}
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator, Mapping
from typing import Any

from ..exceptions import InputError, SegrecError
from ..modes import BUY_AGAIN, MODES
from .base import Recommender

__all__ = ["MODELS", "MODES", "available_models", "model_config", "model_from_config", "models_for_mode"]

_BASELINES = "segrec.recommend.baselines"
_ENTRIES: dict[str, tuple[str, str]] = {
    "popularity": (_BASELINES, "PopularityRecommender"),
    "segment_popularity": (_BASELINES, "SegmentPopularityRecommender"),
    "buy_again": (_BASELINES, "BuyAgainRecommender"),
    "lightfm_original": (_BASELINES, "LightFMOriginalRecommender"),
    "als": (_BASELINES, "ALSRecommender"),
    "ease": (_BASELINES, "EASERecommender"),
    "content": ("segrec.recommend.content", "ContentRecommender"),
    "lightfm": ("segrec.recommend.collaborative", "LightFMRecommender"),
    "hybrid": ("segrec.recommend.hybrid.model", "HybridRecommender"),
}

# Models that only make sense in some modes (buy_again ranks the user's own products first).
_ONLY_IN: dict[str, tuple[str, ...]] = {"buy_again": (BUY_AGAIN,)}


class _LazyModels(Mapping[str, type[Recommender]]):
    """``name -> class``, importing each class on first access."""

    def __getitem__(self, name: str) -> type[Recommender]:
        if name not in _ENTRIES:
            raise KeyError(name)
        module, attr = _ENTRIES[name]
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise SegrecError(f"model {name!r} is not available ({module}.{attr}: {exc})") from exc

    def __contains__(self, name: object) -> bool:  # registered, whether or not it imports
        return name in _ENTRIES

    def __iter__(self) -> Iterator[str]:
        return iter(_ENTRIES)

    def __len__(self) -> int:
        return len(_ENTRIES)


MODELS: Mapping[str, type[Recommender]] = _LazyModels()


def available_models() -> list[str]:
    """Names whose class imports in this installation (in registry order)."""
    names = []
    for name in _ENTRIES:
        try:
            MODELS[name]
        except SegrecError:
            continue
        names.append(name)
    return names


def models_for_mode(mode: str) -> list[str]:
    """Available models that apply to ``mode`` (``buy_again`` only to "buy-again")."""
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    return [name for name in available_models() if mode in _ONLY_IN.get(name, MODES)]


def model_from_config(name_or_config: str | Mapping[str, Any], **params: Any) -> Recommender:
    """Build a model from a name or ``{"name": ..., "params": {...}}``; keyword ``params`` override the config's."""
    if isinstance(name_or_config, str):
        name, base = name_or_config, {}
    else:
        extra = set(name_or_config) - {"name", "params"}
        if "name" not in name_or_config or extra:
            raise InputError(f"a model config has keys 'name' and 'params' only, got {sorted(name_or_config)}")
        name, base = name_or_config["name"], dict(name_or_config.get("params") or {})
    if name not in _ENTRIES:
        raise InputError(f"unknown model {name!r}; choose one of {', '.join(_ENTRIES)}")
    cls = MODELS[name]
    merged = {**base, **params}
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(merged) - set(valid))
    if unknown:
        raise InputError(f"model {name!r} has no parameter(s) {unknown}; valid: {', '.join(valid) or '(none)'}")
    return cls(**merged)


def model_config(model: Recommender) -> dict[str, Any]:
    """The config that rebuilds ``model`` with :func:`model_from_config` (every parameter, so a later change
    of defaults does not change what a saved config builds)."""
    cls = type(model)
    for name, (module, attr) in _ENTRIES.items():
        if cls.__module__ == module and cls.__name__ == attr:
            return {"name": name, "params": model.get_params()}
    raise InputError(f"{cls.__name__} is not a registered model; register it in segrec.recommend.registry")
