"""The semantic layer through the API and the pages: off changes nothing, on adds meaning."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from sqlalchemy import select

from config import TestingConfig
from sanity import create_app
from sanity.db import db
from sanity.engine import embedding_job, embedding_store, embeddings, jobs
from sanity.models import Paper
from tests.factories import make_paper, topical_papers
from tests.semantic_model import write_model


def ids_of(body) -> list[str]:
    return [p["id"] for p in body["papers"]]


@pytest.fixture
def topics(app):
    found = topical_papers(6, own_authors=True)
    jobs.full_build()
    return found


def turn_on(app, path, weight: float = 1.0) -> None:
    app.config.update(SEMANTIC_MODEL=str(path), SEMANTIC_WEIGHT=weight)
    app.config["SEMANTIC_SIMILAR_WEIGHT"] = weight
    embeddings._models.clear()
    embedding_job.embed_missing()
    embedding_store.store_for(app.config["DATA_DIR"])._checked = 0.0


def test_semantic_mode_is_a_400_when_the_layer_is_off(client, topics):
    """mode=semantic and rank=semantic say the layer is off (never a 5xx)."""
    response = client.get("/api/search?q=graphs&mode=semantic")
    assert response.status_code == 400
    assert "semantic layer is off" in response.get_json()["error"]
    assert client.get("/?q=graphs&rank=semantic").status_code == 400
    bad = client.get("/api/search?q=graphs&mode=meaning")
    assert bad.status_code == 400 and bad.get_json()["error"].startswith("mode")


def test_the_switch_is_shown_only_when_on(app, client, topics, tmp_path):
    """The search box's Semantic switch and the Semantic order appear with the layer on."""
    assert 'value="semantic"' not in client.get("/?q=graphs").get_data(as_text=True)
    turn_on(app, write_model(tmp_path / "model"))
    page = client.get("/?q=graphs").get_data(as_text=True)
    assert 'name="rank" value="semantic"' in page and "rank=semantic" in page


def test_search_by_meaning_when_on(app, client, topics, tmp_path):
    """mode=semantic ranks every embedded paper by its meaning's nearness to the sentence,
    within the filters, best first; the page shows the same list."""
    turn_on(app, write_model(tmp_path / "model"))
    body = client.get("/api/search?q=robot+grasping+policy&mode=semantic&per_page=5").get_json()
    assert body["total"] == 18 and len(body["papers"]) == 5
    scores = [p["score"] for p in body["papers"]]
    assert scores == sorted(scores, reverse=True)
    model = embeddings.runtime()
    query = model.encode(["robot grasping policy"])[0]
    stored = embeddings.current()
    best = max(stored.ids, key=lambda pid: float(stored.vectors[stored.index[pid]] @ query))
    assert body["papers"][0]["id"] == best
    robots = client.get("/api/search?q=anything&mode=semantic&category=cs.RO").get_json()
    assert set(ids_of(robots)) == set(topics["robots"])
    page = client.get("/?q=robot+grasping+policy&rank=semantic").get_data(as_text=True)
    assert "Papers by meaning" in page and best in page


def test_search_by_meaning_reads_category_codes_and_ids_as_a_search_by_words_does(
    app, client, topics, tmp_path
):
    """A category code in the sentence filters by it (and is not embedded); an arXiv id alone
    ranks by that paper's meaning, the paper first, and an unknown id finds nothing; a sentence
    of category codes only is a 400 that says why."""
    turn_on(app, write_model(tmp_path / "model"))
    model, stored = embeddings.runtime(), embeddings.current()

    def nearest(vector, among):
        return sorted(among, key=lambda pid: -float(stored.vectors[stored.index[pid]] @ vector))

    robots = client.get("/api/search?q=graph+learning+cs.RO&mode=semantic").get_json()
    assert ids_of(robots) == nearest(model.encode(["graph learning"])[0], topics["robots"])
    seed = topics["diffusion"][2]
    same = client.get(f"/api/search?q=arXiv:{seed}v1&mode=semantic&per_page=30").get_json()
    everyone = [pid for t in topics.values() for pid in t]
    assert ids_of(same) == nearest(stored.vectors[stored.index[seed]], everyone)
    assert ids_of(same)[0] == seed
    unknown = client.get("/api/search?q=2401.99999&mode=semantic").get_json()
    assert unknown == {"papers": [], "total": 0, "page": 1}
    only = client.get("/api/search?q=cs.RO&mode=semantic")
    assert only.status_code == 400 and "besides category codes" in only.get_json()["error"]
    assert client.get("/?q=cs.RO&rank=semantic").status_code == 400


