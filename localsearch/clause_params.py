"""The parameters of each query clause localsearch compiles, read and checked as OpenSearch 3.6's parser for that
clause reads them, before any index is consulted: the same refusals, with the same status and error type.

Each `parse_*` returns the clause's parameters as values (operators lowercased, numbers as numbers), defaults
filled in. Checks that need an index (an analyzer's name, a minimum_should_match spec, a rewrite method, a
tie_breaker's range) are made where the clause is compiled, as the shard makes them. The compound clauses'
fields (bool, knn, dis_max, constant_score) are read in compound_params.
"""

from __future__ import annotations

import re
from typing import Any

from localsearch import query_params as qp
from localsearch.datemath import zone
from localsearch.failures import QueryShardError, unsupported
from localsearch.query_params import IllegalStateError, ObjectParserError, ObjectParserTypeError
from searchcore.errors import IllegalArgument, ParsingError, SearchError

Params = dict[str, Any]


def _scalar(query: str, key: str, value: Any) -> Any:
    """A value kept as given (objectText): the token check has already refused null, arrays and objects."""
    return value


MATCH = {"query": _scalar, "operator": qp.operator, "minimum_should_match": qp.text, "boost": qp.number,
         "analyzer": qp.text, "lenient": qp.flag, "fuzziness": _scalar, "zero_terms_query": qp.zero_terms_query,
         "auto_generate_synonyms_phrase_query": qp.flag, "prefix_length": qp.integer,
         "max_expansions": qp.integer, "fuzzy_transpositions": qp.flag, "fuzzy_rewrite": qp.text,
         "cutoff_frequency": qp.number, "_name": qp.text}
MATCH_PHRASE = {"query": _scalar, "slop": qp.integer, "boost": qp.number, "analyzer": qp.text,
                "zero_terms_query": qp.zero_terms_query, "_name": qp.text}
MATCH_PHRASE_PREFIX = {**MATCH_PHRASE, "max_expansions": qp.integer}
MULTI_MATCH = {"query": _scalar, "type": qp.text, "operator": qp.operator, "tie_breaker": qp.number,
               "minimum_should_match": qp.text, "boost": qp.number, "lenient": qp.flag, "analyzer": qp.text,
               "fuzziness": _scalar, "slop": qp.integer, "zero_terms_query": qp.zero_terms_query,
               "auto_generate_synonyms_phrase_query": qp.flag, "prefix_length": qp.integer,
               "max_expansions": qp.integer, "fuzzy_transpositions": qp.flag, "fuzzy_rewrite": qp.text,
               "cutoff_frequency": qp.number, "_name": qp.text}
MULTI_MATCH_TYPES = ("best_fields", "most_fields", "cross_fields", "phrase", "phrase_prefix", "bool_prefix")
TERM = {"value": qp.anything, "boost": qp.number, "case_insensitive": qp.flag, "_name": qp.text}
def _text_or_null(query: str, key: str, value: Any) -> str | None:
    return None if value is None else qp.java_text(value)


WILDCARD = {"value": qp.text, "boost": qp.number, "case_insensitive": qp.flag, "rewrite": qp.text, "_name": qp.text}
PREFIX = {**WILDCARD, "value": _text_or_null}
EXISTS = {"field": qp.text, "boost": qp.number, "_name": qp.text}
RANGE_BOUNDS = {"gte": "lower", "gt": "lower", "from": "lower", "include_lower": "lower",
                "lte": "upper", "lt": "upper", "to": "upper", "include_upper": "upper"}
RANGE = {**dict.fromkeys(("gte", "gt", "from", "lte", "lt", "to"), qp.anything), "include_lower": qp.flag,
         "include_upper": qp.flag, "boost": qp.number, "time_zone": qp.text, "format": qp.text,
         "relation": qp.text, "_name": qp.text}
RELATIONS = ("intersects", "within", "contains")
CONSTANT_REWRITES = re.compile(r"constant_score|constant_score_boolean|constantScore|constantScoreBoolean")
SCORING_REWRITES = re.compile(r"scoring_boolean|scoringBoolean|(top_terms_|top_terms_boost_|top_terms_blended_freqs_|"
                              r"topTerms|topTermsBoost|topTermsBlendedFreqs)\d+")


