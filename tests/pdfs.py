"""Small real PDFs for the thumbnail tests and benchmark: text pages like a paper's, written by
hand (a few objects and an xref table), plus the broken kinds arXiv's answers can be."""

from __future__ import annotations

import os
import random

WORDS = (
    "we propose a method for learning representations of graphs with attention and show that "
    "it improves accuracy on benchmark datasets while reducing the cost of training the model"
).split()


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _page_content(number: int, lines: int, rng: random.Random, title: str) -> bytes:
    """A title, an abstract-like block of text lines and a ruled figure box."""
    heading = title[:60] if number == 1 else f"{number}"
    ops = ["BT /F1 16 Tf 72 740 Td (" + _escape(heading) + ") Tj ET"]
    ops.append("BT /F1 9 Tf 11 TL 72 710 Td")
    for _ in range(lines):
        ops.append("(" + _escape(" ".join(rng.choices(WORDS, k=14))) + ") '")
    ops.append("ET")
    ops.append("0.2 0.3 0.8 RG 2 w 72 120 468 120 re S")
    ops.append("0.9 0.5 0.1 rg 100 140 60 80 re f 200 140 60 50 re f 300 140 60 95 re f")
    return "\n".join(ops).encode("latin-1", "replace")


def text_pdf(
    pages: int = 4, lines: int = 50, seed: int = 0, trailer_extra: str = "", title: str = "A Title"
) -> bytes:
    """A US-letter PDF of `pages` text pages (Helvetica), `lines` lines of text each."""
    rng = random.Random(seed)
    objects: list[bytes] = []  # object n is objects[n - 1]
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i in range(pages):
        content = _page_content(i + 1, lines, rng, title)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {5 + 2 * i} 0 R "
            "/Resources << /Font << /F1 3 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R {trailer_extra}>>\n".encode()
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def encrypted_pdf() -> bytes:
    """A PDF under the standard security handler whose user password is not empty: readers
    cannot open it without the password."""
    o, u = os.urandom(32).hex(), os.urandom(32).hex()
    encrypt = f"/Encrypt << /Filter /Standard /V 1 /R 2 /O <{o}> /U <{u}> /P -4 >> "
    return text_pdf(pages=2, trailer_extra=encrypt + "/ID [<00112233445566778899aabbccddeeff>"
                    "<00112233445566778899aabbccddeeff>] ")  # fmt: skip


def truncated_pdf() -> bytes:
    """The first third of a PDF: the header is there, the rest is not."""
    data = text_pdf(pages=3)
    return data[: len(data) // 3]


def garbage() -> bytes:
    return bytes(random.Random(3).randrange(256) for _ in range(5000))
