"""`sanity import-lite`: arxiv-sanity-lite's SqliteDict files, a safe unpickler, idempotence."""

from __future__ import annotations

import os
import pickle
import sqlite3
import time
import zlib
from pathlib import Path

import feedparser
import pytest
from sqlalchemy import func, select

from sanity.accounts import tags
from sanity.accounts import users as accounts
from sanity.db import db
from sanity.ingest import lite as import_lite
from sanity.models import Paper, Tag, TagPaper, User
from tests.factories import make_paper

pytestmark = pytest.mark.both_databases

FIXTURES = Path(__file__).parent.parent / "fixtures"


def sqlitedict(path: Path, table: str, mapping: dict, compress: bool = True) -> Path:
    """Write a table the way SqliteDict does: (key TEXT PRIMARY KEY, value BLOB) of pickles."""
    conn = sqlite3.connect(path)
    conn.execute(f'CREATE TABLE IF NOT EXISTS "{table}" (key TEXT PRIMARY KEY, value BLOB)')
    for key, value in mapping.items():
        blob = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        blob = zlib.compress(blob) if compress else blob
        conn.execute(f'REPLACE INTO "{table}" (key, value) VALUES (?, ?)', (key, blob))
    conn.commit()
    conn.close()
    return path


def plain(obj):
    """A feedparser result as plain dicts and lists, as lite stores it (struct_times stay)."""
    if isinstance(obj, dict):
        return {k: plain(obj[k]) for k in obj}
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    return obj


def lite_papers() -> dict[str, dict]:
    """Papers as lite's arxiv daemon stores them, parsed from a saved arXiv API page."""
    out = {}
    for entry in feedparser.parse((FIXTURES / "api_page.xml").read_bytes()).entries:
        paper = plain(entry)
        idv = paper["id"][paper["id"].rfind("/") + 1 :]  # lite's own (lossy) id split
        paper["_idv"], paper["_id"] = idv, idv.split("v")[0]
        paper["_version"] = int(idv.split("v")[1])
        paper["_time"] = time.mktime(paper["updated_parsed"])
        paper["_time_str"] = time.strftime("%b %d %Y", paper["updated_parsed"])
        del paper["summary_detail"], paper["title_detail"]
        out[paper["_id"]] = paper
    return out


@pytest.fixture
def lite(tmp_path) -> dict[str, Path]:
    """A lite dict.db (tags compressed, email plain) and papers.db."""
    dict_db = tmp_path / "dict.db"
    sqlitedict(
        dict_db,
        "tags",
        {
            "alice": {"bridges": {"2403.01234", "2401.00001"}, "strings": {"9901001"}},
            "bob": {"svm/kernels": {"0911.4521"}, "missing": {"2999.99999"}},
        },
    )
    sqlitedict(dict_db, "email", {"alice": "alice@example.org"}, compress=False)
    sqlitedict(dict_db, "last_active", {"alice": 1700000000.0}, compress=False)
    papers_db = sqlitedict(tmp_path / "papers.db", "papers", lite_papers())
    sqlitedict(papers_db, "metas", {"2401.00001": {"_time": 1.0}}, compress=False)
    return {"dict": dict_db, "papers": papers_db}


def memberships(name: str) -> set[tuple[str, str, bool]]:
    user = accounts.find_user(name)
    rows = db.session.execute(
        select(Tag.name, TagPaper.paper_id, TagPaper.negative)
        .join(TagPaper, TagPaper.tag_id == Tag.id)
        .where(Tag.user_id == user.id)
    )
    return {tuple(r) for r in rows}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


