"""Highlighting as OpenSearch's unified highlighter shapes it: fragments, tags, fields and query terms."""

from __future__ import annotations

import pytest

from localsearch import execute, search
from localsearch.bulk import WriteOp
from localsearch.engine import Engine
from localsearch.highlight import extract_matchers, highlight, parse_query_string
from searchcore.errors import ParsingError

MAPPING = {"properties": {
    "title": {"type": "text", "fields": {"keyword": {"type": "keyword"}}},
    "body": {"type": "text"},
    "tags": {"type": "keyword", "ignore_above": 10},
    "author": {"type": "text"},
    "views": {"type": "long"},
}}
# sentences of BODY: [0, 31) "A fox jumps over the lazy dog. ", [31, 48) "Dogs are sleepy. ", [48, 72) "The quick fox..."
BODY = "A fox jumps over the lazy dog. Dogs are sleepy. The quick fox runs away."
ARTICLE = {"title": "The quick brown fox", "body": BODY, "tags": ["fox", "animal", "foxes-and-hounds"],
           "author": "Jane Fox", "views": 7}
DASHBOARDS = {"pre_tags": ["@opensearch-dashboards-highlighted-field@"],
              "post_tags": ["@/opensearch-dashboards-highlighted-field@"],
              "fields": {"*": {}}, "fragment_size": 2147483647}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = Engine(tmp_path_factory.mktemp("highlight"))
    engine.create_index("articles", {"mappings": MAPPING})
    engine.write([WriteOp("index", "articles", "a", ARTICLE),
                  WriteOp("index", "articles", "b", {"title": "Cats", "body": "Nothing about that animal."})],
                 refresh="true")
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def view(engine):
    return engine.resolve("articles")[0].view


def run(engine, body):
    return execute.search(engine, engine.resolve("articles"), search.parse_request(body, {}))


def fields(spec, query, view, source=ARTICLE):
    return highlight(spec, query, view, source)


# ---- through the search API ----

def test_search_hits_carry_highlight_only_when_something_matched(engine):
    response = run(engine, {"query": {"match": {"title": "quick fox"}}, "highlight": {"fields": {"title": {}}}})
    hits = {h["_id"]: h for h in response["hits"]["hits"]}
    assert hits["a"]["highlight"] == {"title": ["The <em>quick</em> brown <em>fox</em>"]}
    response = run(engine, {"query": {"match": {"body": "animal"}}, "highlight": {"fields": {"title": {}}}})
    assert "highlight" not in response["hits"]["hits"][0]


def test_dashboards_discover_request(engine):
    query = {"bool": {"must": [], "filter": [{"multi_match": {"type": "best_fields", "query": "fox", "lenient": True}},
                                             {"range": {"views": {"gte": 1}}}]}}
    hit = run(engine, {"query": query, "highlight": DASHBOARDS})["hits"]["hits"][0]
    tag, end = "@opensearch-dashboards-highlighted-field@", "@/opensearch-dashboards-highlighted-field@"
    assert hit["highlight"] == {
        "title": [f"The quick brown {tag}fox{end}"],
        "body": [f"A {tag}fox{end} jumps over the lazy dog. Dogs are sleepy. The quick {tag}fox{end} runs away."],
        "tags": [f"{tag}fox{end}"],  # a keyword value is highlighted only when it equals the query text
        "author": [f"Jane {tag}Fox{end}"],
    }


# ---- fragments ----

def test_default_fragment_size_merges_sentences_up_to_100_characters(view):
    result = fields({"fields": {"body": {}}}, {"match": {"body": "fox"}}, view)
    assert result == {"body": ["A <em>fox</em> jumps over the lazy dog. Dogs are sleepy. The quick <em>fox</em> runs "
                               "away."]}


def test_small_fragment_size_gives_one_fragment_per_sentence_with_matches(view):
    result = fields({"fields": {"body": {"fragment_size": 30}}}, {"match": {"body": "fox"}}, view)
    assert result == {"body": ["A <em>fox</em> jumps over the lazy dog.", "The quick <em>fox</em> runs away."]}


def test_passages_start_at_the_sentence_of_the_first_match(view):
    result = fields({"fields": {"body": {}}}, {"match": {"body": "sleepy"}}, view)
    assert result == {"body": ["Dogs are <em>sleepy</em>. The quick fox runs away."]}


