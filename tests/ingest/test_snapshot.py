"""`sanity import`: arXiv's bulk metadata snapshot (Kaggle's arxiv-metadata-oai-snapshot.json)."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from sanity.db import db
from sanity.ingest.snapshot import SnapshotLineError, import_snapshot, snapshot_record
from sanity.leases import INGEST_LOCK, Lease
from sanity.models import JobLock, Paper
from sanity.timeutil import as_utc

pytestmark = pytest.mark.both_databases

# Three lines exactly as the snapshot writes them: compact JSON, keys in arXiv's order, raw
# line-wrapped title/abstract, LaTeX in `authors`, unicode in `authors_parsed`, null license.
KAGGLE_0704_0001 = r"""{"id":"0704.0001","submitter":"Pavel Nadolsky","authors":"C. Bal\\'azs, E. L. Berger, P. M. Nadolsky, C.-P. Yuan","title":"Calculation of prompt diphoton production cross sections at Tevatron and\n  LHC energies","comments":"37 pages, 15 figures; published version","journal-ref":"Phys.Rev.D76:013009,2007","doi":"10.1103/PhysRevD.76.013009","report-no":"ANL-HEP-PR-07-12","categories":"hep-ph","license":null,"abstract":"  A fully differential calculation in perturbative quantum chromodynamics is\npresented for the production of massive photon pairs at hadron colliders.\n","versions":[{"version":"v1","created":"Mon, 2 Apr 2007 19:18:42 GMT"},{"version":"v2","created":"Tue, 24 Jul 2007 20:10:27 GMT"}],"update_date":"2008-11-13","authors_parsed":[["Balázs","C.",""],["Berger","E. L.",""],["Nadolsky","P. M.",""],["Yuan","C. -P.",""]]}"""  # noqa: E501
KAGGLE_OLD_STYLE = r"""{"id":"hep-th/9901001","submitter":"Juan Maldacena","authors":"J. Maldacena and A. Strominger","title":"$AdS_3$ black holes and a stringy exclusion principle","comments":null,"journal-ref":null,"doi":null,"report-no":"HUTP-98/A077","categories":"hep-th gr-qc","license":null,"abstract":"  We study the $\\mathcal{N}=4$ theory on $S^3 \\times \\mathbb{R}$ and the\nstringy exclusion principle.\n","versions":[{"version":"v1","created":"Fri, 1 Jan 1999 18:23:05 GMT"}],"update_date":"2009-10-31","authors_parsed":[["Maldacena","J.",""],["Strominger","A.",""]]}"""  # noqa: E501
KAGGLE_UNICODE = """{"id":"2401.01234","submitter":"Émilie Châtelet","authors":"Émilie du Châtelet, 李 小龙 and John Smith Jr","title":"Schrödinger bridges for diffusion models: a Γ-convergence view","comments":"v3: fixed typo in Eq. (3)","journal-ref":null,"doi":null,"report-no":null,"categories":"cs.LG stat.ML cs.AI","license":"http://creativecommons.org/licenses/by/4.0/","abstract":"  We revisit Schrödinger bridges,\\nwith ≥ 3 “quotes” & <tags>.\\n","versions":[{"version":"v1","created":"Wed, 3 Jan 2024 09:00:01 GMT"},{"version":"v2","created":"Fri, 12 Jan 2024 10:11:12 GMT"},{"version":"v3","created":"Mon, 5 Feb 2024 23:59:59 GMT"}],"update_date":"2024-02-06","authors_parsed":[["du Châtelet","Émilie",""],["李","小龙",""],["Smith","John","Jr"]]}"""  # noqa: E501
GOOD = [KAGGLE_0704_0001, KAGGLE_OLD_STYLE, KAGGLE_UNICODE]
GOOD_IDS = ["0704.0001", "2401.01234", "hep-th/9901001"]


def line(pid: str = "2603.00001", **fields) -> str:
    """One snapshot line in the exact format, with overrides (None values stay JSON null)."""
    obj = {
        "id": pid,
        "submitter": "Ada Lovelace",
        "authors": "Ada Lovelace and Alan Turing",
        "title": f"Paper {pid}",
        "comments": None,
        "journal-ref": None,
        "doi": None,
        "report-no": None,
        "categories": "cs.LG",
        "license": None,
        "abstract": f"  Abstract of {pid}\nover two lines.\n",
        "versions": [{"version": "v1", "created": "Mon, 2 Mar 2026 12:00:00 GMT"}],
        "update_date": "2026-03-02",
        "authors_parsed": [["Lovelace", "Ada", ""], ["Turing", "Alan", ""]],
    }
    obj.update(fields)
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def snapshot(*lines: str | bytes) -> bytes:
    return b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines)


def write(tmp_path, *lines: str | bytes, name: str = "snapshot.json", gz: bool = False) -> str:
    data = snapshot(*lines)
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if gz else data)
    return str(path)


def rows() -> list[dict]:
    """Every stored paper as a plain dict, fresh from the database, ordered by id."""
    result = db.session.execute(select(Paper.__table__).order_by(Paper.id))
    return [dict(row) for row in result.mappings()]


def stored_ids() -> list[str]:
    return sorted(db.session.scalars(select(Paper.id)))


def paper(pid: str) -> Paper:
    return db.session.get(Paper, pid, populate_existing=True)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def run_import(runner, *args: str):
    result = runner.invoke(args=["import", *args])
    assert "Traceback" not in result.output
    return result


def errors(result) -> list[str]:
    """stderr without progress lines (indented, printed every few seconds on slow machines)."""
    return [x for x in result.stderr.splitlines() if x.strip() and not x.startswith("  ")]


# ---- good lines ----


def test_import_stores_every_field(runner, tmp_path):
    """Real-format lines (new and old style ids, unicode, LaTeX, nulls) land with every field."""
    result = run_import(runner, write(tmp_path, *GOOD))
    assert result.exit_code == 0, result.output
    assert "3 new, 0 updated, 0 unchanged, 0 filtered out, 0 malformed" in result.stdout
    assert stored_ids() == GOOD_IDS

    p = paper("0704.0001")
    assert p.version == 2
    assert (
        p.title
        == "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    )  # noqa: E501
    assert p.abstract == (
        "A fully differential calculation in perturbative quantum chromodynamics is presented "
        "for the production of massive photon pairs at hadron colliders."
    )
    assert p.authors == ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C. -P. Yuan"]
    assert (p.primary_category, p.categories) == ("hep-ph", "hep-ph")
    assert as_utc(p.published) == utc(2007, 4, 2, 19, 18, 42)
    assert as_utc(p.updated) == utc(2007, 7, 24, 20, 10, 27)
    assert p.comment == "37 pages, 15 figures; published version"
    assert p.journal_ref == "Phys.Rev.D76:013009,2007"
    assert p.doi == "10.1103/PhysRevD.76.013009"
    assert p.license is None

    old = paper("hep-th/9901001")
    assert old.version == 1
    assert old.title == "$AdS_3$ black holes and a stringy exclusion principle"
    assert old.abstract.startswith(r"We study the $\mathcal{N}=4$ theory on $S^3 \times")
    assert old.authors == ["J. Maldacena", "A. Strominger"]
    assert (old.primary_category, old.categories) == ("hep-th", "hep-th gr-qc")
    assert as_utc(old.published) == as_utc(old.updated) == utc(1999, 1, 1, 18, 23, 5)
    assert (old.comment, old.journal_ref, old.doi, old.license) == (None, None, None, None)

    uni = paper("2401.01234")
    assert uni.version == 3
    assert uni.title == "Schrödinger bridges for diffusion models: a Γ-convergence view"
    assert uni.abstract == "We revisit Schrödinger bridges, with ≥ 3 “quotes” & <tags>."
    assert uni.authors == ["Émilie du Châtelet", "小龙 李", "John Smith Jr"]
    assert (uni.primary_category, uni.categories) == ("cs.LG", "cs.LG stat.ML cs.AI")
    assert as_utc(uni.published) == utc(2024, 1, 3, 9, 0, 1)
    assert as_utc(uni.updated) == utc(2024, 2, 5, 23, 59, 59)
    assert uni.license == "http://creativecommons.org/licenses/by/4.0/"


def test_absent_optional_keys_are_stored_as_null(app):
    """A line without comments/journal-ref/doi/license/report-no keys at all imports with NULLs."""
    obj = json.loads(line("2603.00007", comments="x", doi="10.1/x"))
    for key in ("comments", "journal-ref", "doi", "license", "report-no", "submitter"):
        del obj[key]
    stats = import_snapshot(io.BytesIO(snapshot(json.dumps(obj))))
    assert (stats.new, stats.bad) == (1, 0)
    p = paper("2603.00007")
    assert (p.comment, p.journal_ref, p.doi, p.license) == (None, None, None, None)
    assert p.authors == ["Ada Lovelace", "Alan Turing"]


def test_record_without_authors_parsed_splits_the_author_string():
    """Without authors_parsed, the "A, B and C" string gives the authors in order."""
    obj = json.loads(line(authors="A. One, B. Two and C. Three"))
    del obj["authors_parsed"]
    assert snapshot_record(obj).authors == ["A. One", "B. Two", "C. Three"]


def test_record_versions_give_latest_number_and_first_and_last_dates():
    """Out-of-order versions: version is the highest vN, published v1's date, updated the last."""
    record = snapshot_record(
        json.loads(
            line(
                versions=[
                    {"version": "v2", "created": "Tue, 3 Mar 2026 08:00:00 GMT"},
                    {"version": "v10", "created": "Sat, 1 Aug 2026 00:00:00 GMT"},
                    {"version": "v1", "created": "Mon, 2 Mar 2026 12:00:00 GMT"},
                ]
            )
        )
    )
    assert record.version == 10
    assert (record.published, record.updated) == (utc(2026, 3, 2, 12), utc(2026, 8, 1))


