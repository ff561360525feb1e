"""The standard tokenizer: the ASCII fast path splits exactly as the general one (the differential tests compare
the general one with OpenSearch's _analyze)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from localsearch.tokenizer import analyze, ascii_spans, unicode_spans

ASCII = st.text(alphabet=st.sampled_from(list("aZ19_.,:;'- /@#()[]\"!?\t\n")), max_size=40)


@settings(max_examples=1000, deadline=None)
@given(text=ASCII)
def test_ascii_fast_path_equals_the_general_rules(text):
    assert ascii_spans(text) == unicode_spans(text)


def test_standard_tokenizer_examples():
    assert analyze("It's 3.14, o'neil and U.S.A. 1,000 a_b foo-bar _") == [
        "it's", "3.14", "o'neil", "and", "u.s.a", "1,000", "a_b", "foo", "bar"]
    assert analyze("東京タワー") == ["東", "京", "タワー"]
    assert [len(t) for t in analyze("x" * 600)] == [255, 255, 90]
