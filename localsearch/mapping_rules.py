"""Which mapping parameters OpenSearch knows, which of them localsearch honours, and how both refuse the rest.

A parameter localsearch does not implement is accepted only at its default value (where it changes nothing);
any other value is refused with a 400 that names it, rather than stored and silently ignored. Parameters
OpenSearch does not know at all get OpenSearch's own error.
"""

from __future__ import annotations

from typing import Any

from localsearch.failures import unsupported
from searchcore.errors import IllegalArgument, MapperParsingError, SearchError

ANY = object()          # accepted with any value: it does not change what localsearch answers
HONOURED = object()     # implemented by localsearch
NOT_SET = object()      # no default: only its absence is accepted

_NUMERIC = {"boost": 1.0, "coerce": True, "copy_to": NOT_SET, "doc_values": True, "ignore_malformed": False,
            "index": True, "meta": ANY, "null_value": NOT_SET, "store": ANY}
PARAMETERS: dict[str, dict[str, Any]] = {
    "text": {"analyzer": HONOURED, "search_analyzer": HONOURED, "search_quote_analyzer": HONOURED, "boost": 1.0,
             "copy_to": NOT_SET, "eager_global_ordinals": ANY, "fielddata": False,
             "fielddata_frequency_filter": NOT_SET, "fields": HONOURED, "index": True, "index_options": "positions",
             "index_prefixes": NOT_SET, "index_phrases": False, "norms": True, "position_increment_gap": 100,
             "similarity": "BM25", "store": ANY, "term_vector": ANY, "meta": ANY},
    "keyword": {"boost": 1.0, "copy_to": NOT_SET, "doc_values": True, "eager_global_ordinals": ANY,
                "fields": HONOURED, "ignore_above": HONOURED, "index": True, "index_options": "docs", "meta": ANY,
                "norms": False, "null_value": NOT_SET, "similarity": "BM25", "split_queries_on_whitespace": False,
                "store": ANY, "normalizer": NOT_SET},
    "date": {**_NUMERIC, "format": HONOURED, "locale": NOT_SET},
    "boolean": {"boost": 1.0, "copy_to": NOT_SET, "doc_values": True, "index": True, "meta": ANY,
                "null_value": NOT_SET, "store": ANY},
    "scaled_float": {**_NUMERIC, "scaling_factor": HONOURED},
    "knn_vector": {"dimension": HONOURED, "method": HONOURED, "space_type": HONOURED, "model_id": NOT_SET,
                   "data_type": "float", "mode": "in_memory", "compression_level": "1x", "doc_values": ANY,
                   "meta": ANY},
}
for _name in ("long", "integer", "short", "byte", "double", "float", "half_float"):
    PARAMETERS[_name] = dict(_NUMERIC)
OBJECT_PARAMETERS = {"type", "properties", "dynamic", "enabled"}
# Field types OpenSearch (with the k-NN and neural-search plugins) has and localsearch does not.
KNOWN_TYPES = {"nested", "flat_object", "geo_point", "geo_shape", "ip", "alias", "join", "completion",
               "search_as_you_type", "token_count", "match_only_text", "wildcard", "constant_keyword",
               "integer_range", "float_range", "long_range", "double_range", "date_range", "ip_range",
               "rank_feature", "rank_features", "percolator", "binary", "unsigned_long", "date_nanos",
               "semantic", "derived", "star_tree", "sparse_vector"}
SPACE_TYPES = ("l2", "cosinesimil", "innerproduct")
FAISS_SPACES = SPACE_TYPES + ("l1", "linf", "hamming")
METHOD_KEYS = {"name", "engine", "space_type", "parameters"}
HNSW_PARAMETERS = {"lucene": {"m", "ef_construction"}, "faiss": {"m", "ef_construction", "ef_search", "encoder"}}
ANALYZERS = ("standard", "default")
SUPPORTED_DATE_FORMATS = {"strict_date_optional_time", "date_optional_time", "epoch_millis", "strict_date_time",
                          "date_time"}


class JavaError(SearchError):
    """A Java exception (not an OpenSearch one): shown under `caused_by`, never as the root cause."""

    status = 400


def java(error_type: str, reason: str) -> JavaError:
    return JavaError(reason, error_type=error_type)