def test_record_without_versions_falls_back_to_update_date():
    """No versions: both dates come from update_date and the version stays unknown."""
    record = snapshot_record(json.loads(line(versions=[], update_date="2009-10-31")))
    assert record.version is None
    assert record.published == record.updated == utc(2009, 10, 31)


def test_record_rejects_non_objects_and_bad_ids():
    """Non-objects, missing or malformed ids and blank titles raise SnapshotLineError."""
    for obj in (["0704.0001"], "x", None, {"title": "No id"}, json.loads(line("07040001"))):
        with pytest.raises(SnapshotLineError):
            snapshot_record(obj)
    with pytest.raises(SnapshotLineError, match="no title"):
        snapshot_record(json.loads(line(title=" \n ")))


# ---- idempotence and versions ----


def test_reimporting_the_same_file_changes_nothing(runner, tmp_path):
    """Running the same import twice reports 0 new/0 updated and leaves every row identical."""
    path = write(tmp_path, *GOOD)
    assert run_import(runner, path).exit_code == 0
    before = rows()
    result = run_import(runner, path)
    assert result.exit_code == 0, result.output
    assert "0 new, 0 updated, 3 unchanged" in result.stdout
    assert rows() == before


@pytest.mark.parametrize("batch_size", [1, 1000])
def test_duplicate_line_is_stored_once(app, batch_size):
    """The same line twice in one file (same or different batch) gives one row, counted once."""
    stats = import_snapshot(io.BytesIO(snapshot(*GOOD, KAGGLE_UNICODE)), batch_size=batch_size)
    assert (stats.new, stats.updated, stats.unchanged) == (3, 0, 1)
    assert stored_ids() == GOOD_IDS


