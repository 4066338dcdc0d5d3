"""sanity: a self-hosted arXiv crawler and recommender.

`sanity.create_app` is the application factory (`gunicorn 'sanity:create_app()'`); it lives in
`sanity.factory` and is imported on first use, so that importing a part of the package does not
import them all: a build worker needs `sanity.engine.counting` alone, and starts in a fraction
of a second without Flask and scikit-learn.
"""

from __future__ import annotations

_LAZY = {"create_app", "check_secret_key", "ROOT"}


def __getattr__(name: str):
    if name in _LAZY:
        from sanity import factory  # lazy package attribute (see the docstring)

        return getattr(factory, name)
    raise AttributeError(f"module 'sanity' has no attribute {name!r}")
