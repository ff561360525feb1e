"""A profile: how searches on the indices it matches are reranked (model, window, fusion, scores, budget)."""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass

from searchcore.errors import IllegalArgument
from searchcore.fusion import (
    COMBINATIONS,
    DEFAULT_RANK_CONSTANT,
    NORMALIZATIONS,
    NORMALIZERS,
    FusionConfig,
    check_rank_constant,
    check_technique,
    check_weights,
)
from sidecar.setting_values import ConfigError, one_of

log = logging.getLogger(__name__)

DEFAULT_RERANKER = "cross-encoder/ms-marco-MiniLM-L6-v2"
SCORE_MODES = ("sigmoid", "raw", "minmax", "blend")
RETRIEVAL_MODES = ("auto", "server", "client")
FUSIONS = NORMALIZATIONS                  # `fusion`: searchcore.fusion's tables decide what each key allows
FUSION_COMBINATIONS = COMBINATIONS       # `fusion_combination`


@dataclass(frozen=True)
class Profile:
    """How searches on matching indices are reranked."""

    pattern: str = "*"
    text_fields: tuple[str, ...] = ("title", "text")
    vector_field: str = "embedding"
    bi_encoder: str | None = None
    reranker: str = DEFAULT_RERANKER
    window: int | None = None                    # None: sized at warm-up to fit budget_ms (window_sizing.py)
    max_window: int = 500
    fusion: str = "min_max"                       # the normalization: FUSIONS
    fusion_combination: str | None = None         # FUSION_COMBINATIONS; None: the normalization's default
    fusion_weights: tuple[float, ...] | None = None   # lexical, k-NN
    fusion_rank_constant: int = DEFAULT_RANK_CONSTANT  # rrf's k
    retrieval: str = "auto"
    score_mode: str = "sigmoid"
    blend_alpha: float = 0.5
    sigmoid_temperature: float = 1.0
    sigmoid_bias: float = 0.0
    budget_ms: float = 2000.0
    separator: str = "\n"

    def matches(self, index: str) -> bool:
        return all(fnmatch.fnmatchcase(part, self.pattern) for part in index.split(",") if part)

    def fusion_config(self, fusion: str | None = None, combination: str | None = None,
                      weights: tuple[float, ...] | None = None, rank_constant: int | None = None) -> FusionConfig:
        """The profile's fusion, with a request's overrides; raises IllegalArgument as neural-search words it.

        Without a combination of its own, a request gets the profile's, except where it switches to a
        normalization that has its own processor's combination (rrf: the score-ranker's sum), which it then gets.
        """
        normalization = fusion or self.fusion
        if combination is None:
            combination = self._combination_for(normalization)
        weights = self.fusion_weights if weights is None else tuple(weights)
        rank_constant = self.fusion_rank_constant if rank_constant is None else rank_constant
        return FusionConfig(normalization, combination, weights, rank_constant)

    def kept_combination(self, normalization: str) -> str | None:
        """The combination a switch to `normalization` keeps (a request's, or a profile's over its defaults'):
        this one's, except that a normalization with a combination of its own (rrf) starts from that."""
        normalizer = NORMALIZERS.get(normalization)
        if normalization != self.fusion and normalizer is not None and normalizer.own_combination:
            return None
        return self.fusion_combination

    def _combination_for(self, normalization: str) -> str:
        kept = self.kept_combination(normalization)
        if kept is not None or normalization not in NORMALIZERS:   # FusionConfig refuses an unknown normalization
            return kept or ""
        return NORMALIZERS[normalization].default_combination

    def _validate_fusion(self, where: str) -> None:
        one_of(self.fusion, FUSIONS, f"{where}.fusion")
        if self.fusion_combination is not None:
            one_of(self.fusion_combination, FUSION_COMBINATIONS, f"{where}.fusion_combination")
        checks = (("fusion_combination", lambda: check_technique(self.fusion, self._combination_for(self.fusion))),
                  ("fusion_weights", lambda: self.fusion_weights is None or check_weights(self.fusion_weights)),
                  ("fusion_rank_constant", lambda: check_rank_constant(self.fusion_rank_constant)))
        for key, check in checks:
            try:
                check()
            except IllegalArgument as exc:
                raise ConfigError(f"{where}.{key}: {exc.reason}") from exc
        own = NORMALIZERS[self.fusion].own_combination
        if own and self.fusion_combination not in (None, own):
            log.warning("%s: fusion %s is combined with %s, not with its own %s (earlier versions ignored "
                        "fusion_combination with %s); leave fusion_combination out for the %s",
                        where, self.fusion, self.fusion_combination, own, self.fusion, own)

    def validate(self, where: str) -> Profile:
        one_of(self.score_mode, SCORE_MODES, f"{where}.score_mode")
        one_of(self.retrieval, RETRIEVAL_MODES, f"{where}.retrieval")
        self._validate_fusion(where)
        if self.window is not None and not 1 <= self.window <= self.max_window:
            raise ConfigError(f"{where}.window must be between 1 and max_window ({self.max_window}), "
                              f"got {self.window}")
        if not 0.0 <= self.blend_alpha <= 1.0:
            raise ConfigError(f"{where}.blend_alpha must be between 0 and 1, got {self.blend_alpha}")
        if self.budget_ms <= 0:
            raise ConfigError(f"{where}.budget_ms must be positive, got {self.budget_ms}")
        if self.sigmoid_temperature <= 0:
            raise ConfigError(f"{where}.sigmoid_temperature must be positive, got {self.sigmoid_temperature}")
        if not self.text_fields:
            raise ConfigError(f"{where}.text_fields must name at least one field")
        return self
