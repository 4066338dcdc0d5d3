"""TF-IDF feature artifacts. The engine issue builds them; ingest calls the update hook now."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def update_after_ingest(changed_ids: list[str]) -> None:
    """Bring features and the search index up to date after papers were added or changed.

    Nothing to update until the engine lands; ingest already calls this so the wiring is real.
    """
    if changed_ids:
        log.info("features: %d papers changed; no feature index to update yet", len(changed_ids))
