"""Read Lucene query syntax into a tree of Terms and Groups, as OpenSearch's QueryStringQueryParser reads it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from localsearch.failures import QueryShardError, unsupported

# Characters that end a term unless escaped (Lucene's classic QueryParser); "-" and "+" only start an operator.
_SPECIAL = set(' \t\r\n()[]{}^"~:/')  # a backslash escapes the next character instead
_RANGE = re.compile(r"([\[{])\s*(\S+)\s+TO\s+(\S+?)\s*([\]}])")
_COMPARISON = re.compile(r"(>=|<=|>|<)")


class QueryStringError(QueryShardError):
    """What Lucene's parser throws for syntax it cannot read: the shard reports it as query_shard_exception."""


@dataclass
class Term:
    text: str
    field: str | None = None
    kind: str = "term"  # term | phrase | prefix | wildcard | exists | range | all
    boost: float = 1.0
    bounds: tuple[Any, Any, bool, bool] | None = None  # range: lower, upper, include_lower, include_upper


@dataclass
class Group:
    clauses: list[tuple[str, Any]] = field(default_factory=list)  # (MUST | SHOULD | MUST_NOT, Term | Group)
    boost: float = 1.0
    field: str | None = None


@dataclass
class _Token:
    kind: str  # word | phrase | range | ( | ) | AND | OR | NOT | + | - | ^ | ~ | :
    text: str = ""


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "()":
            out.append(_Token(char))
            i += 1
        elif char == '"':
            end = i + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            if end >= len(text):
                raise QueryStringError(f"Failed to parse query [{text}]: Lexical error: unterminated phrase")
            out.append(_Token("phrase", unescape(text[i + 1:end])))
            i = end + 1
        elif char in "[{":
            match = _RANGE.match(text, i)
            if match is None:
                raise QueryStringError(f"Failed to parse query [{text}]: malformed range at {i}")
            out.append(_Token("range", match.group(0)))
            i = match.end()
        elif text.startswith("&&", i) or text.startswith("||", i):
            out.append(_Token("AND" if char == "&" else "OR"))
            i += 2
        elif char in "+-!" and (not out or out[-1].kind != ":" or char == "!"):
            out.append(_Token("NOT" if char == "!" else char))
            i += 1
        elif char in "^~:":
            out.append(_Token(char))
            i += 1
        elif char == "/":
            raise unsupported("regular expressions (/.../) in [query_string]")
        else:
            start = i
            while i < len(text) and text[i] not in _SPECIAL:
                i += 2 if text[i] == "\\" else 1
            word = text[start:min(i, len(text))]
            if not word:  # a stray `]` or `}`: nothing else can read it
                raise QueryStringError(f"Failed to parse query [{text}]")
            if word in ("AND", "OR", "NOT"):
                out.append(_Token(word))
            else:
                out.append(_Token("word", word))
    return out


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


