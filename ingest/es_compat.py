"""The official elasticsearch client speaking to the Elasticsearch major before its own (the 9.x client to 8.x).

The client marks every request `application/vnd.elasticsearch+json; compatible-with=<its major>` (Accept and
Content-Type, `+x-ndjson` for bulk). A server accepts its own major and the one before: an 8.x node refuses
`compatible-with=9` with 400 media_type_header_exception ("Accept version must be either version 8 or 7, but found
9"), and answers the same request marked `compatible-with=8`, as the 8.x client sends it. The calls ingest makes
(index admin, mappings, aliases, bulk, search, scroll, nodes info) have the same form in 8.x, so the version on
the media types is the one thing to change. The client takes its transport as an option (`transport_class`); the
transport here rewrites that version on each request, and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from elastic_transport import HttpHeaders, Transport
from elasticsearch import __version__ as client_version

CLIENT_MAJOR: int = client_version[0]
# the majors this client reaches: its own, and the one before through the transport below
REACHABLE_MAJORS = (CLIENT_MAJOR - 1, CLIENT_MAJOR)
# a major both the client's own and the previous major's servers accept: for asking a server its version
PROBE_MAJOR = CLIENT_MAJOR - 1

_COMPATIBLE_WITH = re.compile(r"(application/vnd\.elasticsearch\+[\w.-]+\s*;\s*compatible-with\s*=\s*)\d+", re.I)
_MEDIA_TYPE_HEADERS = ("Accept", "Content-Type")


def with_compatible_version(value: str, major: int) -> str:
    """A media type header with its `compatible-with` version set to `major` (other media types unchanged)."""
    return _COMPATIBLE_WITH.sub(lambda found: f"{found.group(1)}{major}", value)


@cache
def transport_for(major: int) -> type[Transport]:
    """The transport class that makes the client speak to an Elasticsearch `major` (the client's own: unchanged)."""
    if major >= CLIENT_MAJOR:
        return Transport

    class CompatibleTransport(Transport):
        def perform_request(self, method: str, target: str, **options: Any) -> Any:
            headers = options.get("headers")
            if isinstance(headers, Mapping):   # else the DEFAULT sentinel: no headers of the call's own
                options["headers"] = changed = HttpHeaders(headers)
                for name in _MEDIA_TYPE_HEADERS:
                    if name in changed:
                        changed[name] = with_compatible_version(changed[name], major)
            return super().perform_request(method, target, **options)

    CompatibleTransport.__name__ = CompatibleTransport.__qualname__ = f"CompatibleWith{major}Transport"
    return CompatibleTransport
