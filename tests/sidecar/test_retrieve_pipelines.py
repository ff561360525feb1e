"""The search pipelines the sidecar creates on the cluster: its own name and body for each fusion, and a bound."""

from __future__ import annotations

from searchcore.fusion import TECHNIQUES, FusionConfig, pipeline_body, pipeline_name
from sidecar.retrieve import MAX_PIPELINES, Retriever


class Cluster:
    """Answers the pipeline GET/PUT calls Retriever makes, and records them."""

    def __init__(self) -> None:
        self.pipelines: dict[str, dict] = {}
        self.calls: list[tuple[str, str]] = []

    def json(self, method, path, body, headers):
        self.calls.append((method, path))
        name = path.rsplit("/", 1)[-1]
        if method == "PUT":
            self.pipelines[name] = body
            return 200, {"acknowledged": True}
        return (200, {name: self.pipelines[name]}) if name in self.pipelines else (404, {})


def test_each_technique_gets_its_own_pipeline_once():
    cluster = Cluster()
    retriever = Retriever(cluster)
    for normalization, combination in TECHNIQUES:
        fusion = FusionConfig(normalization, combination, (0.3, 0.7))
        assert retriever.ensure_pipeline(fusion, {}) == pipeline_name(fusion)
        assert retriever.ensure_pipeline(fusion, {}) == pipeline_name(fusion)   # known: no further call
        assert cluster.pipelines[pipeline_name(fusion)] == pipeline_body(fusion)
    assert len(cluster.calls) == 2 * len(TECHNIQUES)


def test_past_the_bound_fusions_run_client_side(caplog):
    cluster = Cluster()
    retriever = Retriever(cluster)
    configs = [FusionConfig("rrf", "rrf", rank_constant=k) for k in range(1, MAX_PIPELINES + 3)]
    names = [retriever.ensure_pipeline(config, {}) for config in configs]
    assert names[:MAX_PIPELINES] == [pipeline_name(c) for c in configs[:MAX_PIPELINES]]
    assert names[MAX_PIPELINES:] == [None, None]
    assert len(cluster.pipelines) == MAX_PIPELINES
    assert caplog.text.count("further fusions are done client-side") == 1
    assert retriever.ensure_pipeline(configs[0], {}) == pipeline_name(configs[0])   # the known ones still serve
