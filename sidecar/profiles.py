"""Which profile reranks a search: a configured one, or the index's ingest contract (zero configuration)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sidecar.contract import ContractError, IndexContract
from sidecar.errors import SearchError
from sidecar.instrument import IndexLabels
from sidecar.retrieve import index_path
from sidecar.settings import Profile, Settings

log = logging.getLogger(__name__)
CONTRACT_LABEL = "_contract"


@dataclass(frozen=True)
class Resolved:
    profile: Profile | None
    contract: IndexContract | None
    label: str                  # bounded metrics label: a configured pattern, a contract index, "_contract", "_none"
    problem: str | None = None  # why an index that should be reranked is not (e.g. contract mismatch)


class ProfileResolver:
    def __init__(self, settings: Settings, upstream: Any) -> None:
        self.settings = settings
        self.upstream = upstream
        self._mappings: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self.problems: dict[str, str] = {}  # index -> reason, shown by /-/ready
        self.index_labels = IndexLabels()

    def resolve(self, index: str, headers: Mapping[str, str]) -> Resolved:
        explicit = self.settings.explicit_profile(index)
        if explicit is None and not self.settings.zero_config:
            return Resolved(None, None, "_none")
        try:
            contract = self._contract(index, headers)
        except ContractError as exc:
            self.problems[index] = exc.reason
            return Resolved(None, None, explicit.pattern if explicit else "_none", exc.reason)
        if explicit is not None:
            resolved = self._with_contract(index, explicit, contract)
            if resolved.problem is None:
                self.problems.pop(index, None)  # fixed since (re-ingested, profile changed)
            return resolved
        self.problems.pop(index, None)
        if contract is None:
            return Resolved(None, None, "_none")
        profile = replace(self.settings.defaults, pattern=CONTRACT_LABEL, text_fields=contract.text_fields,
                          vector_field=contract.vector_field, bi_encoder=contract.model)
        return Resolved(profile, contract, self.index_labels.for_contract_index(index, CONTRACT_LABEL))

    def _with_contract(self, index: str, explicit: Profile, contract: IndexContract | None) -> Resolved:
        if contract is None:
            if explicit.bi_encoder is None:
                reason = (f"profile [{explicit.pattern}] names no bi_encoder and index [{index}] has no ingest "
                          "contract in its mapping _meta: cannot embed queries")
                self.problems[index] = reason
                return Resolved(None, None, explicit.pattern, reason)
            return Resolved(explicit, None, explicit.pattern)
        if explicit.bi_encoder and explicit.bi_encoder != contract.model:
            reason = (f"profile [{explicit.pattern}] embeds queries with [{explicit.bi_encoder}] but index [{index}] "
                      f"was embedded with [{contract.model}] (dimension {contract.dimension})")
            self.problems[index] = reason
            return Resolved(None, contract, explicit.pattern, reason)
        profile = replace(explicit, bi_encoder=contract.model,
                          vector_field=explicit.vector_field if explicit.vector_field != "embedding"
                          else contract.vector_field)
        return Resolved(profile, contract, explicit.pattern)

    def _contract(self, index: str, headers: Mapping[str, str]) -> IndexContract | None:
        mapping = self._mapping(index, headers)
        return IndexContract.from_mapping(mapping) if mapping else None

    def _mapping(self, index: str, headers: Mapping[str, str]) -> Any:
        now = time.monotonic()
        with self._lock:
            cached = self._mappings.get(index)
        if cached and cached[0] > now:
            return cached[1]
        try:
            status, answer = self.upstream.json("GET", f"{index_path(index)}/_mapping", None, headers)
        except SearchError as exc:
            log.debug("mapping of %s unavailable: %s", index, exc.reason)
            return None
        mapping = answer if status == 200 and isinstance(answer, dict) else None
        if status in (200, 404):   # what the index is, for everyone; a 401/403/5xx speaks of one caller or moment
            with self._lock:
                self._mappings[index] = (now + self.settings.mapping_cache_ttl_s, mapping)
        return mapping

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
