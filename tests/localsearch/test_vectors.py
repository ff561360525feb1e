"""Contract of the k-NN vector field, held by both backends: scores, order, filters, writes, threads."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from localsearch.vectors import VectorField, check_vector
from localsearch.vectors import field as field_module
from localsearch.vectors import hnsw as hnsw_module
from localsearch.vectors import rows as rows_module
from searchcore.errors import IllegalArgument, MapperParsingError

SPACES = ("l2", "cosinesimil", "innerproduct")
# hnsw_threshold per backend: "exact" never builds a graph, "hnsw" builds one from the first vector.
BACKENDS = {"exact": 10**9, "hnsw": 0}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def make_field(backend: str, dimension: int, space: str = "l2", **kwargs: int) -> VectorField:
    kwargs.setdefault("hnsw_threshold", BACKENDS[backend])
    return VectorField(dimension, space, **kwargs)


def hand_score(space: str, query: list[float], vector: list[float]) -> float:
    """The k-NN plugin's formulas, written out without numpy."""
    if space == "l2":
        return 1 / (1 + sum((q - v) ** 2 for q, v in zip(query, vector, strict=True)))
    dot = sum(q * v for q, v in zip(query, vector, strict=True))
    if space == "cosinesimil":
        cos = dot / (math.sqrt(sum(q * q for q in query)) * math.sqrt(sum(v * v for v in vector)))
        return (1 + cos) / 2
    return dot + 1 if dot >= 0 else 1 / (1 - dot)


def reference_top(space: str, query: np.ndarray, ids: list[str], matrix: np.ndarray, k: int,
                  allowed: set[str] | None = None) -> list[str]:
    """Brute-force ranking in float64, for comparison."""
    scored = [(hand_score(space, query.tolist(), row.tolist()), id_) for id_, row in zip(ids, matrix, strict=True)
              if allowed is None or id_ in allowed]
    return [id_ for _, id_ in sorted(scored, key=lambda pair: (-pair[0], pair[1]))[:k]]


def random_field(backend: str, space: str, n: int = 300, dimension: int = 8, seed: int = 0,
                 **kwargs: int) -> tuple[VectorField, list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, dimension)).astype(np.float32)
    ids = [f"doc-{i}" for i in range(n)]
    field = make_field(backend, dimension, space, **kwargs)
    field.upsert(ids, matrix)
    return field, ids, matrix


# ---- scores and order --------------------------------------------------------------------------

@pytest.mark.parametrize("space", SPACES)
def test_scores_equal_the_plugin_formulas(backend: str, space: str) -> None:
    docs = {"a": [1.0, 2.0, 3.0], "b": [-1.0, 0.5, 0.0], "c": [0.0, -2.0, -4.0], "d": [3.0, 0.0, 1.0]}
    query = [0.5, -1.0, 2.0]
    field = make_field(backend, 3, space)
    field.upsert(list(docs), np.array(list(docs.values()), dtype=np.float32))
    assert field.backend == backend

    results = field.search(np.array(query, dtype=np.float32), k=4)

    expected = {id_: hand_score(space, query, vec) for id_, vec in docs.items()}
    assert [id_ for id_, _ in results] == sorted(expected, key=lambda i: -expected[i])
    for id_, score in results:
        assert score == pytest.approx(expected[id_], rel=1e-6)
    assert field.scores(np.array(query), ["a", "b", "c", "d"]) == dict(results)


def test_innerproduct_score_uses_both_branches() -> None:
    field = VectorField(2, "innerproduct")
    field.upsert(["pos", "neg"], np.array([[2.0, 1.0], [-3.0, 0.0]], dtype=np.float32))
    scores = field.scores(np.array([1.0, 1.0]), ["pos", "neg"])
    assert scores["pos"] == pytest.approx(3.0 + 1)  # ip = 3
    assert scores["neg"] == pytest.approx(1 / (1 + 3.0))  # ip = -3


