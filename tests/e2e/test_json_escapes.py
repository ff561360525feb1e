"""JSON escapes in every field of a search: lone surrogates, NUL, numbers past a double or a long.

`"\\ud800"` is valid JSON that no UTF-8 text holds; `1e400` and a 100-digit integer are valid JSON numbers that
no double or long holds. Each goes into every field of the body (keys where a key is a name), of an `_msearch`
header, of the query string and of the path, sent as raw bytes to the sidecar and straight to the engine behind it
(localsearch, then the real node). The sidecar never answers 500 and always answers OpenSearch's error format;
where the engine refuses the request with a 4xx, the sidecar refuses it with the same status and error type.
"""

from __future__ import annotations

import http.client
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

INDEX, PLAIN = "e2e-docs", "e2e-plain"
STRINGS = {"high-surrogate": '"\\ud800"', "low-surrogate": '"read \\udfff file"', "nul": '"read\\u0000file"'}
NUMBERS = {"huge-float": "1e400", "negative-huge-float": "-1e400", "tiny-float": "1e-400", "long-integer": "9" * 100}
ESCAPES = {**STRINGS, **NUMBERS}
TEXT = '"read a file"'
# a search body with one slot, `@`; `@key` is a slot where only a string fits (an object key)
FIELDS = {
    "match.text": '{"query": {"match": {"text": @}}}',
    "match.field": '{"query": {"match": {@key: "read a file"}}}',
    "match.operator": '{"query": {"match": {"text": {"query": "read a file", "operator": @}}}}',
    "match.boost": '{"query": {"match": {"text": {"query": "read a file", "boost": @}}}}',
    "multi_match.query": '{"query": {"multi_match": {"query": @, "fields": ["title", "text"]}}}',
    "multi_match.fields": '{"query": {"multi_match": {"query": "read a file", "fields": [@]}}}',
    "query_string.query": '{"query": {"query_string": {"query": @}}}',
    "bool.filter.term": '{"query": {"bool": {"must": [{"match": {"text": "read a file"}}], '
                        '"filter": [{"term": {"category": @}}]}}}',
    "bool.minimum_should_match": '{"query": {"bool": {"should": [{"match": {"text": "read a file"}}], '
                                 '"minimum_should_match": @}}}',
    "range.year": '{"query": {"bool": {"must": [{"match": {"text": "read a file"}}], '
                  '"filter": [{"range": {"year": {"gte": @}}}]}}}',
    "ids.values": '{"query": {"bool": {"must": [{"match": {"text": "read a file"}}], '
                  '"filter": [{"ids": {"values": [@]}}]}}}',
    "size": '{"query": {"match": {"text": "read a file"}}, "size": @}',
    "from": '{"query": {"match": {"text": "read a file"}}, "from": @}',
    "_source": '{"query": {"match": {"text": "read a file"}}, "_source": @}',
    "_source.includes": '{"query": {"match": {"text": "read a file"}}, "_source": {"includes": [@]}}',
    "sort.field": '{"query": {"match": {"text": "read a file"}}, "sort": [{@key: "desc"}]}',
    "sort.order": '{"query": {"match": {"text": "read a file"}}, "sort": [{"_score": @}]}',
    "min_score": '{"query": {"match": {"text": "read a file"}}, "min_score": @}',
    "track_total_hits": '{"query": {"match": {"text": "read a file"}}, "track_total_hits": @}',
    "timeout": '{"query": {"match": {"text": "read a file"}}, "timeout": @}',
    "terminate_after": '{"query": {"match": {"text": "read a file"}}, "terminate_after": @}',
    "post_filter": '{"query": {"match": {"text": "read a file"}}, "post_filter": {"term": {"category": @}}}',
    "aggs.terms.field": '{"query": {"match": {"text": "read a file"}}, "aggs": {"c": {"terms": {"field": @}}}}',
    "aggs.terms.size": '{"query": {"match": {"text": "read a file"}}, '
                       '"aggs": {"c": {"terms": {"field": "category", "size": @}}}}',
    "aggs.name": '{"query": {"match": {"text": "read a file"}}, "aggs": {@key: {"terms": {"field": "category"}}}}',
    "highlight.field": '{"query": {"match": {"text": "read a file"}}, "highlight": {"fields": {@key: {}}}}',
    "top-level key": '{"query": {"match": {"text": "read a file"}}, @key: 1}',
}
# ext.rerank is the sidecar's own: the engine never sees it, so only the sidecar's answer is checked
EXT_FIELDS = {
    "ext.rerank.window": '{"query": {"match": {"text": "read a file"}}, "ext": {"rerank": {"window": @}}}',
    "ext.rerank.budget_ms": '{"query": {"match": {"text": "read a file"}}, "ext": {"rerank": {"budget_ms": @}}}',
    "ext.rerank.query_text": '{"query": {"match": {"text": "read a file"}}, "ext": {"rerank": {"query_text": @}}}',
    "ext.rerank.fusion": '{"query": {"match": {"text": "read a file"}}, "ext": {"rerank": {"fusion": @}}}',
    "ext.rerank.score_mode": '{"query": {"match": {"text": "read a file"}}, "ext": {"rerank": {"score_mode": @}}}',
    "ext.rerank.fusion_weights": '{"query": {"match": {"text": "read a file"}}, '
                                 '"ext": {"rerank": {"fusion_weights": [@, 0.5]}}}',
    "ext.rerank.fusion_rank_constant": '{"query": {"match": {"text": "read a file"}}, '
                                       '"ext": {"rerank": {"fusion_rank_constant": @}}}',
    "ext.rerank key": '{"query": {"match": {"text": "read a file"}}, "ext": {"rerank": {@key: 1}}}',
}
# the msearch header's fields
HEADERS = {"index": '{"index": @}', "preference": '{"index": "e2e-docs", "preference": @}',
           "routing": '{"index": "e2e-docs", "routing": @}', "header key": '{"index": "e2e-docs", @key: "x"}'}
