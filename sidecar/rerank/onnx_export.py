"""Export a cross-encoder to ONNX once (fp32, fused for ONNX Runtime, optionally int8) and cache the files.

The cache key is a digest of the model's config and weights, so every gunicorn worker (and every
restart) finds the same files; a file lock makes one process export while the others wait, and
each file appears by atomic rename, so no process ever loads half a file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

EXPORT_VERSION = 2        # bump when the export recipe changes: old cache entries are then ignored
OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
CACHE_DIR_ENV = "RERANK_ONNX_CACHE_DIR"
# Files a model folder may already carry (sentence-transformers' `backend="onnx"` saves these).
SHIPPED = {"fp32": ("onnx/model.onnx",), "int8": ("onnx/model_qint8_avx2.onnx", "onnx/model_quint8_avx2.onnx")}


@dataclass(frozen=True)
class ExportedModel:
    path: Path               # the .onnx file to load
    inputs: tuple[str, ...]  # the input names it takes, in INPUT_NAMES order
    fused: bool              # transformer-specific fusions (attention, GELU, layer norm) applied


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rerank-sidecar" / "onnx"


def exported_model(model_dir: str | Path, *, int8: bool, cache_dir: str | Path | None = None,
                   shipped_int8: bool = False) -> ExportedModel:
    """The ONNX file for the HF model folder `model_dir`: cached, or exported now.

    fp32: a folder's own `onnx/model.onnx` is used as shipped (the same graph, unfused). int8: the
    project's recipe (`int8_excluded_nodes`) is applied to our own export, whatever the folder
    ships, since the quality figures rest on that recipe; `shipped_int8` takes the folder's
    `onnx/model_qint8_*.onnx` as is instead (and fails when there is none).
    """
    model_dir = Path(model_dir)
    if not int8 or shipped_int8:
        for relative in SHIPPED["int8" if int8 else "fp32"]:
            shipped = model_dir / relative
            if shipped.is_file():
                return ExportedModel(shipped, _graph_inputs(shipped), fused=False)
        if shipped_int8:
            raise FileNotFoundError(f"quantization: shipped, but [{model_dir}] has none of {list(SHIPPED['int8'])}")
    target = Path(cache_dir or default_cache_dir()) / _model_digest(model_dir)
    target.mkdir(parents=True, exist_ok=True)
    with _locked(target / ".lock"):
        meta_path = target / "export.json"
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        if not (target / "model.onnx").is_file():
            meta = _export(model_dir, target)
            meta_path.write_text(json.dumps(meta, indent=1))
        if int8 and not (target / "model-int8.onnx").is_file():
            _quantize(target / "model.onnx", target / "model-int8.onnx")
    path = target / ("model-int8.onnx" if int8 else "model.onnx")
    return ExportedModel(path, tuple(meta.get("inputs", INPUT_NAMES)), bool(meta.get("fused")))


def _model_digest(model_dir: Path) -> str:
    """Config, weights and the recipe version: what decides the exported graph."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(f"v{EXPORT_VERSION}/opset{OPSET}".encode())
    files = [model_dir / "config.json", *sorted(model_dir.glob("*.safetensors")), *sorted(model_dir.glob("*.bin"))]
    for path in files:
        if path.is_file():
            digest.update(path.name.encode())
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return f"{model_dir.name}-{digest.hexdigest()}"


def _export(model_dir: Path, target: Path) -> dict[str, object]:
    import torch
    from transformers import AutoModelForSequenceClassification

    log.info("exporting %s to ONNX in %s (once; later starts reuse it)", model_dir, target)
    # eager attention exports as plain MatMul/Softmax, which ONNX Runtime fuses into its Attention kernel
    try:
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, attn_implementation="eager")
    except (TypeError, ValueError):
        model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    model.eval()
    with_types = getattr(model.config, "type_vocab_size", 0) > 1
    inputs = INPUT_NAMES if with_types else INPUT_NAMES[:2]
    sample = tuple(torch.ones(2, 8, dtype=torch.long) for _ in inputs)
    axes = {name: {0: "batch", 1: "sequence"} for name in inputs} | {"logits": {0: "batch"}}
    plain = target / "model-plain.onnx"
    with _atomic(plain) as tmp, torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python branches: expected
        torch.onnx.export(model, sample, str(tmp), input_names=list(inputs), output_names=["logits"],
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    fused = _fuse(plain, target / "model.onnx", model.config)
    return {"source": str(model_dir), "inputs": list(inputs), "fused": fused, "opset": OPSET,
            "export_version": EXPORT_VERSION}


def _fuse(source: Path, target: Path, config: object) -> bool:
    """ONNX Runtime's transformer optimizer (fused attention, GELU, skip layer norm) for BERT-like models."""
    model_type = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "distilbert": "bert",
                  "electra": "bert"}.get(getattr(config, "model_type", ""))
    if model_type is None:
        os.replace(source, target)
        return False
    from onnxruntime.transformers import optimizer

    with _quiet():
        optimized = optimizer.optimize_model(str(source), model_type=model_type,
                                             num_heads=getattr(config, "num_attention_heads", 0),
                                             hidden_size=getattr(config, "hidden_size", 0), opt_level=1)
    with _atomic(target) as tmp:
        optimized.save_model_to_file(str(tmp))
    source.unlink()
    return True


FP32_LEADING_LAYERS = 2  # encoder layers kept whole in fp32 by int8 quantization


def int8_excluded_nodes(path: Path) -> list[str]:
    """Matrix products int8 quantization leaves in fp32: every layer's FFN output projection, and the
    first FP32_LEADING_LAYERS layers whole.

    The FFN output's input is the GELU output, whose outliers a per-tensor 8-bit activation scale
    cannot hold, and errors made in the first layers grow through the rest. Measured with
    minilm-l6-distilled-ce on TREC DL 2019's BM25 top-100 (43 queries, per-query Spearman against
    fp32): everything int8 0.985 (1.53x fp32's speed on 2 AVX2 cores), FFN outputs kept 0.990
    (1.28x), FFN outputs and the first two layers kept 0.995 (1.20x); SmoothQuant-style scaling of
    the FFN output's input did not help (0.965-0.983).
    """
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    leading = tuple(f"/layer.{i}/" for i in range(FP32_LEADING_LAYERS))
    fused_attention = {f"Attention_{i}" for i in range(FP32_LEADING_LAYERS)}  # the optimizer names them in order
    excluded = []
    for node in graph.node:
        if node.op_type not in ("MatMul", "Attention", "Gemm"):
            continue
        ffn_output = "/output/dense/" in node.name and "/attention/" not in node.name
        if ffn_output or any(part in node.name for part in leading) or node.name in fused_attention:
            excluded.append(node.name)
    return excluded


def _quantize(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    log.info("quantizing %s to int8 (dynamic, per-channel weights)", source)
    with _quiet(), _atomic(target) as tmp:
        quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                         nodes_to_exclude=int8_excluded_nodes(source),
                         # fused ops (Attention, SkipLayerNormalization) have no shape-inferred types
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def _graph_inputs(path: Path) -> tuple[str, ...]:
    import onnx

    names = {i.name for i in onnx.load(str(path), load_external_data=False).graph.input}
    return tuple(name for name in INPUT_NAMES if name in names)


@contextmanager
def _quiet() -> Iterator[None]:
    """ONNX Runtime's optimizer and quantizer log every node at INFO; an export is one line of ours."""
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _atomic(target: Path) -> Iterator[Path]:
    """A temporary path beside `target` that replaces it only when the block succeeds."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(0o644)  # mkstemp's 0600 would hide the file from other users of a shared cache
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
