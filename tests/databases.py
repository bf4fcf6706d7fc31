"""Where tests keep their databases: a copied SQLite file, or a PostgreSQL database cloned
from a migrated template.

`TEST_DATABASE_URL` (a PostgreSQL server's maintenance database, as set by
`scripts/with-test-postgres.sh`) switches the whole suite to PostgreSQL; without it every test
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


def _admin(statement: str, server_url: str = "") -> None:
    engine = create_engine(server_url or SERVER_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def create_postgres_database(server_url: str, name: str, template: str = "") -> str:
    """Create database `name` on the server (a copy of `template` if given); its URL."""
    copy = f' TEMPLATE "{template}"' if template else ""
    _admin(f'CREATE DATABASE "{name}"{copy}', server_url)
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


class TestDatabases:
    """Creates the migrated template once, then one fresh database per test."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, root: Path) -> None:
        self.root = root
        self.prefix = f"sv_{os.getpid()}"

    def template_url(self) -> str:
        if on_postgres():
            _admin(f'DROP DATABASE IF EXISTS "{self._template}" WITH (FORCE)')
            return create_postgres_database(SERVER_URL, self._template)
        return f"sqlite:///{self.root / 'template.db'}"

    def empty_url(self, data_dir: Path) -> str:
        """A new, empty database, for an app that migrates it itself."""
        if on_postgres():
            return create_postgres_database(SERVER_URL, self._next_name())
        return f"sqlite:///{data_dir / 'supervision.db'}"

    def fresh_url(self, data_dir: Path) -> str:
        """A new database holding a copy of the template (which must have no connections)."""
        if on_postgres():
            return create_postgres_database(SERVER_URL, self._next_name(), self._template)
        target = data_dir / "supervision.db"
        shutil.copy(self.root / "template.db", target)
        return f"sqlite:///{target}"

    @property
    def _template(self) -> str:
        return f"{self.prefix}_template"

    def _next_name(self) -> str:
        return f"{self.prefix}_{next(_numbers)}"

    def drop(self, url: str) -> None:
        if on_postgres():
            _admin(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')

    def drop_template(self) -> None:
        if on_postgres():
            _admin(f'DROP DATABASE IF EXISTS "{self._template}" WITH (FORCE)')
