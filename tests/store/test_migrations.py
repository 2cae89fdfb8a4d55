"""The schema created by the migrations is the schema the code declares, on every backend."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from loopml.store.sql import Database
from loopml.store.sql.database import HEAD_REVISION
from loopml.store.sql.schema import metadata


def test_head_constant_matches_scripts() -> None:
    import loopml.store.sql.database as database

    config = Config()
    config.set_main_option(
        "script_location", str(__import__("pathlib").Path(database.__file__).parent.parent / "migrations")
    )
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_migrated_schema_matches_models(db_url: str) -> None:
    db = Database(db_url)
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert db.current_revision(conn) == HEAD_REVISION
    db.dispose()
    assert diff == []


def test_concurrent_first_use_migrates_once(db_url: str) -> None:
    errors: list[BaseException] = []

    def open_db() -> None:
        try:
            Database(db_url).dispose()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_db) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    db = Database(db_url)
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1
    db.dispose()
