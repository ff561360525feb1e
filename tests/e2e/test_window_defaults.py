"""Defaults that fit the machine: warm-up measures the cross-encoder, a profile without a window gets the largest
its budget holds, a configured window the budget cannot hold is a warning, and /-/ready and /metrics say it all.
"""

from __future__ import annotations

import pytest
import requests

from sidecar.rerank import load_scorer
from sidecar.rerank.speed import Speed
from sidecar.settings import Profile, Settings
from sidecar.window_sizing import HEADROOM, fit_window
from tests.conftest import shared_model
from tests.e2e.test_sidecar import LEXICAL, metric_value, search

INDEX = "e2e-docs"


def scored(hits: list[dict]) -> int:
    return sum(h["_rerank"]["logit"] is not None for h in hits)


def test_the_window_follows_the_measured_speed_and_the_request_can_override_it(localsearch_server,
                                                                                  localsearch_corpus,
                                                                                  tiny_cross_encoder):
    from sidecar.app import create_app
    from sidecar.services import services_of
    scorer = load_scorer(str(tiny_cross_encoder), backend="torch")

    def client_for(defaults: Profile):
        settings = Settings(opensearch_url=localsearch_server.url, defaults=defaults, window_cache_ttl_s=0)
        app = create_app(settings, scorer_loader=lambda name: scorer, warm_up=False)
        services_of(app).models.sizing.record("slow-ce", Speed(5.0, 256, 10, 2.0, 2))   # 6 fit in 60% of 2 s
        return app.test_client()

    def reranked(client, ext: dict | None = None) -> int:
        body = {"query": {"match": {"text": "a file, a date, a list or a thread"}}, "size": 20,
                "ext": {"rerank": {"explain": True, **(ext or {})}}}
        response = client.post(f"/{INDEX}/_search", json=body)
        assert response.status_code == 200 and response.headers["X-Rerank-Status"] == "reranked"
        return scored(response.get_json()["hits"]["hits"])

    sized = client_for(Profile(reranker="slow-ce"))
    assert reranked(sized) == 6                                  # sized to the budget
    assert reranked(sized, {"window": 9}) == 9                   # the request's window is the caller's choice
    assert reranked(client_for(Profile(reranker="slow-ce", budget_ms=4000))) == 10   # 12, rounded down to 10
    assert reranked(client_for(Profile(reranker="slow-ce", window=4))) == 4          # configured: kept
    ready = sized.get("/-/ready").get_json()["rerank"]
    assert ready["windows"]["defaults"] == {"window": 6, "budget_ms": 2000.0, "reranker": "slow-ce",
                                            "chosen": f"auto: fits {HEADROOM:.0%} of the budget", "expected_ms": 1200}
    assert ready["models"]["slow-ce"]["pairs_per_s"] == 5.0


def test_serve_sizes_the_window_and_says_so(localsearch_server, localsearch_corpus, tiny_cross_encoder,
                                            start_sidecar):
    model = str(tiny_cross_encoder)
    config = {"profiles": [{"index": "tight*", "window": 100, "budget_ms": 1}]}
    server = start_sidecar(localsearch_server.url, reranker=model, config=config)
    ready = requests.get(f"{server.url}/-/ready", timeout=30).json()["rerank"]
    speed = ready["models"][model]
    assert speed["pairs_per_s"] > 0 and speed["pair_tokens"] == 256
    # the tiny test model is fast: the largest sized window, 100, fits its 2 s
    assert ready["windows"]["defaults"]["window"] == 100
    assert ready["windows"]["defaults"]["chosen"].startswith("auto")
    tight = ready["windows"]["tight*"]
    assert {k: tight[k] for k in ("window", "budget_ms", "reranker", "chosen")} == {
        "window": 100, "budget_ms": 1.0, "reranker": model, "chosen": "configured"}
    assert tight["expected_ms"] == pytest.approx(100 / speed["pairs_per_s"] * 1000, abs=1)
    log = server.log()
    assert f"cross-encoder {model}: " in log and "pairs/s on this machine (256-token pairs" in log
    assert "defaults: window 100 (auto: fits 60% of the budget; budget_ms 2000" in log
    assert "tight*: window 100 does not fit budget_ms 1: the cross-encoder" in log
    assert metric_value(server.url, "rerank_sidecar_model_pairs_per_second", model=model) > 0
    assert metric_value(server.url, "rerank_sidecar_rerank_window", profile="defaults") == 100
    assert metric_value(server.url, "rerank_sidecar_rerank_window", profile="tight*") == 100
    response = search(server.url, {"query": LEXICAL, "size": 5})
    assert response.status_code == 200 and response.headers["X-Rerank-Status"] == "reranked"


@pytest.mark.slow
def test_serve_with_a_real_cross_encoder_sizes_a_window_that_fits(localsearch_server, localsearch_corpus,
                                                                  start_sidecar):
    """The real model on this machine: the window /-/ready shows is the fit of the speed it measured."""
    model = str(shared_model("minilm-l6-distilled-ce"))
    server = start_sidecar(localsearch_server.url, reranker=model)
    ready = requests.get(f"{server.url}/-/ready", timeout=30).json()["rerank"]
    speed = ready["models"][model]["pairs_per_s"]
    defaults = ready["windows"]["defaults"]
    assert defaults["window"] in {fit_window(speed * 0.999, 2000), fit_window(speed * 1.001, 2000)}
    assert defaults["expected_ms"] <= 2000 * HEADROOM + 1
    assert f"defaults: window {defaults['window']} (auto" in server.log()
    response = search(server.url, {"query": LEXICAL, "size": 5})
    assert response.status_code == 200 and response.headers["X-Rerank-Status"] == "reranked"
