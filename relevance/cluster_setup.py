"""The real path under evaluation: a cluster (or localsearch started here), the ingest job, the sidecar's parts."""

from __future__ import annotations

import argparse
import base64
import hashlib
import logging
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from searchcore.models import DEFAULT_BI_ENCODER
from sidecar.settings import Profile, Settings

log = logging.getLogger(__name__)


class StackError(RuntimeError):
    """The cluster or the ingest job cannot be used; the message is the one line the user sees."""


@dataclass
class Stack:
    """A cluster URL (ours or the user's), with the localsearch process we started, if any."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def open_stack(url: str | None, data_dir: Path, user: str | None = None, password: str | None = None) -> Stack:
    """The given cluster, else localsearch in its own process over `data_dir` (as `serve` starts it)."""
    headers = {}
    if user:
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    if url:
        return Stack(url.rstrip("/"), headers)
    data_dir.mkdir(parents=True, exist_ok=True)
    process, local_url = start_localsearch(data_dir)
    log.info("localsearch over %s at %s", data_dir, local_url)
    return Stack(local_url, headers, process)


def start_localsearch(data_dir: Path, timeout_s: float = 120.0) -> tuple[subprocess.Popen[bytes], str]:
    """`rerank-sidecar localsearch` on a free loopback port, its log in the data folder's parent."""
    from localsearch.process import LocalsearchStartError, start_localsearch_process

    try:
        return start_localsearch_process(data_dir, log_dir=data_dir.parent, timeout_s=timeout_s)
    except LocalsearchStartError as exc:
        raise StackError(str(exc)) from None


def upstream_for(stack: Stack, timeout_s: float = 300.0) -> Any:
    from sidecar.upstream import Upstream, UpstreamConfig
    return Upstream(UpstreamConfig(url=stack.url, timeout_s=timeout_s))


def index_name_for(corpus: Path, text_fields: tuple[str, ...], bi_encoder: str) -> str:
    """`eval-<corpus>-<hash>`: the hash covers the corpus bytes, the embedded fields and the model,
    so an index of that name holds exactly this corpus embedded this way."""
    digest = hashlib.sha1()
    files = [corpus / "corpus.jsonl"] if corpus.is_dir() and (corpus / "corpus.jsonl").is_file() else (
        sorted(p for p in corpus.rglob("*") if p.is_file()) if corpus.is_dir() else [corpus])
    for path in files:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    digest.update(repr((text_fields, bi_encoder)).encode())
    stem = re.sub(r"[^a-z0-9_-]+", "-", corpus.name.split(".")[0].lower()).strip("-_") or "corpus"
    return f"eval-{stem[:40]}-{digest.hexdigest()[:10]}"


def corpus_size(corpus: Path, text_fields: tuple[str, ...], id_field: str | None = None) -> int:
    """Documents ingest writes: the records its field mapping accepts (it rejects, say, ones without text)."""
    from ingest.documents import BadRecord, FieldMapping, to_document
    from ingest.sources import open_source
    source = open_source(corpus)
    mapping = FieldMapping(id_field=id_field or source.default_id_field, text_fields=text_fields)
    count = 0
    for record in source.records():
        try:
            to_document(record, mapping)
            count += 1
        except BadRecord:
            pass
    return count


def index_matches(upstream: Any, index: str, expected_docs: int, bi_encoder: str,
                  headers: dict[str, str]) -> bool:
    """The index exists, was embedded with `bi_encoder` and holds every document of the corpus."""
    from searchcore.contract import IndexContract
    status, mapping = upstream.json("GET", f"/{index}/_mapping", None, headers)
    if status != 200:
        return False
    contract = IndexContract.from_mapping(mapping)
    if contract is None or contract.model != bi_encoder:
        return False
    upstream.json("POST", f"/{index}/_refresh", None, headers)
    status, counted = upstream.json("GET", f"/{index}/_count", None, headers)
    return status == 200 and int(counted.get("count", -1)) == expected_docs