def test_hybrid_ranking_changes_results_only_when_on(app, client, topics, tmp_path):
    """With a strong embedding weight recommendations and similar papers change; the words
    alone rank exactly as before when the layer is off."""
    seeds = ",".join(topics["graphs"][:2])
    url = f"/api/recommend?ids={seeds}&limit=10"
    before = client.get(url).get_json()
    similar = client.get(f"/api/papers/{topics['graphs'][0]}/similar?limit=10").get_json()
    turn_on(app, write_model(tmp_path / "model"), weight=20.0)
    on = client.get(url).get_json()
    assert [p["score"] for p in on["papers"]] != [p["score"] for p in before["papers"]]
    on_similar = client.get(f"/api/papers/{topics['graphs'][0]}/similar?limit=10").get_json()
    assert on_similar["papers"] != similar["papers"]
    text = client.post("/api/similar", json={"text": "graph neural networks"}).get_json()
    assert text["total"] > 0
    app.config["SEMANTIC_MODEL"] = ""
    assert client.get(url).get_json() == before


def test_pasted_text_and_papers_weigh_meaning_by_their_own_keys(app, client, topics, tmp_path):
    """POST /api/similar weighs meaning by SEMANTIC_TEXT_WEIGHT and a paper's similar list by
    SEMANTIC_SIMILAR_WEIGHT: each at 0 gives the words' list whatever the other says, and
    each above 0 changes its own list."""
    text = {"text": "graph neural networks that learn on molecules", "limit": 10}
    paper = f"/api/papers/{topics['graphs'][0]}/similar?limit=10"
    words_text = client.post("/api/similar", json=text).get_json()
    words_paper = client.get(paper).get_json()
    assert len(words_text["papers"]) == 10
    turn_on(app, write_model(tmp_path / "model"))
    app.config.update(SEMANTIC_TEXT_WEIGHT=0.0, SEMANTIC_SIMILAR_WEIGHT=20.0)
    assert client.post("/api/similar", json=text).get_json() == words_text
    assert ids_of(client.get(paper).get_json()) != ids_of(words_paper)
    app.config.update(SEMANTIC_TEXT_WEIGHT=20.0, SEMANTIC_SIMILAR_WEIGHT=0.0)
    assert ids_of(client.post("/api/similar", json=text).get_json()) != ids_of(words_text)
    assert client.get(paper).get_json() == words_paper


def test_stats_say_how_many_papers_have_embeddings(app, client, topics, tmp_path):
    """/api/stats `embedded` and the stats page follow the embedding runs: null and absent
    with the layer off, 0 before the first run, then the papers of the published build."""
    assert client.get("/api/stats").get_json()["embedded"] is None
    assert 'id="embedded"' not in client.get("/stats").get_data(as_text=True)
    app.config["SEMANTIC_MODEL"] = str(write_model(tmp_path / "model"))
    embeddings._models.clear()
    store = embedding_store.store_for(app.config["DATA_DIR"])
    assert client.get("/api/stats").get_json()["embedded"] == 0
    assert "no paper embedded yet" in client.get("/stats").get_data(as_text=True)
    embedding_job.embed_missing(limit=5)
    store._checked = 0.0
    assert client.get("/api/stats").get_json()["embedded"] == 5
    page = client.get("/stats").get_data(as_text=True)
    assert "5 of 18 papers embedded; the rest rank by their words" in page
    embedding_job.embed_missing()
    store._checked = 0.0
    assert client.get("/api/stats").get_json()["embedded"] == 18
    assert "18 of 18 papers embedded." in client.get("/stats").get_data(as_text=True)
    app.config["SEMANTIC_MODEL"] = str(write_model(tmp_path / "other", seed=9))
    assert client.get("/api/stats").get_json()["embedded"] == 0
    page = client.get("/stats").get_data(as_text=True)
    assert "no paper embedded yet with this model; the 18 embeddings of the previous" in page


def test_papers_not_embedded_yet_are_not_pushed_out_by_meaning(app, client, topics, tmp_path):
    """Half way through a first embedding run, meaning (whose cosines are mostly well above 0)
    does not hide the papers without an embedding: their part is estimated from their words,
    so a pasted abstract of such a paper finds it first, and they hold a fair share of the
    lists."""
    app.config.update(SEMANTIC_MODEL=str(write_model(tmp_path / "model")), SEMANTIC_TEXT_WEIGHT=1)
    embeddings._models.clear()
    embedding_job.embed_missing(limit=9)
    embedding_store.store_for(app.config["DATA_DIR"])._checked = 0.0
    done = set(embeddings.current().ids)
    waiting = [p for p in db.session.scalars(select(Paper)) if p.id not in done]
    assert len(done) == 9 and len(waiting) == 9
    for paper in waiting:
        text = {"text": f"{paper.title}. {paper.abstract}", "limit": 6}
        found = ids_of(client.post("/api/similar", json=text).get_json())
        assert found[0] == paper.id
        assert 1 <= len(set(found) - done) <= 5