class ParseFailure(SearchError):
    """OpenSearchParseException (`parse_exception`): an OpenSearch exception, so it can be a root cause."""

    status, error_type = 400, "parse_exception"


# ---- field and short forms -------------------------------------------------------------------------------------

def field_params(spec: dict[str, Any], query: str, short_key: str | None) -> tuple[str, Params]:
    """The field a clause names and its parameters, its short form (`{"match": {"f": "text"}}`) expanded;
    `short_key` None: the clause has no short form (range)."""
    fields = [k for k in spec if k not in ("boost", "_name")]
    if len(fields) != 1:
        if not fields:
            raise IllegalArgument(f"[{query}] query requires a field")
        raise ParsingError(f"[{query}] query doesn't support multiple fields, found [{fields[0]}] and [{fields[1]}]")
    path = fields[0]
    value = spec[path]
    if isinstance(value, dict):
        return path, value
    if short_key is None:
        raise ParsingError(f"[{query}] query malformed, expected an object for field [{path}]")
    if value is None:
        raise _NULL_SHORT_FORM[query]
    if isinstance(value, list):
        if query == "term":
            raise ParsingError("[term] query does not support array of values")
        raise IllegalStateError("Can't get text on a START_ARRAY at 1:1")
    return path, {short_key: value}


_NULL_SHORT_FORM: dict[str, SearchError] = {
    "match": ParsingError("No text specified for text query"),
    "match_phrase": IllegalArgument("[match_phrase] requires query value"),
    "match_phrase_prefix": IllegalArgument("[match_phrase_prefix] requires query value"),
    "term": IllegalArgument("field name is null or empty"),
    "prefix": IllegalArgument("value cannot be null"),
    "wildcard": IllegalStateError("Can't get text on a VALUE_NULL at 1:1"),
}


# ---- full text -----------------------------------------------------------------------------------------------

def parse_match(params: Params) -> Params:
    p = qp.read_params("match", params, MATCH)
    if "query" not in p:
        raise ParsingError("No text specified for text query")
    if p.get("prefix_length", 0) < 0:
        raise IllegalArgument("[match] requires prefix length to be non-negative.")
    if p.get("max_expansions", 50) <= 0:
        raise IllegalArgument("[match] requires maxExpansions to be positive.")
    return _finish("match", p, operator="or", lenient=False, zero_terms_query="none")


def parse_match_phrase(params: Params, query: str = "match_phrase") -> Params:
    p = qp.read_params(query, params, MATCH_PHRASE_PREFIX if query == "match_phrase_prefix" else MATCH_PHRASE)
    if "query" not in p:
        raise IllegalArgument(f"[{query}] requires query value")
    if p.get("slop", 0) < 0:
        raise IllegalArgument("No negative slop allowed.")
    return _finish(query, p, slop=0, zero_terms_query="none")


def parse_multi_match(spec: Params) -> Params:
    fields_given = spec.get("fields")
    if "fields" in spec and not isinstance(fields_given, (str, list)) and not qp.is_scalar(fields_given):
        raise ParsingError("[multi_match] query does not support [fields]")
    others = {k: v for k, v in spec.items() if k != "fields"}
    if "fields" in spec:   # the node parses in body order: a bad `title^x` fails before a later unknown key
        keys = list(spec)
        qp.read_params("multi_match", {k: spec[k] for k in keys[:keys.index("fields")]}, MULTI_MATCH)
        weights = _field_weights(fields_given)
    p = qp.read_params("multi_match", others, MULTI_MATCH)
    if "query" not in p:
        raise ParsingError("[multi_match] requires query value")
    kind = p.get("type", "best_fields")
    if kind not in MULTI_MATCH_TYPES:
        raise ParseFailure(f"failed to parse [multi_match] query type [{kind}]. unknown type.")
    p["fields"] = weights if "fields" in spec else _field_weights(None)
    if p.get("slop", 0) < 0:
        raise IllegalArgument("No negative slop allowed.")
    return _finish("multi_match", p, type="best_fields", operator="or", lenient=False, zero_terms_query="none",
                   tie_breaker=None)


