"""Author features through the app: the API's words, the paper page and similar papers."""

from __future__ import annotations

from sanity.engine import jobs
from tests.factories import make_paper

GROUPS = {
    "lecun": ["Yann LeCun", "Léon Bottou"],
    "hinton": ["Geoffrey Hinton", "Ruslan Salakhutdinov"],
}


def group_papers(per_group: int = 8) -> dict[str, list[str]]:
    """Two groups writing on the same topic; only their authors tell them apart."""
    out: dict[str, list[str]] = {g: [] for g in GROUPS}
    for i in range(per_group):
        for group, people in GROUPS.items():
            record = make_paper(
                title=f"Learning deep representations, part {i}",
                abstract="We train deep networks on images with gradient descent.",
                authors=people if i % 2 else [people[0], f"Student {group} {i}"],
            )
            out[group].append(record.id)
    return out


def ids_of(body) -> list[str]:
    return [p["id"] for p in body["papers"]]


def test_recommend_words_name_the_authors(client):
    """Seeds of one group bring that group's papers; `words` says "author: ..." first."""
    groups = group_papers()
    jobs.full_build()
    seeds = groups["lecun"][:3]
    body = client.get(f"/api/recommend?ids={','.join(seeds)}&limit=5").get_json()
    assert set(ids_of(body)) <= set(groups["lecun"])
    words = body["words"]
    assert all(set(w) == {"word", "weight"} for w in words)
    positive = [w["word"] for w in words if w["weight"] > 0]
    negative = [w["word"] for w in words if w["weight"] < 0]
    assert any(w.startswith("author: ") for w in positive[:3]) and "author: Yann LeCun" in positive
    assert any(w.startswith("author: ") for w in negative)


def test_similar_papers_share_authors_and_the_page_names_them(client):
    """A paper's similar papers are its authors' other papers; its words list its authors."""
    groups = group_papers()
    jobs.full_build()
    seed = groups["hinton"][1]
    body = client.get(f"/api/papers/{seed}/similar?limit=5").get_json()
    assert set(ids_of(body)) <= set(groups["hinton"])
    page = client.get(f"/paper/{seed}").get_data(as_text=True)
    assert "author: Geoffrey Hinton" in page and "author: Ruslan Salakhutdinov" in page
