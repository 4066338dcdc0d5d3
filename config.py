"""Configuration: every tunable is a class attribute, overridable as SANITY_<KEY>.

Environment values are parsed by the type of the default: numbers accept decimals,
booleans accept true/false/1/0/yes/no (case-insensitive).
"""

from __future__ import annotations

import os

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

ARXIV_DEFAULT_QUERY = (
    "cat:cs.CV OR cat:cs.LG OR cat:cs.CL OR cat:cs.AI OR cat:cs.NE OR cat:cs.RO OR cat:stat.ML"
)


def parse_value(key: str, raw: str, default: object) -> object:
    """Parse an environment string by the type of the key's default value."""
    text = raw.strip()
    if isinstance(default, bool):
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"SANITY_{key}: expected true/false, got {raw!r}")
    if isinstance(default, int | float):
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"SANITY_{key}: expected a number, got {raw!r}") from None
        if isinstance(default, int) and number.is_integer():
            return int(number)
        return number
    return raw


class Config:
    """Defaults for a production instance."""

    # Storage. DATABASE_URL None means SQLite in the instance folder; DATA_DIR None means
    # <instance>/data. SECRET_KEY None means: read <instance>/secret_key if it exists.
    DATABASE_URL: str | None = None
    DATA_DIR: str | None = None
    SECRET_KEY: str | None = None
    BASE_URL: str = "http://127.0.0.1:5000"
    TRUSTED_PROXIES: int = 0

    # Crawler (arXiv export API).
    ARXIV_API_URL: str = "https://export.arxiv.org/api/query"
    ARXIV_OAI_URL: str = "https://oaipmh.arxiv.org/oai"
    ARXIV_QUERY: str = ARXIV_DEFAULT_QUERY
    ARXIV_DELAY_SECONDS: float = 3.0
    ARXIV_TIMEOUT_SECONDS: float = 30.0
    ARXIV_MAX_RETRIES: int = 5
    ARXIV_BACKOFF_SECONDS: float = 5.0
    ARXIV_BACKOFF_MAX_SECONDS: float = 300.0
    ARXIV_USER_AGENT: str = (
        "sanity/0.1 (self-hosted arXiv recommender; +https://github.com/sanity-arxiv/sanity)"
    )
    CRAWL_PAGE_SIZE: int = 100
    CRAWL_MAX_RESULTS: int = 2000
    CRAWL_STOP_AFTER_KNOWN_PAGES: int = 2
    CRAWL_EMPTY_PAGE_RETRIES: int = 3
    CRAWL_GAP_MARGIN_HOURS: float = 48.0
    # arXiv announces once a day (Sun-Thu evenings, US Eastern); four looks a day keep the
    # service at most a few hours behind without wasting requests.
    CRAWL_INTERVAL_MINUTES: float = 360.0
    CRAWL_ON_START_IF_EMPTY: bool = True
    JOB_LEASE_SECONDS: float = 900.0

    # First-page thumbnails (opt-in): each recent paper's PDF fetched once, politely, rendered
    # to a small strip in DATA_DIR/thumbs; the PDF itself is never kept.
    THUMBNAILS: bool = False
    THUMBNAIL_DAYS: float = 7
    ARXIV_PDF_URL: str = "https://arxiv.org/pdf/"
    THUMBNAIL_PAGES: int = 4
    THUMBNAIL_HEIGHT: int = 200
    THUMBNAIL_MAX_PDF_BYTES: int = 30_000_000

    # Features (TF-IDF, arxiv-sanity-lite's parameters) and ranking.
    TFIDF_NGRAM_MAX: int = 2
    TFIDF_SUBLINEAR_TF: bool = True
    TFIDF_STOP_WORDS: str = "english"
    TFIDF_MAX_FEATURES: int = 20000
    TFIDF_MIN_DF: float = 5.0
    TFIDF_MAX_DF: float = 0.1
    TFIDF_MAX_NGRAMS: int = 1_000_000
    TFIDF_REFIT_GROWTH: float = 0.25
    # Authors as features beside the words (tuned with bench/quality.py; 0 turns them off).
    AUTHOR_WEIGHT: float = 0.6
    AUTHOR_MIN_DF: int = 2
    AUTHOR_MAX_FEATURES: int = 200_000
    FEATURES_IN_CHILD: bool = True
    FEATURE_PROCESSES: int = 2  # worker processes of a large build's counting pass (1: none)
    COMPUTE_INTERVAL_HOURS: float = 24.0
    SIMILAR_METHOD: str = "cosine"
    SIMILAR_AUTHOR_WEIGHT: float = 0.2  # shared authors' cosine, added to the words' cosine
    SIMILAR_CATEGORY_WEIGHT: float = 0.02  # added for the same primary category
    SVM_C: float = 0.1
    SVM_NEGATIVES: int = 3000  # tuned with bench/quality.py
    # The opt-in semantic layer: a sentence-transformers model directory ("" = off), how much
    # the embeddings weigh beside the words in recommendations and similar papers (chosen with
    # bench/quality.py --semantic on 22,000 real papers, three task draws, and ten corpora of
    # 2,200: 0.5-0.75 find the most of a category at 22,000, higher weights do better on small
    # corpora and lose topic phrases on large ones; tags of one author's papers train without
    # meaning, so the author task is as without the layer; similar papers keep their
    # same-author hits near the words-only ones; pasted text, which has no authors to lose,
    # gains the most topic at 0.75-2), and the BLAS threads of an embedding run.
    SEMANTIC_MODEL: str = ""
    SEMANTIC_WEIGHT: float = 0.75
    SEMANTIC_SIMILAR_WEIGHT: float = 0.05
    SEMANTIC_TEXT_WEIGHT: float = 1.0
    SEMANTIC_THREADS: int = 1
    SEARCH_MAX_QUERY_LENGTH: int = 1000
    SEARCH_TOTAL_CAP: int = 1000

    # Mail: digests, address verification, password reset.
    MAIL_SERVER: str = "localhost"
    MAIL_PORT: int = 25
    MAIL_USE_TLS: bool = False
    MAIL_USERNAME: str = ""
    MAIL_PASSWORD: str = ""
    MAIL_FROM: str = "sanity@localhost"
    DIGEST_HOUR_UTC: int = 7
    DIGEST_DAYS: float = 2
    DIGEST_MAX_PAPERS: int = 10

    # Accounts and limits.
    REGISTRATION_OPEN: bool = True
    RATELIMIT_ENABLED: bool = True
    RATELIMIT_STORAGE_URI: str = "database://"  # shared by every worker; or redis://...
    LOGIN_LIMIT_PER_USER: str = "5 per minute;30 per hour"
    LOGIN_LIMIT_PER_ADDRESS: str = "20 per minute;200 per hour"
    RESET_LIMIT_PER_ADDRESS: str = "5 per minute;30 per hour"
    MAIL_LIMIT_PER_ACCOUNT: str = "3 per 10 minutes;10 per day"
    # Account mail (verification, reset, address-change notices) to one recipient address.
    MAIL_LIMIT_PER_RECIPIENT: str = "3 per 10 minutes;10 per day"
    VERIFY_LIMIT_PER_ADDRESS: str = "10 per hour"  # verification mails per client address
    # Anonymous rankings (/api/recommend, POST /api/similar) per client address: far above a
    # person clicking through results, a bound for scripts (logged-in users are not counted).
    RANKING_LIMIT_PER_ADDRESS: str = "120 per minute;3000 per hour"
    REGISTER_LIMIT_PER_ADDRESS: str = "10 per hour"  # every registration attempt counts
    REAUTH_LIMIT_PER_USER: str = "5 per minute;30 per hour"  # wrong current passwords
    # Per-account quotas (0: none); always on, whatever RATELIMIT_ENABLED says.
    MAX_TAGS_PER_USER: int = 500
    MAX_PAPERS_PER_TAG: int = 5000
    MAX_SAVED_SEARCHES: int = 200
    MAX_LIBRARY_IMPORT_PAPERS: int = 50000  # tag memberships in one POST /api/library

    # Web.
    PAPERS_PER_PAGE: int = 25
    MAX_CONTENT_LENGTH: int = 1024 * 1024

    TESTING: bool = False
    DEBUG: bool = False

    @classmethod
    def keys(cls) -> list[str]:
        """All configuration keys (upper-case attributes, inherited included)."""
        return [k for k in dir(cls) if k.isupper()]

    @classmethod
    def as_dict(cls, environ: dict[str, str] | None = None) -> dict[str, object]:
        """The class defaults with SANITY_<KEY> environment overrides applied."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for key in cls.keys():
            default = getattr(cls, key)
            raw = env.get(f"SANITY_{key}")
            values[key] = default if raw is None else parse_value(key, raw, default)
        return values


class TestingConfig(Config):
    """Fast, isolated settings for the test suite (no real arXiv, no delays)."""

    TESTING = True
    SECRET_KEY = "testing-secret-key"
    ARXIV_API_URL = "http://127.0.0.1:9/api/query"
    ARXIV_OAI_URL = "http://127.0.0.1:9/oai"
    ARXIV_PDF_URL = "http://127.0.0.1:9/pdf/"
    ARXIV_DELAY_SECONDS = 0.0
    ARXIV_TIMEOUT_SECONDS = 2.0
    ARXIV_BACKOFF_SECONDS = 0.01
    ARXIV_BACKOFF_MAX_SECONDS = 0.05
    CRAWL_ON_START_IF_EMPTY = False
    FEATURES_IN_CHILD = False
    RATELIMIT_ENABLED = False
    MAIL_SERVER = "127.0.0.1"