def test_a_damaged_build_ranks_by_words_and_never_fails(app, client, topics, tmp_path):
    """With the current build's files damaged, stats, recommendations, similar papers and
    pasted text answer (by words), search by meaning finds nothing embedded."""
    turn_on(app, write_model(tmp_path / "model"))
    root = embedding_store.root_dir(app.config["DATA_DIR"])
    build = root / embedding_store.current_build_id(app.config["DATA_DIR"])
    (build / "meta.json").write_text("{not json")
    embedding_store._stores.clear()
    seeds = ",".join(topics["graphs"][:2])
    assert client.get("/api/stats").get_json()["embedded"] == 0
    assert "no paper embedded yet" in client.get("/stats").get_data(as_text=True)
    assert client.get(f"/api/recommend?ids={seeds}").status_code == 200
    assert client.get(f"/api/papers/{topics['graphs'][0]}/similar").status_code == 200
    assert client.post("/api/similar", json={"text": "graphs"}).status_code == 200
    assert client.get("/api/search?q=graphs&mode=semantic").get_json()["total"] == 0


def test_one_authors_papers_are_recommended_by_their_words_and_author(app, client, tmp_path):
    """Tags on three papers of one author (on three topics) learn the person, not a mix of
    their topics' meaning: with the layer on, however heavy meaning weighs, the ranking is
    the words-and-authors one; tags on papers of several authors do use meaning."""
    topics = topical_papers(6, own_authors=True)
    hers = [make_paper(title=f"{t.title()} work {i}", abstract=f"A study of {t} ideas {i}.",
                       authors=["Grace Hopper"]).id
            for t in ("graphs", "robots", "proteins") for i in range(2)]  # fmt: skip
    jobs.full_build()
    one_author = f"/api/recommend?ids={','.join(hers[::2])}&limit=10"
    several = f"/api/recommend?ids={','.join(topics['graphs'][:3])}&limit=10"
    before = [client.get(url).get_json() for url in (one_author, several)]
    assert set(hers[1::2]) <= set(ids_of(before[0]))  # the author columns found her others
    turn_on(app, write_model(tmp_path / "model"), weight=20.0)
    assert client.get(one_author).get_json() == before[0]
    assert client.get(several).get_json()["papers"] != before[1]["papers"]


def similar_on_page(page: str) -> dict[str, bool]:
    """The paper page's similar papers: id -> marked "similar in meaning"."""
    listed = page.split("Similar papers", 1)[1].split("</ol>", 1)[0]
    items = re.findall(r'<li.*?href="/paper/([^"]+)"(.*?)</li>', listed, flags=re.S)
    return {pid: "similar in meaning, not in words" in rest for pid, rest in items}


def test_the_paper_page_says_when_meaning_made_a_paper_similar(app, client, topics, tmp_path):
    """With meaning weighing far more than words, the papers that the words alone would not
    have listed are marked as similar in meaning, and only those."""
    url = f"/paper/{topics['graphs'][0]}"
    by_words = similar_on_page(client.get(url).get_data(as_text=True))
    assert by_words and not any(by_words.values())
    turn_on(app, write_model(tmp_path / "model"), weight=20.0)
    both = similar_on_page(client.get(url).get_data(as_text=True))
    marked = {pid for pid, m in both.items() if m}
    assert marked and marked == set(both) - set(by_words)


def _modes(app) -> list[str]:
    doc = app.test_client().get("/api/openapi.json").get_json()
    params = doc["paths"]["/api/search"]["get"]["parameters"]
    return next(p for p in params if p["name"] == "mode")["schema"]["enum"]


def test_openapi_declares_the_search_modes_this_instance_offers(app, tmp_path):
    """GET /api/search documents mode = words | semantic with the layer on, and only words
    with it off (then mode=semantic is the 400 the document implies)."""
    assert _modes(app) == ["words"]
    overrides = {"DATABASE_URL": "sqlite://", "DATA_DIR": str(tmp_path / "on"),
                 "SEMANTIC_MODEL": str(write_model(tmp_path / "model"))}  # fmt: skip
    assert _modes(create_app(TestingConfig, overrides)) == ["words", "semantic"]


def test_the_layer_off_imports_nothing_extra(tmp_path):
    """Serving pages and rankings with the layer off never imports the model runtime."""
    code = (
        "import sys\n"
        "from sanity import create_app\n"
        "from config import TestingConfig\n"
        f"app = create_app(TestingConfig, {{'DATABASE_URL': 'sqlite:///{tmp_path}/x.db',"
        f" 'DATA_DIR': '{tmp_path}/data'}})\n"
        "import sanity.cli, sanity.scheduler\n"
        "bad = [m for m in ('tokenizers', 'safetensors', 'sanity.engine.semantic')"
        " if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_broken_model_is_a_503_not_a_500(app, client, topics, tmp_path):
    """Embeddings exist but the model directory went away: searching by meaning and pasted
    text answer 503 with a clear message; rankings from stored vectors still work."""
    model = write_model(tmp_path / "model")
    turn_on(app, model)
    (model / "model.safetensors").unlink()
    embeddings._models.clear()
    response = client.get("/api/search?q=graphs&mode=semantic")
    assert response.status_code == 503 and "semantic model" in response.get_json()["error"]
    assert client.post("/api/similar", json={"text": "graphs"}).status_code == 503
    assert client.get("/?q=graphs&rank=semantic").status_code == 503
    seeds = ",".join(topics["graphs"][:2])
    assert client.get(f"/api/recommend?ids={seeds}").status_code == 200
