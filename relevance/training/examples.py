"""Training data for a cross-encoder: judged or clicked positives, hard negatives mined with hybrid retrieval."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from relevance.datasets import DatasetError, Qrels


@dataclass
class QueryJudgments:
    """One query's labelled documents (label in [0, 1]) and what retrieval put in front of the reranker."""

    qid: str
    query: str
    labels: dict[str, float] = field(default_factory=dict)          # document id -> label
    texts: dict[str, str] = field(default_factory=dict)             # document id -> reranker text
    candidates: list[str] = field(default_factory=list)             # hybrid top-k, best first

    def positives(self) -> list[str]:
        return [d for d, label in self.labels.items() if label > 0 and d in self.texts]


@dataclass(frozen=True)
class Pair:
    query: str
    document: str
    label: float


def from_qrels(queries: dict[str, str], qrels: Qrels, relevance_level: int) -> list[QueryJudgments]:
    """Graded judgments as labels: relevant (grade >= level) 1.0, judged below it 0.0."""
    out = []
    for qid, text in queries.items():
        judged = qrels.get(qid)
        if judged:
            out.append(QueryJudgments(qid, text, {d: 1.0 if g >= relevance_level else 0.0 for d, g in judged.items()}))
    return out


def from_clicks(path: Path) -> list[QueryJudgments]:
    """Click-log JSON Lines: `query`, `label` (0/1 or a rate in [0, 1]) and `document` (text) or `doc_id`."""
    by_query: dict[str, QueryJudgments] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                query, label = str(row["query"]), float(row["label"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise DatasetError(f"{path}:{number}: expected JSON with query, label and document or doc_id "
                                   f"({exc})") from exc
            if not 0.0 <= label <= 1.0:
                raise DatasetError(f"{path}:{number}: label must be between 0 and 1, got {label}")
            if "doc_id" not in row and "document" not in row:
                raise DatasetError(f"{path}:{number}: needs `document` (text) or `doc_id`")
            entry = by_query.setdefault(query, QueryJudgments(f"c{len(by_query) + 1}", query))
            doc_id = str(row.get("doc_id") or f"text:{len(entry.labels)}")
            entry.labels[doc_id] = max(label, entry.labels.get(doc_id, 0.0))
            if "document" in row:
                entry.texts[doc_id] = str(row["document"])
    return list(by_query.values())


def split(judgments: list[QueryJudgments], validation_fraction: float, seed: int
          ) -> tuple[list[QueryJudgments], list[QueryJudgments]]:
    """A seeded split by query (never by pair: a query's documents stay on one side)."""
    usable = [j for j in judgments if any(label > 0 for label in j.labels.values())]
    order = sorted(usable, key=lambda j: j.qid)
    random.Random(seed).shuffle(order)
    count = round(len(order) * validation_fraction) if validation_fraction > 0 else 0
    if validation_fraction > 0 and len(order) > 1:
        count = min(max(count, 1), len(order) - 1)
    validation = sorted(order[:count], key=lambda j: j.qid)
    return sorted(order[count:], key=lambda j: j.qid), validation


def attach_retrieval(judgments: list[QueryJudgments], retrieve: Callable[[dict[str, str]], dict[str, list]],
                     fetch: Callable[[list[str]], dict[str, str]]) -> None:
    """Hybrid candidates for every query, and the text of each labelled document (from the index)."""
    found = retrieve({j.qid: j.query for j in judgments})
    missing: set[str] = set()
    for j in judgments:
        j.candidates = [doc_id for doc_id, _ in found.get(j.qid, [])]
        j.texts.update({doc_id: text for doc_id, text in found.get(j.qid, []) if doc_id not in j.texts})
        missing.update(d for d in j.labels if d not in j.texts and not d.startswith("text:"))
    if missing:
        texts = fetch(sorted(missing))
        for j in judgments:
            j.texts.update({d: texts[d] for d in j.labels if d in texts and d not in j.texts})


def training_pairs(judgments: list[QueryJudgments], negatives: int, seed: int, skip_top: int = 0) -> list[Pair]:
    """Every positive, plus per query up to `negatives` hard negatives: documents retrieval ranked high that
    are judged non-relevant or not judged (presumed non-relevant), sampled (seeded) from the candidates after
    the first `skip_top`; judged negatives outside the candidates fill up when retrieval found too few."""
    rng = random.Random(seed)
    pairs: list[Pair] = []
    for j in judgments:
        positives = j.positives()
        if not positives:
            continue
        pairs += [Pair(j.query, j.texts[d], j.labels[d]) for d in positives]
        pool = [d for d in j.candidates[skip_top:] if j.labels.get(d, 0.0) <= 0 and d in j.texts]
        chosen = rng.sample(pool, min(negatives, len(pool)))
        extra = [d for d, label in j.labels.items() if label <= 0 and d in j.texts and d not in chosen]
        chosen += rng.sample(extra, min(max(0, negatives - len(chosen)), len(extra)))
        pairs += [Pair(j.query, j.texts[d], 0.0) for d in chosen]
    rng.shuffle(pairs)
    return pairs
