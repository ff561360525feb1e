"""`rerank-sidecar ingest`: parse options, build the job's parts, run it, report in one place."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from ingest.checkpoint import CheckpointError
from ingest.clients import API_ERRORS, CONNECTION_ERRORS, describe_connection_error
from ingest.connect import ConnectError, ConnectionOptions, close_client, connect
from ingest.documents import FieldMapping
from ingest.index import DEFAULT_PIPELINE, MappingRefused, cluster_reason
from ingest.read_embed_write import FlowSettings, Interrupted
from ingest.reindex import AliasError, IndexSource
from ingest.run import IngestJob, JobError, Summary, run_job
from ingest.sources import DEFAULT_MAX_DOC_BYTES, FORMATS, SourceError, open_source
from ingest.write import ClusterUnavailable, RetryPolicy, WriteRefused
from searchcore.contract import DEFAULT_ENGINE, ENGINES, SPACE_TYPES, ContractError, HnswSettings
from searchcore.models import DEFAULT_BI_ENCODER, ModelNotFound

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED_RECORDS, EXIT_USAGE, EXIT_ABORTED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEFAULT_STATE_DIR = ".rerank-ingest"

# Option defaults live here, not in argparse, so a --config file can fill what the command
# line leaves out.
DEFAULTS: dict[str, Any] = {
    "source": None, "index": None, "format": None, "id_field": None, "text_field": None, "keep_field": None,
    "hash_ids": False, "model": None, "device": None, "vector_field": "embedding",
    "space_type": "cosinesimil", "engine": DEFAULT_ENGINE, "m": 16, "ef_construction": 100,
    "shards": None, "replicas": None, "pipeline": DEFAULT_PIPELINE, "no_pipeline": False,
    "batch_size": 512, "encode_batch_size": 32, "bulk_size": 500,
    "max_doc_bytes": DEFAULT_MAX_DOC_BYTES, "dead_letter": None, "checkpoint": None,
    "state_dir": DEFAULT_STATE_DIR, "resume": False, "dry_run": False, "from_index": None,
    "alias": None, "replace_index": False, "opensearch": None, "user": None, "password": None,
    "api_key": None, "ca_certs": None, "insecure": False, "timeout": 60.0, "data_dir": None,
    "max_retries": 8, "retry_backoff": 0.5, "progress_interval": 10.0, "summary_json": None,
}


class UsageError(Exception):
    """A bad option value; reported in one line with exit status 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Embed documents with a bi-encoder and write them, with their vectors, "
                          "into an index the sidecar can rerank.")
    add = parser.add_argument
    add("source", nargs="?", help="file or folder to read (not with --from-index)")
    add("--index", help="index to write into, created when missing (required)")
    add("--format", choices=FORMATS, help="source format (default: guessed from the name)")
    add("--config", help="YAML file with option values (the command line wins)")
    group = parser.add_argument_group("fields")
    group.add_argument("--id-field", help="field holding the document id (default: _id, id or "
                       "doc_id when present, else a hash of the content)")
    group.add_argument("--text-field", action="append", help="field to embed; repeat or "
                       "separate with commas (default: title,text)")
    group.add_argument("--keep-field", action="append", help="field to keep in _source; repeat "
                       "or separate with commas (default: every field)")
    group.add_argument("--hash-ids", action="store_true", default=None,
                       help="use a hash of the content as id even when the record has one")
    group = parser.add_argument_group("model and index")
    group.add_argument("--model", help=f"bi-encoder name or path (default: $RERANK_BI_ENCODER "
                       f"or {DEFAULT_BI_ENCODER})")
    group.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    group.add_argument("--vector-field", help="vector field name, knn_vector (dense_vector on "
                       "Elasticsearch) (default: embedding)")
    group.add_argument("--space-type", choices=SPACE_TYPES, help="k-NN space (default: "
                       "cosinesimil)")
    group.add_argument("--engine", choices=ENGINES, help=f"k-NN engine (default: {DEFAULT_ENGINE}; "
                       "faiss needs the k-NN plugin's native libraries, OpenSearch 3.x refuses "
                       "nmslib for new indices)")
    group.add_argument("--m", type=int, help="HNSW m (default: 16)")
    group.add_argument("--ef-construction", type=int, help="HNSW ef_construction (default: 100)")
    group.add_argument("--shards", type=int, help="number_of_shards for a new index")
    group.add_argument("--replicas", type=int, help="number_of_replicas for a new index")
    group.add_argument("--pipeline", help=f"name of the hybrid search pipeline to create when the cluster "
                       f"has neural-search (default: {DEFAULT_PIPELINE}, the one the sidecar uses for its "
                       "default fusion; under another name the sidecar does not use it)")
    group.add_argument("--no-pipeline", action="store_true", default=None,
                       help="do not create the search pipeline (the sidecar creates it on first use "
                       "where it may)")
    group = parser.add_argument_group("batching and limits")
    group.add_argument("--batch-size", type=int, help="records per embedding call (default 512)")
    group.add_argument("--encode-batch-size", type=int, help="model forward batch (default 32)")
    group.add_argument("--bulk-size", type=int, help="documents per _bulk request (default 500)")
    group.add_argument("--max-doc-bytes", type=int, help="larger records go to the dead-letter "
                       f"file (default {DEFAULT_MAX_DOC_BYTES})")
    group.add_argument("--max-retries", type=int, help="attempts per bulk request (default 8)")
    group.add_argument("--retry-backoff", type=float, help="first retry wait in seconds, "
                       "doubling (default 0.5)")
    group = parser.add_argument_group("failures, resume and reporting")
    group.add_argument("--dead-letter", help="JSONL file for records that failed (default: in "
                       "--state-dir)")
    group.add_argument("--checkpoint", help="checkpoint file (default: in --state-dir)")
    group.add_argument("--state-dir", help=f"folder for checkpoints and dead letters (default "
                       f"{DEFAULT_STATE_DIR})")
    group.add_argument("--resume", action="store_true", default=None,
                       help="continue an interrupted run from its checkpoint")
    group.add_argument("--dry-run", action="store_true", default=None,
                       help="validate the input and the mapping; write nothing")
    group.add_argument("--progress-interval", type=float, help="seconds between progress log "
                       "lines when not on a terminal (default 10)")
    group.add_argument("--summary-json", help="also write the final summary to this JSON file")
    group = parser.add_argument_group("vectorizing an existing index")
    group.add_argument("--from-index", help="read this index or alias instead of a file")
    group.add_argument("--alias", help="alias to point at the new index when done (default: "
                       "the --from-index name when it is an alias)")
    group.add_argument("--replace-index", action="store_true", default=None,
                       help="when --alias names an index, delete it and create the alias in "
                       "one atomic step")
    group = parser.add_argument_group("cluster (default: the embedded localsearch engine)")
    group.add_argument("--opensearch", "--elasticsearch", dest="opensearch", metavar="URL",
                       help="cluster URL, OpenSearch or Elasticsearch (told apart by its answers; "
                       "default: $OPENSEARCH_URL, else the embedded engine)")
    group.add_argument("--user", help="basic auth user (or $OPENSEARCH_USER)")
    group.add_argument("--password", help="basic auth password (or $OPENSEARCH_PASSWORD)")
    group.add_argument("--api-key", help="API key (or $OPENSEARCH_API_KEY)")
    group.add_argument("--ca-certs", help="CA bundle to verify the cluster's certificate")
    group.add_argument("--insecure", action="store_true", default=None,
                       help="do not verify TLS certificates")
    group.add_argument("--timeout", type=float, help="request timeout in seconds (default 60)")
    group.add_argument("--data-dir", help="embedded engine data folder (default: "
                       "$RERANK_DATA_DIR or ./data/localsearch)")


