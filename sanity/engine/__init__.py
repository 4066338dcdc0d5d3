"""The engine stage: TF-IDF features, their storage, ranking, keyword search, recommendations.

Pure of Flask requests and of accounts: callers pass seeds and filters, the engine ranks. The
names below are what the web and mail layers use.
"""

from sanity.engine.recommend import (
    EngineUnavailable,
    Result,
    SeedPapers,
    current,
    paper_words,
    recommend,
    search_by_meaning,
    similar_to_paper,
    similar_to_text,
)

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
