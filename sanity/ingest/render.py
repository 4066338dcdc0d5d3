"""Render a PDF's first pages into one small horizontal strip (WebP), with PDFium and Pillow.

PDFs come from the internet: thumbnails.py runs this file as its own short-lived process
(`python -P render.py PAGES HEIGHT MAX_BYTES`, the PDF on stdin, `W H` and the image on
stdout), so a hostile document that hangs, eats memory or crashes PDFium takes down only that
process. It imports nothing from sanity, to start fast.
"""

from __future__ import annotations

import io
import resource
import sys
from dataclasses import dataclass

import pypdfium2 as pdfium
from PIL import Image

MAX_PAGE_RATIO = 3.0  # a page wider than 3 heights (or narrower than 1/3) is clipped in size
GAP = 4  # pixels between pages
QUALITIES = (60, 45, 30, 20)  # WebP qualities tried until the image fits its byte cap
MEMORY_LIMIT = 1024 * 1024 * 1024  # address space of the render process
EXIT_UNRENDERABLE = 3


class RenderError(Exception):
    """The document cannot be rendered (broken, encrypted, empty, or its strip is too big)."""


@dataclass
class Strip:
    data: bytes
    width: int
    height: int


def _open(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise RenderError("encrypted PDF (needs a password)") from None
        raise RenderError(f"broken PDF ({exc})") from None


def _render_page(page: pdfium.PdfPage, height: int) -> Image.Image:
    width_pt, height_pt = page.get_size()
    if width_pt <= 0 or height_pt <= 0:
        raise RenderError("a page has no size")
    # Both bounds keep a freak page (a 200-inch poster, a thin ribbon) small.
    scale = min(height / height_pt, height * MAX_PAGE_RATIO / width_pt)
    return page.render(scale=scale, may_draw_forms=False).to_pil().convert("RGB")


def render_strip(data: bytes, pages: int, height: int, max_bytes: int) -> Strip:
    """The first `pages` pages side by side, each `height` pixels high, as WebP <= max_bytes."""
    document = _open(data)
    try:
        count = min(len(document), pages)
        if count == 0:
            raise RenderError("the PDF has no pages")
        images = [_render_page(document[i], height) for i in range(count)]
    finally:
        document.close()
    width = sum(im.width for im in images) + GAP * (count - 1)
    strip = Image.new("RGB", (width, max(im.height for im in images)), "white")
    x = 0
    for im in images:
        strip.paste(im, (x, 0))
        x += im.width + GAP
    for quality in QUALITIES:
        out = io.BytesIO()
        strip.save(out, "WEBP", quality=quality, method=6)
        if out.tell() <= max_bytes:
            return Strip(out.getvalue(), strip.width, strip.height)
    raise RenderError(f"the strip stays above {max_bytes:,} bytes")


def main(argv: list[str]) -> int:
    """Read a PDF on stdin; write `W H` and the strip on stdout, or a reason on stderr."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    pages, height, max_bytes = (int(a) for a in argv)
    try:
        strip = render_strip(sys.stdin.buffer.read(), pages, height, max_bytes)
    except RenderError as exc:
        print(exc, file=sys.stderr)
        return EXIT_UNRENDERABLE
    except MemoryError:
        print("rendering needs too much memory", file=sys.stderr)
        return EXIT_UNRENDERABLE
    sys.stdout.buffer.write(f"{strip.width} {strip.height}\n".encode() + strip.data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