def test_number_of_fragments_keeps_the_best_passages_in_text_order(view):
    spec = {"fields": {"body": {"fragment_size": 30, "number_of_fragments": 1}}}
    # Lucene's passage scorer prefers the shorter passage for one occurrence of the same term
    assert fields(spec, {"match": {"body": "fox"}}, view) == {"body": ["The quick <em>fox</em> runs away."]}
    spec = {"fields": {"body": {"fragment_size": 30}}, "order": "score"}
    assert fields(spec, {"match": {"body": "fox"}}, view) == {
        "body": ["The quick <em>fox</em> runs away.", "A <em>fox</em> jumps over the lazy dog."]}


def test_number_of_fragments_zero_returns_whole_values(view):
    spec = {"fields": {"body": {"number_of_fragments": 0, "fragment_size": 10}}}
    assert fields(spec, {"match": {"body": "dogs"}}, view) == {
        "body": ["A fox jumps over the lazy dog. <em>Dogs</em> are sleepy. The quick fox runs away."]}


def test_long_sentence_is_cut_at_word_boundaries_around_the_match(view):
    source = {"body": "one two three four five six seven eight nine ten eleven twelve"}
    result = fields({"fields": {"body": {"fragment_size": 20}}}, {"match": {"body": "seven"}}, view, source)
    # BoundedBreakIteratorScanner: start at the word break before (match + 1 - 20), i.e. "three"; nothing of
    # the 20 characters is left after the match, so the passage ends at the match's word
    assert result == {"body": ["three four five six <em>seven</em>"]}


def test_multi_valued_fields_give_a_fragment_per_matching_value(view):
    source = {"author": ["Jane Fox", "John Smith", "Ann Fox"]}
    assert fields({"fields": {"author": {}}}, {"match": {"author": "fox"}}, view, source) == {
        "author": ["Jane <em>Fox</em>", "Ann <em>Fox</em>"]}


def test_adjacent_terms_are_wrapped_separately(view):
    result = fields({"fields": {"title": {}}}, {"match": {"title": "quick brown"}}, view)
    assert result == {"title": ["The <em>quick</em> <em>brown</em> fox"]}


def test_no_match_size_shows_the_start_of_a_field_without_matches(view):
    spec = {"fields": {"body": {"no_match_size": 10}}, "require_field_match": True}
    assert fields(spec, {"match": {"title": "fox"}}, view) == {"body": ["A fox jumps"]}


# ---- tags and encoding ----

def test_custom_and_styled_tags(view):
    spec = {"fields": {"title": {}}, "pre_tags": ["<b>", "<i>"], "post_tags": ["</b>", "</i>"]}
    assert fields(spec, {"match": {"title": "fox"}}, view) == {"title": ["The quick brown <b>fox</b>"]}
    spec = {"fields": {"title": {}}, "tags_schema": "styled"}
    assert fields(spec, {"match": {"title": "fox"}}, view) == {"title": ['The quick brown <em class="hlt1">fox</em>']}


def test_html_encoder_escapes_the_text_but_not_the_tags(view):
    source = {"title": "Tom & <Jerry's> fox"}
    spec = {"fields": {"title": {}}, "encoder": "html"}
    assert fields(spec, {"match": {"title": "fox"}}, view, source) == {
        "title": ["Tom &amp; &lt;Jerry&#x27;s&gt; <em>fox</em>"]}


def test_pre_tags_without_post_tags_is_a_parsing_error(view):
    with pytest.raises(ParsingError, match=r"^pre_tags are set but post_tags are not set$"):
        fields({"fields": {"title": {}}, "pre_tags": ["<b>"]}, {"match_all": {}}, view)


# ---- fields and field matching ----

def test_require_field_match_limits_terms_to_the_queried_field(view):
    query = {"match": {"title": "fox"}}
    assert fields({"fields": {"author": {}}}, query, view) == {}
    assert fields({"fields": {"author": {}}, "require_field_match": False}, query, view) == {
        "author": ["Jane <em>Fox</em>"]}


def test_wildcard_field_names_cover_text_and_keyword_fields_only(view):
    query = {"query_string": {"query": "fox OR 7"}}
    assert set(fields({"fields": {"*": {}}}, query, view)) == {"title", "body", "tags", "author"}
    assert set(fields({"fields": [{"t*": {}}]}, query, view)) == {"title", "tags"}