def _field_weights(fields: Any) -> list[tuple[str, float]]:
    """`fields` as (pattern, boost) pairs; none (or an empty list) means every field."""
    entries = [] if fields is None else fields if isinstance(fields, list) else [fields]
    out = []
    for entry in entries:
        pattern, caret, weight = qp.java_text(entry).partition("^")
        boost = qp.float_value(weight) if caret else 1.0
        out.append((pattern, qp.check_boost("multi_match", boost)))
    return out or [("*", 1.0)]


def _finish(query: str, p: Params, **defaults: Any) -> Params:
    """Defaults filled in, and the boost checked (after the clause is parsed, as AbstractQueryBuilder does)."""
    p["boost"] = qp.check_boost(query, p.get("boost", 1.0))
    for key, value in defaults.items():
        p.setdefault(key, value)
    if p.get("cutoff_frequency") is not None:
        raise unsupported("[cutoff_frequency]")
    return p


# ---- term level ----------------------------------------------------------------------------------------------

def parse_term(params: Params) -> Params:
    p = qp.read_params("term", params, TERM, checks_tokens=False)
    value = p.get("value")
    if isinstance(value, dict):
        raise ParsingError(f"[term] query does not support [{next(iter(value), 'value')}]")
    if value is None:
        raise IllegalArgument("value cannot be null")
    return _finish("term", p, case_insensitive=False)


def parse_pattern(query: str, params: Params) -> Params:
    """prefix and wildcard: the value as text (a null prefix is refused by name, anything else not text fails
    as Jackson fails on it)."""
    if query == "wildcard" and "wildcard" in params:
        params = {("value" if k == "wildcard" else k): v for k, v in params.items()}
    p = qp.read_params(query, params, PREFIX if query == "prefix" else WILDCARD, checks_tokens=False)
    if p.get("value") is None:
        if query == "prefix":
            raise IllegalArgument("value cannot be null")
        p["value"] = qp.java_text(None)  # Jackson's text of a missing value
    return _finish(query, p, case_insensitive=False)


def check_rewrite(p: Params, key: str) -> None:
    """A rewrite method is read when the shard builds the query. Those that score each matching term are not
    imitated (localsearch's prefix and wildcard queries are constant-scored)."""
    method = p.get(key)
    if method is None or CONSTANT_REWRITES.fullmatch(method):
        return
    if SCORING_REWRITES.fullmatch(method):
        if key == "rewrite":
            raise unsupported(f"the rewrite method [{method}] (it scores each matching term)")
        return
    raise QueryShardError(f"failed to create query: Failed to parse rewrite_method [{method}]",
                          caused_by={"type": "illegal_argument_exception",
                                     "reason": f"Failed to parse rewrite_method [{method}]"})


def parse_terms(spec: Params) -> tuple[str, list[Any], float]:
    fields = {k: v for k, v in spec.items() if k not in ("boost", "_name")}
    if len(fields) != 1:
        raise ParsingError("[terms] query does not support multiple fields")
    path, values = next(iter(fields.items()))
    if isinstance(values, dict):
        lookup = ("index", "id", "path", "routing", "store")
        unknown = [k for k in values if k not in lookup]
        if unknown:
            raise ObjectParserTypeError(f"[terms_lookup] unknown field [{unknown[0]}]")
        raise unsupported("[terms] lookup (terms from another document)")
    if not isinstance(values, list):
        raise ParsingError(f"[terms] query does not support [{path}]")
    for value in values:
        if isinstance(value, list):
            raise ParsingError(f"[terms] unknown token [END_ARRAY] after [{path}]")
        if value is None:
            raise ParsingError("No value specified for terms query")
    boost = qp.check_boost("terms", qp.float_value(spec["boost"])) if "boost" in spec else 1.0
    return path, values, boost


def parse_range(params: Params) -> Params:
    p: Params = {}
    given: dict[str, list[str]] = {"lower": [], "upper": []}
    for key, value in params.items():
        _check_bound(key, value, given)
        p.update(qp.read_params("range", {key: value}, RANGE, checks_tokens=False))
    if "time_zone" in p:
        check_zone(p["time_zone"])
    if "format" in p:
        check_date_format(p["format"])
    relation = p.get("relation")
    if relation is not None:
        if relation.lower() == "disjoint":
            raise IllegalArgument("[range] query does not support relation [disjoint]")
        if relation.lower() not in RELATIONS:
            raise IllegalArgument(f"{relation} is not a valid relation")
    return _finish("range", p)