def ensure_ingested(stack: Stack, corpus: Path, index: str, *, text_fields: tuple[str, ...], bi_encoder: str,
                    id_field: str | None, state_dir: Path, user: str | None = None,
                    password: str | None = None) -> bool:
    """Run the ingest job unless the index already matches; True when it ingested."""
    upstream = upstream_for(stack)
    try:
        expected = corpus_size(corpus, text_fields, id_field)
        if index_matches(upstream, index, expected, bi_encoder, stack.headers):
            log.info("index %s already holds the %d documents of %s: ingest skipped", index, expected, corpus)
            return False
        status, _ = upstream.json("GET", f"/{index}/_mapping", None, stack.headers)
        if status == 200:  # a partial or different index of that name: start again
            upstream.json("DELETE", f"/{index}", None, stack.headers)
    finally:
        upstream.close()
    from ingest import cli as ingest_cli
    parser = argparse.ArgumentParser(prog="rerank-sidecar ingest")
    ingest_cli.add_arguments(parser)
    argv = [str(corpus), "--index", index, "--opensearch", stack.url, "--model", bi_encoder,
            "--text-field", ",".join(text_fields), "--state-dir", str(state_dir), "--no-pipeline"]
    if id_field:
        argv += ["--id-field", id_field]
    if user:
        argv += ["--user", user, "--password", password or ""]
    code = ingest_cli.run(parser.parse_args(argv))
    if code == ingest_cli.EXIT_FAILED_RECORDS:  # some records could not become documents: evaluate the rest
        log.warning("ingest left out some records of %s (see the dead-letter file in %s); evaluating the rest",
                    corpus, state_dir)
    elif code != 0:
        raise StackError(f"ingest of {corpus} into {index} failed with status {code}; see the messages above")
    return True


def sidecar_settings(stack: Stack, *, reranker: str, windows: list[int], backend: str = "torch",
                     text_fields: tuple[str, ...] | None = None) -> Settings:
    """The sidecar's settings for evaluation: the window may reach the sweep's largest, no time budget
    cuts a CPU rerank short (the evaluation measures the time instead)."""
    largest = max([*windows, 100])
    defaults = Profile(reranker=reranker, window=min(100, largest), max_window=max(largest, 100),
                       budget_ms=3_600_000.0, **({"text_fields": text_fields} if text_fields else {}))
    from sidecar.settings import Limits
    return Settings(opensearch_url=stack.url, defaults=defaults, rerank_backend=backend,
                    limits=Limits(max_window=max(largest, 1000), max_passages_per_request=max(2000, largest * 20)),
                    upstream_timeout_s=300.0)


def add_cluster_arguments(parser: argparse.ArgumentParser, index_help: str) -> None:
    """The options that say where the documents are, shared by `eval` and `train-reranker` (ClusterOptions)."""
    group = parser.add_argument_group("index and cluster (default: localsearch started over --data-dir)")
    group.add_argument("--opensearch", metavar="URL", help="cluster URL (default $OPENSEARCH_URL, else localsearch)")
    group.add_argument("--user", help="basic auth user (or $OPENSEARCH_USER)")
    group.add_argument("--password", help="basic auth password (or $OPENSEARCH_PASSWORD)")
    group.add_argument("--index", help=index_help)
    group.add_argument("--data-dir", help="localsearch data folder (default $RERANK_DATA_DIR or ./data/localsearch)")
    group.add_argument("--bi-encoder", help="bi-encoder for ingest (default all-MiniLM-L6-v2)")
    group.add_argument("--text-field", help="fields to index and rerank, comma separated (default title,text)")
    group.add_argument("--id-field", help="document id field of the corpus (default _id, id or doc_id)")


@dataclass(frozen=True)
class ClusterOptions:
    """Where the documents are (an existing index, or a corpus to ingest, into localsearch by default) and how
    they are embedded: what `eval` and `train-reranker` share (add_cluster_arguments)."""

    index: str | None = None
    opensearch: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    data_dir: Path = Path("data/localsearch")
    bi_encoder: str = DEFAULT_BI_ENCODER
    text_fields: tuple[str, ...] = ("title", "text")
    id_field: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> ClusterOptions:
        return cls(index=args.index, opensearch=args.opensearch or env.get("OPENSEARCH_URL"),
                   user=args.user or env.get("OPENSEARCH_USER"), password=args.password or env.get("OPENSEARCH_PASSWORD"),
                   data_dir=Path(args.data_dir or env.get("RERANK_DATA_DIR") or "data/localsearch"),
                   bi_encoder=args.bi_encoder or env.get("RERANK_BI_ENCODER") or DEFAULT_BI_ENCODER,
                   text_fields=tuple(f.strip() for f in (args.text_field or "title,text").split(",") if f.strip()),
                   id_field=args.id_field)


@contextmanager
def opened_index(options: ClusterOptions, corpus: Path | None, state_dir: Path) -> Iterator[tuple[Stack, str, bool]]:
    """(the cluster, the index name, whether `corpus` was ingested now); localsearch stops on exit."""
    stack = open_stack(options.opensearch, options.data_dir, options.user, options.password)
    try:
        index, ingested = options.index, False
        if index is None:
            if corpus is None:
                raise StackError("give a corpus (DATASET) to ingest, or --index NAME for an index that exists")
            index = index_name_for(corpus, options.text_fields, options.bi_encoder)
            ingested = ensure_ingested(stack, corpus, index, text_fields=options.text_fields,
                                       bi_encoder=options.bi_encoder, id_field=options.id_field,
                                       state_dir=state_dir, user=options.user, password=options.password)
        yield stack, index, ingested
    finally:
        stack.close()
