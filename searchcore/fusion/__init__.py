"""Hybrid score fusion (normalize each leg, then combine per document) exactly as neural-search does it.

- ``techniques``: the tables of normalizers and combiners (name -> formula and what goes with it), the
  list of techniques, and neural-search's checks; a new technique is one function and one row there.
- ``config``: ``FusionConfig``, the search-pipeline body and name that ask the cluster for it, and ``fuse``.

Each formula, and the neural-search class it mirrors, is described in ``techniques``.

Precision: OpenSearch computes in Java ``float`` (z_score statistics and the geometric mean's
logarithms in ``double``). This package does the same with numpy float32, operation for operation
and in the same order, so results match bit for bit (up to libm's last-ulp ``log``/``exp``). Scores
come back as Python floats holding the float32 value's shortest decimal form (0.001, not
0.0010000000474974513), which is what OpenSearch prints in JSON.

Scope: each leg is treated as one shard's list. On a multi-shard index OpenSearch normalizes
min_max / l2 / z_score over all shards' lists (same as here, given the merged leg) but ranks RRF
within each shard, so a merged leg can rank differently. Ties in the combined score: OpenSearch
orders them by the iteration order of a ``java.util.HashMap`` keyed by Lucene doc id (ascending doc
id within a small shard); here they keep the order in which documents first appear (leg 0 in rank
order, then new documents of leg 1, ...), or ascending ``tie_key(key)`` when one is given (pass a
document's ordinal in its index to get Lucene's order).
"""

from searchcore.fusion.config import (
    PIPELINE_DESCRIPTION,
    PIPELINE_PREFIX,
    FusionConfig,
    as_printed,
    fuse,
    pipeline_body,
    pipeline_name,
)
from searchcore.fusion.techniques import (
    COMBINATIONS,
    COMBINERS,
    COMPATIBLE_COMBINATIONS,
    DEFAULT_RANK_CONSTANT,
    MAX_RANK_CONSTANT,
    MIN_RANK_CONSTANT,
    NORMALIZATION_PROCESSOR,
    NORMALIZATIONS,
    NORMALIZERS,
    SCORE_RANKER_PROCESSOR,
    TECHNIQUES,
    Combiner,
    Normalizer,
    check_combination,
    check_compatible,
    check_normalization,
    check_rank_constant,
    check_technique,
    check_weights,
    check_weights_match,
    combine,
    default_combination,
    java_float_str,
    normalize,
)

__all__ = [
    "COMBINATIONS", "COMBINERS", "COMPATIBLE_COMBINATIONS", "DEFAULT_RANK_CONSTANT", "MAX_RANK_CONSTANT",
    "MIN_RANK_CONSTANT", "NORMALIZATIONS", "NORMALIZATION_PROCESSOR", "NORMALIZERS", "PIPELINE_DESCRIPTION",
    "PIPELINE_PREFIX", "SCORE_RANKER_PROCESSOR", "TECHNIQUES", "Combiner", "FusionConfig", "Normalizer",
    "as_printed", "check_combination", "check_compatible", "check_normalization", "check_rank_constant",
    "check_technique", "check_weights", "check_weights_match", "combine", "default_combination", "fuse",
    "java_float_str", "normalize", "pipeline_body", "pipeline_name",
]