def test_undated_line_reimports_unchanged(app):
    """A line with only update_date (version unknown) is also left alone on a second import."""
    data = snapshot(line("2603.00009", versions=[], update_date="2026-03-02"))
    assert import_snapshot(io.BytesIO(data)).new == 1
    before = rows()
    stats = import_snapshot(io.BytesIO(data))
    assert (stats.new, stats.updated, stats.unchanged) == (0, 0, 1)
    assert rows() == before and before[0]["version"] is None


def test_newer_version_replaces_paper_in_place(runner, tmp_path, clock):
    """A later import with v2 updates the one row (new title, version, dates) and keeps `added`."""
    v1 = {"version": "v1", "created": "Mon, 2 Mar 2026 12:00:00 GMT"}
    v2 = {"version": "v2", "created": "Thu, 5 Mar 2026 09:30:00 GMT"}
    assert run_import(runner, write(tmp_path, line(versions=[v1]), name="a.json")).exit_code == 0
    added = rows()[0]["added"]

    result = run_import(
        runner, write(tmp_path, line(title="Better title", versions=[v1, v2]), name="b.json")
    )
    assert "0 new, 1 updated, 0 unchanged" in result.stdout
    [row] = rows()
    assert (row["id"], row["version"], row["title"]) == ("2603.00001", 2, "Better title")
    assert as_utc(row["published"]) == utc(2026, 3, 2, 12)
    assert as_utc(row["updated"]) == utc(2026, 3, 5, 9, 30)
    assert row["added"] == added

    result = run_import(runner, write(tmp_path, line(versions=[v1]), name="c.json"))
    assert "0 new, 0 updated, 1 unchanged" in result.stdout
    assert rows()[0]["title"] == "Better title"  # an older version never downgrades


