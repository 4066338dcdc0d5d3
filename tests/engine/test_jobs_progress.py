"""`sanity compute`'s progress: both passes of a full build over the papers are reported."""

from __future__ import annotations

from sanity.engine import jobs
from tests.factories import make_paper


def test_full_build_reports_both_passes_up_to_the_total(app):
    """progress(stage, done, total): the vocabulary pass, then the counting pass, to the end."""
    for i in range(5):
        make_paper(title=f"Graph networks {i}", abstract=f"message passing on graphs {i}")
    seen = []
    built = jobs.full_build(progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert built is not None and built.n == 5
    assert seen == [("vocabulary", 5, 5), ("counting", 5, 5)]
