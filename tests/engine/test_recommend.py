"""Similar papers and recommendations through the JSON API, and freshness after a crawl."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sanity.engine import jobs
from sanity.leases import Lease, LockBusy
from sanity.scheduler import crawl_job
from tests.factories import BASE_TIME, TOPICS, fake_papers, topical_papers

pytestmark = pytest.mark.both_databases


def ids_of(body) -> list[str]:
    return [p["id"] for p in body["papers"]]


def test_engine_answers_503_before_the_first_build(client):
    """Without features, ranking endpoints say how to build them."""
    seed = topical_papers(2)["graphs"][0]
    response = client.get(f"/api/papers/{seed}/similar")
    assert response.status_code == 503 and "sanity compute" in response.get_json()["error"]
    response = client.post("/api/similar", json={"text": "graphs"})
    assert response.status_code == 503 and "sanity compute" in response.get_json()["error"]


def test_similar_papers_share_the_topic(client):
    """Similar papers of a graph paper are graph papers, best first, itself excluded."""
    topics = topical_papers(8)
    jobs.full_build()
    seed = topics["graphs"][0]
    body = client.get(f"/api/papers/{seed}/similar?limit=5").get_json()
    assert seed not in ids_of(body)
    assert set(ids_of(body)) <= set(topics["graphs"])
    scores = [p["score"] for p in body["papers"]]
    assert scores == sorted(scores, reverse=True) and body["total"] == 5


def test_similar_validation(client):
    """Unknown papers are 404, bad ids and limits 400."""
    seed = topical_papers(2)["graphs"][0]
    jobs.full_build()
    assert client.get("/api/papers/2999.99999/similar").status_code == 404
    assert client.get("/api/papers/nope/similar").status_code == 400
    assert client.get(f"/api/papers/{seed}/similar?limit=0").status_code == 400
    assert client.get(f"/api/papers/{seed}/similar?limit=101").status_code == 400


def test_similar_to_pasted_text(client):
    """A pasted abstract finds papers on its topic; bad bodies are 400s naming the field."""
    topics = topical_papers(6)
    jobs.full_build()
    body = client.post(
        "/api/similar", json={"text": "denoising diffusion score matching", "limit": 4}
    ).get_json()
    assert set(ids_of(body)) <= set(topics["diffusion"]) and len(body["papers"]) == 4
    bad_bodies = [
        ({}, "text"),
        ({"text": " "}, "text"),
        ({"text": "x", "limit": 0}, "limit"),
        ({"text": "x", "limit": "5"}, "limit"),
        ({"text": "x" * 20001}, "text"),
    ]
    for bad, word in bad_bodies:
        response = client.post("/api/similar", json=bad)
        assert response.status_code == 400 and word in response.get_json()["error"]
    assert client.post("/api/similar", data="not json").status_code == 400


def test_recommend_from_seed_papers(client):
    """Seeds from one topic bring the rest of that topic, with the words behind the model."""
    topics = topical_papers(8)
    jobs.full_build()
    seeds = topics["robots"][:3]
    body = client.get(f"/api/recommend?ids={','.join(seeds)}&limit=5").get_json()
    assert not set(seeds) & set(ids_of(body))
    assert set(ids_of(body)) <= set(topics["robots"])
    words = body["words"]
    assert words and all(set(w) == {"word", "weight"} for w in words)
    positive = [w["word"] for w in words if w["weight"] > 0]
    assert any(w in " ".join(positive) for w in ("robot", "grasping", "manipulation", "policy"))
    weights = [w["weight"] for w in words]
    split = len(positive)
    assert weights[:split] == sorted(weights[:split], reverse=True)
    assert all(w < 0 for w in weights[split:])


def test_recommend_include_tagged_and_negatives(client):
    """include_tagged=1 may return seeds; exclude= papers are negatives and never returned."""
    topics = topical_papers(6)
    jobs.full_build()
    seeds = topics["graphs"][:2]
    negative = topics["diffusion"][0]
    body = client.get(
        f"/api/recommend?ids={','.join(seeds)}&exclude={negative}&limit=20"
    ).get_json()
    assert negative not in ids_of(body)
    with_seeds = client.get(f"/api/recommend?ids={','.join(seeds)}&include_tagged=1").get_json()
    assert set(seeds) <= set(ids_of(with_seeds))


def test_recommend_validation(client):
    """Missing or bad ids, bad C and a tag request without an account are clear errors."""
    seed = topical_papers(2)["graphs"][0]
    jobs.full_build()
    assert client.get("/api/recommend").get_json()["papers"] == []  # no seeds: nothing to rank
    assert "not arXiv ids: zzz" in client.get("/api/recommend?ids=zzz").get_json()["error"]
    assert client.get(f"/api/recommend?ids={seed}&C=-1").status_code == 400
    assert client.get("/api/recommend?tags=all").status_code == 401


def topical_fake(topic: str, n: int, start, prefix: str):
    papers = fake_papers(n, start=start, prefix=prefix)
    words = TOPICS[topic]
    for i, paper in enumerate(papers):
        paper.title = f"{words.split()[i % 5].title()} {topic} study {paper.id}"
        paper.abstract = f"We study {words} in setting {i}."
        paper.authors = [f"{topic.title()} Author {i}"]  # shared authors would make them similar
    return papers


def test_crawled_papers_become_rankable_without_restart(app, client, arxiv, clock):
    """After a crawl, new papers are searchable, similar-able and recommendable at once."""
    for k, topic in enumerate(TOPICS):
        arxiv.add(*topical_fake(topic, 8, BASE_TIME + timedelta(hours=k), f"260{k + 1}"))
    crawl_job(app)
    old_graphs = [p for p in arxiv.papers if p.startswith("2601.")]
    late = topical_fake("graphs", 3, BASE_TIME + timedelta(days=3), "2605")
    late[0].title = "Quasicrystal graph neural networks"
    arxiv.add(*late)
    crawl_job(app)
    assert ids_of(client.get("/api/search?q=quasicrystal").get_json()) == ["2605.00001"]
    body = client.get("/api/papers/2605.00001/similar?limit=5").get_json()
    assert set(ids_of(body)) <= set(old_graphs) | {"2605.00002", "2605.00003"}
    body = client.get(f"/api/papers/{old_graphs[0]}/similar?limit=50").get_json()
    assert {"2605.00001", "2605.00002", "2605.00003"} <= set(ids_of(body))
    body = client.get(f"/api/recommend?ids={','.join(old_graphs[:4])}&limit=7").get_json()
    assert {"2605.00001", "2605.00002", "2605.00003"} <= set(ids_of(body))


def test_feature_update_runs_in_a_child_process(app, client, arxiv, clock):
    """With FEATURES_IN_CHILD, the crawl's feature update happens in a separate process."""
    app.config["FEATURES_IN_CHILD"] = True
    arxiv.add(*fake_papers(6))
    crawl_job(app)
    body = client.get("/api/papers/2603.00002/similar?limit=3").get_json()
    assert len(body["papers"]) == 3


def test_an_update_waits_for_a_running_build_then_does_its_papers(app, client, clock):
    """A crawl's update during a long build (another process) waits, then ranks its papers."""
    graphs = topical_papers(4)["graphs"]
    jobs.full_build()
    late = topical_papers(2, start=BASE_TIME + timedelta(days=2))["graphs"]
    running = Lease(jobs.FEATURES_LOCK, clock, 90, owner="elsewhere/pid:[1]:42:abcd1234")
    running.acquire()
    assert "18 papers" in jobs.update()  # after the other build's lease ended
    assert 90 <= sum(clock.slept) <= 95
    body = client.get(f"/api/papers/{graphs[0]}/similar?limit=50").get_json()
    assert set(late) <= set(ids_of(body))
    Lease(jobs.FEATURES_LOCK, clock, 10_000, owner="elsewhere/pid:[1]:42:abcd1234").acquire()
    with pytest.raises(LockBusy):  # a holder that never finishes: give up after the wait
        jobs.update()
