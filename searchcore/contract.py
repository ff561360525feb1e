"""The index contract between ingest and the sidecar: the `_meta` record and the k-NN mapping (OpenSearch's
`knn_vector`; an Elasticsearch `dense_vector` is read alike)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from searchcore.errors import IllegalArgument

CONTRACT_VERSION = 1
META_KEY = "rerank_sidecar"
DEFAULT_VECTOR_FIELD = "embedding"
DEFAULT_SPACE_TYPE = "cosinesimil"
DEFAULT_TEXT_FIELDS = ("title", "text")
# lucene is the default: it ships with every k-NN install (faiss and nmslib need the plugin's
# native libraries), supports efficient filtering, and is the engine verified against the
# reference node. OpenSearch 3.x refuses nmslib for new indices.
DEFAULT_ENGINE = "lucene"
ENGINES = ("lucene", "faiss", "nmslib")
SPACE_TYPES = ("cosinesimil", "l2", "innerproduct")
# What the k-NN plugin assumes when a knn_vector field names no space_type.
PLUGIN_DEFAULT_SPACE_TYPE = "l2"
VECTOR_TYPES = ("knn_vector", "dense_vector")  # OpenSearch's k-NN field, Elasticsearch's
# The contract's space types (OpenSearch's names, kept in `_meta` on both engines) as Elasticsearch's
# dense_vector similarities. dot_product requires unit-length vectors, which is what `normalized` promises.
ES_SIMILARITIES = {"cosinesimil": "cosine", "l2": "l2_norm", "innerproduct": "dot_product"}
# What Elasticsearch 8+ assumes when an indexed float dense_vector names no similarity.
ES_DEFAULT_SIMILARITY = "cosine"


class ContractError(IllegalArgument):
    """An index's `_meta` contract is unreadable or does not match what the caller embeds with."""


@dataclass(frozen=True)
class IndexContract:
    """What the documents of an index were embedded with; the sidecar must embed queries alike."""

    model: str
    dimension: int
    space_type: str = DEFAULT_SPACE_TYPE
    normalized: bool = True
    vector_field: str = DEFAULT_VECTOR_FIELD
    text_fields: tuple[str, ...] = DEFAULT_TEXT_FIELDS
    contract_version: int = CONTRACT_VERSION

    def __post_init__(self) -> None:
        # Accept any sequence for text_fields but keep the dataclass hashable.
        object.__setattr__(self, "text_fields", tuple(self.text_fields))
        if not isinstance(self.dimension, int) or isinstance(self.dimension, bool) \
                or self.dimension <= 0:
            raise ContractError(f"contract dimension must be a positive integer, got "
                                f"[{self.dimension!r}]")
        if self.space_type not in SPACE_TYPES:
            raise ContractError(f"contract space_type [{self.space_type}] is not one of "
                                f"{list(SPACE_TYPES)}")
        if not self.model:
            raise ContractError("contract model must be a non-empty string")

    def to_meta(self) -> dict[str, Any]:
        """The mapping `_meta` value that records this contract."""
        record = asdict(self)
        record["text_fields"] = list(self.text_fields)
        ordered = {"contract_version": record.pop("contract_version"), **record}
        return {META_KEY: ordered}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any] | None) -> IndexContract | None:
        """Read the contract from a `_meta` value; None when the index has none."""
        if not meta or META_KEY not in meta:
            return None
        record = meta[META_KEY]
        if not isinstance(record, Mapping):
            raise ContractError(f"_meta.{META_KEY} must be an object")
        version = record.get("contract_version", CONTRACT_VERSION)
        if version != CONTRACT_VERSION:
            raise ContractError(f"_meta.{META_KEY}.contract_version [{version}] is not supported "
                                f"(this version reads [{CONTRACT_VERSION}])")
        try:
            return cls(model=record["model"], dimension=record["dimension"],
                       space_type=record.get("space_type", DEFAULT_SPACE_TYPE),
                       normalized=bool(record.get("normalized", True)),
                       vector_field=record.get("vector_field", DEFAULT_VECTOR_FIELD),
                       text_fields=tuple(record.get("text_fields", DEFAULT_TEXT_FIELDS)))
        except KeyError as exc:
            raise ContractError(f"_meta.{META_KEY} lacks [{exc.args[0]}]") from exc

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> IndexContract | None:
        """Read the contract from a get-mapping response, one index's `mappings`, or its body.

        A response for several indices (an alias or a pattern) must agree on one contract.
        """
        contracts = {name: cls.from_meta(meta) for name, meta in _metas(mapping).items()}
        found = {name: c for name, c in contracts.items() if c is not None}
        if not found:
            return None
        first_name, first = next(iter(found.items()))
        for name, contract in found.items():
            if contract != first:
                raise ContractError(f"indices [{first_name}] and [{name}] have different "
                                    f"contracts: {first.describe()} vs {contract.describe()}")
        return first

    def describe(self) -> str:
        return f"model [{self.model}] dimension [{self.dimension}] space_type [{self.space_type}]"

    def check_compatible(self, other: IndexContract, *, index: str | None = None) -> None:
        """Raise ContractError unless documents embedded per `other` can be searched per `self`."""
        where = f"index [{index}]" if index else "the index"
        if self.model != other.model or self.dimension != other.dimension:
            raise ContractError(
                f"{where} was embedded with model [{other.model}] (dimension {other.dimension}) "
                f"but this run uses model [{self.model}] (dimension {self.dimension}); "
                "use the same model or write into a new index")
        if self.vector_field != other.vector_field or self.space_type != other.space_type \
                or self.normalized != other.normalized:
            raise ContractError(
                f"{where} stores vectors in [{other.vector_field}] with space_type "
                f"[{other.space_type}] normalized [{other.normalized}] but this run uses "
                f"[{self.vector_field}] with space_type [{self.space_type}] normalized "
                f"[{self.normalized}]")


