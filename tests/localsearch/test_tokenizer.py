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


def test_emoji_are_tokens():
    """What OpenSearch's _analyze answers (checked against the node when these were written)."""
    assert analyze("© 2018 American Cancer Society®, Acme™ ° ± € ℃") == [
        "©", "2018", "american", "cancer", "society", "®", "acme", "™"]
    assert analyze("👨\u200d👩\u200d👧 👍🏻 a🏻 1️⃣ 1\u20e3 🇫🇷🇪 ❤\ufe0e ★\ufe0f\u200d☆") == [
        "👨\u200d👩\u200d👧", "👍🏻", "a🏻", "1️⃣", "1\u20e3", "🇫🇷", "❤", "★\ufe0f"]
    assert analyze("x© ©x a\u200d© Ⓜb") == ["x", "©", "©", "x", "a\u200d", "©", "ⓜb"]


def test_word_break_classes_of_other_scripts():
    assert analyze("กขa ก๑ ไทย") == ["กข", "a", "ก", "๑", "ไทย"]  # South East Asian runs stand alone
    assert analyze("צה\"ל א' a\"b") == ["צה\"ל", "א'", "a", "b"]  # Hebrew keeps its quotes
    assert analyze("a\u00adb a\u200bb 1\u202f000") == ["a\u00adb", "a", "b", "1\u202f000"]


def test_lowercased_as_java_lowercases():
    assert analyze("İSTANBUL ΟΔΟΣ") == ["istanbul", "οδοσ"]
