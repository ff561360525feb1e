"""Search pipelines, validated the way OpenSearch and neural-search do (the `hybrid` clause: hybrid_clause.py).

Sources copied: OpenSearch ``PipelineWithMetrics.create``/``readProcessors`` and ingest
``ConfigurationUtils`` (pipeline structure, ``parse_exception`` messages), neural-search
``NormalizationProcessorFactory``, ``RRFProcessorFactory``, ``ScoreNormalizationUtil``,
``RRFScoreNormalizer`` (processor options), ``HybridQueryBuilder``, ``HybridQuery``,
``HybridCollectorManager`` and ``NormalizationProcessorWorkflow`` (the hybrid clause and paging).

A `hybrid` query searched with no pipeline, or a pipeline without a phase results processor, is
not an error in OpenSearch: the shard's raw list comes back, sub-query lists wrapped in marker
hits with magic scores (see ``unfused_hybrid_hits``).
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from searchcore.errors import IllegalArgument, SearchError
from searchcore.fusion import (
    DEFAULT_RANK_CONSTANT,
    NORMALIZATION_PROCESSOR,
    NORMALIZERS,
    SCORE_RANKER_PROCESSOR,
    FusionConfig,
    check_combination,
    check_compatible,
    check_normalization,
    check_rank_constant,
    check_weights,
)

K = TypeVar("K", bound=Hashable)

_DEFAULT = FusionConfig()  # the normalization-processor's defaults
# the normalization score-ranker-processor brings (RRFProcessorFactory)
_RANKER = next(n for n in NORMALIZERS.values() if n.own_processor == SCORE_RANKER_PROCESSOR)
# Processor types an OpenSearch 3.x cluster with the default plugins knows; others are
# "Invalid processor type". Request and response processors are stored, not run, by localsearch.
REQUEST_PROCESSORS = frozenset({
    "filter_query", "script", "oversample", "neural_query_enricher",
    "neural_sparse_two_phase_processor", "ml_inference", "agentic_query_translator"})
RESPONSE_PROCESSORS = frozenset({
    "collapse", "rename_field", "rerank", "sort", "split", "truncate_hits", "personalize_search_ranking",
    "retrieval_augmented_generation", "ml_inference", "hybrid_score_explanation"})
PHASE_RESULTS_PROCESSORS = frozenset({NORMALIZATION_PROCESSOR, SCORE_RANKER_PROCESSOR})

_INT_PATTERN = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class SearchPipeline:
    """A stored search pipeline: the body as given (for GET) and what it means for hybrid queries."""

    id: str
    body: dict
    fusion: FusionConfig | None
    request_processors: tuple[str, ...] = ()
    response_processors: tuple[str, ...] = ()

    @classmethod
    def from_body(cls, pipeline_id: str, body: dict) -> SearchPipeline:
        """Validate a ``PUT /_search/pipeline/{id}`` body; raises OpenSearch's 400 errors."""
        if not isinstance(body, dict):
            raise _config_error(None, None, None, "request body must be a JSON object")
        config = _Config(dict(body), None, None)
        config.optional_string("description")
        config.optional_int("version")
        request = _read_processors(config, "request_processors", REQUEST_PROCESSORS)
        response = _read_processors(config, "response_processors", RESPONSE_PROCESSORS)
        phase = _read_processors(config, "phase_results_processors", PHASE_RESULTS_PROCESSORS)
        if config.values:
            raise _config_error(None, None, None, (
                f"pipeline [{pipeline_id}] doesn't support one or more provided configuration "
                f"parameters {_java_list(config.values)}"))
        fusions = [fusion for _, fusion in phase]
        if len(fusions) > 1:
            raise IllegalArgument("localsearch supports one phase results processor per search pipeline")
        return cls(pipeline_id, body, fusions[0] if fusions else None,
                   tuple(kind for kind, _ in request), tuple(kind for kind, _ in response))


# ---- ConfigurationUtils, as Python ----

