"""What Elasticsearch's clients need from the sidecar's own answers: the product header and the media type they
asked for (`application/vnd.elasticsearch+json; compatible-with=N`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from searchcore.cluster import ELASTIC_PRODUCT_HEADER, UNKNOWN

# the official clients (8 and 9) send this Accept; Elasticsearch answers in kind
_COMPATIBLE_JSON = re.compile(r"application/vnd\.elasticsearch\+json\s*;\s*compatible-with\s*=\s*(\d+)", re.I)


def add_product_header(response: Any, flavour: Any) -> None:
    """`X-Elastic-Product: Elasticsearch` on an answer without it when the upstream is Elasticsearch: its clients
    refuse a 2xx answer that lacks it (UnsupportedProductError). Pass-through answers already carry the node's."""
    known = flavour.known() if flavour is not None else None
    if known is not None and known.is_elasticsearch and ELASTIC_PRODUCT_HEADER not in response.headers:
        response.headers[ELASTIC_PRODUCT_HEADER] = "Elasticsearch"


def answer_content_type(request_headers: Mapping[str, str], default: str) -> str:
    """The media type of a JSON answer the sidecar writes: Elasticsearch's compatible-with type when the client
    asked for it (as the node answers), else `default`."""
    wanted = _COMPATIBLE_JSON.search(request_headers.get("Accept", ""))
    return f"application/vnd.elasticsearch+json;compatible-with={wanted.group(1)}" if wanted else default


def upstream_report(flavour: Any) -> dict[str, Any]:
    """`/-/ready`'s `upstream`: which engine answered and its version (asked again when not known yet)."""
    found = flavour.current() if flavour is not None else None
    if found is None:
        return {"engine": UNKNOWN, "version": None}
    return {"engine": found.name, "version": found.version}