def _check_bound(key: str, value: Any, given: dict[str, list[str]]) -> None:
    """As each bound is read: one given twice (`gte` and `gt`, `gte` and `include_lower`, ...), or as an array,
    is refused; an object is read as more range parameters."""
    side = RANGE_BOUNDS.get(key)
    if side is None:
        return
    given[side].append(key)
    strict = [k for k in given[side] if k in ("gte", "gt", "lte", "lt")]
    is_bound = key not in ("include_lower", "include_upper")
    if (strict and len(given[side]) > 1) or (is_bound and isinstance(value, list)):
        raise ParsingError(f"invalid {side} bound for [range] query")
    if is_bound and isinstance(value, dict):
        raise ParsingError(f"[range] query does not support [{next(iter(value), key)}]")


# OpenSearch's named date formats (each also with a strict_ prefix), and the letters of java.time's patterns
DATE_FORMAT_NAMES = frozenset(
    "epoch_millis epoch_second date_optional_time date_optional_time_nanos basic_date basic_date_time "
    "basic_date_time_no_millis basic_ordinal_date basic_ordinal_date_time basic_ordinal_date_time_no_millis "
    "basic_time basic_time_no_millis basic_t_time basic_t_time_no_millis basic_week_date basic_week_date_time "
    "basic_week_date_time_no_millis date date_hour date_hour_minute date_hour_minute_second "
    "date_hour_minute_second_fraction date_hour_minute_second_millis date_time date_time_no_millis hour "
    "hour_minute hour_minute_second hour_minute_second_fraction hour_minute_second_millis ordinal_date "
    "ordinal_date_time ordinal_date_time_no_millis time time_no_millis t_time t_time_no_millis week_date "
    "week_date_time week_date_time_no_millis weekyear weekyear_week weekyear_week_day year year_month "
    "year_month_day rfc3339_lenient iso8601".split())
PATTERN_LETTERS = frozenset("GuyDMLdQqYwWEecFaBhKkHmsSAnNVvzOXxZpg")


def check_date_format(text: str) -> None:
    """DateFormatter.forPattern, which the range parser calls whatever the field: a pattern with a letter
    java.time does not know is refused."""
    for part in text.split("||"):
        name = part.strip().removeprefix("strict_")
        if name in DATE_FORMAT_NAMES:
            continue
        unquoted = re.sub(r"'[^']*'?", "", part)
        bad = next((c for c in unquoted if c.isalpha() and c.isascii() and c not in PATTERN_LETTERS), None)
        if bad is not None:
            raise IllegalArgument(f"Invalid format: [{text}]: Unknown pattern letter: {bad}")


def check_zone(name: str, *, bare: bool = False) -> None:
    """java.time.ZoneId.of's refusals: wrapped in an IllegalArgumentException by the range parser, or left as
    they are (`bare`: query_string's parser, whose error OpenSearch answers with a 500)."""
    try:
        zone(name)
    except SearchError as exc:
        if name[:1] in "+-" or len(name) <= 1 or name[:1].isdigit():
            java, reason = "DateTimeException", f"Invalid ID for ZoneOffset, invalid format: {name}"
        elif not re.fullmatch(r"[A-Za-z][A-Za-z0-9~/._+-]+", name):
            java, reason = "DateTimeException", f"Invalid ID for region-based ZoneId, invalid format: {name}"
        else:
            java, reason = "zone.ZoneRulesException", f"Unknown time-zone ID: {name}"
        if bare:
            error_type = re.sub(r"(?<!^)(?=[A-Z])", "_", java.rpartition(".")[2]).lower()
            raise SearchError(reason, status=500, error_type=error_type) from exc
        raise IllegalArgument(f"java.time.{java}: {reason}") from exc


def parse_exists(spec: Params) -> Params:
    p = qp.read_params("exists", spec, EXISTS)
    if "field" not in p:
        raise ParsingError("[exists] must be provided with a [field]")
    if not p["field"]:
        raise IllegalArgument("field name is null or empty")
    return _finish("exists", p)