class Boom:
    """A pickle that would run a shell command when loaded by pickle.loads."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# ---- the restricted unpickler ----


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_plain_data_loads_with_every_protocol(protocol):
    """dict, set, frozenset, list, tuple, str, numbers, bool, None load; struct_time -> tuple."""
    value = {"s": {"a", "b"}, "f": frozenset([1]), "l": [1, 2.5, True, None], "t": ("x",)}
    value["time"] = time.gmtime(0)
    blob = pickle.dumps(value, protocol)
    for data in (blob, zlib.compress(blob)):
        loaded = import_lite.loads(data)
        assert loaded["s"] == {"a", "b"} and loaded["f"] == frozenset([1])
        assert loaded["l"] == [1, 2.5, True, None] and loaded["t"] == ("x",)
        assert type(loaded["time"]) is tuple and loaded["time"][:3] == (1970, 1, 1)


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path):
    """A pickle naming os.system is refused before anything is called."""
    marker = tmp_path / "pwned"
    for blob in (pickle.dumps(Boom(marker)), zlib.compress(pickle.dumps({"x": Boom(marker)}))):
        with pytest.raises(import_lite.LiteError, match="refusing to unpickle .*system"):
            import_lite.loads(blob)
    evil = b"cbuiltins\neval\n(S'__import__(\"os\").getcwd()'\ntR."
    with pytest.raises(import_lite.LiteError, match="builtins.eval"):
        import_lite.loads(evil)
    assert not marker.exists()


def test_garbage_and_oversized_values_are_clear_errors(monkeypatch):
    """Truncated pickles, corrupt zlib data and decompression bombs raise LiteError."""
    with pytest.raises(import_lite.LiteError, match="unreadable"):
        import_lite.loads(pickle.dumps({"a": 1})[:-3])
    with pytest.raises(import_lite.LiteError, match="corrupt compressed"):
        import_lite.loads(b"\x78\x9cnot zlib at all")
    monkeypatch.setattr(import_lite, "MAX_VALUE_BYTES", 1000)
    with pytest.raises(import_lite.LiteError, match="larger than"):
        import_lite.loads(zlib.compress(pickle.dumps("x" * 5000)))


def test_lite_papers_become_records():
    """A lite paper (a feedparser entry) keeps id, version, authors, categories and dates."""
    papers = lite_papers()
    record = import_lite.lite_record("2403.01234", papers["2403.01234"])
    assert (record.id, record.version) == ("2403.01234", 3)
    assert record.categories[0] == "stat.ML" and "cs.LG" in record.categories
    assert record.authors[0] == "Léa Dupont-Aignan"
    assert record.published.year == 2024 and record.updated > record.published
    old = import_lite.lite_record("9901001", papers["9901001"])
    assert old.id == "hep-th/9901001" and old.journal_ref.startswith("Nucl.Phys.")


# ---- the command ----


def test_import_creates_accounts_without_passwords_and_their_tags(runner, lite):
    """Users get accounts (no password, unverified email) and positive tags; ids resolve."""
    result = runner.invoke(args=["import-lite", str(lite["dict"]), "--papers", str(lite["papers"])])
    assert result.exit_code == 0, result.output
    assert "papers: 4 read, 4 new" in result.stdout
    assert "users: 2 created (without passwords), 0 merged, 0 skipped" in result.stdout
    assert "1 not in this database" in result.stdout and "2999.99999" in result.stdout
    alice, bob = accounts.find_user("alice"), accounts.find_user("bob")
    assert alice.password_hash is None and bob.password_hash is None
    assert alice.email == "alice@example.org" and not alice.email_verified
    assert bob.email is None
    assert memberships("alice") == {
        ("bridges", "2403.01234", False),
        ("bridges", "2401.00001", False),
        ("strings", "hep-th/9901001", False),  # lite's "9901001" key mapped back
    }
    assert memberships("bob") == {("svm-kernels", "0911.4521", False)}  # '/' is not allowed
    assert "'svm/kernels' imported as 'svm-kernels'" in result.stderr
    assert tags.find_tag(bob, "missing") is not None  # the tag exists, its unknown paper not
    assert accounts.authenticate("alice", "") is None


def test_trust_emails_marks_addresses_verified(runner, lite):
    """--trust-emails counts lite's addresses as verified."""
    result = runner.invoke(args=["import-lite", str(lite["dict"]), "--trust-emails"])
    assert result.exit_code == 0, result.output
    assert accounts.find_user("alice").email_verified


def test_import_is_idempotent(runner, lite):
    """Running the import twice changes nothing the second time."""
    args = ["import-lite", str(lite["dict"]), "--papers", str(lite["papers"])]
    assert runner.invoke(args=args).exit_code == 0
    before = (count(User), count(Tag), count(TagPaper), count(Paper))
    again = runner.invoke(args=args)
    assert again.exit_code == 0, again.output
    assert "papers: 4 read, 0 new, 0 updated, 4 unchanged" in again.stdout
    assert "0 created (without passwords), 2 merged" in again.stdout
    assert "tags: 0 created; tagged papers: 0 added, 4 already there" in again.stdout
    assert (count(User), count(Tag), count(TagPaper), count(Paper)) == before


def test_without_papers_only_known_papers_are_tagged(runner, lite):
    """Without --papers, tags resolve against papers already here; the rest are counted."""
    make_paper(id="2401.00001")
    result = runner.invoke(args=["import-lite", str(lite["dict"])])
    assert result.exit_code == 0, result.output
    assert "1 added, 0 already there, 4 not in this database" in result.stdout
    assert memberships("alice") == {("bridges", "2401.00001", False)}