@dataclass(frozen=True)
class HnswSettings:
    """How the k-NN field is indexed (OpenSearch k-NN plugin `method`), plus index settings."""

    engine: str = DEFAULT_ENGINE
    m: int = 16
    ef_construction: int = 100
    number_of_shards: int | None = None
    number_of_replicas: int | None = None
    extra_settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ContractError(f"k-NN engine [{self.engine}] is not one of {list(ENGINES)}")
        if self.m < 2 or self.ef_construction < 2:
            raise ContractError("HNSW m and ef_construction must be at least 2")


def index_body(contract: IndexContract, settings: HnswSettings | None = None, *,
               extra_properties: Mapping[str, Any] | None = None,
               elasticsearch: bool = False) -> dict[str, Any]:
    """The create-index body: the vector field (`knn_vector` with `index.knn`, or Elasticsearch's
    `dense_vector`), text fields and `_meta`."""
    settings = settings or HnswSettings()
    index_settings: dict[str, Any] = {} if elasticsearch else {"knn": True}
    index_settings.update(settings.extra_settings)
    if settings.number_of_shards is not None:
        index_settings["number_of_shards"] = settings.number_of_shards
    if settings.number_of_replicas is not None:
        index_settings["number_of_replicas"] = settings.number_of_replicas
    properties: dict[str, Any] = dict(extra_properties or {})
    for name in contract.text_fields:
        properties.setdefault(name, {"type": "text"})
    field = dense_vector_field if elasticsearch else knn_vector_field
    properties[contract.vector_field] = field(contract, settings)
    return {"settings": {"index": index_settings},
            "mappings": {"_meta": contract.to_meta(), "properties": properties}}