class _Config:
    """A processor's options, taken out one by one as ConfigurationUtils does; what is left is unknown."""

    def __init__(self, values: dict, processor_type: str | None, tag: str | None) -> None:
        self.values, self.processor_type, self.tag = values, processor_type, tag

    def _take(self, name: str) -> Any:
        return self.values.pop(name, None)

    def _error(self, name: str, reason: str) -> SearchError:
        return _config_error(self.processor_type, self.tag, name, f"[{name}] {reason}")

    def optional_string(self, name: str, default: str | None = None) -> str | None:
        value = self._take(name)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self._error(name, f"property isn't a string, but of type [{_java_type(value)}]")
        return value

    def optional_map(self, name: str) -> dict | None:
        value = self._take(name)
        if value is not None and not isinstance(value, dict):
            raise self._error(name, f"property isn't a map, but of type [{_java_type(value)}]")
        return value

    def optional_list(self, name: str) -> list | None:
        value = self._take(name)
        if value is not None and not isinstance(value, list):
            raise self._error(name, f"property isn't a list, but of type [{_java_type(value)}]")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self._take(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._error(name, f"property isn't a boolean, but of type [{_java_type(value)}]")
        return value

    def optional_int(self, name: str) -> int | None:
        value = self._take(name)
        if value is None:
            return None
        text = java_text(value)
        number = _java_int(text)
        if number is None:
            raise self._error(name, f"property cannot be converted to an int [{text}]")
        return number


def _config_error(processor_type: str | None, tag: str | None, name: str | None,
                  reason: str) -> SearchError:
    """ConfigurationUtils.newConfigurationException: an OpenSearchParseException with metadata."""
    extra = {}
    if processor_type is not None:
        extra["processor_type"] = processor_type
    if tag is not None:
        extra["processor_tag"] = tag
    if name is not None:
        extra["property_name"] = name
    return SearchError(reason, status=400, error_type="parse_exception", extra=extra)


def _java_type(value: Any) -> str:
    if isinstance(value, bool):
        return "java.lang.Boolean"
    if isinstance(value, int):
        return "java.lang.Integer" if -2**31 <= value < 2**31 else "java.lang.Long"
    if isinstance(value, float):
        return "java.lang.Double"
    if isinstance(value, str):
        return "java.lang.String"
    if isinstance(value, list):
        return "java.util.ArrayList"
    return "java.util.HashMap"


def java_text(value: Any) -> str:
    """Object.toString of a parsed JSON value, as messages show it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(java_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={java_text(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _java_int(text: str) -> int | None:
    """Integer.parseInt: an optional sign and digits, within int range; None otherwise."""
    if not _INT_PATTERN.fullmatch(text):
        return None
    number = int(text)
    return number if -2**31 <= number < 2**31 else None


def _java_list(keys: Any) -> str:
    return "[" + ", ".join(str(k) for k in keys) + "]"


# ---- processors ----

def _read_processors(config: _Config, list_name: str,
                     known: frozenset[str]) -> list[tuple[str, FusionConfig | None]]:
    """PipelineWithMetrics.readProcessors for one list: each item maps processor type -> options."""
    items = config.optional_list(list_name) or []
    read: list[tuple[str, FusionConfig | None]] = []
    for item in items:
        if not isinstance(item, dict):
            raise _config_error(None, None, list_name,
                                f"[{list_name}] items must be objects, not [{_java_type(item)}]")
        for kind, options in item.items():
            if kind not in known:
                raise IllegalArgument(f"Invalid processor type {kind}")
            if not isinstance(options, dict):
                raise _config_error(kind, None, None,
                                    f"processor [{kind}] options must be an object, not [{_java_type(options)}]")
            common = _Config(dict(options), None, None)
            tag = common.optional_string("tag")
            common.boolean("ignore_failure", False)
            _Config(common.values, None, tag).optional_string("description")
            processor = _Config(common.values, kind, tag)
            fusion = _read_phase_processor(processor) if kind in PHASE_RESULTS_PROCESSORS else None
            if kind in PHASE_RESULTS_PROCESSORS and processor.values:
                name = kind if tag is None else f"{kind}:{tag}"
                raise _config_error(None, None, None, (
                    f"processor [{name}] doesn't support one or more provided configuration "
                    f"parameters: {_java_list(processor.values)}"))
            read.append((kind, fusion))
    return read


def _read_phase_processor(processor: _Config) -> FusionConfig:
    if processor.processor_type == NORMALIZATION_PROCESSOR:
        return _read_normalization_processor(processor)
    return _read_score_ranker_processor(processor)


def _read_normalization_processor(processor: _Config) -> FusionConfig:
    """NormalizationProcessorFactory.create, checks in the same order."""
    normalization, rank_constant = _DEFAULT.normalization, DEFAULT_RANK_CONSTANT
    clause = processor.optional_map("normalization")
    processor.boolean("sub-query-scores", False)
    if clause is not None:
        inner = _Config(dict(clause), processor.processor_type, processor.tag)
        normalization = inner.optional_string("technique", _DEFAULT.normalization)
        parameters = inner.optional_map("parameters")
        check_normalization(normalization)
        rank_constant = _read_normalization_parameters(normalization, parameters)
    combination, weights = _DEFAULT.combination, None
    clause = processor.optional_map("combination")
    if clause is not None:
        inner = _Config(dict(clause), processor.processor_type, processor.tag)
        combination = inner.optional_string("technique", _DEFAULT.combination)
        parameters = inner.optional_map("parameters")
        check_combination(combination)
        weights = _read_weights(parameters)
    check_compatible(normalization, combination)
    return FusionConfig(normalization, combination, weights, rank_constant)


def _read_score_ranker_processor(processor: _Config) -> FusionConfig:
    """RRFProcessorFactory.create: rank_constant sits in the combination clause itself."""
    combination, weights, rank_constant = _RANKER.default_combination, None, DEFAULT_RANK_CONSTANT
    clause = processor.optional_map("combination")
    processor.boolean("sub-query-scores", False)
    if clause is not None:
        inner = _Config(dict(clause), processor.processor_type, processor.tag)
        combination = inner.optional_string("technique", _RANKER.default_combination)
        if "rank_constant" in clause:
            rank_constant = _read_rank_constant(clause["rank_constant"])
        parameters = inner.optional_map("parameters")
        check_combination(combination)
        weights = _read_weights(parameters)
    return FusionConfig(_RANKER.name, combination, weights, rank_constant)


def _read_normalization_parameters(technique: str, parameters: dict | None) -> int:
    """ScoreNormalizationUtil.validateParameters; returns the rank constant (where the technique takes one)."""
    if not parameters:
        return DEFAULT_RANK_CONSTANT
    accepted = NORMALIZERS[technique].parameters
    value = parameters.get("rank_constant")
    if not accepted or set(parameters) - set(accepted) or (
            isinstance(value, list) and any(not isinstance(v, dict) for v in value)):
        raise IllegalArgument("unrecognized parameters in normalization technique")
    if "rank_constant" in accepted:
        if "rank_constant" in parameters:
            return _read_rank_constant(parameters["rank_constant"])
        return DEFAULT_RANK_CONSTANT
    # min_max's bounds: OpenSearch accepts them; localsearch does not apply them, so it says so instead of
    # returning scores that differ from the cluster's.
    raise IllegalArgument(
        f"localsearch does not support {technique} normalization parameters {_java_list(parameters)}")


def _read_rank_constant(value: Any) -> int:
    """RRFScoreNormalizer.resolveRankConstant: NumberUtils.createInteger(String.valueOf(v)), 1..10000."""
    number = None if value is None or isinstance(value, float) else _java_int(java_text(value))
    if number is None:
        raise IllegalArgument("parameter [rank_constant] must be an integer")
    check_rank_constant(number)
    return number


def _read_weights(parameters: dict | None) -> tuple[float, ...] | None:
    """ScoreCombinationUtil.validateParams + getWeights (which validates range and sum)."""
    if not parameters:
        return None
    if set(parameters) - {"weights"}:
        raise IllegalArgument(
            "provided parameter for combination technique is not supported. "
            "supported parameters are [weights]")
    weights = parameters.get("weights", [])
    # OpenSearch casts each item to Double (whole numbers fail with a 500 there); numbers are taken here.
    if not isinstance(weights, list) or any(
            isinstance(w, bool) or not isinstance(w, int | float) for w in weights):
        raise IllegalArgument("parameter [weights] must be a collection of numbers")
    check_weights(weights)
    return tuple(float(w) for w in weights)
