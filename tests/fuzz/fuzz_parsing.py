"""Coverage-guided fuzzing (atheris) of the sidecar's request parsing: bodies, _msearch NDJSON, ext.rerank, queries.

Each input is split into a raw body (parsed as a search body and as _msearch NDJSON), URL parameters and
headers; what parses goes on through `plan_search`, the query-text and k-NN filter extraction, the `_source`
spec, and the request-target and request-id helpers. The only exceptions allowed are the sidecar's
OpenSearch-style errors (`SearchError`), and their bodies must render as UTF-8 JSON, as must the query text a
plan hands to the tokenizers (lone surrogates come from JSON escapes such as `"\\ud800"`, in bodies and in
parameters): anything else is a crash, which atheris reports with the input that caused it (turn it into a
case in tests/fuzz/test_regressions.py).

    .venv/bin/python tests/fuzz/fuzz_parsing.py -max_total_time=60 tests/fuzz/seeds     # or: make fuzz
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports(include=["sidecar"]):
    from searchcore.bodies import json_bytes, parse_json_body
    from searchcore.errors import SearchError
    from sidecar.logs import request_id
    from sidecar.pipeline import parse_msearch
    from sidecar.plan import PassThrough, plan_search
    from sidecar.proxy import request_target
    from sidecar.query_text import has_vector_query, knn_filters, lucene_to_text, query_texts
    from sidecar.settings import Limits

LIMITS = Limits(max_window=500, max_query_chars=2000, max_nesting_depth=32)
PARAM_NAMES = ["q", "size", "from", "sort", "scroll", "_source", "_source_includes", "_source_excludes",
               "explain", "df", "default_operator", "rest_total_hits_as_int", "analyze_wildcard", "lenient"]


def one_search(body: object, params: dict[str, str], headers: dict[str, str]) -> None:
    try:
        plan = plan_search(body if isinstance(body, dict) or body is None else body, params, headers,
                           profile_window=50, max_window=500, limits=LIMITS)
    except SearchError as exc:
        assert 400 <= exc.status < 500, exc.body()
        json_bytes(exc.body())   # the route's rendering: never an encoding error
        return
    if isinstance(plan, PassThrough):
        return
    assert plan.query_text and len(plan.query_text) <= LIMITS.max_query_chars
    plan.query_text.encode("utf-8")
    assert 1 <= plan.window <= 500 and plan.from_ >= 0 and plan.size >= 0
    query_texts(plan.lexical_query)
    knn_filters(plan.lexical_query)
    has_vector_query(plan.lexical_query)


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    params = {PARAM_NAMES[fdp.ConsumeIntInRange(0, len(PARAM_NAMES) - 1)]: fdp.ConsumeUnicode(16)
              for _ in range(fdp.ConsumeIntInRange(0, 3))}
    headers = {"X-Rerank": fdp.ConsumeUnicodeNoSurrogates(6), "X-Opaque-Id": fdp.ConsumeUnicode(12)}
    request_id(headers)
    lucene_to_text(fdp.ConsumeUnicode(40))
    target = fdp.ConsumeBytes(30).decode("latin-1")
    request_target({"PATH_INFO": "/" + target, "QUERY_STRING": fdp.ConsumeBytes(10).decode("latin-1")})
    request_target({"RAW_URI": "/" + target})
    raw = fdp.ConsumeBytes(fdp.remaining_bytes())
    try:
        body = parse_json_body(raw)
    except SearchError:
        body = None
    else:
        one_search(body, params, headers)
    try:
        items = parse_msearch(raw, max_items=20)
    except SearchError:
        return
    for header, item in items:
        one_search(item, {**params, **{k: str(v) for k, v in header.items() if k != "index"}}, headers)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