def test_keyword_subfield_highlights_the_whole_value(view):
    query = {"term": {"title.keyword": "The quick brown fox"}}
    assert fields({"fields": {"title.keyword": {}}}, query, view) == {"title.keyword": ["<em>The quick brown fox</em>"]}


def test_keyword_values_past_ignore_above_are_not_highlighted(view):
    query = {"prefix": {"tags": "fox"}}
    assert fields({"fields": {"tags": {}}}, query, view) == {"tags": ["<em>fox</em>"]}


def test_highlight_query_replaces_the_search_query(view):
    spec = {"fields": {"title": {"highlight_query": {"match": {"title": "brown"}}}}}
    assert fields(spec, {"match": {"title": "fox"}}, view) == {"title": ["The quick <em>brown</em> fox"]}


# ---- query terms ----

def test_phrase_highlights_only_the_phrase_occurrences(view):
    result = fields({"fields": {"body": {}}}, {"match_phrase": {"body": "quick fox"}}, view)
    assert result == {"body": ["The <em>quick</em> <em>fox</em> runs away."]}


def test_phrase_prefix_and_slop(view):
    assert fields({"fields": {"title": {}}}, {"match_phrase_prefix": {"title": "quick bro"}}, view) == {
        "title": ["The <em>quick</em> <em>brown</em> fox"]}
    assert fields({"fields": {"title": {}}}, {"match_phrase": {"title": {"query": "quick fox", "slop": 1}}}, view) == {
        "title": ["The <em>quick</em> brown <em>fox</em>"]}
    assert fields({"fields": {"title": {}}}, {"match_phrase": {"title": "quick fox"}}, view) == {}


def test_must_not_terms_are_not_highlighted(view):
    query = {"bool": {"must": [{"match": {"body": "dogs"}}], "must_not": [{"match": {"body": "fox"}}],
                      "should": [{"term": {"body": "lazy"}}]}}
    assert fields({"fields": {"body": {"number_of_fragments": 0}}}, query, view) == {
        "body": ["A fox jumps over the <em>lazy</em> dog. <em>Dogs</em> are sleepy. The quick fox runs away."]}


def test_term_on_text_field_is_not_analyzed(view):
    assert fields({"fields": {"title": {}}}, {"term": {"title": "Fox"}}, view) == {}
    assert fields({"fields": {"title": {}}}, {"term": {"title": "fox"}}, view) == {"title": ["The quick brown <em>fox</em>"]}


def test_wildcard_prefix_and_fuzzy_terms(view):
    assert fields({"fields": {"body": {}}}, {"prefix": {"body": "sle"}}, view) == {
        "body": ["Dogs are <em>sleepy</em>. The quick fox runs away."]}
    assert fields({"fields": {"title": {}}}, {"wildcard": {"title": "q*k"}}, view) == {
        "title": ["The <em>quick</em> brown fox"]}
    assert fields({"fields": {"title": {}}}, {"match": {"title": {"query": "quikc", "fuzziness": "AUTO"}}}, view) == {
        "title": ["The <em>quick</em> brown fox"]}


def test_query_string_fields_operators_and_negation(view):
    query = {"query_string": {"query": "title:quick OR (body:dogs AND NOT fox) -author:jane"}}
    assert fields({"fields": {"*": {}}}, query, view) == {
        "title": ["The <em>quick</em> brown fox"],
        "body": ["<em>Dogs</em> are sleepy. The quick fox runs away."]}


def test_query_string_extraction():
    matchers = parse_query_string('"lazy dog"~2 qu?ck^2 -fox title:(brown OR red) _exists_:x', ("*",))
    assert [(m.fields, m.kind, m.value) for m in matchers] == [
        (("*",), "phrase", "lazy dog"), (("*",), "pattern", "qu.ck"), (("title",), "text", "brown"),
        (("title",), "text", "red")]
    assert matchers[0].slop == 2


def test_extraction_walks_compound_queries():
    query = {"bool": {"filter": {"constant_score": {"filter": {"terms": {"tags": ["a", "b"]}}}},
                      "should": [{"dis_max": {"queries": [{"match": {"title": "x"}}]}}],
                      "must_not": {"match": {"title": "y"}}}}
    assert [(m.fields, m.kind, m.value) for m in extract_matchers(query)] == [
        (("title",), "text", "x"), (("tags",), "term", "a"), (("tags",), "term", "b")]


def test_numeric_fields_are_never_highlighted(view):
    assert fields({"fields": {"views": {}}}, {"term": {"views": 7}}, view) == {}
