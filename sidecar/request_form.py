"""Whether the sidecar reads a search request as the cluster would; when not, the cluster answers it itself.

The sidecar re-sends what it plans (stage 1's own requests), so a value it cannot carry over unchanged, or a key
or parameter it does not know, would be dropped or altered on the way; the cluster would refuse some of them
(an unknown key, `"_source": 1`, `1e400` where an int goes, `?df=x` without `q`) with its own error type, and
read others its own way. Such a request passes through, and the client gets exactly the cluster's answer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

Q_PARAMS = ("df", "analyzer", "default_operator", "analyze_wildcard", "lenient")   # the cluster reads them with q
# read by the cluster as a Java int (track_total_hits: or true/false); the sidecar takes them as it always has
INT_PARAMS = ("track_total_hits", "terminate_after")
_JAVA_INT = re.compile(r"[+-]?[0-9]{1,10}")
KNOWN_PARAMS = frozenset({"q", *Q_PARAMS, *INT_PARAMS, "from", "size", "sort", "_source", "_source_includes", "_source_excludes",
                          "scroll", "explain", "rest_total_hits_as_int", "preference", "routing", "ignore_unavailable",
                          "allow_no_indices", "expand_wildcards", "request_cache", "timeout", "ignore_throttled",
                          "pretty", "human", "error_trace", "filter_path", "typed_keys"})


def read_as_the_cluster_reads(body: Mapping[str, Any], params: Mapping[str, str], known_keys: Iterable[str]) -> bool:
    """No body key outside `known_keys` and no parameter the sidecar does not know, no number a double cannot
    hold (`1e400` parses to infinity, which no JSON can send on), a `_source` of a form the cluster takes, a
    `q` option only with `q`, and `rest_total_hits_as_int` only true or false."""
    if not frozenset(known_keys).issuperset(body) or not KNOWN_PARAMS.issuperset(params):
        return False
    if "q" not in params and any(name in params for name in Q_PARAMS):
        return False   # the cluster: "request [...] contains unrecognized parameter"
    if params.get("rest_total_hits_as_int", "true") not in ("true", "false", ""):
        return False
    if not all(_java_int(params[name]) or params[name] in ("true", "false") for name in INT_PARAMS if name in params):
        return False   # the cluster: "Failed to parse int parameter"
    return all_finite(body) and source_form(body.get("_source"))


def all_finite(value: Any) -> bool:
    """No infinite or NaN float anywhere in a parsed JSON value (iterative: depth is checked elsewhere)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            return False
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return True


def source_form(value: Any) -> bool:
    """`_source` as the cluster takes it: true/false, a pattern, a list of patterns, or includes/excludes."""
    def patterns(v: Any) -> bool:
        return isinstance(v, str) or isinstance(v, list) and all(isinstance(p, str) for p in v)
    if value is None or isinstance(value, bool) or patterns(value):
        return True
    return isinstance(value, dict) and set(value) <= {"includes", "excludes", "include", "exclude"} and all(
        patterns(v) for v in value.values())


def _java_int(text: str) -> bool:
    return bool(_JAVA_INT.fullmatch(text)) and -(2**31) <= int(text) < 2**31
