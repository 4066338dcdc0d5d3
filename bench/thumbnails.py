"""Thumbnail cost: render time per PDF, strip bytes (disk per 1,000 papers), fetch rate.

Renders a few generated paper-like PDFs (text pages in Helvetica with ruled figures, and
scanned-style pages holding a 150 dpi JPEG each) the way `sanity thumbnails` does: in a fresh
process per PDF (`render.py`), and in-process for the rendering alone. Needs no data set.

    .venv/bin/python bench/thumbnails.py
"""

from __future__ import annotations

import io
import statistics
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sanity.ingest import render  # noqa: E402
from sanity.ingest.polite import ARXIV_MIN_DELAY  # noqa: E402
from sanity.ingest.thumbnails import MAX_IMAGE_BYTES, RENDER_SCRIPT  # noqa: E402
from tests.pdfs import text_pdf  # noqa: E402

PAGES, HEIGHT = 4, 200  # the defaults of THUMBNAIL_PAGES and THUMBNAIL_HEIGHT
RUNS = 3


def scanned_pdf(pages: int) -> bytes:
    """Pages that are each one 150 dpi JPEG (a plot-heavy or scanned paper)."""
    images = []
    for i in range(pages):
        im = Image.effect_mandelbrot((1275, 1650), (-2 + i * 0.1, -1.2, 0.8, 1.2), 60)
        im = im.convert("RGB").filter(ImageFilter.SMOOTH)
        draw = ImageDraw.Draw(im)
        for y in range(100, 1600, 24):
            draw.line((100, y, 1175, y), fill=(30, 30, 30), width=2)
        images.append(im)
    out = io.BytesIO()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=150)
    return out.getvalue()


def in_child(data: bytes) -> tuple[float, int]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-P", str(RENDER_SCRIPT), str(PAGES), str(HEIGHT), str(MAX_IMAGE_BYTES)],
        input=data,
        capture_output=True,
        check=True,
    )
    return time.monotonic() - started, len(done.stdout.partition(b"\n")[2])


def main() -> None:
    documents = {
        "text, 8 pages": text_pdf(pages=8, lines=58, seed=1),
        "text, 25 pages": text_pdf(pages=25, lines=58, seed=2),
        "text, 60 pages": text_pdf(pages=60, lines=58, seed=3),
        "scanned, 6 pages": scanned_pdf(6),
        "scanned, 12 pages": scanned_pdf(12),
    }
    sizes, child_times = [], []
    print(f"{'document':<20} {'PDF KB':>8} {'render ms':>10} {'process ms':>11} {'strip KB':>9}")
    for name, data in documents.items():
        renders = []
        for _ in range(RUNS):
            started = time.monotonic()
            strip = render.render_strip(data, PAGES, HEIGHT, MAX_IMAGE_BYTES)
            renders.append(time.monotonic() - started)
        child = min(in_child(data)[0] for _ in range(RUNS))
        sizes.append(len(strip.data))
        child_times.append(child)
        print(
            f"{name:<20} {len(data) / 1024:>8.0f} {min(renders) * 1000:>10.0f} "
            f"{child * 1000:>11.0f} {len(strip.data) / 1024:>9.1f}  ({strip.width}x{strip.height})"
        )
    mean_bytes = statistics.mean(sizes)
    slowest = max(child_times)
    # The polite gap runs from one request to the next; a render shorter than the gap hides in it.
    per_paper = max(ARXIV_MIN_DELAY, slowest)
    print(f"\nstrip bytes: mean {mean_bytes / 1024:.1f} KB, max {max(sizes) / 1024:.1f} KB")
    print(f"disk per 1,000 papers: {mean_bytes * 1000 / 1e6:.1f} MB")
    print(
        f"fetch rate at the {ARXIV_MIN_DELAY:g} s gap: {60 / per_paper:.0f} papers/min "
        f"(+ download time): 1,000 papers in {1000 * per_paper / 60:.0f} min"
    )


if __name__ == "__main__":
    main()
