"""The hybrid recommender: named stages from signals to an explained, diversified top-k.

Stages (LensKit's candidate selector -> scorer -> ranker -> re-ranker):

1. **signals**: LightFM WARP (user and item side features), EASE item-item, TF-IDF content similarity to the
   user's recency-weighted history, the user's profile over words shared across the catalogue
   (:meth:`~segrec.recommend.ContentRecommender.profile_scores`), category mix x share in category, 7-day
   trend, all-time popularity,
   popularity in the user's segment and in their demographic group; each z-scored per user;
2. **blend**: a weighted sum, the weights tuned at fit time on the last 10% of the training period (see
   :class:`HybridRecommender`), plus the repeat signal in buy-again mode;
3. **candidates**: the top ``pool_size`` of the blend (bought items removed in discover mode);
4. **rank** (discover mode): a logistic regression fitted on the same validation slice re-orders the pool
   (:mod:`segrec.recommend._ranker`: per-user weights that grow or shrink with the length of the history, logs
   of the multiplicative signals and one weight per shared word of the content profile); kept only when,
   cross-fitted over two halves of the validation users, it beats the blend there;
5. **re-rank**: maximal marginal relevance with content similarity (``mmr_lambda`` = 1 turns it off);
6. **explain**: each row gets a reason (see :meth:`HybridRecommender.recommend`).

``score`` returns, for every item, what ``recommend_idx`` ranks by before MMR, so AUC and MRR (which the
evaluation computes from ``score`` in the mode it judges) describe what is recommended: the blend (finite;
bought items with their repeat term) in buy-again mode and, with ``filter_seen=True``, without a ranker;
with one, ``score(..., filter_seen=True)`` gives the blend's top ``pool_size`` unbought items the ranker's
score and shifts every other item below them, blend order kept (its top k is ``recommend_idx``'s with
``mmr_lambda`` = 1, for k <= ``pool_size``).

Tuning finds different blends on different shops (``benchmarks/quality.py``: k=10, temporal cut two months
before the end, discover mode). The generated shop ends with LightFM 2.0 + profile 1.0 + EASE 0.5 + trend 1.0
and a little content and category (fits differ a little); the blend alone reaches P@10 0.086-0.088 /
NDCG@10 0.189-0.193, the ranker on top 0.0914-0.0924 / 0.202-0.204 over ``random_state`` 1-8 and 42
(``benchmarks/hybrid_seeds.py --seeds ...``), 2.07-2.09x popularity's 0.0442, against EASE's 0.080 and
segment popularity by each customer's true persona 0.081. What the ranker adds there is mostly the per-word
weights: the words of the product lines ("eco", "premium", ...) get weight, filler words none, where the
profile signal averages every shared word. Online Retail, a seasonal gift wholesaler, ends with content +
7-day trend (with LightFM at 1.0 in some fits): P@10 0.116-0.118 / NDCG@10 0.142-0.144 against 0.110 / 0.144 for the blend alone and
0.084 / 0.104 for EASE. ``w_repeat`` (3, relative to the blend's total weight) is set by hand: buy-again P@10
0.315-0.317 on Online Retail (buy-again baseline 0.283), 0.201-0.206 on the shop (buy-again baseline 0.180).
The ranker adds ~4 CPU-seconds to a fit on either (three logistic regressions of ~1 s and their features).

MMR trade-off (discover P@10 / NDCG@10 / intra-list diversity, one fit re-ranked, same harness):

======  ===========================  ===========================
lambda  Online Retail                generated shop
======  ===========================  ===========================
1.0     0.1184 / 0.1423 / 0.907      0.0915 / 0.2027 / 0.926
0.95    0.1184 / 0.1424 / 0.917      0.0914 / 0.2027 / 0.931
0.9     0.1181 / 0.1425 / 0.925      0.0913 / 0.2023 / 0.936
0.8     0.1166 / 0.1418 / 0.941      0.0909 / 0.2010 / 0.945
======  ===========================  ===========================

The default 0.95 costs nothing measurable in P@10 on either shop for +0.005-0.010 diversity; 0.8 would cost
1.5% on Online Retail for +0.034.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterable
from typing import Any, Literal, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import clone

from ..columns import Columns
from ..exceptions import InputError, SegrecWarning
from ._item_item import ease_weights
from ._ranker import LOG_SIGNALS, LinearRanker, RankerInputs, feature_names, fit_ranker, sample_pool
from ._signals import (
    Validation,
    category_model,
    category_scores,
    demographic_groups,
    popularity_prior,
    ranking_objective,
    repeat_signal,
    search_weights,
    segment_favourites,
    segment_of,
    segment_popularity,
    segment_scores,
    standardise,
    trend_prior,
    validation_split,
)
from ._topk import top_k
from .base import Recommender, mask_seen
from .collaborative import LightFMRecommender
from .content import ContentRecommender
from .data import Dataset

__all__ = ["HybridRecommender"]

REASON_SIMILAR = "similar to {name}"
REASON_SEGMENT = "popular with {segment}"
REASON_PEERS = "people like you bought this"
REASON_REPEAT = "you bought this before"
REASON_POPULAR = "popular right now"

_SCALARS = (
    "pool_size", "ease_lambda", "ease_max_items", "ease_keep", "w_cf", "w_item", "w_content", "w_trend",
    "w_popularity", "w_segment", "w_category", "w_peers", "w_profile", "trend_days", "w_repeat",
    "repeat_half_life_days", "tune", "rank", "validation_fraction", "tune_users", "refit_epochs", "mmr_lambda",
    "random_state", "num_threads",
)
#: Blend inputs, each z-scored per user; ``repeat`` is added on top in buy-again mode.
SIGNALS = ("cf", "item", "content", "profile", "category", "trend", "popularity", "segment", "peers")
#: Values tried for each weight by the coordinate search (the blend is scale-free, so relative values suffice).
WEIGHT_GRID = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)
MIN_GAIN = 0.005  # relative gain of the validation objective a weight change must bring to be kept
MIN_TUNE_USERS = 30  # fewer validation users than this: keep the given weights


class HybridRecommender(Recommender):
    """LightFM, EASE, TF-IDF content, trend, popularity and segment signals in a self-tuned blend, MMR re-ranking,
    reasons, cold start.

    Parameters
    ----------
    collaborative, content : estimators or None
        Prototypes of the parts (cloned in ``fit``); None builds the defaults (LightFM WARP with user and item
        side features, 64 components, 10 epochs, then ``refit_epochs`` on all the data when tuning; TF-IDF
        words + character n-grams).
    pool_size : int
        Candidates re-ranked by MMR.
    ease_lambda : float or None
        EASE regularisation (None: no item-item scorer); ``ease_max_items`` and ``ease_keep`` bound its cost.
    w_cf, w_item, w_content, w_profile, w_category, w_trend, w_popularity, w_segment, w_peers, w_repeat : float
        Blend weights of LightFM, EASE, content neighbours, the content profile, category mix, trend (buyers
        in the last ``trend_days``), all-time popularity, popularity within the user's segment and within
        their demographic group, and (buy-again mode only) the repeat signal. With ``tune`` they are the
        starting point of the search; the weights in use are ``weights_``.
    tune : bool
        Choose the weights at fit time on a validation slice (see below).
    rank : bool
        With ``tune``, also fit the learned second stage that re-orders the discover pool (see below).
    validation_fraction : float in (0, 0.5]
        Share of the training period (from its end) held out for tuning.
    tune_users : int
        Validation users scored by the search (a random sample; bounds its cost).
    refit_epochs : int
        LightFM epochs on all the data after tuning (warm start of the model fitted without the slice; 0:
        refit from scratch).
    trend_days, repeat_half_life_days : float
        Window of the trend prior; half-life of the repeat signal.
    mmr_lambda : float in (0, 1]
        MMR trade-off: 1 ranks by relevance only; lower values demote items similar to ones already listed.

    Notes
    -----
    **Self-tuned blend.** Hand-set weights do not travel: tuned on Online Retail (a seasonal gift shop where the
    7-day trend is a strong signal), the blend lost to segment popularity and LightFM on the generated shop.
    ``fit`` therefore holds out the last ``validation_fraction`` of the training period (pairs first bought
    there are the targets), fits the parts once on the rest, caches each signal for ``tune_users`` validation
    users, and runs a coordinate search over ``WEIGHT_GRID`` for each weight (two rounds, objective P@10 +
    NDCG@10 in discover mode; ~90 re-blends of cached scores, a change kept only when it gains more than
    0.5%). Pairs last bought in the slice leave the history the search sees, so no basket of the slice leaks
    into it; ``w_repeat`` cannot be tuned that way and stays as given. The parts are then refitted on all
    the data (EASE, priors) or brought up to date (LightFM, ``refit_epochs`` more epochs). ``tuning_``
    records the slice, the objective before and after and the number of blends tried.

    **Learned ranker.** With ``rank`` (default), the same validation users' pools (top ``pool_size`` of the
    tuned blend) train a logistic regression (targets: products first bought in the slice; every target and
    ~40 sampled other candidates per user). It is cross-fitted on two seeded halves of the users and kept
    only if it beats the blend on them (``tuning_["ranker"]``); then refitted on all of them and applied, in
    discover mode, to the signals of the parts refitted on all the data. ``ranker_`` (None when dropped) holds
    the feature names and one coefficient each; buy-again mode always ranks by the blend plus the repeat term.
    """

    def __init__(
        self,
        *,
        collaborative: LightFMRecommender | None = None,
        content: ContentRecommender | None = None,
        pool_size: int = 200,
        ease_lambda: float | None = 300.0,
        ease_max_items: int = 6000,
        ease_keep: int = 500,
        w_cf: float = 0.15,
        w_item: float = 1.0,
        w_content: float = 0.15,
        w_trend: float = 1.0,
        w_popularity: float = 0.0,
        w_segment: float = 0.0,
        w_category: float = 0.0,
        w_peers: float = 0.0,
        w_profile: float = 0.0,
        trend_days: float = 7.0,
        w_repeat: float = 3.0,
        repeat_half_life_days: float = 60.0,
        tune: bool = True,
        rank: bool = True,
        validation_fraction: float = 0.1,
        tune_users: int = 3000,
        refit_epochs: int = 3,
        mmr_lambda: float = 0.95,
        random_state: int | None = 42,
        num_threads: int | None = None,
    ) -> None:
        self.collaborative = collaborative
        self.content = content
        self.pool_size = pool_size
        self.ease_lambda = ease_lambda
        self.ease_max_items = ease_max_items
        self.ease_keep = ease_keep
        self.w_cf = w_cf
        self.w_item = w_item
        self.w_content = w_content
        self.w_trend = w_trend
        self.w_popularity = w_popularity
        self.w_segment = w_segment
        self.w_category = w_category
        self.w_peers = w_peers
        self.w_profile = w_profile
        self.trend_days = trend_days
        self.w_repeat = w_repeat
        self.repeat_half_life_days = repeat_half_life_days
        self.tune = tune
        self.rank = rank
        self.validation_fraction = validation_fraction
        self.tune_users = tune_users
        self.refit_epochs = refit_epochs
        self.mmr_lambda = mmr_lambda
        self.random_state = random_state
        self.num_threads = num_threads

    epoch_callback: Callable[[int, float | None], None] | None = None  # progress hook, not a parameter

    # ------------------------------------------------------------------------------------------ fitting
    def _given_weights(self) -> dict[str, float]:
        return {"cf": self.w_cf, "item": self.w_item, "content": self.w_content, "trend": self.w_trend,
                "popularity": self.w_popularity, "segment": self.w_segment, "category": self.w_category,
                "peers": self.w_peers, "profile": self.w_profile, "repeat": self.w_repeat}

    def _fit(self, dataset: Dataset) -> None:
        if not 0.0 < self.mmr_lambda <= 1.0:
            raise InputError(f"mmr_lambda must lie in (0, 1], got {self.mmr_lambda}")
        if self.pool_size < 1:
            raise InputError(f"pool_size must be >= 1, got {self.pool_size}")
        if not 0.0 < self.validation_fraction <= 0.5:
            raise InputError(f"validation_fraction must lie in (0, 0.5], got {self.validation_fraction}")
        self.content_ = (clone(self.content) if self.content is not None else ContentRecommender()).fit(dataset)
        self.weights_ = {name: float(value) for name, value in self._given_weights().items()}
        self.tuning_: dict[str, Any] = {"tuned": False}
        self.ranker_: LinearRanker | None = None
        cf = clone(self.collaborative) if self.collaborative is not None else LightFMRecommender(
            epochs=10, early_stopping=False, random_state=self.random_state, num_threads=self.num_threads)
        cf.epoch_callback = self.epoch_callback
        groups = demographic_groups(dataset, seed=self.random_state)
        if self.tune:
            validation = validation_split(dataset, self.validation_fraction, self.random_state)
            users = self._validation_users(validation)
            if len(users) >= MIN_TUNE_USERS:
                self._fit_parts(validation.train, cf.fit(validation.train), groups)
                self._tune(validation, users)
                if self.rank:
                    self._fit_ranker(validation, users)
                # bring LightFM up to date with a few more epochs on everything (not a second full fit)
                self._fit_parts(dataset, self.cf_.fit_more(dataset, self.refit_epochs) if self.refit_epochs > 0
                                else clone(cf).fit(dataset), groups)
                return
            self.tuning_["skipped"] = f"{len(users)} validation users (< {MIN_TUNE_USERS})"
        self._fit_parts(dataset, cf.fit(dataset), groups)

    def _fit_parts(self, dataset: Dataset, cf: LightFMRecommender, groups: np.ndarray) -> None:
        """Everything the signals with a weight read, fitted on ``dataset`` (content neighbours come from text
        only; ``groups``: demographic groups of the users, which the validation slice does not change)."""
        self.cf_ = cf
        binary = sp.csr_matrix(dataset.purchases > 0, dtype=np.float32)
        # a tuned blend without EASE skips its dense inverse (the most expensive step on Online Retail)
        needed = self.ease_lambda is not None and self.weights_.get("item", 0.0) != 0.0
        self.item_item_ = (ease_weights(binary, self.ease_lambda, max_items=self.ease_max_items, keep=self.ease_keep)
                           if needed else sp.csr_matrix(binary.shape[1:] * 2, dtype=np.float32))
        self.trend_ = trend_prior(dataset, self.trend_days)
        self.popularity_ = popularity_prior(dataset)
        self.segment_popularity_, self.user_segment_ = segment_popularity(dataset)
        self.peer_popularity_, self.user_peers_ = segment_popularity(dataset, groups)
        self.favourites_ = segment_favourites(dataset)
        self.item_category_, self.category_share_, self.category_prior_ = category_model(dataset)

    def _validation_users(self, validation: Validation) -> np.ndarray:
        """A seeded sample of users with a new product in the slice and a history before it."""
        has_target = np.diff(validation.targets.indptr) > 0
        has_history = np.diff(validation.train.purchases.indptr) > 0
        users = np.flatnonzero(has_target & has_history)
        if len(users) > self.tune_users:
            rng = np.random.default_rng(self.random_state)
            users = np.sort(rng.choice(users, self.tune_users, replace=False))
        return users

    def _tune(self, validation: Validation, users: np.ndarray) -> None:
        """Coordinate search of the blend weights (see the class notes); ``w_repeat`` is not tuned."""
        train = validation.train
        signals = self._signals(train, users, SIGNALS)
        seen, targets = train.purchases[users], validation.targets[users]
        start = {name: self.weights_[name] for name in SIGNALS}
        before = search_weights(signals, targets, start, (), seen=seen, rounds=0)[1]
        weights, after, evaluations = search_weights(signals, targets, start, WEIGHT_GRID, seen=seen,
                                                     min_gain=MIN_GAIN)
        self.weights_ = {**self.weights_, **weights}
        self.tuning_ = {"tuned": True, "validation": validation.description, "users": len(users),
                        "objective_before": round(before, 4), "objective_after": round(after, 4),
                        "evaluations": evaluations}

    def _ranker_signals(self) -> tuple[str, ...]:
        """Signals the ranker reads: all but EASE when the tuned blend dropped it (its fit is then skipped)."""
        return tuple(n for n in SIGNALS if n != "item" or (self.ease_lambda is not None and self.weights_["item"]))

    def _fit_ranker(self, validation: Validation, users: np.ndarray) -> None:
        """Fit the second stage on the blend's pools of the validation users; keep it only if it beats the blend.

        Cross-fitted on two seeded halves of the users (each half ranked by a ranker fitted on the other), the
        ranker must raise the objective (P@10 + NDCG@10, discover) of all the users' pools above the blend's;
        it is then refitted on all of them. Otherwise ``ranker_`` stays None and discover mode ranks by the
        blend. No margin is asked for: the ranker's objective is out of sample, the blend's is the one its
        weights were searched on, so the comparison already leans towards the blend.
        """
        train = validation.train
        inputs = self._ranker_inputs(train, users, self._ranker_signals())
        seen, targets = train.purchases[users], validation.targets[users]
        blend = self._weighted(inputs.z, (len(users), train.n_items))
        pool, _ = _unbought_top(blend, train, users, min(self.pool_size, train.n_items))
        rng = np.random.default_rng(self.random_state)
        half = np.zeros(len(users), bool)
        half[rng.permutation(len(users))[: len(users) // 2]] = True

        def fit(rows: np.ndarray) -> LinearRanker:
            r, items, labels = sample_pool(pool[rows], targets[rows], self.random_state)
            return fit_ranker(inputs.take(rows), r, items, labels)

        crossed = np.empty_like(blend)
        for fitted_on in (half, ~half):
            held = np.flatnonzero(~fitted_on)
            crossed[held] = fit(np.flatnonzero(fitted_on)).score(inputs.take(held))
        objective = ranking_objective(targets, seen)
        plain, learned = objective(_pool_only(blend, pool)), objective(_pool_only(crossed, pool))
        kept = learned > plain
        self.ranker_ = fit(np.arange(len(users))) if kept else None
        self.tuning_["ranker"] = {"objective_blend": round(plain, 4), "objective_ranker": round(learned, 4),
                                  "kept": bool(kept), "features": len(feature_names(inputs))}

    # ------------------------------------------------------------------------------------------- stages
    def _signals(self, dataset: Dataset, user_idx: np.ndarray, names: Iterable[str]) -> dict[str, np.ndarray]:
        """The named blend inputs for a chunk of users, each z-scored per user (dense, n x n_items)."""
        return {name: standardise(raw) for name, raw in self._raw_signals(dataset, user_idx, names).items()}

    def _raw_signals(self, dataset: Dataset, user_idx: np.ndarray, names: Iterable[str]) -> dict[str, np.ndarray]:
        """The named signals for a chunk of users on their own scales (dense, n x n_items, float32)."""
        n, n_items = len(user_idx), dataset.n_items
        content = self._content_for(dataset)
        out = {}
        for name in names:
            if name == "cf":
                raw = self.cf_._score(user_idx)
            elif name == "item":
                history = sp.csr_matrix(dataset.purchases[user_idx] > 0, dtype=np.float32)
                raw = (history @ self.item_item_).toarray()
            elif name == "content":
                raw = content._score(user_idx)
            elif name == "profile":
                raw = content.profile_scores(user_idx)
            elif name == "trend":
                raw = np.broadcast_to(self.trend_, (n, n_items))
            elif name == "popularity":
                raw = np.broadcast_to(self.popularity_, (n, n_items))
            elif name == "peers":
                raw = segment_scores(self.peer_popularity_, self.user_peers_, np.expm1(self.popularity_), user_idx)
            elif name == "category":
                raw = category_scores(dataset, user_idx, self.item_category_, self.category_share_, self.category_prior_)
            elif name == "segment":
                raw = segment_scores(self.segment_popularity_, self.user_segment_, np.expm1(self.popularity_), user_idx)
            else:
                raise InputError(f"unknown signal {name!r}; choose from {', '.join(SIGNALS)}")
            out[name] = np.asarray(raw, dtype=np.float32)
        return out

    def _content_for(self, dataset: Dataset) -> ContentRecommender:
        """The content model reading histories from ``dataset`` (neighbours and shared words come from text)."""
        if self.content_.dataset_ is dataset:
            return self.content_
        content = copy.copy(self.content_)
        content.dataset_ = dataset
        return content

    def _ranker_inputs(self, dataset: Dataset, user_idx: np.ndarray, names: Iterable[str]) -> RankerInputs:
        """Everything the ranker (and the blend, from ``z``) reads for a chunk of users."""
        raw = self._raw_signals(dataset, user_idx, names)
        content = self._content_for(dataset)
        history = np.log1p(np.diff(dataset.purchases.indptr)[user_idx]).astype(np.float32)
        return RankerInputs(z={name: standardise(block) for name, block in raw.items()},
                            raw={name: raw[name] for name in LOG_SIGNALS if name in raw}, history=history,
                            lifts=content.word_lifts(user_idx), words=content.profile_words_,
                            terms=list(content.profile_terms_))

    def _weighted(self, signals: dict[str, np.ndarray], shape: tuple[int, int]) -> np.ndarray:
        """The blend's weighted sum of z-scored signals, ``shape`` (users x items); those absent count as 0."""
        out = np.zeros(shape, np.float32)
        for name, block in signals.items():
            if self.weights_.get(name, 0.0):
                out += np.float32(self.weights_[name]) * block
        return out

    def _repeat(self, dataset: Dataset, user_idx: np.ndarray) -> np.ndarray:
        """The repeat signal scaled so that each user's strongest repeat candidate scores 1 (dense)."""
        repeat = repeat_signal(dataset, user_idx, self.repeat_half_life_days)
        peak = np.asarray(repeat.max(axis=1).toarray()).ravel()
        scale = sp.diags(np.where(peak > 0, 1.0 / np.maximum(peak, 1e-9), 0.0).astype(np.float32))
        return (scale @ repeat).toarray().astype(np.float32)

    def _blend(self, user_idx: np.ndarray, repeat: bool) -> np.ndarray:
        """Weighted sum of the signals (signals with weight 0 are not computed), plus the repeat term."""
        names = [name for name in SIGNALS if self.weights_.get(name, 0.0)]
        out = self._weighted(self._signals(self.dataset_, user_idx, names), (len(user_idx), self.dataset_.n_items))
        return out + self._repeat_term(user_idx) if repeat else out

    def _repeat_term(self, user_idx: np.ndarray) -> np.ndarray | float:
        """The repeat signal times ``w_repeat`` relative to the blend's total weight (0 when that is 0)."""
        if not self.weights_.get("repeat", 0.0):
            return 0.0
        total = sum(self.weights_[name] for name in SIGNALS if self.weights_.get(name, 0.0))
        return np.float32(self.weights_["repeat"] * total) * self._repeat(self.dataset_, user_idx)

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        """The blend for every item, finite everywhere; bought items include the repeat term.

        Ranking these scores gives buy-again mode; without a ranker, discover mode is the same ranking with
        bought items removed (the repeat term only touches bought items), before MMR re-ranking.
        """
        return self._blend(user_idx, repeat=True)

    def _score_discover(self, user_idx: np.ndarray) -> np.ndarray:
        """The discover ranking before MMR as scores: the ranker's score on the blend's top ``pool_size`` unbought
        items, every other item its :meth:`_score` shifted below the lowest of them (blend order kept, bought
        items with their repeat term). Without a ranker, :meth:`_score`."""
        if self.ranker_ is None:
            return self._score(user_idx)
        blended, ranked = self._blend_and_ranker(user_idx)
        out = blended + self._repeat_term(user_idx)
        pool, _ = _unbought_top(blended, self.dataset_, user_idx, min(self.pool_size, blended.shape[1]))
        in_pool = np.isfinite(_pool_only(ranked, pool))
        floor = np.min(np.where(in_pool, ranked, np.inf), axis=1, keepdims=True)
        rest = np.max(np.where(in_pool, -np.inf, out), axis=1, keepdims=True)
        shift = np.where(np.isfinite(floor) & np.isfinite(rest), floor - rest - 1.0, 0.0).astype(np.float32)
        return np.where(in_pool, ranked, out + shift)

    def _blend_and_ranker(self, user_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Discover with a ranker: the blend without the repeat term and the ranker's score, every item."""
        inputs = self._ranker_inputs(self.dataset_, user_idx, self._ranker_signals())
        return self._weighted(inputs.z, (len(user_idx), self.dataset_.n_items)), self.ranker_.score(inputs)

    def _recommend_chunk(self, user_idx: np.ndarray, k: int, filter_seen: bool) -> tuple[np.ndarray, np.ndarray]:
        if filter_seen and self.ranker_ is not None:  # discover: the ranker re-orders the blend's pool
            blended, ranked = self._blend_and_ranker(user_idx)
            pool, _ = _unbought_top(blended, self.dataset_, user_idx, max(k, min(self.pool_size, blended.shape[1])))
            relevance = np.take_along_axis(ranked, np.maximum(pool, 0), axis=1)
            return self._rerank(pool, np.where(pool >= 0, relevance, -np.inf).astype(np.float32), k)
        blended = self._blend(user_idx, repeat=not filter_seen)
        width = max(k, min(self.pool_size, blended.shape[1]))
        pool, relevance = _unbought_top(blended, self.dataset_, user_idx, width) if filter_seen else top_k(blended, width)
        return self._rerank(pool, relevance, k)

    def _rerank(self, pool: np.ndarray, relevance: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Maximal marginal relevance over the pool (plain top-k when ``mmr_lambda`` is 1)."""
        if self.mmr_lambda >= 1.0:
            order, scores = top_k(relevance, k)
            return np.where(order >= 0, np.take_along_axis(pool, np.maximum(order, 0), axis=1), -1), scores
        n, width = pool.shape
        finite = np.isfinite(relevance)
        lo = np.min(np.where(finite, relevance, np.inf), axis=1, keepdims=True)
        hi = np.max(np.where(finite, relevance, -np.inf), axis=1, keepdims=True)
        rel = np.where(finite, (relevance - lo) / np.maximum(hi - lo, 1e-9), -np.inf)
        max_sim = np.zeros((n, width), np.float32)
        items = np.full((n, k), -1, np.int64)
        scores = np.full((n, k), -np.inf, np.float32)
        rows = np.arange(n)
        sims_matrix = self.content_.neighbours_
        for step in range(min(k, width)):
            objective = self.mmr_lambda * rel - (1.0 - self.mmr_lambda) * max_sim
            pick = np.argmax(objective, axis=1)
            ok = np.isfinite(objective[rows, pick])
            chosen = pool[rows, pick]
            items[ok, step] = chosen[ok]
            scores[ok, step] = relevance[rows, pick][ok]
            rel[rows, pick] = -np.inf
            sims = sims_matrix[np.maximum(chosen, 0)].toarray()
            max_sim = np.maximum(max_sim, np.take_along_axis(sims, np.maximum(pool, 0), axis=1))
        return items, scores

    # ---------------------------------------------------------------------------------------- explained
    def recommend(
        self,
        user_ids: Iterable[object],
        k: int = 10,
        *,
        filter_seen: bool = True,
        on_unknown: Literal["raise", "skip"] = "raise",
    ) -> pd.DataFrame:
        """Top-k per user with names and reasons: (user_id, rank, product_id, product_name, score, reason).

        Reasons: "you bought this before" (buy-again mode), "similar to <a product the user bought>" when the
        content term outweighs the collaborative ones, "popular with <segment>" when the item is among the
        user's segment's favourites, otherwise "people like you bought this".
        """
        frame = super().recommend(user_ids, k, filter_seen=filter_seen, on_unknown=on_unknown)
        names = self.dataset_.catalogue[Columns.ItemName].to_numpy()
        item_idx = self.dataset_.item_index(frame[Columns.Item])
        user_idx = self.dataset_.user_index(frame[Columns.User])
        frame[Columns.ItemName] = names[item_idx].astype(object)
        frame[Columns.Reason] = self._reasons(user_idx, item_idx) if len(frame) else []
        return frame[list(Columns.Recommendations)]

    def _reasons(self, user_idx: np.ndarray, item_idx: np.ndarray) -> list[str]:
        """One reason per (user, item) row; signals recomputed per distinct user."""
        users, inverse = np.unique(user_idx, return_inverse=True)
        w = self.weights_
        names = ("cf", "item", "content", *(("profile",) if w.get("profile") else ()))
        s = self._signals(self.dataset_, users, names)
        collaborative = w["cf"] * s["cf"][inverse, item_idx] + w["item"] * s["item"][inverse, item_idx]
        content = w["content"] * s["content"][inverse, item_idx]
        if w.get("profile"):  # the user's text profile: explained by the closest bought product too
            content = content + w["profile"] * s["profile"][inverse, item_idx]
        bought = np.asarray(self.dataset_.purchases[user_idx, item_idx]).ravel() > 0
        source = self._closest_bought(user_idx, item_idx)
        segments = segment_of(self.dataset_.user_attributes.iloc[user_idx])
        names = self.dataset_.catalogue[Columns.ItemName].to_numpy()
        reasons = []
        for row in range(len(user_idx)):
            segment = segments[row]
            if bought[row]:
                reasons.append(REASON_REPEAT)
            elif content[row] > collaborative[row] and source[row] >= 0:
                reasons.append(REASON_SIMILAR.format(name=names[source[row]]))
            elif segment is not None and int(item_idx[row]) in self.favourites_.get(segment, ()):
                reasons.append(REASON_SEGMENT.format(segment=segment))
            else:
                reasons.append(REASON_PEERS)
        return reasons

    def _closest_bought(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        """For each row, the bought item most similar to the recommended one (-1 if none is a neighbour)."""
        history = sp.csr_matrix(self.dataset_.purchases[user_idx] > 0, dtype=np.float32)
        towards = self.content_.neighbours_.T.tocsr()[item_idx]  # row r: similarity of each item to item_idx[r]
        overlap = sp.csr_matrix(history.multiply(towards))
        best = np.asarray(overlap.argmax(axis=1)).ravel()
        has = np.asarray(overlap.max(axis=1).toarray()).ravel() > 0
        return np.where(has, best, -1)

    # --------------------------------------------------------------------------------------- cold start
    def recommend_cold(
        self,
        *,
        attributes: dict[str, Any] | None = None,
        product_ids: list[str] | None = None,
        k: int = 10,
        exclude: list[str] | None = None,
    ) -> pd.DataFrame:
        """Recommendations for someone the model has not seen; never fails for lack of information.

        ``product_ids`` (a session) -> content neighbours plus the mean item embedding's neighbours;
        ``attributes`` (demographics, optionally ``segment``) -> LightFM from side features alone plus the
        segment's favourites; both add up; nothing -> the trend/popularity prior. Unknown product ids are
        ignored with a :class:`~segrec.exceptions.SegrecWarning` (also listed in ``frame.attrs["notes"]``).
        Returns (rank, product_id, product_name, score, reason); ``exclude`` defaults to ``product_ids``.
        """
        self.check_fitted()
        if k < 1:
            raise InputError(f"k must be >= 1, got {k}")
        from ._cold import cold_scores  # late: keeps this module about the warm path

        product_ids = [str(p) for p in (product_ids or [])]
        idx = self.dataset_.item_index(product_ids) if product_ids else np.array([], np.int64)
        notes = []
        unknown = [p for p, i in zip(product_ids, idx, strict=True) if i < 0]
        if unknown:
            notes.append(f"ignored unknown product id(s): {', '.join(unknown[:5])}")
            warnings.warn(notes[-1], SegrecWarning, stacklevel=2)
        scores, reasons = cold_scores(self, attributes or {}, idx[idx >= 0])
        excluded = self.dataset_.item_index([str(p) for p in (product_ids if exclude is None else exclude)])
        scores[excluded[excluded >= 0]] = -np.inf
        items, values = top_k(scores[None, :], k)
        items, values = items[0][items[0] >= 0], values[0][items[0] >= 0]
        frame = pd.DataFrame({
            Columns.Rank: np.arange(1, len(items) + 1, dtype=np.int64),
            Columns.Item: self.dataset_.items.to_external(items),
            Columns.ItemName: self.dataset_.catalogue[Columns.ItemName].to_numpy()[items].astype(object),
            Columns.Score: values.astype(np.float64),
            Columns.Reason: [reasons(int(i)) for i in items],
        })
        frame.attrs["notes"] = notes
        return frame

    def similar_products(self, product_id: object, k: int = 10) -> pd.DataFrame:
        """Content neighbours of a product (works for new products that only have text)."""
        self.check_fitted()
        return self.content_.similar_products(product_id, k)

    # -------------------------------------------------------------------------------------------- state
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON config (parameters, parts, favourites) and arrays (parts prefixed ``cf__`` / ``content__``)."""
        self.check_fitted()
        cf_config, cf_arrays = self.cf_.get_state()
        ct_config, ct_arrays = self.content_.get_state()
        config = {
            "class": type(self).__name__,
            "params": {name: getattr(self, name) for name in _SCALARS},
            "parts": {"cf": cf_config, "content": ct_config},
            "favourites": self.favourites_,
            "weights": self.weights_,
            "tuning": self.tuning_,
            "ranker": None if self.ranker_ is None else list(self.ranker_.names),
        }
        ii = self.item_item_
        arrays = {f"cf__{n}": a for n, a in cf_arrays.items()} | {f"content__{n}": a for n, a in ct_arrays.items()}
        arrays |= {"item_item_data": ii.data, "item_item_indices": ii.indices, "item_item_indptr": ii.indptr,
                   "trend": self.trend_, "popularity": self.popularity_,
                   "segment_popularity": self.segment_popularity_, "user_segment": self.user_segment_,
                   "item_category": self.item_category_, "category_share": self.category_share_,
                   "category_prior": self.category_prior_, "peer_popularity": self.peer_popularity_,
                   "user_peers": self.user_peers_}
        if self.ranker_ is not None:
            arrays["ranker_coef"] = self.ranker_.coef
        return config, arrays

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, np.ndarray], dataset: Dataset) -> Self:
        if config.get("class") != cls.__name__:
            raise TypeError(f"state of a {config.get('class')!r} cannot be loaded into {cls.__name__}")
        model = cls(**config["params"])
        parts = config["parts"]
        model.cf_ = LightFMRecommender.from_state(parts["cf"], _prefixed(arrays, "cf__"), dataset)
        model.content_ = ContentRecommender.from_state(parts["content"], _prefixed(arrays, "content__"), dataset)
        n = dataset.n_items
        model.item_item_ = sp.csr_matrix(
            (arrays["item_item_data"], arrays["item_item_indices"], arrays["item_item_indptr"]), shape=(n, n))
        model.trend_ = np.asarray(arrays["trend"], dtype=np.float32)
        model.popularity_ = np.asarray(arrays["popularity"], dtype=np.float32)
        model.segment_popularity_ = np.asarray(arrays["segment_popularity"], dtype=np.float32)
        model.user_segment_ = np.asarray(arrays["user_segment"], dtype=np.int64)
        model.item_category_ = np.asarray(arrays["item_category"], dtype=np.int64)
        model.category_share_ = np.asarray(arrays["category_share"], dtype=np.float32)
        model.category_prior_ = np.asarray(arrays["category_prior"], dtype=np.float32)
        model.peer_popularity_ = np.asarray(arrays["peer_popularity"], dtype=np.float32)
        model.user_peers_ = np.asarray(arrays["user_peers"], dtype=np.int64)
        model.weights_ = {str(name): float(value) for name, value in config["weights"].items()}
        model.tuning_ = config.get("tuning", {})
        names = config.get("ranker")
        model.ranker_ = None if names is None else LinearRanker(
            tuple(str(n) for n in names), np.asarray(arrays["ranker_coef"], dtype=np.float64))
        model.favourites_ = {str(s): [int(i) for i in v] for s, v in config["favourites"].items()}
        model.dataset_ = dataset
        return model


def _unbought_top(blended: np.ndarray, dataset: Dataset, user_idx: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The top ``width`` items of ``blended`` that the users have not bought (``blended`` is masked in place)."""
    mask_seen(blended, dataset, user_idx)
    return top_k(blended, width)


def _pool_only(scores: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """``scores`` where the item is in the row's ``pool`` (-1: empty slot), -inf elsewhere."""
    out = np.full(scores.shape, -np.inf, np.float32)
    rows = np.repeat(np.arange(len(pool)), pool.shape[1])
    ok = pool.ravel() >= 0
    out[rows[ok], pool.ravel()[ok]] = scores[rows[ok], pool.ravel()[ok]]
    return out


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {name[len(prefix):]: value for name, value in arrays.items() if name.startswith(prefix)}
