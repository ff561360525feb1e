"""JSON escapes in any field the planner reads (lone surrogates, NUL, numbers past a double or a long): the plan
either succeeds with text a tokenizer and UTF-8 take, or refuses with a 4xx whose body renders as UTF-8."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from searchcore.bodies import json_bytes, json_text, parse_json_body
from searchcore.errors import SearchError
from sidecar.plan import PassThrough, plan_search
from sidecar.settings import Limits

ESCAPES = ['"\\ud800"', '"x\\udfff"', '"\\u0000"', '"a\\ud83d"', "1e400", "-1e400", "1e-400", "9" * 100,
           "-" + "9" * 100, "1" + "0" * 30 + ".5"]
STRING_ESCAPES = [e for e in ESCAPES if e.startswith('"')]
KEYS = ["query", "match", "text", "size", "from", "_source", "sort", "ext", "rerank", "window", "budget_ms",
        "query_text", "fusion", "fusion_weights", "fusion_rank_constant", "score_mode", "retrieval", "enabled",
        "explain", "bool", "must", "should", "filter", "must_not", "multi_match", "query_string", "fields",
        "post_filter", "min_score", "_score", "order", "includes", "excludes", "knn", "function_score"]
LIMITS = Limits(max_window=500, max_query_chars=2000, max_nesting_depth=32)

values = st.recursive(
    st.sampled_from(ESCAPES + ['"read a file"', "10", "true", "null", '"desc"', '"rrf"']),
    lambda children: st.lists(children, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
    | st.lists(st.tuples(st.sampled_from(KEYS).map(json.dumps) | st.sampled_from(STRING_ESCAPES), children),
               max_size=4).map(lambda kvs: "{" + ", ".join(f"{k}: {v}" for k, v in kvs) + "}"),
    max_leaves=12)
bodies = st.one_of(
    values,
    st.builds(lambda q, k, v: f'{{"query": {q}, {k}: {v}}}', values, st.sampled_from(KEYS).map(json.dumps), values),
    st.builds(lambda k, v: f'{{"query": {{"match": {{"text": "read"}}}}, "ext": {{"rerank": {{{k}: {v}}}}}}}',
              st.sampled_from(KEYS).map(json.dumps) | st.sampled_from(STRING_ESCAPES), values))
params = st.dictionaries(st.sampled_from(["q", "size", "from", "sort", "_source", "df", "scroll", "explain"]),
                         st.text(max_size=12) | st.sampled_from(["1e400", "9" * 100, "\ud800", "a\x00b"]), max_size=3)


@settings(max_examples=300, deadline=None)
@given(text=bodies, query=params)
def test_the_planner_answers_any_escape_with_a_plan_or_a_4xx(text, query):
    try:
        body = parse_json_body(text.encode())
        result = plan_search(body, query, {}, profile_window=10, max_window=100, limits=LIMITS)
    except SearchError as exc:
        assert 400 <= exc.status < 500, exc.body()
        assert json.loads(json_bytes(exc.body()))["error"]["type"] == exc.error_type
        return
    if isinstance(result, PassThrough):
        json.dumps(result.body).encode("utf-8")   # what goes to the cluster: escapes stay escapes
        return
    result.query_text.encode("utf-8")   # what the tokenizers and the bi-encoder get
    json.dumps(result.lexical_query).encode("utf-8")


def test_json_bytes_sends_a_lone_surrogate_back_as_its_escape():
    assert json_bytes({"reason": "got [\ud800]", "ok": "é"}) == b'{"reason": "got [\\ud800]", "ok": "\\u00e9"}'
    assert json_bytes({"ok": "é"}) == '{"ok": "é"}'.encode()
    assert json.loads(json_text(["\udfff", "中"])) == ["\udfff", "中"]