# the query string and the path: a surrogate can only come as its (invalid) UTF-8 bytes, percent-encoded
RAW_VALUES = {"surrogate-bytes": "%ED%A0%80", "nul": "%00", "huge-float": "1e400", "long-integer": "9" * 100}
PARAMS = ("q", "size", "from", "_source", "_source_includes", "sort", "df", "timeout", "terminate_after",
          "preference", "track_total_hits", "rest_total_hits_as_int", "search_type", "routing")
PATHS = {"index": "/{}/_search", "index list": "/e2e-docs,{}/_search", "after _search": "/e2e-docs/_search/{}",
         "msearch index": "/{}/_msearch"}


def fill(template: str, token: str) -> str | None:
    """The template with `token` in its slot; None where the slot is a key and the token is a number."""
    if "@key" in template:
        return None if token not in STRINGS.values() else template.replace("@key", token)
    return template.replace("@", token)


def cases(fields: dict[str, str]) -> list[tuple[str, str]]:
    return [(f"{field}={name}", body) for field, template in fields.items() for name, token in ESCAPES.items()
            if (body := fill(template, token)) is not None]


def send(url: str, method: str, target: str, body: bytes | None = None,
         content_type: str = "application/json") -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    try:
        connection.request(method, target, body=body, headers={"Content-Type": content_type} if body else {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def error_of(status: int, data: bytes) -> str | None:
    """The error type of an OpenSearch-style error answer (asserting its form); None for a success."""
    if status < 400:
        return None
    body = json.loads(data)
    assert isinstance(body, dict), data[:300]
    error = body["error"]
    if isinstance(error, str):   # the node's form for a path or method no handler takes (passed through)
        assert body.get("status", status) == status, data[:300]
        return "(string)"
    assert body.get("status") == status, data[:300]
    assert isinstance(error["type"], str) and isinstance(error["reason"], str), data[:300]
    assert isinstance(error.get("root_cause", []), list), data[:300]
    return error["type"]


def compare(backend, sidecar, method: str, target: str, body: bytes | None = None,
            content_type: str = "application/json", *, engine_sees_it: bool = True) -> str | None:
    """A difference between the sidecar's answer and the engine's, described; None when they agree."""
    status, data = send(sidecar.url, method, target, body, content_type)
    if status >= 500:
        return f"sidecar {status}: {data[:300]!r}"
    try:
        mine = error_of(status, data)
    except (ValueError, AssertionError, KeyError, TypeError) as exc:
        return f"sidecar {status}, not OpenSearch's error format ({exc!r}): {data[:300]!r}"
    if not engine_sees_it:
        return None
    engine_status, engine_data = send(backend.url, method, target, body, content_type)
    if not 400 <= engine_status < 500:
        return None   # the engine answered (or failed on its own): the sidecar only had to answer well
    theirs = error_of(engine_status, engine_data)
    if (status, mine) != (engine_status, theirs):
        return f"sidecar {status} {mine}, engine {engine_status} {theirs}: {engine_data[:200]!r}"
    return None


def check_all(found: dict[str, str | None]) -> None:
    differences = {case: problem for case, problem in found.items() if problem}
    assert not differences, f"{len(differences)} of {len(found)}:\n" + "\n".join(
        f"{case}: {problem}" for case, problem in differences.items())


@pytest.mark.parametrize("index", [INDEX, PLAIN])
def test_escapes_in_every_field_of_a_search_body(backend, sidecar, index):
    check_all({case: compare(backend, sidecar, "POST", f"/{index}/_search", body.encode())
               for case, body in cases(FIELDS)})


def test_escapes_in_every_field_of_ext_rerank(backend, sidecar):
    check_all({case: compare(backend, sidecar, "POST", f"/{INDEX}/_search", body.encode(), engine_sees_it=False)
               for case, body in cases(EXT_FIELDS)})


def test_escapes_in_msearch_headers_and_bodies(backend, sidecar):
    found = {}
    for case, header in cases(HEADERS):
        payload = f'{header}\n{{"query": {{"match": {{"text": {TEXT}}}}}}}\n'.encode()
        found[f"header {case}"] = msearch_problem(backend, sidecar, payload)
    for case, body in cases(FIELDS):
        found[f"body {case}"] = msearch_problem(backend, sidecar, f'{{"index": "{INDEX}"}}\n{body}\n'.encode())
    check_all(found)


def msearch_problem(backend, sidecar, payload: bytes) -> str | None:
    """Whole-request errors as for a search; per search, the sidecar's item status and error type as the
    engine's where the engine refused that search.

    One difference is allowed: a search the node refuses while parsing fails its whole `_msearch`, while the
    sidecar, which has the cluster run a reranked search's own requests, answers that item with the cluster's
    status and error type (the same refusal, one level down)."""
    status, data = send(sidecar.url, "POST", "/_msearch", payload, "application/x-ndjson")
    if status != 200:
        return compare(backend, sidecar, "POST", "/_msearch", payload, "application/x-ndjson")
    engine_status, engine_data = send(backend.url, "POST", "/_msearch", payload, "application/x-ndjson")
    items = json.loads(data)["responses"]
    if engine_status != 200:
        refused = (engine_status, error_of(engine_status, engine_data))
        if any((item.get("status"), item.get("error", {}).get("type")) == refused for item in items):
            return None
        return f"sidecar 200 {json.dumps(items)[:200]}, engine {engine_status}: {engine_data[:200]!r}"
    for mine, theirs in zip(items, json.loads(engine_data)["responses"], strict=True):
        status_of = mine.get("status", 200)
        if status_of >= 500:
            return f"sidecar item {status_of}: {json.dumps(mine)[:300]}"
        theirs_status = theirs.get("status", 200)
        if 400 <= theirs_status < 500 and (status_of, mine.get("error", {}).get("type")) != (
                theirs_status, theirs["error"].get("type")):
            return f"sidecar item {status_of} {json.dumps(mine)[:200]}, engine item {json.dumps(theirs)[:200]}"
    return None


def test_escapes_in_the_query_string(backend, sidecar):
    body = f'{{"query": {{"match": {{"text": {TEXT}}}}}}}'.encode()
    found = {}
    for param in PARAMS:
        for name, value in RAW_VALUES.items():
            for index in (INDEX, PLAIN):
                found[f"{index}?{param}={name}"] = compare(backend, sidecar, "POST", f"/{index}/_search?{param}={value}",
                                                          body)
    check_all(found)


def test_escapes_in_the_path(backend, sidecar):
    body = f'{{"query": {{"match": {{"text": {TEXT}}}}}}}'.encode()
    found = {}
    for where, pattern in PATHS.items():
        for name, value in RAW_VALUES.items():
            target = pattern.format(value)
            payload = b'{}\n' + body + b"\n" if "_msearch" in target else body
            kind = "application/x-ndjson" if "_msearch" in target else "application/json"
            found[f"{where}={name}"] = compare(backend, sidecar, "POST", target, payload, kind)
    check_all(found)


# ---- generated: escapes anywhere in a search-shaped body, in process before localsearch ---------------------

escape_tokens = st.sampled_from(list(ESCAPES.values()))
keys = st.sampled_from(["query", "match", "text", "size", "from", "_source", "sort", "ext", "rerank", "window",
                        "bool", "filter", "must", "term", "range", "gte", "aggs", "terms", "field"]).map(json.dumps)
string_keys = keys | st.sampled_from(list(STRINGS.values()))
json_fragments = st.recursive(
    escape_tokens | st.sampled_from([TEXT, "1", "null", "true", '"desc"']),
    lambda children: st.lists(children, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
    | st.lists(st.tuples(string_keys, children), max_size=3).map(
        lambda kvs: "{" + ", ".join(f"{k}: {v}" for k, v in kvs) + "}"),
    max_leaves=8)
search_texts = st.one_of(
    json_fragments,
    st.builds(lambda q: f'{{"query": {q}}}', json_fragments),
    st.builds(lambda k, v: f'{{"query": {{"match": {{"text": {TEXT}}}}}, {k}: {v}}}', string_keys, json_fragments),
    st.builds(lambda field, v: fill(FIELDS[field], v) or fill(FIELDS[field], STRINGS["nul"]),
              st.sampled_from(sorted(FIELDS)), escape_tokens))


@pytest.fixture(scope="module")
def client(localsearch_server, localsearch_corpus, tiny_cross_encoder):
    from sidecar.app import create_app
    from sidecar.settings import Limits, Profile, Settings
    app_settings = Settings(opensearch_url=localsearch_server.url, limits=Limits(max_window=50),
                            defaults=Profile(reranker=str(tiny_cross_encoder), window=5, budget_ms=60000))
    return create_app(app_settings, warm_up=False).test_client()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(text=search_texts, index=st.sampled_from([INDEX, PLAIN]), msearch=st.booleans())
def test_generated_bodies_with_escapes_get_a_well_formed_answer(client, text, index, msearch):
    if msearch:
        response = client.post("/_msearch", data=f'{{"index": "{index}"}}\n{text}\n'.encode(),
                               content_type="application/x-ndjson")
    else:
        response = client.post(f"/{index}/_search", data=text.encode(), content_type="application/json")
    data = response.get_data()
    assert response.status_code < 500, data[:500]
    error_of(response.status_code, data)
    if msearch and response.status_code == 200:
        for item in json.loads(data)["responses"]:
            assert item.get("status", 200) < 500, item
            if item.get("status", 200) >= 400:
                assert isinstance(item["error"]["type"], str), item