def test_records_with_api_style_dates_and_lists_import(runner, tmp_path):
    """Exports that carry the arXiv API's fields (published / updated, author and category
    lists) instead of versions and update_date import with those dates."""
    record = line(versions=[], update_date=None, published="2024-03-15T17:59:59Z",
                  updated="2024-05-01", authors=["Ada Lovelace", "Alan Turing"],
                  categories=["cs.RO", "cs.LG"])  # fmt: skip
    result = run_import(runner, write(tmp_path, record))
    assert result.exit_code == 0 and "1 new" in result.stdout, result.output
    [row] = rows()
    assert as_utc(row["published"]) == utc(2024, 3, 15, 17, 59, 59)
    assert as_utc(row["updated"]) == utc(2024, 5, 1)
    assert row["authors"] == ["Ada Lovelace", "Alan Turing"]
    assert (row["primary_category"], row["categories"]) == ("cs.RO", "cs.RO cs.LG")


def test_a_line_without_any_date_is_dated_by_its_ids_month(runner, tmp_path):
    """No versions, update_date, published or updated (many exports have papers like that):
    the month the id was assigned in, new style and old."""
    dateless = {"versions": [], "update_date": None}
    lines = [line("2403.10794", **dateless), line("math/9807192", **dateless),
             line("hep-th/0101001", **dateless)]  # fmt: skip
    result = run_import(runner, write(tmp_path, *lines))
    assert result.exit_code == 0 and "3 new" in result.stdout, result.output
    assert {r["id"]: as_utc(r["published"]) for r in rows()} == {
        "2403.10794": utc(2024, 3, 1),
        "hep-th/0101001": utc(2001, 1, 1),
        "math/9807192": utc(1998, 7, 1),
    }


@pytest.mark.parametrize("batch_size", [1, 1000])
def test_versions_within_one_file_keep_the_latest(app, batch_size):
    """v2 then v1 then v3 of one paper in a single file leaves one row at v3."""
    versions = [
        {"version": f"v{n}", "created": f"Mon, {n} Mar 2026 12:00:00 GMT"} for n in (1, 2, 3)
    ]
    lines = [line(title=f"Title v{n}", versions=versions[:n]) for n in (2, 1, 3)]
    import_snapshot(io.BytesIO(snapshot(*lines)), batch_size=batch_size)
    [row] = rows()
    assert (row["version"], row["title"]) == (3, "Title v3")


# ---- malformed lines ----