def run(args: argparse.Namespace) -> int:
    # One line per request, as the opensearch logger would give: kept at WARNING alike (sidecar/cli.py).
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    try:
        options = resolve_options(args)
        return _run(options)
    except Interrupted:
        _error("interrupted; progress is saved, continue with --resume")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except (UsageError, SourceError, ConnectError, JobError, ContractError, CheckpointError,
            ModelNotFound, AliasError, MappingRefused) as exc:
        _error(_message(exc))
        return EXIT_USAGE
    except (ClusterUnavailable, WriteRefused) as exc:
        _error(f"{exc}; progress is saved, continue with --resume")
        return EXIT_ABORTED
    except API_ERRORS as exc:
        _error(f"the cluster answered {exc.status_code}: {cluster_reason(exc)}")
        return EXIT_ABORTED
    except CONNECTION_ERRORS as exc:  # the elasticsearch client's (opensearch-py's are API_ERRORS too)
        _error(f"cannot reach the cluster: {describe_connection_error(exc)}")
        return EXIT_ABORTED
    except OSError as exc:
        _error(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
        return EXIT_ABORTED


def resolve_options(args: argparse.Namespace) -> dict[str, Any]:
    """Defaults, then the --config file, then the command line; validated."""
    given = {k: v for k, v in vars(args).items() if v is not None}
    options = dict(DEFAULTS)
    if given.get("config"):
        options.update(_read_config(given["config"]))
    options.update({k: v for k, v in given.items() if k in DEFAULTS})
    for key in ("text_field", "keep_field"):
        options[key] = _split_list(options.get(key))
    options["model"] = options["model"] or os.environ.get("RERANK_BI_ENCODER") \
        or DEFAULT_BI_ENCODER
    options["opensearch"] = options["opensearch"] or os.environ.get("OPENSEARCH_URL") or None
    options["user"] = options["user"] or os.environ.get("OPENSEARCH_USER")
    options["password"] = options["password"] or os.environ.get("OPENSEARCH_PASSWORD")
    options["api_key"] = options["api_key"] or os.environ.get("OPENSEARCH_API_KEY")
    _validate(options)
    return options


def _read_config(path: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise UsageError(f"--config {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"--config {path}: not valid YAML: {exc}") from exc
    data = data.get("ingest", data) if isinstance(data, dict) else data
    if not isinstance(data, dict):
        raise UsageError(f"--config {path}: expected a mapping of option names to values")
    options = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in DEFAULTS:
            raise UsageError(f"--config {path}: unknown option [{key}]")
        options[name] = value
    return options


def _split_list(values: Any) -> tuple[str, ...] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    names = [part.strip() for value in values for part in str(value).split(",")]
    return tuple(name for name in names if name) or None


def _validate(options: dict[str, Any]) -> None:
    if not options.get("index"):
        raise UsageError("--index is required")
    if options.get("from_index") and options.get("source"):
        raise UsageError("give either SOURCE or --from-index, not both")
    if not options.get("from_index") and not options.get("source"):
        raise UsageError("give a SOURCE file or folder, or --from-index NAME")
    if options.get("alias") and not options.get("from_index"):
        raise UsageError("--alias goes with --from-index")
    for key in ("batch_size", "encode_batch_size", "bulk_size", "max_doc_bytes", "max_retries"):
        if not isinstance(options[key], int) or options[key] < 1:
            raise UsageError(f"--{key.replace('_', '-')} must be a positive integer")
    for key in ("retry_backoff", "timeout", "progress_interval"):
        if not isinstance(options[key], (int, float)) or options[key] < 0:
            raise UsageError(f"--{key.replace('_', '-')} must be a non-negative number")
    if options["engine"] not in ENGINES:
        raise UsageError(f"--engine must be one of {', '.join(ENGINES)}")
    if options["space_type"] not in SPACE_TYPES:
        raise UsageError(f"--space-type must be one of {', '.join(SPACE_TYPES)}")


def _run(options: dict[str, Any]) -> int:
    connection = ConnectionOptions(
        url=options["opensearch"], user=options["user"], password=options["password"],
        api_key=options["api_key"], ca_certs=options["ca_certs"],
        insecure=bool(options["insecure"]), timeout=float(options["timeout"]),
        data_dir=options["data_dir"])
    source = None
    if options["source"]:
        source = open_source(options["source"], options["format"],
                             max_doc_bytes=options["max_doc_bytes"])
    client = _connect(connection, skip=bool(options["dry_run"]) and source is not None)
    try:
        if source is None:
            source = IndexSource(client, options["from_index"],
                                 max_doc_bytes=options["max_doc_bytes"])
        job = _build_job(options, source)
        embedder = _load_embedder(options)
        log.info("ingesting %s into %s on %s (model %s on %s)", source.description, job.index,
                 connection.describe(), job.model, getattr(embedder, "device", "?"))
        summary = run_job(job, source, client, embedder)
    finally:
        if client is not None:
            close_client(client, connection)
    _report(summary, options.get("summary_json"))
    return EXIT_OK if summary.exit_code == 0 else EXIT_FAILED_RECORDS


def _connect(connection: ConnectionOptions, *, skip: bool) -> Any:
    # A dry run against the embedded engine must not create its data folder.
    if skip and connection.embedded and not connection.resolved_data_dir().exists():
        log.info("dry run: the embedded engine has no data at %s yet; the index would be "
                 "created", connection.resolved_data_dir())
        return None
    client, flavour = connect(connection)
    log.info("%s is %s", connection.describe(), flavour.describe())
    return client


def _build_job(options: dict[str, Any], source: Any) -> IngestJob:
    try:
        mapping = FieldMapping(
            id_field=options["id_field"] or source.default_id_field,
            text_fields=options["text_field"] or source.default_text_fields or ("title", "text"),
            keep_fields=options["keep_field"], hash_ids=bool(options["hash_ids"]),
            vector_field=options["vector_field"])
        hnsw = HnswSettings(engine=options["engine"], m=options["m"],
                            ef_construction=options["ef_construction"],
                            number_of_shards=options["shards"],
                            number_of_replicas=options["replicas"])
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    state = Path(options["state_dir"])
    identity = options["from_index"] or str(Path(options["source"]).resolve())
    stem = f"{options['index']}.{hashlib.sha1(identity.encode()).hexdigest()[:8]}"
    return IngestJob(
        index=options["index"], model=options["model"], mapping=mapping,
        space_type=options["space_type"], hnsw=hnsw,
        pipeline=None if options["no_pipeline"] else options["pipeline"],
        flow=FlowSettings(batch_size=options["batch_size"], bulk_docs=options["bulk_size"]),
        retry=RetryPolicy(max_attempts=options["max_retries"],
                          initial_backoff=options["retry_backoff"]),
        checkpoint_path=Path(options["checkpoint"] or state / f"{stem}.checkpoint.json"),
        dead_letter_path=Path(options["dead_letter"] or state / f"{stem}.dead-letter.jsonl"),
        resume=bool(options["resume"]), dry_run=bool(options["dry_run"]),
        alias=options["alias"], replace_index=bool(options["replace_index"]),
        progress_interval=float(options["progress_interval"]))


def _load_embedder(options: dict[str, Any]) -> Any:
    from ingest.embed import SentenceEmbedder

    return SentenceEmbedder.load(options["model"], device=options["device"],
                                 batch_size=options["encode_batch_size"])


def _report(summary: Summary, json_path: str | None) -> None:
    print("\n".join(summary.lines()), flush=True)
    if json_path:
        Path(json_path).write_text(json.dumps(summary.to_dict(), indent=1), encoding="utf-8")


def _message(exc: BaseException) -> str:
    return getattr(exc, "reason", None) or str(exc)


def _error(message: str) -> None:
    log.debug("ingest stopped: %s", message, exc_info=True)
    print(f"rerank-sidecar ingest: error: {message}", file=sys.stderr, flush=True)
