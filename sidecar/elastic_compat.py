"""What Elasticsearch's clients need from the sidecar's own answers: the product header and the media type they
asked for (`application/vnd.elasticsearch+json; compatible-with=N`), and which media types the node refuses."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from searchcore.cluster import ELASTIC_PRODUCT_HEADER, UNKNOWN

# the official clients (8 and 9) send this Accept; Elasticsearch answers in kind
_COMPATIBLE_JSON = re.compile(r"application/vnd\.elasticsearch\+json\s*;\s*compatible-with\s*=\s*(\d+)", re.I)
# any of Elasticsearch's media types with a version (`+json`, `+x-ndjson` for _msearch and bulk)
_COMPATIBLE_ANY = re.compile(r"application/vnd\.elasticsearch\+[\w.-]+\s*;\s*compatible-with\s*=\s*(\d+)", re.I)


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


def refused_by_the_node(request_headers: Mapping[str, str], flavour: Any) -> bool:
    """Whether the Elasticsearch upstream refuses the media types of this request, so that the sidecar must not
    answer it itself: the node answers 400 media_type_header_exception when a `compatible-with` version is neither
    its major nor the one before (the 9.x client's `compatible-with=9` to an 8.x node), or when Accept and
    Content-Type carry different versions (one of them none). Such a request goes to the node, and the client gets
    the node's own refusal. Requests without a versioned media type are never refused here."""
    accept, content_type = request_headers.get("Accept", ""), request_headers.get("Content-Type")
    if "compatible-with" not in accept + (content_type or ""):
        return False
    known = flavour.current() if flavour is not None else None
    if known is None or not known.is_elasticsearch or known.major is None:
        return False
    versions = {_compatible_version(accept)} | ({_compatible_version(content_type)} if content_type else set())
    return len(versions) > 1 or not versions <= {known.major, known.major - 1}


def _compatible_version(media_type: str) -> int | None:
    found = _COMPATIBLE_ANY.search(media_type)
    return int(found.group(1)) if found else None


def upstream_report(flavour: Any) -> dict[str, Any]:
    """`/-/ready`'s `upstream`: which engine answered and its version (asked again when not known yet)."""
    found = flavour.current() if flavour is not None else None
    if found is None:
        return {"engine": UNKNOWN, "version": None}
    return {"engine": found.name, "version": found.version}
