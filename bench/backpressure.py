"""How fast overload is refused: a burst of requests against a sidecar whose cluster does not answer.

A stand-in cluster on loopback answers `/` and `/_mapping` at once and holds every other request until the end.
`rerank-sidecar serve` runs in front of it with `--threads` and `limits.max_in_flight`; `--burst` concurrent
requests go out at once: `max_in_flight` of them wait (they are answered when the cluster lets go), the rest
must get 429 quickly. Prints the count and the latency of the 429 answers.

    .venv/bin/python bench/backpressure.py --burst 200 --threads 8 --max-in-flight 64
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
import yaml
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.rerank_sidecar import _cli, running  # noqa: E402
from searchcore.local_server import free_port, ok, wait_until_ready  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--reranker", default=None, help="default: minilm-l2-dl20-ce from RERANK_MODELS_DIR")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    reranker = args.reranker or str(Path(os.environ.get("RERANK_MODELS_DIR", ".")) / "minilm-l2-dl20-ce")
    release = threading.Event()

    def cluster(environ, start_response):
        request = Request(environ)
        if request.path == "/" or request.path.endswith("/_mapping"):
            return Response("{}", content_type="application/json")(environ, start_response)
        release.wait(120)
        return Response("{}", content_type="application/json")(environ, start_response)

    server = make_server("127.0.0.1", 0, cluster, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    work = Path(tempfile.mkdtemp(prefix="rerank-backpressure-"))
    (work / "sidecar.yaml").write_text(yaml.safe_dump({"limits": {"max_in_flight": args.max_in_flight}}))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sidecar = _cli("serve", "--opensearch", f"http://127.0.0.1:{server.server_port}", "--port", str(port),
                   "--config", str(work / "sidecar.yaml"), "--reranker", reranker, "--workers", "1",
                   "--threads", str(args.threads), log=work / "sidecar.log")
    with running(sidecar):
        wait_until_ready(url + "/-/ready", sidecar, timeout=600, ready=ok)

        def one(i: int) -> tuple[int, float]:
            started = time.perf_counter()
            status = requests.get(f"{url}/held/_doc/{i}", timeout=180).status_code
            return status, time.perf_counter() - started

        with ThreadPoolExecutor(args.burst) as pool:
            futures = [pool.submit(one, i) for i in range(args.burst)]
            time.sleep(3)   # the rejections are in long before this
            probe = time.perf_counter()
            healthy = requests.get(f"{url}/-/healthy", timeout=30).status_code
            probe_ms = (time.perf_counter() - probe) * 1000
            release.set()
            results = [f.result() for f in futures]
    server.shutdown()
    rejected = sorted(seconds * 1000 for status, seconds in results if status == 429)
    report = {"burst": args.burst, "threads": args.threads, "max_in_flight": args.max_in_flight,
              "answered_200": sum(status == 200 for status, _ in results), "rejected_429": len(rejected),
              "other": sorted({status for status, _ in results} - {200, 429}),
              "rejection_ms": {"p50": round(float(np.percentile(rejected, 50)), 1),
                               "p99": round(float(np.percentile(rejected, 99)), 1),
                               "max": round(rejected[-1], 1)} if rejected else None,
              "healthy_while_saturated": healthy, "healthy_ms": round(probe_ms, 1),
              "loadavg_1m": round(os.getloadavg()[0], 2)}
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