def expand_dotted(properties: dict[str, Any]) -> dict[str, Any]:
    """`{"a.b": {...}}` is `{"a": {"properties": {"b": {...}}}}`, as OpenSearch stores it."""
    out: dict[str, Any] = {}
    for name, spec in properties.items():
        if "." in name and name.strip("."):
            head, rest = name.split(".", 1)
            target = out.setdefault(head, {"properties": {}})
            target.setdefault("properties", {}).update(expand_dotted({rest: spec}))
            continue
        if isinstance(spec, dict) and isinstance(spec.get("properties"), dict):
            spec = {**spec, "properties": expand_dotted(spec["properties"])}
        out[name] = spec
    return out


def validate_mapping(body: dict[str, Any], settings: dict[str, Any]) -> None:
    """Check a mapping from a request (create index, put mapping) against the index's settings."""
    index = settings.get("index", {})
    context = _Context(str(index.get("knn", "false")).lower() == "true", custom_analyzers(index))
    if "_source" in body and body["_source"] not in ({}, {"enabled": True}):
        raise unsupported("[_source] options in mappings", "mapper_parsing_exception")
    if body.get("dynamic_templates"):
        raise unsupported("[dynamic_templates]", "mapper_parsing_exception")
    if str(body.get("numeric_detection", "false")).lower() == "true":
        raise unsupported("[numeric_detection]", "mapper_parsing_exception")
    if body.get("_routing"):
        raise unsupported("[_routing] in mappings", "mapper_parsing_exception")
    if "dynamic" in body and str(body["dynamic"]).lower() not in ("true", "false", "strict", "runtime"):
        raise java("illegal_argument_exception", "Could not convert [dynamic.dynamic] to boolean")
    _check_properties(body.get("properties", {}), "", context)


class _Context:
    def __init__(self, knn: bool, analyzers: dict[str, Any]) -> None:
        self.knn, self.analyzers = knn, analyzers


def custom_analyzers(index_settings: dict[str, Any]) -> dict[str, Any]:
    """Custom analyzers from flat settings (`analysis.analyzer.NAME.tokenizer` ...) as {name: definition}."""
    found: dict[str, dict[str, Any]] = {}
    for key, value in index_settings.items():
        parts = key.split(".")
        if len(parts) >= 4 and parts[0] == "analysis" and parts[1] == "analyzer":
            found.setdefault(parts[2], {})[".".join(parts[3:])] = value
    return found


def _check_properties(properties: Any, prefix: str, context: _Context) -> None:
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if name == "":
            raise java("illegal_argument_exception", "name cannot be empty string")
        if not isinstance(spec, dict):  # refused before the mapping is parsed: not wrapped at index creation
            raise IllegalArgument(f"Expect the field config at the path {path} should be a map.")
        kind = spec.get("type", "object" if "properties" in spec else None)
        if kind in ("object", None):
            _check_object(spec, path, context)
            continue
        _check_field(spec, path, kind, context, subfield=False)


def _check_object(spec: dict[str, Any], path: str, context: _Context) -> None:
    unknown = [k for k in spec if k not in OBJECT_PARAMETERS]
    if unknown:
        raise MapperParsingError(f"Mapping definition for [{path}] has unsupported parameters:  "
                                 f"[{unknown[0]} : {spec[unknown[0]]}]")
    if str(spec.get("enabled", True)).lower() != "true":
        raise unsupported(f"[enabled: false] on object [{path}]", "mapper_parsing_exception")
    if "dynamic" in spec and str(spec["dynamic"]).lower() not in ("true", "false", "strict"):
        raise java("illegal_argument_exception", f"Could not convert [{path}.dynamic] to boolean")
    _check_properties(spec.get("properties", {}), f"{path}.", context)


def _check_field(spec: dict[str, Any], path: str, kind: str, context: _Context, subfield: bool) -> None:
    name = path.rsplit(".", 1)[-1]
    if kind not in PARAMETERS:
        if kind in KNOWN_TYPES:
            raise unsupported(f"the field type [{kind}] (field [{path}])", "mapper_parsing_exception")
        prefix = "no handler" if subfield else "No handler"
        raise MapperParsingError(f"{prefix} for type [{kind}] declared on field [{name}]")
    allowed = PARAMETERS[kind]
    for key, value in spec.items():
        if key == "type":
            continue
        if key not in allowed:
            raise MapperParsingError(f"unknown parameter [{key}] on mapper [{name}] of type [{kind}]")
        _check_value(key, value, allowed[key], path, kind, context)
    if kind == "knn_vector":
        _check_knn(spec, path, context)
    if kind == "scaled_float" and "scaling_factor" not in spec:
        raise java("illegal_argument_exception", "Field [scaling_factor] is required")
    if kind == "keyword" and "ignore_above" in spec:
        _int_parameter(spec["ignore_above"])
    if kind == "date" and "format" in spec:
        if not all(part.strip() in SUPPORTED_DATE_FORMATS for part in str(spec["format"]).split("||")):
            raise unsupported(f"the date format [{spec['format']}] (field [{path}])", "mapper_parsing_exception")
    for sub, sub_spec in (spec.get("fields") or {}).items():
        sub_kind = sub_spec.get("type") if isinstance(sub_spec, dict) else None
        if sub_kind == "knn_vector" or sub_kind is None:
            raise MapperParsingError(f"no handler for type [{sub_kind}] declared on field [{sub}]")
        _check_field(sub_spec, f"{path}.{sub}", sub_kind, context, subfield=True)


