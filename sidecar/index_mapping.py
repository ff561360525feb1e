"""What an index's get-mapping answer says about the searches the sidecar may run on it.

A search over an alias or a pattern covers several indices: a field counts as present when any of them has it
(a query on it can match there), a k-NN field only when every one has it (the cluster fails the k-NN query on
a shard whose index lacks it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from searchcore.contract import index_mappings, is_vector_field

# Always there, whatever the mapping says: a query on them is never a query on a missing field.
METADATA_FIELDS = frozenset({"_id", "_index", "_source", "_routing", "_ignored", "_seq_no", "_version",
                             "_field_names"})


def mapped_fields(mapping: Mapping[str, Any]) -> frozenset[str]:
    """Every field path of every index in the answer: objects walked, multi-fields (`title.keyword`) included."""
    found: set[str] = set(METADATA_FIELDS)
    for body in index_mappings(mapping).values():
        found.update(_paths(body.get("properties") or {}, ""))
    return frozenset(found)


def _paths(properties: Mapping[str, Any], prefix: str) -> Iterator[str]:
    for name, spec in properties.items():
        if not isinstance(spec, Mapping):
            continue
        path = prefix + name
        yield path
        yield from _paths(spec.get("properties") or {}, path + ".")
        for sub in spec.get("fields") or {}:
            yield f"{path}.{sub}"


def has_knn_field(mapping: Mapping[str, Any], field: str) -> bool:
    """Whether every index in the answer has `field` (a dotted path) as a vector field k-NN searches read
    (`knn_vector`, or Elasticsearch's indexed `dense_vector`)."""
    bodies = list(index_mappings(mapping).values())
    return bool(bodies) and all(is_vector_field(_field_spec(body, field)) for body in bodies)


def _field_spec(body: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    node: Any = body
    for part in path.split("."):
        properties = node.get("properties") if isinstance(node, Mapping) else None
        if not isinstance(properties, Mapping) or part not in properties:
            return {}
        node = properties[part]
    return node if isinstance(node, Mapping) else {}
