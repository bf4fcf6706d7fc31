"""Where tests keep their databases: a copied SQLite file, or a PostgreSQL database cloned
from a migrated template.

`TEST_DATABASE_URL` (a PostgreSQL server's maintenance database, as printed by
`scripts/test-postgres.sh`) switches the whole suite to PostgreSQL; without it every test
runs on SQLite. Database names carry the process id, so runs can share one server.
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

SERVER_URL = os.environ.get("TEST_DATABASE_URL", "")
_numbers = itertools.count(1)


def on_postgres() -> bool:
    return SERVER_URL.startswith("postgresql")


def _admin(statement: str) -> None:
    engine = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def _postgres_url(name: str) -> str:
    return make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)


class TestDatabases:
    """Creates the migrated template once, then one fresh database per test."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, root: Path) -> None:
        self.root = root
        self.prefix = f"sv_{os.getpid()}"

    def template_url(self) -> str:
        if on_postgres():
            name = f"{self.prefix}_template"
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            _admin(f'CREATE DATABASE "{name}"')
            return _postgres_url(name)
        return f"sqlite:///{self.root / 'template.db'}"

    def empty_url(self, data_dir: Path) -> str:
        """A new, empty database, for an app that migrates it itself."""
        if on_postgres():
            name = f"{self.prefix}_{next(_numbers)}"
            _admin(f'CREATE DATABASE "{name}"')
            return _postgres_url(name)
        return f"sqlite:///{data_dir / 'supervision.db'}"

    def fresh_url(self, data_dir: Path) -> str:
        """A new database holding a copy of the template (which must have no connections)."""
        if on_postgres():
            name = f"{self.prefix}_{next(_numbers)}"
            _admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.prefix}_template"')
            return _postgres_url(name)
        target = data_dir / "supervision.db"
        shutil.copy(self.root / "template.db", target)
        return f"sqlite:///{target}"

    def drop(self, url: str) -> None:
        if on_postgres():
            _admin(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')

    def drop_template(self) -> None:
        if on_postgres():
            _admin(f'DROP DATABASE IF EXISTS "{self.prefix}_template" WITH (FORCE)')