BAD_LINES: list[tuple[str | bytes, str]] = [
    (
        '{"id":"0704.0002","title":"Truncated',
        "invalid JSON (Unterminated string starting at column 27)",
    ),
    ('["0704.0003","not an object"]', "not a JSON object"),
    (line("2603.00003").replace('"id":"2603.00003",', ""), "no id"),
    (line("not-an-id"), "not an arXiv id: 'not-an-id'"),
    (line("2603.00004", title="   "), "2603.00004: no title"),
    (line("2603.00005").encode().replace(b"Paper", b"Caf\xe9"), "invalid UTF-8"),
    (
        line("2613.00006", versions=[], update_date=None),  # no month 13
        "2613.00006: no date, and its id names no month",
    ),
    ("[" * 100_000, "invalid JSON (nested too deeply)"),
    # Wrong types and values no database would store as given: reported, never a crash.
    (line("2603.00010", abstract=5), "2603.00010: abstract is not a string"),
    (line("2603.00011", comments=["x"]), "2603.00011: comments is not a string"),
    (
        line("2613.00012", versions=[{"version": "v1", "created": 5}], update_date=7),
        "2613.00012: no date, and its id names no month",
    ),
    (line("2603.00013", categories=["cs.LG", 3]), "2603.00013: categories is not a string"),
    (
        line("2603.00014").replace("Paper", "Bad \\ud800 surrogate"),
        "2603.00014: lone surrogate in text",
    ),
    (line("2603.00015", abstract="nul \u0000 byte"), "2603.00015: text contains a NUL character"),
    (line("2603.00016", doi="10.1/" + "x" * 300), "2603.00016: doi longer than 255 characters"),
    (
        line("2603.00017", categories="x" * 100),
        "2603.00017: primary_category longer than 64 characters",
    ),
    (
        line("2603.00018", versions=[{"version": "v99999999999", "created": "2026-03-02"}]),
        "2603.00018: version number 99999999999 out of range",
    ),
]


def test_malformed_lines_are_reported_skipped_and_counted(runner, tmp_path):
    """Each bad line is named with its line number on stderr; good lines around them import."""
    lines = [KAGGLE_0704_0001, ""] + [bad for bad, _ in BAD_LINES] + [KAGGLE_UNICODE]
    result = run_import(runner, write(tmp_path, *lines), "--batch-size", "4")
    assert result.exit_code == 0, result.output
    for number, (_, reason) in enumerate(BAD_LINES, start=3):
        assert f"skipped line {number}: {reason}\n" in result.stderr
    assert len([x for x in result.stderr.splitlines() if x.startswith("skipped")]) == len(BAD_LINES)
    assert f"0 filtered out, {len(BAD_LINES)} malformed" in result.stdout
    assert "2 new" in result.stdout
    assert stored_ids() == ["0704.0001", "2401.01234"]


def test_malformed_lines_leave_no_partial_rows(app):
    """import_snapshot counts bad lines, reports each once, and every stored row is complete."""
    errors: list[str] = []
    data = snapshot(*[bad for bad, _ in BAD_LINES], *GOOD)
    stats = import_snapshot(io.BytesIO(data), batch_size=2, on_error=errors.append)
    assert stats.bad == len(BAD_LINES) == len(errors) == len(stats.errors)
    assert (stats.new, stats.lines) == (3, len(BAD_LINES) + 3)
    assert stored_ids() == GOOD_IDS
    assert all(r["title"] and r["published"] and r["updated"] and r["authors"] for r in rows())


# ---- filters and inputs ----


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["cs.LG"], ["2603.00001", "2603.00002"]),
        (["cs.LG", "cs.*"], ["2603.00001", "2603.00002", "2603.00003"]),
        (["hep-*", "math.AP"], ["2603.00004", "2603.00005"]),
    ],
)
def test_category_filter_matches_any_category(runner, tmp_path, patterns, expected):
    """--category globs keep papers with any matching category, primary or cross-listed."""
    path = write(
        tmp_path,
        line("2603.00001", categories="cs.LG stat.ML"),
        line("2603.00002", categories="stat.ML cs.LG"),
        line("2603.00003", categories="cs.CV"),
        line("2603.00004", categories="math.AP math-ph"),
        line("2603.00005", categories="hep-th"),
        line("2603.00006", categories="stat.ME"),
    )
    args = [arg for pattern in patterns for arg in ("--category", pattern)]
    result = run_import(runner, path, *args)
    assert result.exit_code == 0, result.output
    assert f"{len(expected)} new" in result.stdout
    assert f"{6 - len(expected)} filtered out" in result.stdout
    assert stored_ids() == expected


def test_gzip_is_detected_by_magic_bytes(runner, tmp_path):
    """A gzip file imports whatever its name; a plain file named .gz imports too."""
    zipped = write(tmp_path, *GOOD, name="snapshot.json", gz=True)
    plain = write(tmp_path, line("2603.00001"), name="plain.json.gz")
    for path in (zipped, plain):
        result = run_import(runner, path)
        assert result.exit_code == 0, result.output
        assert "0 malformed" in result.stdout
    assert stored_ids() == ["0704.0001", "2401.01234", "2603.00001", "hep-th/9901001"]


