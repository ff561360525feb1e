"""Send one request to localsearch and to the real OpenSearch node, and compare what comes back."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import requests

Body = dict[str, Any] | list[Any] | str | bytes | None

# BM25: localsearch scales tantivy's scores by 1 / 2.2 and both engines compute in float32 on the same
# statistics and (for fields this short) the same length encoding, so they agree to a few float32 ulps; 1e-4
# relative is ample and still catches any change of formula, statistic or tokenization.
BM25_REL = 1e-4
# k-NN: lucene's HNSW on a small index visits every vector, so its scores are the formula's, in float32.
KNN_REL = 1e-5
# Fused hybrid scores lie in [0, 1] (rrf: below 1). min_max and z_score divide a difference of two sub-query
# scores by the spread of the list, which turns BM25's ~1e-6 relative differences into absolute ones of about
# that size near the bottom of a list (and a z-score near the mean has no relative precision at all), so fused
# scores are compared to 1e-5 absolute.
FUSED_ABS = 1e-5


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # parsed JSON, or the text when the answer is not JSON

    @property
    def error(self) -> dict[str, Any]:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return error if isinstance(error, dict) else {}

    @property
    def error_type(self) -> str | None:
        return self.error.get("type")

    @property
    def root_types(self) -> list[str]:
        return [cause.get("type") for cause in self.error.get("root_cause") or []]

    @property
    def hits(self) -> list[dict[str, Any]]:
        return self.body["hits"]["hits"]

    @property
    def ids(self) -> list[str]:
        return [h["_id"] for h in self.hits]


class Target:
    """One engine over HTTP. Bodies go as the product's clients send them: JSON, or NDJSON lines."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.session = requests.Session()

    def send(self, method: str, path: str, body: Body = None, params: dict[str, Any] | None = None,
             ndjson: bool = False) -> Reply:
        data, content_type = encode(body, ndjson)
        headers = {"Content-Type": content_type} if data is not None else {}
        response = self.session.request(method, self.url + path, data=data, params=_params(params),
                                        headers=headers, timeout=60)
        try:
            parsed = response.json() if response.content else None
        except ValueError:
            parsed = response.text
        return Reply(response.status_code, parsed)


def encode(body: Body, ndjson: bool) -> tuple[bytes | None, str]:
    content_type = "application/x-ndjson" if ndjson else "application/json"
    if body is None:
        return None, content_type
    if isinstance(body, bytes):
        return body, content_type
    if isinstance(body, str):
        return body.encode(), content_type
    if ndjson:
        return "".join(json.dumps(line) + "\n" for line in body).encode(), content_type
    return json.dumps(body).encode(), content_type


def _params(params: dict[str, Any] | None) -> dict[str, str] | None:
    if params is None:
        return None
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in params.items()}


@dataclass(frozen=True)
class Pair:
    """localsearch and the reference node, side by side: every call goes to both."""

    local: Target
    reference: Target

    def send(self, method: str, path: str, body: Body = None, params: dict[str, Any] | None = None,
             ndjson: bool = False) -> tuple[Reply, Reply]:
        return (self.local.send(method, path, body, params, ndjson),
                self.reference.send(method, path, body, params, ndjson))

    def ok(self, method: str, path: str, body: Body = None, params: dict[str, Any] | None = None,
           ndjson: bool = False) -> tuple[Reply, Reply]:
        """Both must succeed (set-up calls): a failure names the engine and its answer."""
        local, reference = self.send(method, path, body, params, ndjson)
        for name, reply in (("localsearch", local), ("opensearch", reference)):
            assert reply.status < 300, f"{name} refused {method} {path}: {reply.status} {reply.body}"
        return local, reference

    def search(self, index: str, body: Body, params: dict[str, Any] | None = None) -> tuple[Reply, Reply]:
        return self.send("POST", f"/{index}/_search", body, params)


# ---- comparisons --------------------------------------------------------------------------------

def describe(local: Reply, reference: Reply) -> str:
    return (f"\nlocalsearch {local.status}: {json.dumps(local.body)[:2000]}"
            f"\nopensearch  {reference.status}: {json.dumps(reference.body)[:2000]}")


