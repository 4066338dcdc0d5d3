"""Sparse matrices written to disk chunk by chunk, so a build's memory does not grow with the
corpus: row chunks spilled to a scratch file and read back in order, a CSR matrix appended
row chunk by row chunk into `.npy` files, and its transpose written column block by column
block. Files are read with plain reads, not memory maps, so the pages stay in the page cache
and out of the building process's resident memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import scipy.sparse as sp

DATA, INDEX = np.dtype(np.float32), np.dtype(np.int32)
TRANSPOSE_BLOCK = 4_000_000  # entries per column block of the transpose (~150 MB at the peak)


class RowSpill:
    """CSR row chunks appended to scratch files and read back in the same order."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.paths = (directory / f"{name}.data.tmp", directory / f"{name}.indices.tmp")
        self.files = [open(p, "wb") for p in self.paths]  # noqa: SIM115 - closed in close()
        self.chunks: list[tuple[int, int]] = []  # (rows, nnz)
        self.row_counts: list[np.ndarray] = []  # per chunk, entries per row (its indptr)
        self.columns = 0

    def append(self, m: sp.csr_matrix) -> None:
        m.sum_duplicates()
        self.files[0].write(np.ascontiguousarray(m.data, dtype=DATA).tobytes())
        self.files[1].write(np.ascontiguousarray(m.indices, dtype=INDEX).tobytes())
        self.chunks.append((m.shape[0], m.nnz))
        self.columns = m.shape[1]
        self.row_counts.append(np.diff(m.indptr).astype(np.int32))

    def finish(self) -> None:
        for f in self.files:
            f.close()

    def __iter__(self) -> Iterator[sp.csr_matrix]:
        with open(self.paths[0], "rb") as data, open(self.paths[1], "rb") as indices:
            for (rows, nnz), counts in zip(self.chunks, self.row_counts, strict=True):
                indptr = np.zeros(rows + 1, dtype=np.int64)
                np.cumsum(counts, out=indptr[1:])
                yield sp.csr_matrix(
                    (
                        np.fromfile(data, dtype=DATA, count=nnz),
                        np.fromfile(indices, dtype=INDEX, count=nnz),
                        indptr,
                    ),
                    shape=(rows, self.columns),
                )

    def remove(self) -> None:
        self.finish()
        for p in self.paths:
            p.unlink(missing_ok=True)


def _npy_writer(path: Path, dtype: np.dtype, length: int):
    """An open file with a .npy header for a 1-d array of `length`; the caller appends data."""
    f = open(path, "wb")  # noqa: SIM115 - closed by the caller
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
              "shape": (length,)}  # fmt: skip
    np.lib.format.write_array_header_1_0(f, header)
    return f


def indptr_dtype(nnz: int) -> np.dtype:
    return np.dtype(np.int32 if nnz < 2**31 else np.int64)


class CsrWriter:
    """Writes `name.data/indices/indptr.npy` of a CSR matrix of known nnz, rows appended."""

    def __init__(self, directory: Path, name: str, rows: int, nnz: int) -> None:
        self.kind = indptr_dtype(nnz)
        self.nnz, self.written, self.rows_seen = nnz, 0, 0
        self.data = _npy_writer(directory / f"{name}.data.npy", DATA, nnz)
        self.indices = _npy_writer(directory / f"{name}.indices.npy", INDEX, nnz)
        self.indptr = _npy_writer(directory / f"{name}.indptr.npy", self.kind, rows + 1)
        self.indptr.write(np.zeros(1, dtype=self.kind).tobytes())
        self.rows = rows

    def append(self, m: sp.csr_matrix) -> None:
        self.data.write(np.ascontiguousarray(m.data, dtype=DATA).tobytes())
        self.indices.write(np.ascontiguousarray(m.indices, dtype=INDEX).tobytes())
        ends = (m.indptr[1:].astype(np.int64) + self.written).astype(self.kind)
        self.indptr.write(ends.tobytes())
        self.written += m.nnz
        self.rows_seen += m.shape[0]

    def close(self) -> None:
        for f in (self.data, self.indices, self.indptr):
            f.close()
        if self.written != self.nnz or self.rows_seen != self.rows:
            raise RuntimeError(
                f"matrix writer: {self.rows_seen}/{self.rows} rows, {self.written}/{self.nnz} nnz"
            )


def read_rows(directory: Path, name: str, chunk_rows: int) -> Iterator[tuple[int, sp.csr_matrix]]:
    """(first row, CSR rows) chunks of a matrix written by CsrWriter, by plain reads."""
    indptr = np.load(directory / f"{name}.indptr.npy")
    with (
        open(directory / f"{name}.data.npy", "rb") as data,
        open(directory / f"{name}.indices.npy", "rb") as indices,
    ):
        for f in (data, indices):
            np.lib.format.read_magic(f)
            np.lib.format.read_array_header_1_0(f)
        rows = len(indptr) - 1
        for start in range(0, rows, chunk_rows):
            stop = min(rows, start + chunk_rows)
            count = int(indptr[stop] - indptr[start])
            yield (
                start,
                (
                    np.fromfile(data, dtype=DATA, count=count),
                    np.fromfile(indices, dtype=INDEX, count=count),
                    (indptr[start : stop + 1] - indptr[start]).astype(np.int64),
                ),
            )


def write_transpose(directory: Path, rows: int, columns: int, column_nnz: np.ndarray,
                    chunk_rows: int = 20_000) -> None:  # fmt: skip
    """Write `XT` (columns x rows) from `X` on disk, one block of columns per pass over X."""
    nnz = int(column_nnz.sum())
    out = CsrWriter(directory, "XT", columns, nnz)
    bounds = np.concatenate([[0], np.cumsum(column_nnz)])
    start = 0
    while start < columns:
        stop = int(np.searchsorted(bounds, bounds[start] + TRANSPOSE_BLOCK, side="right")) - 1
        stop = min(columns, max(stop, start + 1))
        cols, row_ids, values = [], [], []
        for first, (data, indices, indptr) in read_rows(directory, "X", chunk_rows):
            wanted = (indices >= start) & (indices < stop)
            if not wanted.any():
                continue
            row_of = np.repeat(np.arange(len(indptr) - 1, dtype=np.int32), np.diff(indptr))
            cols.append(indices[wanted])
            row_ids.append(row_of[wanted] + np.int32(first))
            values.append(data[wanted])
        if cols:
            col = np.concatenate(cols) - start
            order = np.argsort(col, kind="stable")  # rows stay ascending within a column
            block = sp.csr_matrix(
                (np.concatenate(values)[order], np.concatenate(row_ids)[order],
                 np.concatenate([[0], np.cumsum(np.bincount(col, minlength=stop - start))])),
                shape=(stop - start, rows),
            )  # fmt: skip
            del col, order
        else:
            block = sp.csr_matrix((stop - start, rows), dtype=np.float32)
        out.append(block)
        start = stop
    out.close()