class _Parser:
    def __init__(self, text: str, and_default: bool) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.position = 0
        self.and_default = and_default

    def peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def parse(self) -> Group:
        group = self.query(None)
        if self.peek() is not None:
            raise QueryStringError(f"Failed to parse query [{self.text}]: unexpected [{self.peek().kind}]")
        return group

    def query(self, field_name: str | None) -> Group:
        group = Group(field=field_name)
        while (token := self.peek()) is not None and token.kind != ")":
            if self.multi_term_ahead():
                self.add_clause(group, None, None, self.multi_term(field_name))
                continue
            conjunction = None
            if token.kind in ("AND", "OR"):
                conjunction = self.take().kind
                if not group.clauses:
                    raise QueryStringError(f"Failed to parse query [{self.text}]: [{conjunction}] without a term")
            modifier = None
            if (token := self.peek()) is not None and token.kind in ("+", "-", "NOT"):
                modifier = self.take().kind
            clause = self.clause(field_name)
            self.add_clause(group, conjunction, modifier, clause)
        return group

    def _plain(self, offset: int) -> bool:
        """A bare term at that offset: a word that is not a field name, wildcard or bare `*`."""
        index = self.position + offset
        if index >= len(self.tokens) or self.tokens[index].kind != "word":
            return False
        bare = re.sub(r"\\.", "", self.tokens[index].text)
        return "*" not in bare and "?" not in bare

    def _allowed_after(self, offset: int) -> bool:
        """Lucene's allowedPostMultiTerm: what may follow a term that joins a run of terms."""
        index = self.position + offset
        if index >= len(self.tokens):
            return True
        token = self.tokens[index]
        return token.kind not in (":", "^", "~", "AND", "OR") and not (token.kind == "word" and token.text == "*")

    def multi_term_ahead(self) -> bool:
        return self._plain(0) and self._plain(1) and self._allowed_after(2)

    def multi_term(self, field_name: str | None) -> Term:
        """Consecutive bare terms are analyzed together (splitOnWhitespace is false in OpenSearch): one query per
        field over all their tokens, not one clause per term."""
        words = [self.take().text]
        while self._plain(0) and self._allowed_after(1):
            words.append(self.take().text)
        return Term(unescape(" ".join(words)), field_name, "term")

    def add_clause(self, group: Group, conjunction: str | None, modifier: str | None, clause: Any) -> None:
        """QueryParserBase.addClause: how AND/OR and +/-/NOT give each clause its occurrence."""
        clauses = group.clauses
        if clauses and conjunction == "AND" and clauses[-1][0] != "MUST_NOT":
            clauses[-1] = ("MUST", clauses[-1][1])
        if clauses and self.and_default and conjunction == "OR" and clauses[-1][0] != "MUST_NOT":
            clauses[-1] = ("SHOULD", clauses[-1][1])
        prohibited = modifier in ("-", "NOT")
        if not self.and_default:
            required = modifier == "+" or (conjunction == "AND" and not prohibited)
        else:
            required = not prohibited and conjunction != "OR"
        if clause is None:
            return
        occur = "MUST_NOT" if prohibited else "MUST" if required else "SHOULD"
        clauses.append((occur, clause))

    def clause(self, field_name: str | None) -> Any:
        token = self.peek()
        if token is None:
            raise QueryStringError(f"Failed to parse query [{self.text}]: a term is missing at the end")
        target = field_name
        if token.kind == "word" and self.position + 1 < len(self.tokens) and self.tokens[self.position + 1].kind == ":":
            if token.text != "*" and re.search(r"(?<!\\)[*?]", token.text):
                raise QueryStringError(f"Failed to parse query [{self.text}]")  # a wildcard is no field name
            target = unescape(self.take().text)
            self.take()
            token = self.peek()
            if token is None:
                raise QueryStringError(f"Failed to parse query [{self.text}]: a value is missing after [{target}:]")
        if token.kind == "(":
            self.take()
            group = self.query(target)
            if self.peek() is None or self.peek().kind != ")":
                raise QueryStringError(f"Failed to parse query [{self.text}]: a parenthesis is not closed")
            self.take()
            group.boost = self.boost()
            return group
        term = self.term(self.take(), target)
        term.boost = self.boost()
        if (token := self.peek()) is not None and token.kind == "~":
            self.take()
            if (number := self.peek()) is not None and number.kind == "word" and number.text.replace(".", "").isdigit():
                self.take()
                if term.kind == "phrase" and float(number.text) == 0:
                    return term
            raise unsupported("fuzzy terms and phrase slop (~) in [query_string]")
        return term

    def boost(self) -> float:
        if (token := self.peek()) is None or token.kind != "^":
            return 1.0
        self.take()
        value = self.take() if self.peek() is not None else None
        try:
            return float(value.text) if value is not None else 1.0
        except ValueError:
            raise QueryStringError(f"Failed to parse query [{self.text}]: bad boost [{value.text}]") from None

    def term(self, token: _Token, field_name: str | None) -> Term:
        if token.kind == "phrase":
            return Term(token.text, field_name, "phrase")
        if token.kind == "range":
            return _range(token.text, field_name)
        if token.kind != "word":
            raise QueryStringError(f"Failed to parse query [{self.text}]: unexpected [{token.kind}]")
        raw = token.text
        comparison = _COMPARISON.match(raw)
        if comparison:
            value = unescape(raw[comparison.end():])
            operator = comparison.group(1)
            bounds = {">": (value, None, False, True), ">=": (value, None, True, True),
                      "<": (None, value, True, False), "<=": (None, value, True, True)}[operator]
            return Term(raw, field_name, "range", bounds=bounds)
        if field_name == "_exists_":
            return Term(unescape(raw), unescape(raw), "exists")
        if raw == "*":
            return Term("*", field_name, "exists" if field_name not in (None, "*") else "all")
        unescaped_wildcards = re.sub(r"\\.", "", raw)
        if "*" in unescaped_wildcards or "?" in unescaped_wildcards:
            kind = "prefix" if raw.endswith("*") and "*" not in unescaped_wildcards[:-1] and "?" not in \
                unescaped_wildcards else "wildcard"
            return Term(raw if kind == "wildcard" else unescape(raw[:-1]), field_name, kind)
        return Term(unescape(raw), field_name, "term")


def _range(text: str, field_name: str | None) -> Term:
    match = _RANGE.fullmatch(text)
    assert match is not None
    lower, upper = match.group(2), match.group(3)
    return Term(text, field_name, "range", bounds=(None if lower == "*" else unescape(lower),
                                                    None if upper == "*" else unescape(upper),
                                                    match.group(1) == "[", match.group(4) == "]"))


def parse_query_string(text: str, and_default: bool) -> Group:
    return _Parser(text, and_default).parse()