def assert_same_error(local: Reply, reference: Reply) -> None:
    """Same status, the same error type and the same root cause types."""
    assert reference.status >= 400, describe(local, reference)
    assert local.status == reference.status, describe(local, reference)
    assert local.error_type == reference.error_type, describe(local, reference)
    assert local.root_types == reference.root_types, describe(local, reference)


def assert_same_answer(local: Reply, reference: Reply, **tolerances: Any) -> None:
    """The same error, or the same hits: whichever the reference gave."""
    if reference.status >= 400:
        assert_same_error(local, reference)
    else:
        assert_same_hits(local, reference, **tolerances)


def scores_close(a: Any, b: Any, rel: float, abs_tol: float = 0.0) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=abs_tol)


def assert_same_hits(local: Reply, reference: Reply, *, rel: float = BM25_REL, abs_tol: float = 0.0,
                     sources: bool = True) -> None:
    """Same status, totals, max_score and page of hits: ids in the same order and scores within tolerance.

    Hits whose scores tie (within the tolerance) may come in either order: both engines break ties by index
    order, but a tie is where float rounding may differ, so only the groups of tied hits must agree.
    """
    assert local.status == reference.status == 200, describe(local, reference)
    assert local.body["hits"].get("total") == reference.body["hits"].get("total"), describe(local, reference)
    assert scores_close(local.body["hits"]["max_score"], reference.body["hits"]["max_score"], rel, abs_tol), \
        describe(local, reference)
    ours, theirs = local.hits, reference.hits
    assert len(ours) == len(theirs), describe(local, reference)
    by_id = {h.get("_id"): h for h in theirs}
    for mine in ours:
        real = by_id.get(mine.get("_id"))
        assert real is not None, f"[{mine.get('_id')}] is not among the reference's hits" + describe(local, reference)
        assert scores_close(mine.get("_score"), real.get("_score"), rel, abs_tol), describe(local, reference)
        assert mine["_index"] == real["_index"], describe(local, reference)
        if sources:
            assert mine.get("_source") == real.get("_source"), describe(local, reference)
        for key in ("_id", "sort", "fields", "highlight", "_version", "_seq_no", "_primary_term"):
            assert (key in mine) == (key in real), f"[{key}] present in one only:" + describe(local, reference)
        if "sort" in real:
            assert same_values(mine["sort"], real["sort"], rel), describe(local, reference)
        for key in ("fields", "highlight", "_version", "_seq_no"):
            if key in real:
                assert mine[key] == real[key], f"[{key}] differs:" + describe(local, reference)
    assert _tie_groups(ours, rel, abs_tol) == _tie_groups(theirs, rel, abs_tol), describe(local, reference)


def same_values(mine: list[Any], real: list[Any], rel: float) -> bool:
    if len(mine) != len(real):
        return False
    for a, b in zip(mine, real, strict=True):
        if isinstance(a, float) or isinstance(b, float):
            if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or not scores_close(a, b, rel):
                return False
        elif a != b:
            return False
    return True


def _tie_groups(hits: list[dict[str, Any]], rel: float, abs_tol: float) -> list[frozenset[Any]]:
    """The hits' ids grouped by (near-)equal score and sort values, in order."""
    groups: list[tuple[Any, set[Any]]] = []
    for hit in hits:
        key = (hit.get("_score"), hit.get("sort"))
        if groups and _same_key(groups[-1][0], key, rel, abs_tol):
            groups[-1][1].add(hit.get("_id"))
        else:
            groups.append((key, {hit.get("_id")}))
    return [frozenset(ids) for _, ids in groups]


def _same_key(a: tuple[Any, Any], b: tuple[Any, Any], rel: float, abs_tol: float) -> bool:
    if a[1] is not None or b[1] is not None:
        return a[1] is not None and b[1] is not None and same_values(a[1], b[1], rel) and \
            scores_close(a[0], b[0], rel, abs_tol)
    return scores_close(a[0], b[0], rel, abs_tol)


def assert_same_aggregations(local: Reply, reference: Reply, rel: float = 1e-9) -> None:
    assert local.status == reference.status == 200, describe(local, reference)
    assert same_json(local.body.get("aggregations"), reference.body.get("aggregations"), rel), \
        describe(local, reference)


def same_json(a: Any, b: Any, rel: float) -> bool:
    """Equal JSON, numbers equal within `rel` (floats are printed differently by the two engines)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y, rel) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=rel, abs_tol=rel)
    return a == b
