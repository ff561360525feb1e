"""Results as a terminal table, `results.json`, CSV files (per system and per query)."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from relevance.measures import MEASURE_NAMES, PRIMARY
from relevance.systems import SystemRun

STAGES = ("embed", "retrieve", "rerank", "total")


def latency_summary(stages: Mapping[str, list[float]]) -> dict[str, dict[str, float]]:
    """Per stage: p50, p99 and mean in milliseconds over the queries."""
    out = {}
    for stage in STAGES:
        values = stages.get(stage)
        if values:
            ms = np.asarray(values) * 1000.0
            out[stage] = {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
                          "mean": float(np.mean(ms))}
    return out


def system_entry(system: SystemRun, scores: Mapping[str, float], comparison: Any | None) -> dict[str, Any]:
    spec = system.spec
    entry: dict[str, Any] = {"kind": spec.kind}
    for key in ("fusion", "reranker", "window", "blend_alpha"):
        if getattr(spec, key) is not None:
            entry[key] = getattr(spec, key)
    entry.update({name: scores[name] for name in MEASURE_NAMES})
    entry["latency_ms"] = latency_summary(system.stages)
    if comparison is not None:
        entry["vs_baseline"] = comparison.as_dict()
    if system.failures:
        entry["failed_queries"] = system.failures
    if system.statuses:
        entry["rerank_status"] = dict(system.statuses)
    return entry


def write_results(out: Path, results: dict[str, Any], per_query: Mapping[str, np.ndarray],
                  query_ids: list[str]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.json", out / "results.csv", out / "per_query.csv"]
    paths[0].write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    with paths[1].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        latency_columns = [f"{stage}_{stat}_ms" for stage in STAGES for stat in ("p50", "p99")]
        writer.writerow(["system", "kind", "fusion", "reranker", "window", *MEASURE_NAMES, *latency_columns,
                         "delta_vs_baseline", "p_ttest", "p_randomization", "wins", "losses", "ties"])
        for name, entry in results["systems"].items():
            latency = entry["latency_ms"]
            versus = entry.get("vs_baseline") or {}
            writer.writerow([name, entry["kind"], entry.get("fusion", ""), entry.get("reranker", ""),
                             entry.get("window", ""), *(_num(entry[m]) for m in MEASURE_NAMES),
                             *(_num(latency.get(stage, {}).get(stat)) for stage in STAGES for stat in ("p50", "p99")),
                             *(_num(versus.get(k)) for k in ("delta", "p_ttest", "p_randomization", "wins",
                                                              "losses", "ties"))])
    with paths[2].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        names = list(per_query)
        writer.writerow(["query_id", *[f"{name} {PRIMARY}" for name in names]])
        for i, qid in enumerate(query_ids):
            writer.writerow([qid, *(_num(per_query[name][i]) for name in names)])
    return paths


def write_runs(out: Path, runs: list[SystemRun]) -> Path:
    """Each system's ranking as a TREC run file (`qid Q0 docid rank score name`), for trec_eval and friends."""
    folder = out / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    for system in runs:
        name = system.spec.name
        with (folder / f"{_file_name(name)}.trec").open("w", encoding="utf-8") as handle:
            for qid, docs in system.run.items():
                ranked = sorted(docs.items(), key=lambda item: -item[1])
                handle.writelines(f"{qid} Q0 {doc} {rank} {score:.6f} {_file_name(name)}\n"
                                  for rank, (doc, score) in enumerate(ranked, start=1))
    return folder


def _file_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_.@+" else "_" for ch in name)


def _num(value: Any) -> Any:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else value


def table(results: dict[str, Any]) -> str:
    """The comparison as aligned text: quality, latency and the paired test against the baseline."""
    header = ["system", "nDCG@10", "MRR@10", "R@100", "MAP", "p50 ms", "p99 ms", "rerank p50", "Δ nDCG",
              "p (t)", "p (rand)", "W/L/T"]
    rows = [header]
    for name, entry in results["systems"].items():
        total = entry["latency_ms"].get("total", {})
        rerank = entry["latency_ms"].get("rerank", {})
        versus = entry.get("vs_baseline")
        rows.append([name, *(f"{entry[m]:.4f}" for m in MEASURE_NAMES), _ms(total.get("p50")),
                     _ms(total.get("p99")), _ms(rerank.get("p50")),
                     f"{versus['delta']:+.4f}" if versus else "baseline",
                     _p(versus["p_ttest"]) if versus else "", _p(versus["p_randomization"]) if versus else "",
                     f"{versus['wins']}/{versus['losses']}/{versus['ties']}" if versus else ""])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths,
                                                                                                       strict=True)))
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    note = (f"{results['queries']} queries of {results['dataset']}; binary measures count grade >= "
            f"{results['relevance_level']} as relevant; Δ and tests on per-query {PRIMARY} against "
            f"[{results['baseline']}]")
    return "\n".join([*lines, note])


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _p(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.2g}" if value >= 0.001 else "<0.001"
