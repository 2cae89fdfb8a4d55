"""A SQLAlchemy engine with loopml's connection policy and automatic migrations.

SQLite runs in WAL mode with a busy timeout, and write transactions start with
``BEGIN IMMEDIATE`` so concurrent writers queue instead of failing on a lock upgrade.
Migrations run on first use under a lock (SQLite's write lock, a PostgreSQL advisory lock),
so many processes can open a fresh database at once. A database at a migration this code does not
know (written by a newer loopml) and an SQLite file that is not a database (or is damaged) are
refused with a :class:`~loopml.core.errors.StoreError` that says what to do.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError, OperationalError, ProgrammingError, SQLAlchemyError

from loopml.core.errors import InvalidInput, StoreError

HEAD_REVISION = "0016"
_WRITE = "loopml_write"
_MIGRATION_LOCK_KEY = 0x6C6F6F706D6C  # "loopml"
_FIRST_OPEN_SECONDS = 30.0
"""How long a first connection retries SQLite's immediate "database is locked"."""
_VERSIONS_DIR = Path(__file__).resolve().parent.parent / "migrations" / "versions"
_CORRUPT_MARKERS = ("file is not a database", "database disk image is malformed", "file is encrypted")


class Database:
    """One engine plus loopml's transaction helpers. Use :meth:`write` and :meth:`read`."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = _make_engine(url)
        self.dialect = self.engine.dialect.name
        if migrate:
            try:
                self.migrate()
            except BaseException:
                self.engine.dispose()  # no pooled connection outlives a database we refused
                raise

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a write transaction, committed on success, rolled back on error."""
        try:
            with self.engine.connect().execution_options(**{_WRITE: True}) as conn, conn.begin():
                yield conn
        except (OperationalError, ProgrammingError) as exc:
            raise self._corrupt(exc) or StoreError(f"Metadata store {self.safe_url} failed: {exc.orig}") from exc
        except DatabaseError as exc:  # IntegrityError stays as it is: the stores turn it into Conflict
            corrupt = self._corrupt(exc)
            if corrupt is None:
                raise
            raise corrupt from exc

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read-only transaction."""
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except (OperationalError, ProgrammingError) as exc:
            raise self._corrupt(exc) or StoreError(f"Metadata store {self.safe_url} failed: {exc.orig}") from exc
        except DatabaseError as exc:
            corrupt = self._corrupt(exc)
            if corrupt is None:
                raise
            raise corrupt from exc

    def _corrupt(self, exc: DatabaseError) -> StoreError | None:
        """A :class:`StoreError` saying what to do when ``exc`` means the SQLite file is damaged or foreign."""
        reason = str(exc.orig)
        if self.dialect != "sqlite" or not any(marker in reason for marker in _CORRUPT_MARKERS):
            return None
        return StoreError(
            f"The database file {self.engine.url.database} is corrupt or not a loopml database ({reason}): "
            "restore it from a backup, or point LOOPML_TRACKING_URI at another database."
        )

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    def current_revision(self, conn: Connection) -> str | None:
        """The Alembic revision the database is at, or ``None`` when it is empty."""
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()

    def migrate(self) -> None:
        """Bring the schema to the head revision, unless it is already there (the fast path)."""
        revision = self._first_read()
        if revision == HEAD_REVISION:
            return
        self._check_known(revision)
        with self.write() as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
            revision = self.current_revision(conn)
            if revision != HEAD_REVISION:
                self._check_known(revision)
                _run_alembic_upgrade(conn)

    def _first_read(self) -> str | None:
        """The revision, read on a first connection. SQLite may answer "database is locked" at once,
        without waiting out the busy timeout, while another process turns a new file into WAL mode or
        recovers its log: that is retried with backoff for up to :data:`_FIRST_OPEN_SECONDS`."""
        deadline = time.monotonic() + _FIRST_OPEN_SECONDS
        pause = 0.02
        while True:
            try:
                with self.engine.connect() as conn:
                    return self.current_revision(conn)
            except DatabaseError as exc:
                corrupt = self._corrupt(exc)
                if corrupt is None and not isinstance(exc, OperationalError):
                    raise
                locked = self.dialect == "sqlite" and "locked" in str(exc.orig)
                if corrupt is None and locked and time.monotonic() < deadline:
                    time.sleep(pause)
                    pause = min(pause * 2, 0.5)
                    continue
                raise corrupt or StoreError(f"Cannot open metadata store {self.safe_url}: {exc.orig}") from exc

    def _check_known(self, revision: str | None) -> None:
        """Refuse a database at a migration this code does not have (a newer loopml wrote it)."""
        if revision is None or revision in known_revisions():
            return
        if revision.isdigit() and HEAD_REVISION.isdigit() and int(revision) > int(HEAD_REVISION):
            raise StoreError(
                f"The database at {self.safe_url} is at migration {revision}, newer than this loopml "
                f"(its newest is {HEAD_REVISION}): a newer loopml wrote it. Upgrade loopml (pip install -U loopml)."
            )
        raise StoreError(
            f"The database at {self.safe_url} is at migration {revision!r}, which this loopml does not know (its "
            f"newest is {HEAD_REVISION}): it was written by another build of loopml. Use that build, upgrade "
            "loopml (pip install -U loopml), or restore the database from a backup."
        )

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


def known_revisions() -> set[str]:
    """The Alembic revisions this code ships (``0001_initial.py`` is revision ``0001``)."""
    return {path.name.split("_", 1)[0] for path in _VERSIONS_DIR.glob("[0-9]*_*.py")}


def _make_engine(url: str) -> Engine:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise InvalidInput(f"Invalid database URL {url!r}: {exc}") from exc
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 60, "check_same_thread": False}
        kwargs["pool_size"] = 8
        kwargs["max_overflow"] = 24
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["pool_size"] = 8
        kwargs["max_overflow"] = 24
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (ModuleNotFoundError, SQLAlchemyError) as exc:
        hint = " Install the driver: pip install 'loopml[postgres]'." if "postgres" in url else ""
        raise InvalidInput(f"Cannot use database URL {parsed!r}: {exc}.{hint}") from exc
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA case_sensitive_like=ON")  # LIKE behaves as on PostgreSQL
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _run_alembic_upgrade(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).resolve().parent.parent / "migrations"))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
