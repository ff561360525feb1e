"""Text analysis, differential: localsearch's standard tokenizer splits text as OpenSearch's `_analyze` does, and
documents written with such text are found by the same queries."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localsearch.lexical import analyze
from localsearch.tokenizer import tokens
from tests.differential.harness import assert_same_answer, describe

pytestmark = pytest.mark.opensearch

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TRICKY = ["It's 3.14, o'neil and U.S.A.", "foo-bar a_b 1,000 a:b x.y 1.a ab1.5", "e-mail@x.com wi-fi",
          "東京タワー ひらがな", "naïve café Ærø straße", "HTTP/2 v1.2.3 $100 50% #tag", "l'été c'est", "", "   ",
          "x" * 300, "3.14.15 ...a.. 'quoted'",
          # symbols the standard tokenizer keeps: emoji (UTR #51) and the "accidental" ones
          "© 2018 American Cancer Society®, Acme™ ° ± × € ℃ №", "I ❤️ it 👍🏻👍🏽 ☀ ✓ ✔ ⌘ ★ 〰 〽",
          "family 👨‍👩‍👧 flags 🇫🇷🇩🇪🇪 keycaps 1️⃣ #⃣ 9⃣ tag 🏴󠁧󠁢󠁳󠁣󠁴󠁿", "a©b ™x x™ ©́ ‍© a‍© ❤︎ ★️‍☆",
          # scripts and characters whose word-break class differs from their Unicode category
          "ภาษาไทย abcไทย ไทย๑๒ ເລົ້າ ខ្មែរ", "ⓂⓃ Ⓜb 🅰x ℹa ˂˃ ꞉", "İSTANBUL ΟΔΟΣ ΣΊΣΥΦΟΣ", "צה\"ל א' ב\"", "a\u00adb a\u200bb "
          "a\u200cb 1\u202f000 a\u0387b 1\u060c2 ｶﾞｷﾞ"]


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


# letters, digits of three scripts, joiners, marks, the characters that join or split words, CJK and kana,
# emoji and their joiners and selectors, symbols of category So that are no emoji, South East Asian and Hebrew
ALPHABET = list("ab1Zé_.,:;'’ʼ- æ東タひ\u0301½/@#$%&*()[]\"!?\u00a0\t\nïç9٠१１©®™°€℃☺♥★✓⌘😀👍🏻🇫🇷"
                "\u200d\ufe0f\ufe0e\u20e3\u00ad\u200bไท๑ָאבⓂİΣ")


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


def node_tokens(pair, text: str) -> list[tuple[int, str]]:
    reply = pair.reference.send("POST", "/_analyze", {"analyzer": "standard", "text": text})
    assert reply.status == 200, reply.body
    return [(token["start_offset"], token["token"]) for token in reply.body["tokens"]]


def test_every_code_point_alone_tokenizes_the_same(pair):
    """All 1.1 million code points, each between spaces: whether it makes a token, and which (this is what
    caught `©`, and letters that Python's Unicode tables know and Lucene's do not)."""
    code_points = [c for c in range(0x21, 0x110000) if not 0xD800 <= c <= 0xDFFF]
    differences = []
    for i in range(0, len(code_points), 4000):
        chunk = [chr(c) for c in code_points[i:i + 4000]]
        text = " ".join(chunk)
        units = [0]  # the node's offsets count UTF-16 units
        for char in text:
            units.append(units[-1] + (2 if ord(char) > 0xFFFF else 1))
        mine = [(units[token.start], token.text) for token in tokens(text)]
        theirs = node_tokens(pair, text)
        if mine != theirs:
            differences += sorted(set(mine) ^ set(theirs))[:5]
    assert not differences, differences[:20]


@SETTINGS
@given(text=st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12))
def test_generated_unicode_text_tokenizes_the_same(pair, text):
    """Any code points next to each other (how each joins its neighbours)."""
    assert analyze(text) == reference_tokens(pair, text, {"analyzer": "standard"})
