"""One ingest job end to end: prepare the index and pipeline, run the flow, swap the alias, sum up."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ingest.checkpoint import Checkpoint, CheckpointStore
from ingest.deadletter import DeadLetterFile
from ingest.documents import BadRecord, FieldMapping, to_document
from ingest.embed import Embedder
from ingest.index import DEFAULT_PIPELINE, ensure_pipeline, prepare_index
from ingest.progress import Progress
from ingest.read_embed_write import COUNT_KEYS, FlowSettings, IngestFlow
from ingest.records import Source
from ingest.reindex import IndexSource, alias_targets, existing_ids, is_concrete_index, swap_alias
from ingest.write import BulkWriter, RetryPolicy
from searchcore.contract import HnswSettings, IndexContract

log = logging.getLogger(__name__)

DRY_RUN_EXAMPLES = 10  # bad records a dry run lists


class JobError(Exception):
    """The job cannot run as configured; the message is the one line the user sees."""


@dataclass(frozen=True)
class IngestJob:
    """Everything one run needs to know besides the source, the client and the model."""

    index: str
    model: str
    mapping: FieldMapping = field(default_factory=FieldMapping)
    space_type: str = "cosinesimil"
    hnsw: HnswSettings = field(default_factory=HnswSettings)
    pipeline: str | None = DEFAULT_PIPELINE
    flow: FlowSettings = field(default_factory=FlowSettings)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    checkpoint_path: Path | None = None
    dead_letter_path: Path = Path("ingest.dead-letter.jsonl")
    resume: bool = False
    dry_run: bool = False
    alias: str | None = None  # --from-index: the alias to point at the new index
    replace_index: bool = False
    progress_interval: float = 10.0
    progress_tty: bool | None = None


@dataclass
class Summary:
    """What a run did; `exit_code` is 0 only when every record made it into the index."""

    index: str
    source: str
    read: int = 0
    embedded: int = 0
    written: int = 0
    failed: int = 0
    skipped: int = 0
    resumed_from: int = 0
    elapsed_s: float = 0.0
    throughput_docs_s: float = 0.0
    index_status: str = ""
    pipeline_status: str = ""
    alias: str | None = None
    dead_letter: str | None = None
    complete: bool = False
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        return 0 if self.complete and self.failed == 0 else 1

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "exit_code": self.exit_code}

    def lines(self) -> list[str]:
        head = "dry run (nothing written)" if self.dry_run else "ingest summary"
        rows = [f"{head}: {self.source} -> index {self.index} ({self.index_status})"]
        counts = ("read", "embedded", "written", "failed", "skipped")
        rows += [f"  {name:<11}{getattr(self, name)}" for name in counts]
        if self.resumed_from:
            rows.append(f"  {'resumed at':<11}record {self.resumed_from}")
        rows.append(f"  {'elapsed':<11}{self.elapsed_s:.1f}s")
        rows.append(f"  {'throughput':<11}{self.throughput_docs_s:.1f} docs/s")
        if self.pipeline_status:
            rows.append(f"  {'pipeline':<11}{self.pipeline_status}")
        if self.alias:
            rows.append(f"  {'alias':<11}{self.alias}")
        if self.failed and self.dead_letter:
            rows.append(f"  {'dead letters':<11} {self.dead_letter}")
        return rows


def job_identity(job: IngestJob, source: Source) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: same input, target, model and mapping."""
    return {"source": source.fingerprint(), "index": job.index, "model": job.model,
            "mapping": {k: list(v) if isinstance(v, tuple) else v
                        for k, v in asdict(job.mapping).items()}}


