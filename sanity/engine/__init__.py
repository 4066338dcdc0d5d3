"""The engine stage: TF-IDF features, their storage, ranking, keyword search, recommendations.

Pure of Flask requests and of accounts: callers pass seeds and filters, the engine ranks. The
names below are what the web and mail layers use; they come from `sanity.engine.serving`
(search by meaning from `sanity.engine.meaning_search`),
imported on first use: a build worker importing `sanity.engine.counting` does not import the
rest of the engine, and a command that does not rank (import, compute, the CLI's start) does
not import scikit-learn (`sanity serve` and the WSGI app load it before the first request).
"""

from __future__ import annotations

__all__ = [
    "EngineUnavailable",
    "Result",
    "SeedPapers",
    "current",
    "paper_words",
    "recommend",
    "search_by_meaning",
    "similar_to_paper",
    "similar_to_text",
]


def __getattr__(name: str):
    if name == "EngineUnavailable":  # what the web's error handler is registered for
        from sanity.engine.store import EngineUnavailable  # lazy package attribute

        return EngineUnavailable
    if name == "search_by_meaning":  # the semantic layer's search
        from sanity.engine.meaning_search import search_by_meaning  # lazy package attribute

        return search_by_meaning
    if name in __all__:
        from sanity.engine import serving  # lazy package attribute (see the docstring)

        return getattr(serving, name)
    raise AttributeError(f"module 'sanity.engine' has no attribute {name!r}")


def preload() -> None:
    """Import the rankers now (a server does, before its first request: about a second)."""
    __getattr__("recommend")