def parse_ids(spec: Params) -> tuple[list[str], float]:
    qp.read_params("ids", spec, {"values": qp.anything, "boost": qp.anything, "_name": qp.anything},
                   unknown="[ids] unknown field [{key}]")
    values = spec.get("values", [])
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list):
        raise ParsingError("[ids] query requires [values] as an array")
    if any(not qp.is_scalar(v) for v in values):
        raise ParsingError("[ids] failed to parse field [values]")
    boost = _object_float("ids", spec, ParsingError) if "boost" in spec else 1.0
    return [qp.java_text(v) for v in values], qp.check_boost("ids", boost)


def _object_float(parser: str, spec: Params, wrap: type[SearchError] | None = None) -> float:
    """An ObjectParser's float field; `wrap`: the parser rewords its errors (match_all and ids do)."""
    try:
        return qp.object_field(parser, "boost", spec["boost"], "boost")
    except (ObjectParserError, ObjectParserTypeError) as exc:
        if wrap is None:
            raise
        raise wrap(exc.reason) from exc


def parse_match_all(spec: Params) -> float:
    qp.read_params("match_all", spec, {"boost": qp.anything, "_name": qp.anything})
    boost = _object_float("match_all", spec, ParsingError) if "boost" in spec else 1.0
    return qp.check_boost("match_all", boost)


def check_tie_breaker(value: float) -> None:
    if not 0 <= value <= 1:
        raise QueryShardError("failed to create query: tieBreakerMultiplier must be in [0, 1]",
                              caused_by={"type": "illegal_argument_exception",
                                         "reason": "tieBreakerMultiplier must be in [0, 1]"})


# ---- query_string and simple_query_string ------------------------------------------------------------------------

QUERY_STRING = {"query": _scalar, "default_field": qp.text, "default_operator": qp.operator, "lenient": qp.flag,
                "analyze_wildcard": qp.flag, "boost": qp.number, "tie_breaker": qp.number, "type": qp.text,
                "allow_leading_wildcard": qp.flag, "time_zone": qp.text, "minimum_should_match": qp.text,
                "auto_generate_synonyms_phrase_query": qp.flag, "escape": qp.flag,
                "max_determinized_states": qp.integer, "_name": qp.text, "enable_position_increments": qp.flag,
                "phrase_slop": qp.integer, "fuzziness": _scalar, "fuzzy_max_expansions": qp.integer,
                "fuzzy_prefix_length": qp.integer, "fuzzy_transpositions": qp.flag, "rewrite": qp.text,
                "quote_field_suffix": qp.text, "quote_analyzer": qp.text, "analyzer": qp.text,
                "fuzzy_rewrite": qp.text}
SIMPLE_QUERY_STRING = {"query": _scalar, "default_operator": qp.operator, "analyzer": qp.text, "flags": _scalar,
                       "fuzzy_max_expansions": qp.integer, "fuzzy_prefix_length": qp.integer,
                       "fuzzy_transpositions": qp.flag, "lenient": qp.flag, "minimum_should_match": qp.text,
                       "quote_field_suffix": qp.text, "analyze_wildcard": qp.flag,
                       "auto_generate_synonyms_phrase_query": qp.flag, "boost": qp.number, "_name": qp.text}


def parse_query_string(query: str, spec: Params) -> Params:
    """query_string's (or simple_query_string's) parameters, typed and read in request order: the clause with
    them replaced."""
    simple = query == "simple_query_string"
    readers = SIMPLE_QUERY_STRING if simple else QUERY_STRING
    p: Params = {}
    for key, value in spec.items():
        if key == "fields":
            if not isinstance(value, list):
                raise ParsingError("[simple_query_string] unsupported field [fields]" if simple
                                   else "[query_string] query does not support [fields]")
            if any(f is None for f in value) and not simple:
                raise ParsingError(f"[{query}] field name in [fields] cannot be null")
            p["fields"] = [qp.java_text(f) for f in value]
            continue
        if key == "default_field" and not simple and not qp.is_scalar(value):
            raise ParsingError("[query_string] query does not support [default_field]")
        p.update(qp.read_params(query, {key: value}, readers,
                                unknown="[simple_query_string] unsupported field [{key}]" if simple else None))
        if key == "type" and p["type"] not in MULTI_MATCH_TYPES:
            raise ParseFailure(f"failed to parse [multi_match] query type [{p['type']}]. unknown type.")
        if key == "time_zone":
            check_zone(p["time_zone"], bare=True)
    p["boost"] = qp.check_boost(query, p.get("boost", 1.0))
    return p