@pytest.mark.parametrize("gz", [False, True])
def test_dash_reads_standard_input(runner, gz):
    """`sanity import -` reads the snapshot from stdin, plain or gzip."""
    data = snapshot(*GOOD)
    result = runner.invoke(args=["import", "-"], input=gzip.compress(data) if gz else data)
    assert result.exit_code == 0, result.output
    assert "3 new" in result.stdout
    assert stored_ids() == GOOD_IDS


def test_missing_file_exits_2_with_one_line(runner, tmp_path):
    """A missing file is one clear error line and exit code 2, not a traceback."""
    missing = tmp_path / "nope.json"
    result = run_import(runner, str(missing))
    assert result.exit_code == 2
    assert errors(result) == [f"Error: cannot read {missing}: No such file or directory"]
    assert stored_ids() == []


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_broken_gzip_exits_2_and_keeps_whole_batches(runner, tmp_path, damage):
    """A truncated or corrupt .gz stops with exit 2 and one line; only whole batches are kept."""
    lines = [line(f"2603.{n:05d}", abstract="x" * 5000 + str(n)) for n in range(1, 301)]
    if damage == "truncated":
        data = gzip.compress(snapshot(*lines), compresslevel=1)
        data = data[: len(data) * 9 // 10]
    else:  # a second gzip member whose deflate data is garbage (zlib's "invalid block type")
        second = bytearray(gzip.compress(snapshot(*lines[255:])))
        second[10:20] = b"\xff" * 10
        data = gzip.compress(snapshot(*lines[:255])) + bytes(second)
    path = tmp_path / "broken.json.gz"
    path.write_bytes(data)
    result = run_import(runner, str(path), "--batch-size", "10")
    assert result.exit_code == 2, result.output
    [message] = errors(result)
    assert message.startswith(f"Error: cannot read {path}: ")
    count = len(stored_ids())
    assert 0 < count < 255 and count % 10 == 0

    # Re-running the intact file completes the import without duplicating anything.
    path.write_bytes(gzip.compress(snapshot(*lines)))
    result = run_import(runner, str(path))
    assert f"{300 - count} new, 0 updated, {count} unchanged" in result.stdout
    assert len(stored_ids()) == 300


def test_import_refuses_while_another_ingest_holds_the_lock(runner, tmp_path, clock):
    """With a crawl holding the ingest lock, import exits non-zero with one line and writes none."""
    Lease(INGEST_LOCK, clock, 600, owner="crawler-elsewhere").acquire()
    result = run_import(runner, write(tmp_path, *GOOD))
    assert result.exit_code == 1
    [message] = errors(result)
    assert message.startswith("Error: ingest is already running (held by crawler-elsewhere until")
    assert stored_ids() == []


class ClockedLines(io.RawIOBase):
    """Serves one line per read and moves the fake clock 20 minutes each time."""

    def __init__(self, lines: list[bytes], clock, seen: list) -> None:
        self.lines, self.clock, self.seen = lines, clock, seen

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.lines:
            return 0
        lock = db.session.get(JobLock, INGEST_LOCK, populate_existing=True)
        self.seen.append(as_utc(lock.expires) > self.clock.now())
        self.clock.advance(20 * 60)
        data = self.lines.pop(0)
        buffer[: len(data)] = data
        return len(data)


def test_long_import_keeps_renewing_its_lease(runner, clock, monkeypatch):
    """An import running for hours renews the ingest lock, so its lease never lapses meanwhile."""
    seen: list[bool] = []
    lines = [(line(f"2603.{n:05d}") + "\n").encode() for n in range(1, 13)]
    stream = ClockedLines(lines, clock, seen)
    start = clock.now()
    monkeypatch.setattr("sanity.cli.jobs.open_snapshot", lambda path: stream)
    result = run_import(runner, "-", "--batch-size", "1")
    assert result.exit_code == 0, result.output
    assert "12 new" in result.stdout
    assert len(seen) == 12 and all(seen)
    assert clock.now() - start == timedelta(hours=4)
    assert db.session.scalar(select(func.count()).select_from(JobLock)) == 0