@pytest.mark.parametrize("space", SPACES)
def test_top_k_matches_brute_force_order(backend: str, space: str) -> None:
    field, ids, matrix = random_field(backend, space)
    query = np.random.default_rng(1).standard_normal(8).astype(np.float32)

    results = field.search(query, k=10)

    assert [id_ for id_, _ in results] == reference_top(space, query, ids, matrix, 10)
    scores = [score for _, score in results]
    assert scores == sorted(scores, reverse=True)


def test_ties_are_broken_by_id(backend: str) -> None:
    field = make_field(backend, 2)
    field.upsert(["c", "a", "far", "b"], np.array([[1, 1], [1, 1], [9, 9], [1, 1]], dtype=np.float32))
    assert [id_ for id_, _ in field.search(np.array([1.0, 1.0]), k=2)] == ["a", "b"]
    assert [id_ for id_, _ in field.search(np.array([1.0, 1.0]), k=4)] == ["a", "b", "c", "far"]


def test_k_past_the_field_size_returns_everything_and_empty_field_nothing(backend: str) -> None:
    field = make_field(backend, 2)
    assert field.search(np.array([1.0, 0.0]), k=5) == []
    field.upsert(["x", "y"], np.array([[1, 0], [0, 1]], dtype=np.float32))
    assert {id_ for id_, _ in field.search(np.array([1.0, 0.0]), k=5)} == {"x", "y"}
    assert field.search(np.array([1.0, 0.0]), k=0) == []


# ---- filters -----------------------------------------------------------------------------------

def spy_on_index(field: VectorField, monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray | None]:
    """Record the masks the field's index is searched with."""
    masks: list[np.ndarray | None] = []
    original = field._backend.candidates

    def recording(rows, query, k, mask):  # noqa: ANN001, ANN202
        masks.append(None if mask is None else mask.copy())
        return original(rows, query, k, mask)

    monkeypatch.setattr(field._backend, "candidates", recording)
    return masks


