"""The `_cat` APIs: small tables as text (with `v` and `h`) or JSON (`format=json`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

PLUGINS = [("opensearch-knn", "3.6.0.0"), ("opensearch-neural-search", "3.6.0.0")]


def table(rows: list[dict[str, Any]], columns: Sequence[str], params: dict[str, str]) -> Any:
    wanted = [c for c in params.get("h", "").split(",") if c] or list(columns)
    if params.get("format") == "json":
        return [{c: _str(row.get(c)) for c in wanted} for row in rows]
    lines = [[_str(row.get(c)) for c in wanted] for row in rows]
    if "v" in params and params.get("v") != "false":
        lines.insert(0, list(wanted))
    if not lines:
        return ""
    widths = [max(len(line[i]) for line in lines) for i in range(len(wanted))]
    return "".join(" ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() + "\n" for line in lines)


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def indices(states: Sequence[Any], params: dict[str, str]) -> Any:
    rows = [{"health": "green", "status": "open", "index": s.name, "uuid": s.uuid, "pri": "1", "rep": "0",
             "docs.count": str(len(s.view.docs)), "docs.deleted": "0", "store.size": "0b", "pri.store.size": "0b"}
            for s in sorted(states, key=lambda s: s.name)]
    return table(rows, ["health", "status", "index", "uuid", "pri", "rep", "docs.count", "docs.deleted",
                        "store.size", "pri.store.size"], params)


def plugins(params: dict[str, str]) -> Any:
    rows = [{"name": "localsearch", "component": c, "version": v} for c, v in PLUGINS]
    return table(rows, ["name", "component", "version"], params)


def health(shards: int, params: dict[str, str]) -> Any:
    now = int(time.time())
    rows = [{"epoch": str(now), "timestamp": time.strftime("%H:%M:%S", time.gmtime(now)), "cluster": "localsearch",
             "status": "green", "node.total": "1", "node.data": "1", "shards": str(shards), "pri": str(shards),
             "relo": "0", "init": "0", "unassign": "0", "pending_tasks": "0"}]
    return table(rows, list(rows[0]), params)


def count(states: Sequence[Any], params: dict[str, str]) -> Any:
    now = int(time.time())
    total = sum(len(s.view.docs) for s in states)
    rows = [{"epoch": str(now), "timestamp": time.strftime("%H:%M:%S", time.gmtime(now)), "count": str(total)}]
    return table(rows, ["epoch", "timestamp", "count"], params)


def aliases(alias_map: dict[str, dict[str, Any]], params: dict[str, str]) -> Any:
    rows = [{"alias": a, "index": i, "filter": "-", "routing.index": "-", "routing.search": "-",
             "is_write_index": str(b.get("is_write_index", "-")).lower()}
            for a, members in sorted(alias_map.items()) for i, b in sorted(members.items())]
    return table(rows, ["alias", "index", "filter", "routing.index", "routing.search", "is_write_index"], params)
