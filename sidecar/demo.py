"""`rerank-sidecar demo`: localsearch + the sidecar on this machine, a real corpus, three rankings side by side.

The corpus is the documentation of Python's own standard library, gathered at run time from the
docstrings of the running interpreter: real text, no download.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from searchcore.local_server import ServerNotReady, free_port, ok, wait_until_ready

STDLIB_MODULES = [
    "argparse", "asyncio", "base64", "bisect", "bz2", "calendar", "collections", "concurrent.futures", "configparser",
    "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "email", "email.message",
    "enum", "fnmatch", "fractions", "functools", "getpass", "glob", "gzip", "hashlib", "heapq", "hmac", "html",
    "http.client", "http.server", "imaplib", "inspect", "io", "ipaddress", "itertools", "json", "logging",
    "lzma", "math", "mimetypes", "multiprocessing", "operator", "os", "os.path", "pathlib", "pickle", "pprint",
    "queue", "random", "re", "sched", "secrets", "select", "shelve", "shlex", "shutil", "signal", "smtplib",
    "socket", "sqlite3", "ssl", "statistics", "string", "struct", "subprocess", "tarfile", "tempfile",
    "textwrap", "threading", "time", "timeit", "tomllib", "traceback", "typing", "unicodedata", "unittest",
    "urllib.parse", "urllib.request", "uuid", "warnings", "weakref", "xml.etree.ElementTree", "zipfile", "zlib",
]
QUERIES = [
    "read a text file one line at a time",
    "how long ago was a date, difference between two days",
    "run a shell command and capture what it prints",
    "send an email message through a mail server",
    "pick a random element from a list",
    "make a unique identifier",
    "compress bytes so they take less space",
    "wait until several threads have finished",
]
INDEX = "stdlib-docs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="print the comparison and exit (default: keep serving)")
    parser.add_argument("--data", default="./data/demo", help="where localsearch keeps the demo index")
    parser.add_argument("--port", type=int, default=9200, help="the sidecar's port (default 9200, else a free one)")
    parser.add_argument("--reranker", default=None,
                        help="cross-encoder name or path (default: minilm-l6-distilled-ce under RERANK_MODELS_DIR, "
                             "else cross-encoder/ms-marco-MiniLM-L6-v2)")
    parser.add_argument("--max-docs", type=int, default=2000, help="docstrings to index (default 2000)")
    parser.add_argument("--top", type=int, default=5, help="results shown per ranking (default 5)")


def run(args: argparse.Namespace) -> int:
    reranker = args.reranker or default_reranker()
    problem = check_reranker(reranker)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    corpus = data / "stdlib-docs.jsonl"
    count = write_corpus(corpus, args.max_docs)
    print(f"corpus: {count} docstrings of Python {sys.version.split()[0]}'s standard library -> {corpus}")
    children: list[subprocess.Popen[bytes]] = []
    serving = False
    previous = stop_on_signals()
    try:
        search_port = free_port(args.port + 1)
        engine_url = f"http://127.0.0.1:{search_port}"
        children.append(spawn(["localsearch", "--data", str(data / "localsearch"), "--port", str(search_port)]))
        wait_until_ready(engine_url + "/", children[-1], timeout=120, ready=ok, name="localsearch")
        print(f"localsearch: {engine_url}")
        ingest(corpus, engine_url)
        sidecar_port = free_port(args.port)
        sidecar_url = f"http://127.0.0.1:{sidecar_port}"
        # default window and budget: the sidecar sizes the window to this machine's measured speed
        children.append(spawn(["serve", "--opensearch", engine_url, "--port", str(sidecar_port), "--reranker",
                               reranker]))
        wait_until_ready(sidecar_url + "/-/ready", children[-1], timeout=600, ready=ok, name="the sidecar")
        print(f"sidecar: {sidecar_url} (reranker {reranker})\n")
        compare(sidecar_url, engine_url, args.top)
        print(f"\nTry it:  curl -s '{sidecar_url}/{INDEX}/_search?pretty' -H 'Content-Type: application/json' "
              "-d '{\"query\": {\"match\": {\"text\": \"parse a date from a string\"}}}'")
        print(f"         curl -s {sidecar_url}/metrics | grep rerank_sidecar_requests_total")
        if args.once:
            return 0
        serving = True   # before the line that says so: a signal right after it is a stop while serving
        print("\nServing until Ctrl-C (or SIGTERM).", flush=True)
        while True:
            # not signal.pause(): a signal landing between the interpreter's last check and the pause() call is
            # handled only at the next signal, so pause() would block for good; a sleep returns and runs it
            time.sleep(0.5)
    except Stopped as stop:
        print(f"\n{signal.Signals(stop.signum).name}: stopping localsearch and the sidecar", file=sys.stderr)
        return 0 if serving else 128 + stop.signum
    except ServerNotReady as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        for signum in previous:   # a second Ctrl-C must not cut the clean-up short
            signal.signal(signum, signal.SIG_IGN)
        stop_children(children)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class Stopped(BaseException):
    """SIGINT or SIGTERM arrived: unwind to `run`'s clean-up, wherever the demo was (ingest, start-up, serving)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def stop_on_signals() -> dict[int, Any]:
    """SIGINT and SIGTERM raise `Stopped` in the main thread; the handlers they replace, to put back."""
    def handler(signum: int, _frame: Any) -> None:
        raise Stopped(signum)
    return {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}


def stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each (the sidecar, then localsearch), which stop gracefully; SIGKILL after 30 s."""
    for child in reversed(children):
        if child.poll() is None:
            child.terminate()
    for child in reversed(children):
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=10)


def default_reranker() -> str:
    models_dir = os.environ.get("RERANK_MODELS_DIR")
    if models_dir and (Path(models_dir) / "minilm-l6-distilled-ce").is_dir():
        return "minilm-l6-distilled-ce"
    return "cross-encoder/ms-marco-MiniLM-L6-v2"


def check_reranker(name: str) -> str | None:
    """A clear message when no cross-encoder can be loaded (none is downloaded unless RERANK_ALLOW_DOWNLOAD=1)."""
    from searchcore.models import ModelNotFound, load_with_fallback
    try:
        load_with_fallback(name, _probe_cross_encoder)
    except ModelNotFound as exc:
        return (f"rerank-sidecar demo: no cross-encoder could be loaded ({exc}).\n"
                "Supply one with --reranker NAME_OR_PATH: a sentence-transformers CrossEncoder folder, a folder "
                "name under RERANK_MODELS_DIR (e.g. RERANK_MODELS_DIR=../shared/models make demo), or a hub name "
                "with RERANK_ALLOW_DOWNLOAD=1 to let it be downloaded.")
    return None


def _probe_cross_encoder(where: str) -> Any:
    from sentence_transformers import CrossEncoder
    return CrossEncoder(where)


def write_corpus(path: Path, limit: int) -> int:
    seen: set[str] = set()
    by_module: list[list[dict[str, str]]] = []
    for module_name in STDLIB_MODULES:
        try:
            module = importlib.import_module(module_name)
        except Exception:  # a module missing from this interpreter build
            continue
        rows: list[dict[str, str]] = []
        for name, obj in _members(module):
            doc = inspect.getdoc(obj)
            qualified = f"{module_name}.{name}"
            if not doc or len(doc) < 40 or qualified in seen:
                continue
            seen.add(qualified)
            rows.append({"id": qualified, "title": qualified, "text": doc[:800], "module": module_name})
        by_module.append(rows)
    rows = _round_robin(by_module)[:limit]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return len(rows)


def _round_robin(groups: list[list[dict[str, str]]]) -> list[dict[str, str]]:
    """One member of each module in turn, so a limit cuts every module a little, not the last ones whole."""
    return [row for layer in itertools.zip_longest(*groups) for row in layer if row is not None]


def _members(module: Any) -> list[tuple[str, Any]]:
    out = []
    for name, obj in inspect.getmembers(module):
        if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.isbuiltin(obj)):
            continue
        if getattr(obj, "__module__", module.__name__) not in (module.__name__, None) and not module.__name__.startswith(
                str(getattr(obj, "__module__", ""))):
            continue
        out.append((name, obj))
        if inspect.isclass(obj):
            out += [(f"{name}.{m}", f) for m, f in inspect.getmembers(obj)
                    if not m.startswith("_") and (inspect.isfunction(f) or inspect.ismethoddescriptor(f))]
    return out


def ingest(corpus: Path, url: str) -> None:
    print("ingest: embedding with all-MiniLM-L6-v2 and writing into localsearch ...", flush=True)
    command = [sys.executable, "-m", "sidecar.cli", "ingest", str(corpus), "--index", INDEX, "--opensearch", url,
               "--format", "jsonl", "--id-field", "id", "--text-field", "title", "--text-field", "text"]
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise SystemExit(f"ingest failed with status {result.returncode}")


def compare(sidecar_url: str, engine_url: str, top: int) -> None:
    """BM25 alone (opt-out header), hybrid (the engine's own fusion), and hybrid + rerank (the sidecar)."""
    width = 40
    for query in QUERIES:
        lexical = {"query": {"match": {"text": query}}, "size": top, "_source": ["title"]}
        bm25 = _titles(requests.post(f"{sidecar_url}/{INDEX}/_search", json=lexical, headers={"X-Rerank": "off"},
                                     timeout=60))
        hybrid = _titles(requests.post(f"{sidecar_url}/{INDEX}/_search", json={
            **lexical, "ext": {"rerank": {"score_mode": "blend", "window": top, "budget_ms": 0.001}}}, timeout=60))
        response = requests.post(f"{sidecar_url}/{INDEX}/_search", json=lexical, timeout=120)
        reranked = _titles(response)
        print(f"query: {query!r}   [{response.headers.get('X-Rerank-Status')}, "
              f"{response.json().get('took')} ms]")
        print(f"  {'BM25':<{width}} {'hybrid (BM25 + k-NN)':<{width}} {'hybrid + rerank':<{width}}")
        for i in range(top):
            cells = [(column[i] if i < len(column) else "") for column in (bm25, hybrid, reranked)]
            print("  " + " ".join(_fit(c, width) for c in cells))
        print()


def _fit(text: str, width: int) -> str:
    """Cut on characters, not words: a dotted name is one long word that `textwrap.shorten` would drop whole."""
    return (text if len(text) <= width else text[: width - 1] + "…").ljust(width)


def _titles(response: requests.Response) -> list[str]:
    response.raise_for_status()
    return [h["_source"].get("title", h["_id"]) for h in response.json()["hits"]["hits"]]


def spawn(arguments: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "sidecar.cli", "--log-level", "WARNING", *arguments],
                            env={**os.environ, **(env or {})})