@pytest.mark.parametrize("space", SPACES)
def test_small_allowed_set_is_searched_exactly(backend: str, space: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    field, ids, matrix = random_field(backend, space)
    masks = spy_on_index(field, monkeypatch)
    allowed = set(ids[::25]) | {"not-a-doc"}
    query = np.random.default_rng(2).standard_normal(8).astype(np.float32)

    results = field.search(query, k=5, allowed=allowed)

    assert masks == []  # the index was not consulted
    assert [id_ for id_, _ in results] == reference_top(space, query, ids, matrix, 5, allowed)


@pytest.mark.parametrize("space", SPACES)
def test_large_allowed_set_goes_through_the_index_with_a_selector(
        backend: str, space: str, monkeypatch: pytest.MonkeyPatch) -> None:
    field, ids, matrix = random_field(backend, space)
    monkeypatch.setattr(field_module, "MAX_DISTANCE_COMPUTATIONS", 8 * 20)  # 20 rows at dimension 8
    masks = spy_on_index(field, monkeypatch)
    allowed = [id_ for i, id_ in enumerate(ids) if i % 3 == 0]
    query = np.random.default_rng(3).standard_normal(8).astype(np.float32)

    results = field.search(query, k=10, allowed=allowed)

    assert len(masks) == 1 and masks[0].sum() == len(allowed)
    assert [id_ for id_, _ in results] == reference_top(space, query, ids, matrix, 10, set(allowed))


def test_short_index_answer_falls_back_to_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    field, ids, matrix = random_field("hnsw", "l2")
    monkeypatch.setattr(field._backend, "candidates", lambda *_: np.empty(0, dtype=np.int64))
    monkeypatch.setattr(field_module, "MAX_DISTANCE_COMPUTATIONS", 0)
    query = np.zeros(8, dtype=np.float32)
    allowed = set(ids[:100])
    results = field.search(query, k=10, allowed=allowed)
    assert [id_ for id_, _ in results] == reference_top("l2", query, ids, matrix, 10, allowed)


# ---- writes ------------------------------------------------------------------------------------

def test_deleted_ids_are_never_returned(backend: str) -> None:
    field, ids, _ = random_field(backend, "l2", n=200)
    deleted = set(ids[::2])
    field.delete([*deleted, "never-indexed"])

    assert len(field) == 100
    assert all(id_ not in field for id_ in deleted)
    for seed in range(10):
        query = np.random.default_rng(seed).standard_normal(8).astype(np.float32)
        assert not {id_ for id_, _ in field.search(query, k=100)} & deleted
    assert field.scores(np.zeros(8), list(deleted)) == {}


def test_upsert_replaces_the_vector_of_an_existing_id(backend: str) -> None:
    field = make_field(backend, 2)
    field.upsert(["x", "y"], np.array([[1, 0], [0, 1]], dtype=np.float32))
    field.upsert(["x"], np.array([[0, 5]], dtype=np.float32))

    assert len(field) == 2
    results = field.search(np.array([0.0, 5.0]), k=5)
    assert results == [("x", 1.0), ("y", pytest.approx(1 / (1 + 16)))]


def test_repeated_id_in_one_batch_keeps_the_last_vector(backend: str) -> None:
    field = make_field(backend, 2)
    field.upsert(["x", "x"], np.array([[1, 0], [0, 1]], dtype=np.float32))
    assert len(field) == 1
    assert field.scores(np.array([0.0, 1.0]), ["x"]) == {"x": 1.0}


def test_appends_grow_capacity_by_doubling(monkeypatch: pytest.MonkeyPatch) -> None:
    grows: list[int] = []
    original = rows_module.Rows._grow

    def counting(self, needed):  # noqa: ANN001, ANN202
        grows.append(needed)
        original(self, needed)

    monkeypatch.setattr(rows_module.Rows, "_grow", counting)
    field = VectorField(4)
    for i in range(2000):
        field.upsert([f"d{i}"], np.full((1, 4), i + 1, dtype=np.float32))
    assert len(field) == 2000
    assert len(grows) <= math.ceil(math.log2(2000 / rows_module.MIN_CAPACITY))


# ---- backends: switch and rebuild --------------------------------------------------------------

@pytest.mark.parametrize("space", SPACES)
def test_crossing_the_threshold_switches_to_hnsw_with_high_recall(space: str) -> None:
    rng = np.random.default_rng(7)
    dimension, n = 32, 3000
    matrix = rng.standard_normal((n, dimension)).astype(np.float32)
    ids = [f"doc-{i}" for i in range(n)]
    field = VectorField(dimension, space, hnsw_threshold=1000)
    field.upsert(ids[:1000], matrix[:1000])
    assert field.backend == "exact"
    for start in range(1000, n, 500):
        field.upsert(ids[start:start + 500], matrix[start:start + 500])
    assert field.backend == "hnsw" and len(field) == n

    queries = rng.standard_normal((40, dimension)).astype(np.float32)
    exact = VectorField(dimension, space, hnsw_threshold=10**9)
    exact.upsert(ids, matrix)
    hits = 0
    for query in queries:
        got = field.search(query, k=10)
        want = exact.search(query, k=10)
        hits += len({i for i, _ in got} & {i for i, _ in want})
        assert field.scores(query, [i for i, _ in got]) == dict(got)  # re-scored exactly
    assert hits / (10 * len(queries)) >= 0.95


def test_tombstones_past_a_fifth_trigger_a_rebuild() -> None:
    field, ids, matrix = random_field("hnsw", "l2", n=1000, hnsw_threshold=100)
    graph_before = field._backend
    field.delete(ids[:150])
    assert field._backend is graph_before  # 15% tombstones: kept in the graph, skipped by the selector
    assert field._rows.count == 1000
    for query in matrix[:20]:
        assert not {i for i, _ in field.search(query, k=100)} & set(ids[:150])
    assert len(field.search(matrix[0], k=1000)) == 850
    field.delete(ids[150:250])

    assert field._backend is not graph_before and field.backend == "hnsw"
    assert field._rows.count == len(field) == 750
    query = matrix[500]
    assert field.search(query, k=1) == [(ids[500], 1.0)]
    assert not {i for i, _ in field.search(query, k=750)} & set(ids[:250])


def test_rebuild_below_the_threshold_returns_to_exact() -> None:
    field, ids, _ = random_field("hnsw", "l2", n=300, hnsw_threshold=200)
    assert field.backend == "hnsw"
    field.delete(ids[:150])
    assert field.backend == "exact" and len(field) == 150


def test_writes_during_a_rebuild_are_carried_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """A graph build runs outside the lock; what is written meanwhile must reach the new index."""
    field, ids, _ = random_field("exact", "l2", n=100, hnsw_threshold=100)
    original_add = hnsw_module.HnswBackend.add
    calls = 0

    def add_then_write(self, batch):  # noqa: ANN001, ANN202
        nonlocal calls
        calls += 1
        original_add(self, batch)
        if calls == 1:  # the snapshot build: write from "another client" before the swap
            field.delete(["doc-0"])
            field.upsert(["doc-1", "late"], np.full((2, 8), 3.0, dtype=np.float32))

    monkeypatch.setattr(hnsw_module.HnswBackend, "add", add_then_write)
    field.upsert(["trigger"], np.zeros((1, 8), dtype=np.float32))

    assert field.backend == "hnsw"
    assert "doc-0" not in field and "late" in field and len(field) == 101
    got = dict(field.search(np.full(8, 3.0, dtype=np.float32), k=2))
    assert got == {"doc-1": 1.0, "late": 1.0}
    everything = [i for i, _ in field.search(np.full(8, 3.0, dtype=np.float32), k=1000)]
    assert sorted(everything) == sorted({*ids[1:], "late", "trigger"})
    assert field._backend.index.ntotal == field._rows.count


# ---- errors ------------------------------------------------------------------------------------

def test_check_vector_accepts_numbers_and_numeric_strings() -> None:
    assert check_vector([1, 2.5, "3"], 3).tolist() == [1.0, 2.5, 3.0]
    assert check_vector([1, 2.5, "3"], 3).dtype == np.float32
    assert check_vector(4, 1).tolist() == [4.0]
    assert check_vector(None, 3) is None
    assert check_vector([0, 0], 2, "l2").tolist() == [0.0, 0.0]


def test_dimension_mismatch_is_opensearchs_error() -> None:
    with pytest.raises(MapperParsingError) as bare:
        check_vector([1.0, 2.0], 384, "l2")
    assert bare.value.reason == "Vector dimension mismatch. Expected: 384, Given: 2"

    with pytest.raises(MapperParsingError) as wrapped:
        check_vector([1.0, 2.0], 384, "l2", field="embedding", doc_id="7")
    assert wrapped.value.status == 400
    error = wrapped.value.body()["error"]
    assert error["type"] == "mapper_parsing_exception"
    assert error["reason"] == ("failed to parse field [embedding] of type [knn_vector] in document with id "
                               "'7'. Preview of field's value: 'null'")
    assert error["caused_by"] == {"type": "illegal_argument_exception",
                                  "reason": "Vector dimension mismatch. Expected: 384, Given: 2"}


def test_zero_vector_with_cosine_is_rejected() -> None:
    with pytest.raises(MapperParsingError) as parsed:
        check_vector([0, 0.0], 2, "cosinesimil", field="v", doc_id="1")
    assert parsed.value.extra["caused_by"]["reason"] == "zero vector is not supported when space type is [cosinesimil]"

    field = VectorField(2, "cosinesimil")
    with pytest.raises(IllegalArgument, match=r"^zero vector is not supported when space type is \[cosinesimil\]$"):
        field.upsert(["a", "z"], np.array([[1, 0], [0, 0]], dtype=np.float32))
    assert len(field) == 0  # the batch is refused whole
    with pytest.raises(IllegalArgument, match="zero vector"):
        field.search(np.zeros(2), k=1)


@pytest.mark.parametrize(("value", "cause_type", "reason", "preview"), [
    ([1.0, float("nan")], "illegal_argument_exception", "KNN vector values cannot be NaN", "NaN"),
    ([1.0, "NaN"], "illegal_argument_exception", "KNN vector values cannot be NaN", "NaN"),
    ([1.0, 1e39], "illegal_argument_exception", "KNN vector values cannot be infinity", "1.0E39"),
    ([1.0, "abc"], "number_format_exception", 'For input string: "abc"', "abc"),
    ([1.0, [2.0, 3.0]], "json_parse_exception",
     "Current token (START_ARRAY) not numeric, can not use numeric value accessors", "[2.0, 3.0]"),
    ([1.0, True], "json_parse_exception",
     "Current token (VALUE_TRUE) not numeric, can not use numeric value accessors", "true"),
    ([1.0, None], "json_parse_exception",
     "Current token (VALUE_NULL) not numeric, can not use numeric value accessors", "null"),
    ("1,2", "illegal_argument_exception", "Vector dimension mismatch. Expected: 2, Given: 0", "1,2"),
])
def test_malformed_values_are_refused_like_opensearch(value: object, cause_type: str, reason: str,
                                                       preview: str) -> None:
    with pytest.raises(MapperParsingError) as exc:
        check_vector(value, 2, "l2", field="v", doc_id="d1")
    assert exc.value.extra["caused_by"] == {"type": cause_type, "reason": reason}
    assert exc.value.reason.endswith(f"Preview of field's value: '{preview}'")


def test_wrong_dimensions_at_upsert_and_search() -> None:
    field = VectorField(3)
    with pytest.raises(MapperParsingError, match=r"Vector dimension mismatch. Expected: 3, Given: 2"):
        field.upsert(["a"], np.ones((1, 2), dtype=np.float32))
    with pytest.raises(IllegalArgument, match=r"^Query vector has invalid dimension: 2. Dimension should be: 3$"):
        field.search(np.ones(2), k=1)
    with pytest.raises(IllegalArgument, match="Unable to find space: l1"):
        VectorField(3, "l1")


# ---- threads -----------------------------------------------------------------------------------

@pytest.mark.parametrize("space", ["l2", "cosinesimil"])
def test_concurrent_searches_see_only_live_ids_with_correct_scores(space: str) -> None:
    """Searchers run while writers churn ids through upserts, deletes, graph builds and rebuilds."""
    dimension = 16
    rng = np.random.default_rng(11)
    stable = {f"s{i}": rng.standard_normal(dimension).astype(np.float32) for i in range(600)}
    churn = {f"c{i}": rng.standard_normal(dimension).astype(np.float32) for i in range(600)}
    gone = {f"g{i}": rng.standard_normal(dimension).astype(np.float32) for i in range(100)}
    every = {**stable, **churn, **gone}
    field = VectorField(dimension, space, hnsw_threshold=700)
    field.upsert(list(stable), np.stack(list(stable.values())))
    field.upsert(list(gone), np.stack(list(gone.values())))
    field.delete(list(gone))
    queries = rng.standard_normal((20, dimension)).astype(np.float32)
    failures: list[str] = []
    stop = threading.Event()

    def writer(offset: int) -> None:
        names = list(churn)[offset::2]
        for round_ in range(6):
            for start in range(0, len(names), 50):
                batch = names[start:start + 50]
                field.upsert(batch, np.stack([churn[n] for n in batch]))
                if round_ % 2:
                    field.delete(batch[::2])

    def searcher() -> None:
        while not stop.is_set():
            for query in queries:
                allowed = None if query[0] > 0 else set(list(stable)[:400]) | set(list(churn)[:300])
                results = field.search(query, k=20, allowed=allowed)
                if len(results) < 20 or len({i for i, _ in results}) != 20:
                    failures.append(f"short or repeated result: {results}")
                for id_, score in results:
                    if id_ not in stable and id_ not in churn:
                        failures.append(f"dead id {id_}")
                    elif allowed is not None and id_ not in allowed:
                        failures.append(f"id {id_} outside the filter")
                    elif score != pytest.approx(hand_score(space, query.tolist(), every[id_].tolist()), rel=1e-5):
                        failures.append(f"wrong score for {id_}: {score}")
                if [s for _, s in results] != sorted((s for _, s in results), reverse=True):
                    failures.append("unsorted result")

    searchers = [threading.Thread(target=searcher) for _ in range(3)]
    writers = [threading.Thread(target=writer, args=(offset,)) for offset in range(2)]
    for thread in searchers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in searchers:
        thread.join()

    assert not failures, failures[:5]
    assert field.backend == "hnsw"
    assert not set(gone) & {i for i, _ in field.search(queries[0], k=len(field))}
