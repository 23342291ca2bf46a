"""Reading GET /metrics in tests: every sample of one answer, and one sample by name and labels."""
from prometheus_client.parser import text_string_to_metric_families


def scrape(client, headers=None) -> dict:
    """{(name, frozenset(labels)): value} of one /metrics answer."""
    r = client.get("/metrics", headers=headers or {})
    assert r.status_code == 200, r.data
    assert r.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(r.data.decode()):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))