def test_existing_users_are_merged_not_replaced(runner, lite):
    """An account with the same name (any case) keeps its password and tags, and gains lite's."""
    make_paper(id="2403.01234")
    other = make_paper().id
    user = accounts.create_user("Alice", "alice password", "a@example.com", email_verified=True)
    tags.add_paper(user, "bridges", "2403.01234", negative=True)
    tags.add_paper(user, "mine", other)
    result = runner.invoke(args=["import-lite", str(lite["dict"])])
    assert result.exit_code == 0, result.output
    assert "1 created (without passwords), 1 merged" in result.stdout
    user = accounts.find_user("alice")
    assert accounts.authenticate("alice", "alice password") is not None
    assert user.email == "a@example.com"
    assert memberships("alice") == {("bridges", "2403.01234", True), ("mine", other, False)}


def test_unusable_usernames_are_skipped_with_a_message(runner, tmp_path):
    """A lite username our rules refuse is reported and skipped; the others are imported."""
    make_paper(id="2401.00001")
    lite_tags = {"bad name!": {"t": {"2401.00001"}}, "ok": {"t": {"2401.00001"}}}
    path = sqlitedict(tmp_path / "dict.db", "tags", lite_tags)
    result = runner.invoke(args=["import-lite", str(path)])
    assert result.exit_code == 0, result.output
    assert "skipped user 'bad name!'" in result.stderr
    assert "1 created (without passwords), 0 merged, 1 skipped" in result.stdout
    assert memberships("ok") == {("t", "2401.00001", False)}


def test_malicious_dict_db_is_refused_and_nothing_is_written(runner, tmp_path):
    """A dict.db holding a code-running pickle: exit 2, one line, no command run, no account."""
    marker = tmp_path / "pwned"
    path = sqlitedict(tmp_path / "dict.db", "tags", {"ok": {"t": set()}, "evil": Boom(marker)})
    result = runner.invoke(args=["import-lite", str(path)])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert "refusing to unpickle" in result.output and "evil" in result.output
    assert not marker.exists() and count(User) == 0


def test_malicious_papers_db_is_refused(runner, lite, tmp_path):
    """A papers.db holding a code-running pickle stops the import with exit 2."""
    marker = tmp_path / "pwned"
    sqlitedict(lite["papers"], "papers", {"2401.99999": Boom(marker)})
    result = runner.invoke(args=["import-lite", str(lite["dict"]), "--papers", str(lite["papers"])])
    assert result.exit_code == 2 and "refusing to unpickle" in result.output
    assert not marker.exists()


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_text("not a database, just text " * 100), "not a SQLite database"),
        (lambda p: sqlitedict(p, "papers", {}), "no 'tags' table"),
        (lambda p: sqlitedict(p, "tags", {"u": ["not", "a", "dict"]}), "not a mapping"),
        (lambda p: sqlitedict(p, "tags", {"u": {"t": {1, 2}}}), "other than paper ids"),
    ],
)
def test_bad_dict_db_is_one_line_and_exit_2(runner, tmp_path, setup, message):
    """Missing, non-SQLite, wrong and malformed files fail with one clear line, exit 2."""
    path = tmp_path / "dict.db"
    setup(path)
    result = runner.invoke(args=["import-lite", str(path)])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and message in result.output
    assert count(User) == 0


def test_corrupt_value_is_one_line_and_exit_2(runner, tmp_path):
    """A value that is not a zlib-compressed pickle fails clearly."""
    path = tmp_path / "dict.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE tags (key TEXT PRIMARY KEY, value BLOB)")
    conn.execute("INSERT INTO tags VALUES ('u', ?)", (b"\x78\x9c garbage",))
    conn.commit()
    conn.close()
    result = runner.invoke(args=["import-lite", str(path)])
    assert result.exit_code == 2 and "tags['u']" in result.output


def test_bad_papers_db_fails_before_anything_is_written(runner, lite, tmp_path):
    """A --papers file without a papers table: exit 2, and no account was created."""
    wrong = sqlitedict(tmp_path / "wrong.db", "tags", {})
    result = runner.invoke(args=["import-lite", str(lite["dict"]), "--papers", str(wrong)])
    assert result.exit_code == 2 and "no 'papers' table" in result.output
    assert count(User) == 0 and count(Paper) == 0


def test_malformed_lite_papers_are_counted_and_skipped(runner, lite):
    """A paper entry without dates is reported and skipped; the rest import."""
    sqlitedict(lite["papers"], "papers", {"2401.77777": {"id": "http://arxiv.org/abs/2401.77777v1",
                                                        "title": "No dates"}})  # fmt: skip
    result = runner.invoke(args=["import-lite", str(lite["dict"]), "--papers", str(lite["papers"])])
    assert result.exit_code == 0, result.output
    assert "papers: 5 read, 4 new, 0 updated, 0 unchanged, 1 malformed" in result.stdout
    assert "skipped paper 2401.77777" in result.stderr