def _check_value(key: str, value: Any, rule: Any, path: str, kind: str, context: _Context) -> None:
    if rule is ANY or rule is HONOURED and not key.endswith("analyzer"):
        return
    if key.endswith("analyzer"):
        _check_analyzer(str(value), path, context)
        return
    if isinstance(rule, bool) and not isinstance(value, bool) and str(value).lower() not in ("true", "false"):
        raise java("illegal_argument_exception",
                   f"Failed to parse value [{value}] as only [true] or [false] are allowed.")
    if rule is NOT_SET or _normal(value) != _normal(rule):
        raise unsupported(f"[{key}: {_show(value)}] on field [{path}] of type [{kind}]", "mapper_parsing_exception")


def _check_analyzer(name: str, path: str, context: _Context) -> None:
    if name in ANALYZERS:
        return
    definition = context.analyzers.get(name)
    if definition is None:
        raise unsupported(f"the analyzer [{name}] (field [{path}]); localsearch analyzes text with the standard "
                          "analyzer, or a custom one of the standard tokenizer with lowercase and asciifolding",
                          "mapper_parsing_exception")
    if folding_filters(definition) is None:
        raise unsupported(f"the custom analyzer [{name}] (field [{path}]): only the standard tokenizer with the "
                          "lowercase and asciifolding filters is", "mapper_parsing_exception")


def folding_filters(definition: dict[str, Any]) -> tuple[str, ...] | None:
    """The filters of a custom analyzer localsearch can reproduce (standard tokenizer, lowercase, asciifolding),
    or None when it cannot."""
    if str(definition.get("type", "custom")) not in ("custom", "standard"):
        return None
    if definition.get("type") == "standard":
        return ("lowercase",) if set(definition) <= {"type"} else None
    if definition.get("tokenizer") != "standard" or set(definition) - {"type", "tokenizer", "filter"}:
        return None
    filters = definition.get("filter") or []
    filters = [filters] if isinstance(filters, str) else list(filters)
    if "lowercase" not in filters or set(filters) - {"lowercase", "asciifolding"}:
        return None
    return tuple(filters)


def _check_knn(spec: dict[str, Any], path: str, context: _Context) -> None:
    dimension = _dimension(spec.get("dimension"), path)
    method = spec.get("method")
    if method is None:
        return
    if not isinstance(method, dict):
        raise MapperParsingError(f"Unable to parse [method] for field [{path}]")
    if "model_id" in spec:
        raise java("illegal_argument_exception", f"Method and model can not be both specified in the mapping: {path}")
    if not context.knn:
        raise java("illegal_argument_exception", "Cannot set modelId or method parameters when index.knn setting "
                                                 "is false")
    unknown = [k for k in method if k not in METHOD_KEYS]
    if unknown:
        raise MapperParsingError(f"Invalid parameter: {unknown[0]}")
    if "name" not in method:
        raise MapperParsingError("name needs to be set")
    engine = method.get("engine", "faiss")
    if engine == "nmslib":
        raise java("illegal_argument_exception", "nmslib engine is deprecated in OpenSearch  and cannot be used for "
                                                 "new index creation in OpenSearch from  3.0.0.")
    if engine not in ("faiss", "lucene"):
        raise MapperParsingError(f"Invalid engine type: {engine}")
    if method["name"] != "hnsw":
        raise unsupported(f"the k-NN method [{method['name']}] (field [{path}])", "mapper_parsing_exception")
    space = method.get("space_type", spec.get("space_type", "l2"))
    if "space_type" in spec and "space_type" in method and spec["space_type"] != method["space_type"]:
        raise MapperParsingError(f'Cannot specify conflicting space types: "[{method["space_type"]}]" '
                                 f'"[{spec["space_type"]}]"')
    if space not in SPACE_TYPES:
        if engine == "faiss" and space in FAISS_SPACES:
            raise unsupported(f"the space type [{space}] (field [{path}])", "mapper_parsing_exception")
        raise MapperParsingError(f"Unable to find space: {space}")
    if engine == "lucene" and dimension > 16000:
        raise java("validation_exception", "Validation Failed: 1: Dimension value cannot be greater than 16000 "
                                           "for vector with engine: lucene;")
    _check_hnsw_parameters(method.get("parameters") or {}, engine)


