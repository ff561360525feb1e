"""Text analysis, differential: localsearch's standard tokenizer splits text as OpenSearch's `_analyze` does, and
documents written with such text are found by the same queries."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localsearch.lexical import analyze
from tests.differential.harness import assert_same_answer, describe

pytestmark = pytest.mark.opensearch

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TRICKY = ["It's 3.14, o'neil and U.S.A.", "foo-bar a_b 1,000 a:b x.y 1.a ab1.5", "e-mail@x.com wi-fi",
          "東京タワー ひらがな", "naïve café Ærø straße", "HTTP/2 v1.2.3 $100 50% #tag", "l'été c'est", "", "   ",
          "x" * 300, "3.14.15 ...a.. 'quoted'"]


def reference_tokens(pair, text: str, analyzer: dict) -> list[str]:
    reply = pair.reference.send("POST", "/_analyze", {**analyzer, "text": text})
    assert reply.status == 200, reply.body
    return [token["token"] for token in reply.body["tokens"]]


@pytest.mark.parametrize("text", TRICKY)
def test_standard_tokenizer(pair, text):
    assert analyze(text) == reference_tokens(pair, text, {"analyzer": "standard"})


@pytest.mark.parametrize("text", TRICKY)
def test_folding_analyzer(pair, text):
    folded = {"tokenizer": "standard", "filter": ["lowercase", "asciifolding"]}
    assert analyze(text, folding=True) == reference_tokens(pair, text, folded)


# letters, digits of three scripts, joiners, marks, the characters that join or split words, CJK and kana
ALPHABET = list("ab1Zé_.,:;'’ʼ- æ東タひ\u0301½/@#$%&*()[]\"!?\u00a0\t\nïç9٠१１")


@SETTINGS
@given(text=st.text(alphabet=st.sampled_from(ALPHABET), max_size=30))
def test_generated_text_tokenizes_the_same(pair, text):
    assert analyze(text) == reference_tokens(pair, text, {"analyzer": "standard"})


def test_documents_with_tricky_text_are_found_the_same(pair, indices):
    name = indices.name()
    pair.ok("PUT", f"/{name}", {"mappings": {"properties": {"t": {"type": "text"}}}})
    lines: list[object] = []
    # documents whose text has no token would count for localsearch's BM25 statistics and not for Lucene's (a
    # documented difference): this corpus leaves them out
    for i, text in enumerate(t for t in TRICKY if analyze(t)):
        lines += [{"index": {"_index": name, "_id": str(i)}}, {"t": text}]
    pair.ok("POST", "/_bulk", lines, {"refresh": "true"}, ndjson=True)
    for query in ("3.14", "o'neil", "u.s.a", "1,000", "a:b", "foo bar", "東", "cafe", "café", "wi fi",
                  "http", "v1.2.3", "ab1.5"):
        local, reference = pair.search(name, {"query": {"match": {"t": query}}})
        assert_same_answer(local, reference)
        local, reference = pair.search(name, {"query": {"match_phrase": {"t": query}}})
        assert_same_answer(local, reference)
    local, reference = pair.search(name, {"query": {"match": {"t": "3.14 o'neil"}},
                                          "highlight": {"fields": {"t": {}}}})
    assert local.status == reference.status == 200, describe(local, reference)
    assert [h.get("highlight") for h in local.hits] == [h.get("highlight") for h in reference.hits]


@SETTINGS
@given(text=st.text(alphabet=st.sampled_from(list("aZ19_.,:;'- /@#()[]\"!?\t\n")), max_size=30))
def test_generated_ascii_text_tokenizes_the_same(pair, text):
    """ASCII text takes localsearch's fast path (one regular expression)."""
    assert analyze(text) == reference_tokens(pair, text, {"analyzer": "standard"})
