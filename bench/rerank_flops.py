"""FLOP accounting for the rerank benchmark: what a BERT cross-encoder computes per pair, and the CPU's peak."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path


def flops_per_pair(config: dict, tokens: int) -> float:
    """Useful FLOPs (2 per multiply-add) of one pair of `tokens` tokens: the encoder's matrix products.

    Per layer and token: Q, K, V and output projections (4·H²), the feed-forward pair (2·H·I), and
    attention's scores and weighted sum (2·T·H); padding is not counted, so a backend that pads
    less gets no credit for work it skipped.
    """
    hidden, inner = config["hidden_size"], config["intermediate_size"]
    per_token = 4 * hidden * hidden + 2 * hidden * inner + 2 * tokens * hidden
    return 2.0 * config["num_hidden_layers"] * tokens * per_token


def theoretical_peak_gflops() -> tuple[float, str]:
    """fp32 peak of this machine's cores from /proc/cpuinfo: cores × GHz × FLOPs per cycle."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = set(re.search(r"^flags\s*:(.*)$", info, re.M).group(1).split()) if "flags" in info else set()
    mhz = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", info, re.M)]
    ghz = (max(mhz) if mhz else 2000.0) / 1000.0
    cores = len(os.sched_getaffinity(0))
    if "avx512f" in flags:
        per_cycle, isa = 64, "AVX-512 FMA, 2 units"
    elif "fma" in flags and "avx2" in flags:
        per_cycle, isa = 32, "AVX2 FMA, 2 units"
    else:
        per_cycle, isa = 8, "SSE"
    return cores * ghz * per_cycle, f"{cores} cores x {ghz:.2f} GHz x {per_cycle} fp32 FLOP/cycle ({isa})"


def measured_sgemm_gflops(threads: int) -> float:
    """What a large fp32 matrix product reaches here with `threads` threads: the practical peak."""
    import torch

    torch.set_num_threads(threads)
    a = torch.rand(2048, 2048)
    best = float("inf")
    for _ in range(4):
        started = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - started)
    return 2 * 2048 ** 3 / best / 1e9


if __name__ == "__main__":
    import argparse
    argparse.ArgumentParser(description=__doc__, epilog="A part of bench/rerank.py: run that script.").parse_args()
    raise SystemExit("bench/rerank_flops.py is a module of bench/rerank.py: run that script")
