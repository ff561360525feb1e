"""Which profile reranks a search: a configured one, or the index's ingest contract (zero configuration)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from searchcore.contract import ContractError, IndexContract
from searchcore.errors import SearchError
from sidecar.index_mapping import has_knn_field, mapped_fields
from sidecar.instrument import IndexLabels
from sidecar.retrieve import index_path
from sidecar.settings import Profile, Settings

log = logging.getLogger(__name__)
CONTRACT_LABEL = "_contract"


MAPPING_UNAVAILABLE, CONTRACT_MISMATCH = "mapping-unavailable", "contract-mismatch"
_WARN_EVERY_S = 60.0


class MappingUnavailable(Exception):
    """The cluster would not say what the index is (401, 403, 5xx, timeout): reranking is skipped, flagged."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Resolved:
    profile: Profile | None
    contract: IndexContract | None
    metrics_index: str          # bounded metrics label: a configured pattern, a contract index, "_contract", "_none"
    problem: str | None = None  # why an index that should be reranked is not (e.g. contract mismatch)
    skipped: str | None = None  # the fail-open reason when reranking is skipped: contract-mismatch, mapping-unavailable
    fields: frozenset[str] | None = None   # the index's field paths (None: not known)
    lexical_only: bool = False  # the profile's vector field is missing: stage 1 is the lexical query alone


class ProfileResolver:
    def __init__(self, settings: Settings, upstream: Any, setup_headers: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.upstream = upstream
        self.setup_headers = dict(setup_headers or {})  # read a mapping the caller may not (search-only roles)
        self._mappings: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self.problems: dict[str, str] = {}  # index -> reason, shown by /-/ready
        self.index_labels = IndexLabels()
        self._warned: dict[str, float] = {}

    def resolve(self, index: str, headers: Mapping[str, str]) -> Resolved:
        explicit = self.settings.explicit_profile(index)
        if explicit is None and not self.settings.zero_config:
            return Resolved(None, None, "_none")
        label = explicit.pattern if explicit else "_none"
        try:
            mapping = self._mapping(index, headers)
            contract = IndexContract.from_mapping(mapping) if mapping else None
        except MappingUnavailable as exc:
            reason = f"the mapping of [{index}] could not be read ({exc.reason}): searches pass through unreranked"
            self._problem(index, reason)
            return Resolved(None, None, label, reason, skipped=MAPPING_UNAVAILABLE)
        except ContractError as exc:
            self._problem(index, exc.reason)
            return Resolved(None, None, label, exc.reason, skipped=CONTRACT_MISMATCH)
        if explicit is not None:
            resolved = self._with_contract(index, explicit, contract)
        elif contract is None:
            self.problems.pop(index, None)
            return Resolved(None, None, "_none")
        else:
            profile = replace(self.settings.defaults, pattern=CONTRACT_LABEL, text_fields=contract.text_fields,
                              vector_field=contract.vector_field, bi_encoder=contract.model)
            resolved = Resolved(profile, contract, self.index_labels.for_contract_index(index, CONTRACT_LABEL))
        if resolved.profile is None:
            return resolved
        return self._with_mapping(index, resolved, mapping)

    def _with_mapping(self, index: str, resolved: Resolved, mapping: Any) -> Resolved:
        """What the mapping adds: the index's fields, and whether the k-NN leg can run on it."""
        if not mapping:   # no such index (yet): the cluster answers the search itself
            self.problems.pop(index, None)
            return resolved
        profile = resolved.profile
        assert profile is not None
        lexical_only = not has_knn_field(mapping, profile.vector_field)
        if lexical_only:
            self._problem(index, f"index [{index}] has no knn_vector field [{profile.vector_field}]: its searches "
                                 "are reranked from the lexical query's candidates alone (no k-NN leg)")
        else:
            self.problems.pop(index, None)  # fixed since (re-ingested, profile changed, mapping readable again)
        return replace(resolved, fields=mapped_fields(mapping), lexical_only=lexical_only)

    def _problem(self, index: str, reason: str) -> None:
        """Named in /-/ready, and logged at warning level (once a minute per index, not once per search)."""
        self.problems[index] = reason
        now = time.monotonic()
        if now - self._warned.get(index, -_WARN_EVERY_S) >= _WARN_EVERY_S:
            self._warned[index] = now
            log.warning("%s", reason)

    def _with_contract(self, index: str, explicit: Profile, contract: IndexContract | None) -> Resolved:
        if contract is None:
            if explicit.bi_encoder is None:
                reason = (f"profile [{explicit.pattern}] names no bi_encoder and index [{index}] has no ingest "
                          "contract in its mapping _meta: cannot embed queries")
                self._problem(index, reason)
                return Resolved(None, None, explicit.pattern, reason, skipped=CONTRACT_MISMATCH)
            return Resolved(explicit, None, explicit.pattern)
        if explicit.bi_encoder and explicit.bi_encoder != contract.model:
            reason = (f"profile [{explicit.pattern}] embeds queries with [{explicit.bi_encoder}] but index [{index}] "
                      f"was embedded with [{contract.model}] (dimension {contract.dimension})")
            self._problem(index, reason)
            return Resolved(None, contract, explicit.pattern, reason, skipped=CONTRACT_MISMATCH)
        profile = replace(explicit, bi_encoder=contract.model,
                          vector_field=explicit.vector_field if explicit.vector_field != "embedding"
                          else contract.vector_field)
        return Resolved(profile, contract, explicit.pattern)

    def _mapping(self, index: str, headers: Mapping[str, str]) -> Any:
        """The index's get-mapping answer (None: no such index); MappingUnavailable when the cluster won't say."""
        now = time.monotonic()
        with self._lock:
            cached = self._mappings.get(index)
        if cached and cached[0] > now:
            return cached[1]
        status, answer = self._get_mapping(index, headers)
        if status in (401, 403) and self.setup_headers:
            status, answer = self._get_mapping(index, self.setup_headers)
        if status not in (200, 404) or (status == 200 and not isinstance(answer, dict)):
            error = answer.get("error") if isinstance(answer, dict) else None
            kind = error.get("type") if isinstance(error, dict) else None
            raise MappingUnavailable(f"status {status}" + (f", {kind}" if kind else ""))
        mapping = answer if status == 200 else None
        # what the index is, for everyone; a 401/403/5xx speaks of one caller or moment and is never cached
        with self._lock:
            self._mappings[index] = (now + self.settings.mapping_cache_ttl_s, mapping)
        return mapping

    def _get_mapping(self, index: str, headers: Mapping[str, str]) -> tuple[int, Any]:
        try:
            return self.upstream.json("GET", f"{index_path(index)}/_mapping", None, headers)
        except SearchError as exc:   # unreachable, timed out, malformed
            raise MappingUnavailable(exc.reason) from None

    def known_contracts(self, headers: Mapping[str, str]) -> dict[str, IndexContract]:
        """Every index with a contract the sidecar can see (for warm-up and readiness)."""
        try:
            status, answer = self.upstream.json("GET", "/_mapping", None, headers)
        except SearchError:
            return {}
        if status != 200 or not isinstance(answer, dict):
            return {}
        found = {}
        for name, body in answer.items():
            try:
                contract = IndexContract.from_mapping({name: body})
            except ContractError as exc:
                self.problems[name] = exc.reason
                continue
            if contract is not None:
                found[name] = contract
        return found