def run_job(job: IngestJob, source: Source, client: Any, embedder: Embedder) -> Summary:
    """Run the job; raises JobError (and the flow's errors) when it cannot complete."""
    started = time.monotonic()
    contract = IndexContract(model=job.model, dimension=embedder.dimension,
                             space_type=job.space_type, vector_field=job.mapping.vector_field,
                             text_fields=job.mapping.text_fields)
    from_index = isinstance(source, IndexSource)
    alias = _plan_alias(job, source, client) if from_index else None
    summary = Summary(index=job.index, source=source.description, dry_run=job.dry_run,
                      dead_letter=str(job.dead_letter_path), alias=alias)
    extra, hnsw = None, job.hnsw
    if from_index:  # the new index keeps the source's field mappings and the analyzers they name
        extra = source.properties()
        extra.pop(job.mapping.vector_field, None)
        analysis = source.analysis()
        if analysis:
            hnsw = replace(hnsw, extra_settings={**hnsw.extra_settings, "analysis": analysis})
    if client is None:  # a dry run with no cluster to check against
        summary.index_status = "would create"
    else:
        summary.index_status = prepare_index(client, job.index, contract, hnsw,
                                             dry_run=job.dry_run, extra_properties=extra)
        if job.pipeline:
            summary.pipeline_status = ensure_pipeline(client, job.pipeline,
                                                      dry_run=job.dry_run)
    if job.dry_run:
        return _dry_run(job, source, summary, started)

    store = CheckpointStore(job.checkpoint_path) if job.checkpoint_path else None
    checkpoint = _checkpoint_to_start_from(job, source, store)
    if checkpoint.complete:
        log.info("checkpoint %s says this job is complete; nothing to do", job.checkpoint_path)
        _fill(summary, checkpoint.counts)
        summary.complete = True
        return _finish_timing(summary, started, 0)
    # An index cannot be read from a position, so a resumed --from-index run skips what the
    # target holds already; file sources restart at the checkpointed position.
    start = 0 if from_index else checkpoint.position
    summary.resumed_from = start
    skip_known = (lambda ids: existing_ids(client, job.index, ids)) \
        if (from_index and checkpoint.position) else None
    if from_index:  # everything is read again: counts and dead letters start afresh
        checkpoint.position, checkpoint.counts, checkpoint.dead_letter_bytes = 0, {}, 0
    dead_letters = DeadLetterFile(job.dead_letter_path, keep_bytes=checkpoint.dead_letter_bytes)
    progress = Progress(_safe_total(source), initial=start, interval=job.progress_interval,
                        tty=job.progress_tty)
    writer = BulkWriter(client, job.index, vector_field=job.mapping.vector_field,
                        retry=job.retry, chunk_size=job.flow.bulk_docs)
    flow_settings = FlowSettings(**{**asdict(job.flow), "source_name": source.description})
    flow = IngestFlow(source.records(start), job.mapping, embedder, writer, dead_letters, store,
                      checkpoint, settings=flow_settings, progress=progress,
                      existing_ids=skip_known)
    written_before = checkpoint.counts.get("written", 0)
    try:
        counts = flow.run()
    finally:
        progress.close()
        dead_letters.close()
        _fill(summary, flow.counts)
    client.indices.refresh(index=job.index)
    checkpoint.complete = True
    if store is not None:
        store.save(checkpoint)
    summary.complete = True
    if alias:
        _swap(job, client, alias, summary)
    return _finish_timing(summary, started, counts["written"] - written_before)


def _checkpoint_to_start_from(job: IngestJob, source: Source,
                              store: CheckpointStore | None) -> Checkpoint:
    """The saved checkpoint when resuming this very job, else a fresh one."""
    identity = job_identity(job, source)
    checkpoint = store.resume_point(identity) if (store and job.resume) else None
    if checkpoint is None:
        if job.resume:
            log.info("no checkpoint to resume from; starting at the beginning")
        checkpoint = Checkpoint(job=identity)
    return checkpoint


def _plan_alias(job: IngestJob, source: IndexSource, client: Any) -> str | None:
    """The alias a --from-index run moves: --alias, else the source name when it is an alias."""
    if not client.indices.exists(index=source.index):
        raise JobError(f"--from-index: no such index or alias [{source.index}]")
    if source.index == job.index:
        raise JobError("--index must name a new index, not the one given to --from-index")
    alias = job.alias
    if alias is None and alias_targets(client, source.index):
        alias = source.index
    if alias is None:
        log.info("no alias to move: %s is an index; pass --alias NAME to point one at %s",
                 source.index, job.index)
        return None
    if alias == job.index:
        raise JobError(f"--alias [{alias}] cannot have the name of the new index")
    if is_concrete_index(client, alias) and not job.replace_index:
        raise JobError(f"[{alias}] is an index, not an alias; pass --replace-index to delete it "
                       f"and create the alias [{alias}] -> [{job.index}] in one atomic step")
    return alias


def _swap(job: IngestJob, client: Any, alias: str, summary: Summary) -> None:
    if summary.failed:
        log.error("not moving alias %s to %s: %d documents failed (see %s)", alias, job.index,
                  summary.failed, summary.dead_letter)
        summary.alias = f"{alias} (not moved: documents failed)"
        return
    swap_alias(client, alias, job.index, replace_index=job.replace_index)
    summary.alias = f"{alias} -> {job.index}"


def _dry_run(job: IngestJob, source: Source, summary: Summary, started: float) -> Summary:
    bad = 0
    for record in source.records(0):
        summary.read += 1
        try:
            to_document(record, job.mapping)
        except BadRecord as exc:
            bad += 1
            if bad <= DRY_RUN_EXAMPLES:
                log.warning("%s: %s", record.where, exc)
    summary.failed = bad
    summary.complete = True
    summary.dead_letter = None
    if bad > DRY_RUN_EXAMPLES:
        log.warning("... and %d more bad records", bad - DRY_RUN_EXAMPLES)
    return _finish_timing(summary, started, 0)


def _fill(summary: Summary, counts: dict[str, int]) -> None:
    for key in COUNT_KEYS:
        setattr(summary, key, int(counts.get(key, 0)))


def _finish_timing(summary: Summary, started: float, written_now: int) -> Summary:
    summary.elapsed_s = time.monotonic() - started
    summary.throughput_docs_s = written_now / summary.elapsed_s if summary.elapsed_s > 0 else 0.0
    return summary


def _safe_total(source: Source) -> int | None:
    try:
        return source.estimate_total()
    except Exception as exc:  # a progress total is a nicety, never a reason to fail
        log.debug("cannot estimate the source size: %s", exc)
        return None