def knn_vector_field(contract: IndexContract, settings: HnswSettings) -> dict[str, Any]:
    """OpenSearch's `knn_vector` field: HNSW with the engine, space type and parameters given."""
    return {
        "type": "knn_vector",
        "dimension": contract.dimension,
        "method": {
            "name": "hnsw",
            "engine": settings.engine,
            "space_type": contract.space_type,
            "parameters": {"m": settings.m, "ef_construction": settings.ef_construction},
        },
    }


def dense_vector_field(contract: IndexContract, settings: HnswSettings) -> dict[str, Any]:
    """Elasticsearch's `dense_vector` field, indexed for kNN in the contract's space.

    `index_options` says `hnsw` explicitly: left out, Elasticsearch 9 quantizes the vectors (int8 or bbq),
    which scores differently from the float vectors OpenSearch's lucene engine keeps.
    """
    if contract.space_type == "innerproduct" and not contract.normalized:
        similarity = "max_inner_product"  # dot_product refuses vectors that are not unit length
    else:
        similarity = ES_SIMILARITIES[contract.space_type]
    return {"type": "dense_vector", "dims": contract.dimension, "index": True, "similarity": similarity,
            "index_options": {"type": "hnsw", "m": settings.m,
                              "ef_construction": settings.ef_construction}}


def is_vector_field(spec: Mapping[str, Any]) -> bool:
    """Whether a field definition can serve k-NN searches: OpenSearch's `knn_vector`, or Elasticsearch's
    `dense_vector` with its HNSW index (`index: false` keeps only doc values, which no `knn` search reads)."""
    kind = spec.get("type")
    return kind == "knn_vector" or (kind == "dense_vector" and spec.get("index", True) is not False)


def vector_field_spec(mapping: Mapping[str, Any], field_name: str) -> Mapping[str, Any] | None:
    """The `knn_vector` or `dense_vector` definition of `field_name` in the first index of the mapping that has
    one."""
    for mappings in index_mappings(mapping).values():
        spec = (mappings.get("properties") or {}).get(field_name) or {}
        if spec.get("type") in VECTOR_TYPES:
            return spec
    return None


def vector_field_dimension(mapping: Mapping[str, Any], field_name: str) -> int | None:
    """The dimension of `field_name` when some index in the mapping has it as a vector field that states one."""
    spec = vector_field_spec(mapping, field_name)
    return vector_spec_dimension(spec) if spec is not None else None


def vector_spec_dimension(spec: Mapping[str, Any]) -> int | None:
    """A vector field's dimension: `dimension` (knn_vector) or `dims` (dense_vector, which may leave it to the
    first document)."""
    value = spec.get("dimension", spec.get("dims"))
    return int(value) if value is not None else None


def vector_field_space_type(spec: Mapping[str, Any]) -> str:
    """The space a vector field scores in, in the contract's names.

    knn_vector: its method's, its own (3.x), else the plugin's default; dense_vector: its similarity, else
    Elasticsearch's default (cosine).
    """
    if spec.get("type") == "dense_vector":
        similarity = str(spec.get("similarity") or ES_DEFAULT_SIMILARITY)
        if similarity == "max_inner_product":
            return "innerproduct"
        spaces = {es: space for space, es in ES_SIMILARITIES.items()}
        return spaces.get(similarity, similarity)
    method = spec.get("method") or {}
    return str(method.get("space_type") or spec.get("space_type") or PLUGIN_DEFAULT_SPACE_TYPE)


def index_mappings(mapping: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Normalize the accepted shapes into {index name: mappings body}."""
    if "mappings" in mapping and isinstance(mapping["mappings"], Mapping):
        return {"": mapping["mappings"]}
    if "_meta" in mapping or "properties" in mapping:
        return {"": mapping}
    found = {}
    for name, value in mapping.items():
        if isinstance(value, Mapping) and isinstance(value.get("mappings"), Mapping):
            found[name] = value["mappings"]
    return found


def _metas(mapping: Mapping[str, Any]) -> dict[str, Mapping[str, Any] | None]:
    return {name: body.get("_meta") for name, body in index_mappings(mapping).items()}
