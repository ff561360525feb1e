"""PNG charts: quality against latency (one line per reranker across window sizes) and latency per stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from relevance.measures import PRIMARY

STAGE_COLOURS = {"embed": "#4c72b0", "retrieve": "#55a868", "rerank": "#c44e52"}


def _pyplot() -> Any:
    import matplotlib
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    return plt


def quality_latency_chart(results: dict[str, Any], path: Path) -> Path:
    """nDCG@10 (y) against p50 end-to-end latency (x, log scale); rerank rows joined per model, labelled
    by window: the knee of a line is the window worth paying for."""
    plt = _pyplot()
    systems = results["systems"]
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    lines: dict[str, list[tuple[float, float, int]]] = {}
    for name, entry in systems.items():
        if "total" not in entry["latency_ms"]:  # a given run: its quality as a reference line
            ax.axhline(entry[PRIMARY], linestyle="--", color="grey", linewidth=1, label=f"{name} (no latency)")
            continue
        latency = max(entry["latency_ms"]["total"]["p50"], 0.01)
        if entry["kind"] == "rerank" and entry.get("window"):
            lines.setdefault(entry.get("reranker", name), []).append((latency, entry[PRIMARY], entry["window"]))
            continue
        if entry["kind"] == "rerank":
            continue  # a reranker over a given run: drawn below
        ax.scatter([latency], [entry[PRIMARY]], marker="s", s=40, zorder=3)
        ax.annotate(name, (latency, entry[PRIMARY]), textcoords="offset points", xytext=(5, -3), fontsize=8)
    for model, points in lines.items():
        points.sort(key=lambda p: p[2])
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=f"+ {_label(model)}", zorder=2)
        for latency, quality, window in points:
            ax.annotate(f"w={window}", (latency, quality), textcoords="offset points", xytext=(4, 5), fontsize=8)
    for name, entry in systems.items():
        if entry["kind"] == "rerank" and not entry.get("window"):  # a reranker over a given run
            latency = max(entry["latency_ms"].get("total", {}).get("p50", 0.0), 0.01)
            ax.scatter([latency], [entry[PRIMARY]], marker="o", s=50, zorder=3)
            ax.annotate(name, (latency, entry[PRIMARY]), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("p50 latency per query, ms (log scale)")
    ax.set_ylabel(PRIMARY)
    ax.set_title(f"{results['dataset']}: quality vs latency ({results['queries']} queries)")
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def stage_latency_chart(results: dict[str, Any], path: Path) -> Path:
    """Stacked p50 per stage for each system, and its p99 end to end as a tick."""
    plt = _pyplot()
    names = list(results["systems"])
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.5), dpi=120)
    for row, name in enumerate(names):
        latency = results["systems"][name]["latency_ms"]
        left = 0.0
        for stage, colour in STAGE_COLOURS.items():
            width = latency.get(stage, {}).get("p50", 0.0)
            ax.barh(row, width, left=left, color=colour, label=stage if row == 0 else None)
            left += width
        total = latency.get("total", {}).get("p50")
        if total is not None:  # first-stage bars vanish next to a rerank: the number says it
            ax.annotate(f"{total:.0f} ms" if total >= 10 else f"{total:.1f} ms", (left, row),
                        textcoords="offset points", xytext=(4, -3), fontsize=7)
        p99 = latency.get("total", {}).get("p99")
        if p99:
            ax.plot([p99], [row], marker="|", color="black", markersize=12, label="p99 total" if row == 0 else None)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ms per query (p50 per stage, stacked)")
    ax.set_title(f"{results['dataset']}: latency per stage")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _label(model: str) -> str:
    return model.rstrip("/").rsplit("/", 1)[-1]
