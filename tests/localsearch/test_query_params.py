"""Query parameters read as OpenSearch's parsers read them: Jackson's coercions, the first bad parameter reported,
and Queries.calculateMinShouldMatch (the differential tests hold the same against the real node)."""

from __future__ import annotations

import pytest

from localsearch import query_params as qp
from localsearch.failures import QueryShardError
from localsearch.query_params import IllegalStateError, JsonParseError, NumberFormatError
from searchcore.errors import IllegalArgument, ParsingError


@pytest.mark.parametrize(("spec", "optional", "expected"), [
    ("2", 4, 2), (2, 4, 2), ("-1", 3, 2), ("75%", 4, 3), ("-25%", 4, 3), ("100%", 3, 3), ("150%", 2, 3),
    ("5", 2, 5),  # not capped: a BooleanQuery that needs more clauses than it has matches nothing
    ("-5", 2, 0), ("3<90%", 2, 2), ("3<90%", 5, 4), ("2<-25% 9<-3", 2, 2), ("2<-25% 9<-3", 8, 6),
    ("2<-25% 9<-3", 12, 9), (" 2 < 50% ", 4, 2),
])
def test_minimum_should_match(spec, optional, expected):
    assert qp.minimum_should_match(spec, optional) == expected


@pytest.mark.parametrize("spec", ["abc", "1.5", "50.5%", "x%", "3<x", "", True])
def test_an_unreadable_minimum_should_match_fails_the_shard(spec):
    with pytest.raises(QueryShardError) as raised:
        qp.minimum_should_match(spec, 5)
    assert raised.value.extra["caused_by"]["type"] == "number_format_exception"


def test_jackson_coercions():
    assert qp.int_value("2.5") == 2 and qp.int_value(1.9) == 1 and qp.float_value("1e3") == 1000.0
    assert qp.bool_value("false") is False and qp.java_text(True) == "true" and qp.java_text(2) == "2"
    with pytest.raises(NumberFormatError, match="empty String"):
        qp.float_value("")
    with pytest.raises(NumberFormatError, match='For input string: "x"'):
        qp.int_value("x")
    with pytest.raises(JsonParseError, match="VALUE_TRUE"):
        qp.float_value(True)
    with pytest.raises(IllegalArgument, match=r"Failed to parse value \[TRUE\]"):
        qp.bool_value("TRUE")
    with pytest.raises(JsonParseError, match="VALUE_NUMBER_INT"):
        qp.bool_value(1)
    with pytest.raises(IllegalStateError):
        qp.java_text([1])


def test_the_first_bad_parameter_in_request_order_is_reported():
    readers = {"boost": qp.number, "operator": qp.operator}
    with pytest.raises(NumberFormatError):
        qp.read_params("match", {"boost": "x", "operator": "bogus"}, readers)
    with pytest.raises(IllegalArgument, match="Operator.BOGUS"):
        qp.read_params("match", {"operator": "bogus", "boost": "x"}, readers)
    with pytest.raises(ParsingError, match=r"\[match\] unknown token \[VALUE_NULL\] after \[boost\]"):
        qp.read_params("match", {"boost": None}, readers)
    assert qp.read_params("match", {"operator": "AND", "boost": "2"}, readers) == {"operator": "and", "boost": 2.0}
