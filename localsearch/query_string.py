"""Lucene query syntax (`query_string` and the `q` parameter), read the way OpenSearch's QueryStringQueryParser
reads it, into clauses the DSL compiler turns into tantivy queries.

What matches and how it scores follows Lucene's classic parser: AND/OR/NOT and +/- give each clause its
occurrence with QueryParserBase.addClause's rules; a term without a field is searched in every default field
and the per-field queries are combined as a dis_max (multi_match best_fields); a group of only negative
clauses matches everything else (Queries.fixNegativeQueryIfNeeded). Fuzzy terms (`~`), regular expressions and
phrase slop are refused by name: localsearch does not reproduce their scoring.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from localsearch import query_params as qp
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


# ---- tokens -------------------------------------------------------------------------------------

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
            out.append(_Token("phrase", _unescape(text[i + 1:end])))
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


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


# ---- parsing ------------------------------------------------------------------------------------

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
        return Term(_unescape(" ".join(words)), field_name, "term")

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
            target = _unescape(self.take().text)
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
            value = _unescape(raw[comparison.end():])
            operator = comparison.group(1)
            bounds = {">": (value, None, False, True), ">=": (value, None, True, True),
                      "<": (None, value, True, False), "<=": (None, value, True, True)}[operator]
            return Term(raw, field_name, "range", bounds=bounds)
        if field_name == "_exists_":
            return Term(_unescape(raw), _unescape(raw), "exists")
        if raw == "*":
            return Term("*", field_name, "exists" if field_name not in (None, "*") else "all")
        unescaped_wildcards = re.sub(r"\\.", "", raw)
        if "*" in unescaped_wildcards or "?" in unescaped_wildcards:
            kind = "prefix" if raw.endswith("*") and "*" not in unescaped_wildcards[:-1] and "?" not in \
                unescaped_wildcards else "wildcard"
            return Term(raw if kind == "wildcard" else _unescape(raw[:-1]), field_name, kind)
        return Term(_unescape(raw), field_name, "term")


def _range(text: str, field_name: str | None) -> Term:
    match = _RANGE.fullmatch(text)
    assert match is not None
    lower, upper = match.group(2), match.group(3)
    return Term(text, field_name, "range", bounds=(None if lower == "*" else _unescape(lower),
                                                    None if upper == "*" else _unescape(upper),
                                                    match.group(1) == "[", match.group(4) == "]"))


def parse_query_string(text: str, and_default: bool) -> Group:
    return _Parser(text, and_default).parse()


# ---- compiling ----------------------------------------------------------------------------------

_OCCUR = {"MUST": "Must", "SHOULD": "Should", "MUST_NOT": "MustNot"}


def compile_query_string(compiler: Any, spec: dict[str, Any]) -> Any:
    """A `query_string` clause as one tantivy query (None when nothing in it can match)."""
    from tantivy import Query

    _refuse(spec)
    text = str(spec["query"])
    and_default = str(spec.get("default_operator", "or")).lower() == "and"
    defaults = spec.get("fields") or ([spec["default_field"]] if spec.get("default_field") else ["*"])
    if isinstance(defaults, str):
        defaults = [defaults]
    context = _Context(compiler, defaults, and_default, float(spec.get("tie_breaker", 0.0)),
                       bool(spec.get("lenient")) or defaults == ["*"], spec.get("time_zone"))
    context.forced_analyzer = spec.get("analyzer") is not None
    tree = parse_query_string(text, and_default)
    query = context.group(tree, None, minimum_should_match=spec.get("minimum_should_match"))
    if query is None:
        return Query.empty_query()
    boost = float(spec.get("boost", 1.0))
    return Query.boost_query(query, boost) if boost != 1.0 else query


def _refuse(spec: dict[str, Any]) -> None:
    if spec.get("type", "best_fields") != "best_fields":
        raise unsupported(f"[query_string] type [{spec['type']}]")
    if spec.get("fuzziness") not in (None, "AUTO", "auto"):
        raise unsupported("[fuzziness] in [query_string]")
    if int(spec.get("phrase_slop", 0) or 0):
        raise unsupported("[phrase_slop] in [query_string]")
    for option in ("quote_field_suffix", "quote_analyzer"):
        if spec.get(option):
            raise unsupported(f"[{option}] in [query_string]")
    if spec.get("analyzer") not in (None, "standard", "default"):
        raise unsupported(f"the query [analyzer] [{spec['analyzer']}]")


class _Context:
    def __init__(self, compiler: Any, defaults: list[str], and_default: bool, tie_breaker: float, lenient: bool,
                 time_zone: Any) -> None:
        self.compiler, self.defaults, self.and_default = compiler, defaults, and_default
        self.tie_breaker, self.lenient, self.time_zone = tie_breaker, lenient, time_zone
        self.forced_analyzer = False  # an `analyzer` named in the query splits keyword fields' text too

    def group(self, group: Group, field_name: str | None, minimum_should_match: Any = None) -> Any:
        from tantivy import Occur, Query

        field_name = group.field or field_name
        clauses = []
        for occur, child in group.clauses:
            query = self.group(child, field_name) if isinstance(child, Group) else self.term(child, field_name)
            if query is not None:
                clauses.append((getattr(Occur, _OCCUR[occur]), query))
        if not clauses:
            return None
        # one clause is that clause's own query, which minimum_should_match leaves alone (not a BooleanQuery)
        if len(clauses) == 1 and clauses[0][0] != Occur.MustNot:
            query = clauses[0][1]
        else:
            if all(occur == Occur.MustNot for occur, _ in clauses):  # Queries.fixNegativeQueryIfNeeded
                clauses.append((Occur.Must, Query.const_score_query(Query.all_query(), 0.0)))
            shoulds = sum(occur == Occur.Should for occur, _ in clauses)
            msm = qp.minimum_should_match(minimum_should_match, shoulds) if minimum_should_match is not None else 0
            query = Query.boolean_query(clauses, msm) if msm else Query.boolean_query(clauses)
        return Query.boost_query(query, group.boost) if group.boost != 1.0 else query

    def term(self, term: Term, field_name: str | None) -> Any:
        from tantivy import Query

        target = term.field or field_name
        if term.kind == "all" or (term.kind == "exists" and target in (None, "*")):
            query = Query.all_query()
        elif term.kind == "exists":
            query = self.compiler.q_exists({"field": target}).query
        else:
            per_field = [q for q in (self.weighted(term, path, weight) for path, weight in self.paths(target))
                         if q is not None]
            if not per_field:
                return None
            query = per_field[0] if len(per_field) == 1 else Query.disjunction_max_query(per_field,
                                                                                         self.tie_breaker)
        if query is None:
            return None
        if term.kind == "all":
            query = Query.const_score_query(query, 1.0)
        return Query.boost_query(query, term.boost) if term.boost != 1.0 else query

    def paths(self, target: str | None) -> list[tuple[str, float]]:
        """(field, boost) pairs a term is searched in: its own field, or the default fields."""
        patterns = [target] if target else self.defaults
        mapping = self.compiler.mapping
        if target and "*" not in target and target not in mapping.fields:
            return [(target, 1.0)]  # an unmapped field: no clause (as an unmapped field matches nothing)
        return [(path, weight) for path, weight in self.compiler.expand_fields(patterns)
                if mapping.fields[path].type not in ("knn_vector",)]

    def weighted(self, term: Term, path: str, weight: float) -> Any:
        from tantivy import Query

        query = self.field_query(term, path)
        return Query.boost_query(query, weight) if query is not None and weight != 1.0 else query

    def field_query(self, term: Term, path: str) -> Any:
        from tantivy import Occur, Query

        compiler = self.compiler
        spec = compiler.mapping.fields.get(path)
        if spec is None:
            return None
        lenient = self.lenient
        if term.kind == "range":
            lower, upper, include_lower, include_upper = term.bounds
            bounds: dict[str, Any] = {}
            if lower is not None:
                bounds["gte" if include_lower else "gt"] = lower
            if upper is not None:
                bounds["lte" if include_upper else "lt"] = upper
            if self.time_zone:
                bounds["time_zone"] = self.time_zone
            return compiler.q_range({path: bounds}).query
        if term.kind in ("prefix", "wildcard"):
            if spec.type not in ("text", "keyword"):
                return None
            value = term.text + ("*" if term.kind == "prefix" else "")
            kind = "prefix" if term.kind == "prefix" else "wildcard"
            return compiler.node({kind: {path: {"value": term.text if kind == "prefix" else value}}}).query
        if term.kind == "phrase":
            return compiler.phrase_query(path, {"query": term.text, "lenient": lenient})
        if spec.type == "keyword" and self.forced_analyzer:
            return compiler.analyzed_keyword(spec, term.text, self.and_default, lenient)
        if spec.type != "text":
            return compiler.exact(spec, term.text, lenient)
        tokens = compiler.lexical.analyze(path, term.text)
        if not tokens:
            return None
        queries = compiler.lexical.text_terms(path, tokens)
        if len(queries) == 1:
            return queries[0]
        occur = Occur.Must if self.and_default else Occur.Should
        return Query.boolean_query([(occur, q) for q in queries])


# ---- simple_query_string ------------------------------------------------------------------------

_SIMPLE_SPLIT = re.compile(r'"(?:[^"\\]|\\.)*"?|[+|\-()]|[^\s+|\-()"]+(?:-[^\s+|()"]+)*')


def compile_simple_query_string(compiler: Any, spec: dict[str, Any]) -> Any:
    """Lucene's SimpleQueryParser: terms combined left to right by `+` (AND), `|` (OR) or the default operator,
    `-` negating the next term (as `NOT term` OR-ed with everything, Lucene's own quirk), each term searched
    over the fields as multi_match most_fields (prefixes and phrases as a dis_max)."""
    from tantivy import Query

    if str(spec.get("flags", "ALL")).upper() != "ALL":
        raise unsupported("[simple_query_string] [flags] other than ALL")
    if spec.get("quote_field_suffix"):
        raise unsupported("[quote_field_suffix] in [simple_query_string]")
    if spec.get("analyzer") not in (None, "standard", "default"):
        raise unsupported(f"the query [analyzer] [{spec['analyzer']}]")
    fields = spec.get("fields") or ["*"]
    fields = [fields] if isinstance(fields, str) else fields
    and_default = str(spec.get("default_operator", "or")).lower() == "and"
    context = _Context(compiler, fields, and_default, 0.0, bool(spec.get("lenient")) or fields == ["*"], None)
    context.forced_analyzer = spec.get("analyzer") is not None
    tokens = _SIMPLE_SPLIT.findall(str(spec["query"]))
    query, _ = _simple_sequence(context, tokens, 0, and_default)
    if query is None:
        return Query.empty_query()
    if spec.get("minimum_should_match") is not None:
        raise unsupported("[minimum_should_match] in [simple_query_string]")
    boost = float(spec.get("boost", 1.0))
    return Query.boost_query(query, boost) if boost != 1.0 else query


def _simple_sequence(context: _Context, tokens: list[str], position: int, and_default: bool) -> tuple[Any, int]:
    from tantivy import Occur, Query

    default = Occur.Must if and_default else Occur.Should
    top: Any = None
    top_clauses: list[tuple[Any, Any]] = []
    previous = current = None
    negations = 0
    while position < len(tokens):
        token = tokens[position]
        position += 1
        if token == ")":
            break
        if token == "+":
            current = Occur.Must
            continue
        if token == "|":
            current = Occur.Should
            continue
        if token == "-":
            negations += 1
            continue
        if token == "(":
            branch, position = _simple_sequence(context, tokens, position, and_default)
        else:
            branch = _simple_term(context, token)
        if branch is not None:
            if negations % 2 == 1:
                branch = Query.boolean_query([(Occur.MustNot, branch), (Occur.Should, Query.all_query())])
            if top is None:
                top, top_clauses = branch, []
            else:
                current = current if current is not None else default
                if previous != current:
                    top_clauses = [(current, top)]
                top_clauses.append((current, branch))
                top = Query.boolean_query(top_clauses)
                previous = current
        current, negations = None, 0
    return top, position


def _simple_term(context: _Context, token: str) -> Any:
    from tantivy import Occur, Query

    if token.startswith('"'):
        term = Term(_unescape(token.strip('"')), None, "phrase")
    elif token.endswith("*") and len(token) > 1:
        term = Term(_unescape(token[:-1]), None, "prefix")
    elif "~" in token:
        raise unsupported("fuzzy terms and phrase slop (~) in [simple_query_string]")
    else:
        term = Term(_unescape(token), None, "term")
    per_field = [q for q in (context.weighted(term, path, weight) for path, weight in context.paths(None))
                 if q is not None]
    if not per_field:
        return None
    if len(per_field) == 1:
        return per_field[0]
    if term.kind == "term":  # multi_match most_fields: the fields' scores add up
        return Query.boolean_query([(Occur.Should, q) for q in per_field])
    return Query.disjunction_max_query(per_field, 1.0 if term.kind == "prefix" else 0.0)
