"""The `hybrid` query clause and its paging, checked as neural-search checks them, and its unfused result list.

Sources: neural-search ``HybridQueryBuilder``, ``HybridQuery``, ``HybridCollectorManager`` and
``NormalizationProcessorWorkflow``. A `hybrid` query searched with no pipeline, or a pipeline without a phase
results processor, is not an error in OpenSearch: the shard's raw list comes back, sub-query lists wrapped in
marker hits with magic scores (see ``unfused_hybrid_hits``).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from localsearch.failures import ShardError
from localsearch.pipelines import java_text
from searchcore.errors import IllegalArgument, ParsingError
from searchcore.fusion import as_printed

K = TypeVar("K", bound=Hashable)

_INT_PATTERN = re.compile(r"[+-]?[0-9]+")
MAX_SUB_QUERIES = 5  # HybridQueryBuilder.MAX_NUMBER_OF_SUB_QUERIES
DEFAULT_MAX_RESULT_WINDOW = 10_000
# HybridSearchResultFormatUtil: the markers of a hybrid query's raw (unfused) result list
MAGIC_NUMBER_START_STOP = -9549511920.4881596047
MAGIC_NUMBER_DELIMITER = -4422440593.9791198149



@dataclass(frozen=True)
class HybridSpec:
    """A parsed ``hybrid`` clause and how many hits each sub-query retrieves."""

    queries: list[dict]
    pagination_depth: int  # hits per sub-query: the given pagination_depth, else size (from is 0)
    filter: dict | None = None  # applied to every sub-query (HybridQueryBuilder pushes it down)
    name: str | None = None
    given_depth: int | None = field(default=None)  # pagination_depth as written, None if absent


class ShardQueryError(ShardError):
    """An error the shard raises running a hybrid query; render it with ``shard_failure``.

    ``creating_query`` marks errors raised while building the Lucene query, which the shard wraps
    in ``query_shard_exception: failed to create query: ...``.
    """

    def __init__(self, reason: str, *, creating_query: bool = False) -> None:
        super().__init__(reason)
        self.creating_query = creating_query

    def shard_cause(self, index: str, index_uuid: str = "_na_") -> dict:
        cause = {"type": "illegal_argument_exception", "reason": self.reason}
        if not self.creating_query:
            return cause
        return {"type": "query_shard_exception", "reason": f"failed to create query: {self.reason}",
                "index": index, "index_uuid": index_uuid, "caused_by": cause}


def validate_hybrid_request(hybrid: Any, from_: int, size: int, *,
                            max_result_window: int = DEFAULT_MAX_RESULT_WINDOW) -> HybridSpec:
    """Parse a ``hybrid`` clause and check paging as HybridQueryBuilder and the hybrid collector do.

    Raises ``ParsingError`` (400 parsing_exception) for a malformed clause, and ``ShardQueryError``
    for what OpenSearch reports as a shard failure (pagination_depth out of range, or missing while
    ``from`` > 0). A ``from`` past the fused results is checked after fusion: ``check_page_in_results``.
    """
    if not isinstance(hybrid, dict):
        raise ParsingError("[hybrid] query malformed, no start_object after query name")
    queries: list[dict] = []
    filter_query, name, depth = None, None, None
    for key, value in hybrid.items():
        if key == "queries" and isinstance(value, dict):
            queries.append(value)
        elif key == "queries" and isinstance(value, list):
            for query in value:
                if len(queries) == MAX_SUB_QUERIES:
                    raise ParsingError("Number of sub-queries exceeds maximum supported by [hybrid] query")
                if not isinstance(query, dict):
                    raise ParsingError("[_na] query malformed, must start with start_object")
                queries.append(query)
            if not value:
                raise ParsingError("[_na] query malformed, must start with start_object")
        elif key == "filter" and isinstance(value, dict):
            filter_query = value
        elif isinstance(value, dict | list) or key not in ("boost", "_name", "pagination_depth"):
            raise ParsingError("Field is not supported by [hybrid] query")
        elif key == "boost":
            if _number(value, key) != 1.0:
                raise ParsingError("[hybrid] query does not support [boost]")
        elif key == "_name":
            name = None if value is None else java_text(value)
        else:
            depth = int(_number(value, key))
    if not queries:
        raise ParsingError("[hybrid] requires 'queries' field with at least one clause")
    if depth is not None:
        if depth < 0:
            raise ShardQueryError("pagination_depth should be greater than 0", creating_query=True)
        if depth > max_result_window:
            raise ShardQueryError(
                "pagination_depth should be less than or equal to index.max_result_window setting",
                creating_query=True)
        if depth == 0:
            raise ShardQueryError("pagination_depth must not be zero", creating_query=True)
    elif from_ > 0:
        raise ShardQueryError("pagination_depth param is missing in the search request")
    return HybridSpec(queries, depth if depth is not None else size, filter_query, name, depth)


def _number(value: Any, key: str) -> float:
    """XContentParser.floatValue/intValue: numbers, or strings holding one."""
    try:
        if isinstance(value, bool) or value is None:
            raise ValueError
        return float(value)
    except ValueError:
        raise ParsingError(f"[hybrid] failed to parse field [{key}]") from None


def check_page_in_results(from_: int, fused_count: int) -> None:
    """NormalizationProcessorWorkflow: a ``from`` past the fused list fails (render with phase_failure)."""
    if from_ > fused_count:
        raise IllegalArgument(
            "Reached end of search result, increase pagination_depth value to see more results")


def unfused_hybrid_hits(legs: Sequence[Sequence[tuple[K, float]]]) -> list[tuple[K, float]]:
    """What a hybrid query returns with no normalization/score-ranker processor: the raw list.

    HybridCollectorManager.getNewTopDocs: start marker, then per sub-query a delimiter and its hits,
    then a stop marker; every marker reuses the first document of the first non-empty leg. No hits at
    all gives an empty list. OpenSearch then pages this list with from/size as it is (one shard), and
    max_score is the best raw sub-query score. Marker scores are the float32 magic numbers.
    """
    first = next((leg[0][0] for leg in legs if leg), None)
    if first is None:
        return []
    start, delimiter = as_printed(MAGIC_NUMBER_START_STOP), as_printed(MAGIC_NUMBER_DELIMITER)
    out: list[tuple[K, float]] = [(first, start)]
    for leg in legs:
        out.append((first, delimiter))
        out.extend((key, as_printed(score)) for key, score in leg)
    out.append((first, start))
    return out