def _dimension(value: Any, path: str) -> int:
    try:
        if isinstance(value, bool) or value is None:
            raise ValueError(value)
        dimension = int(value)
    except (TypeError, ValueError):
        raise MapperParsingError(f"Dimension value missing for vector: {path}") from None
    if dimension <= 0:
        raise java("illegal_argument_exception", f"Dimension value must be greater than 0 for vector: {path}")
    if dimension > 16000:
        raise MapperParsingError(f"Dimension value cannot be greater than 16000 for vector: {path}")
    return dimension


def _check_hnsw_parameters(parameters: dict[str, Any], engine: str) -> None:
    for key, value in parameters.items():
        if key not in HNSW_PARAMETERS[engine]:
            raise java("validation_exception", f"Validation Failed: 1: Unknown parameter '{key}' found;")
        if key == "encoder":
            raise unsupported("the faiss [encoder] (quantization)", "mapper_parsing_exception")
        if isinstance(value, bool) or not isinstance(value, int):
            raise java("validation_exception", "Validation Failed: 1: value is not an instance of Integer for "
                                               f"Integer parameter [{key}].;")
        if value <= 0:
            raise java("validation_exception", "Validation Failed: 1: parameter validation failed for Integer "
                                               f"parameter [{key}].;")


def _int_parameter(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise java("number_format_exception", f'For input string: "{value}"') from None


def _normal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).lower()


def _show(value: Any) -> str:
    return "true" if value is True else "false" if value is False else str(value)


# What OpenSearch leaves out of GET _mapping when a parameter that accepts any value is at its default.
HIDDEN_DEFAULTS = {"store": False, "eager_global_ordinals": False, "term_vector": "no"}


def display(body: dict[str, Any], knn_index: bool = True) -> dict[str, Any]:
    """The mapping as GET _mapping shows it: no empty `properties`, parameters at their default left out, k-NN
    methods with their defaults filled in."""
    out = {k: v for k, v in body.items() if not (k == "properties" and not v)}
    if out.get("properties"):
        out["properties"] = {name: _display_field(spec, knn_index) for name, spec in out["properties"].items()}
    return out


def _display_field(spec: dict[str, Any], knn_index: bool) -> dict[str, Any]:
    if not isinstance(spec, dict):
        return spec
    kind = spec.get("type", "object")
    defaults = {**HIDDEN_DEFAULTS, **{k: v for k, v in PARAMETERS.get(kind, {}).items()
                                      if v not in (ANY, HONOURED, NOT_SET)}}
    spec = {k: v for k, v in spec.items() if k not in defaults or _normal(v) != _normal(defaults[k])}
    if isinstance(spec.get("properties"), dict):
        spec["properties"] = {name: _display_field(sub, knn_index) for name, sub in spec["properties"].items()}
    if isinstance(spec.get("fields"), dict):
        spec["fields"] = {name: _display_field(sub, knn_index) for name, sub in spec["fields"].items()}
    if kind == "knn_vector":
        if "dimension" in spec and str(spec["dimension"]).isdigit():
            spec["dimension"] = int(spec["dimension"])
        if isinstance(spec.get("method"), dict):
            method = spec["method"]
            spec["method"] = {"engine": method.get("engine", "faiss"),
                              "space_type": method.get("space_type", spec.get("space_type", "l2")),
                              "name": method.get("name"), "parameters": method.get("parameters") or {}}
        elif not knn_index and "model_id" not in spec:  # a flat vector field: exact search over doc values
            spec = {"type": "knn_vector", "doc_values": True, **{k: v for k, v in spec.items() if k != "type"}}
    if isinstance(spec.get("copy_to"), str):
        spec["copy_to"] = [spec["copy_to"]]
    return spec

