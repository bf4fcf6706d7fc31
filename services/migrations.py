"""Bring the database schema to the latest migration."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command

ROOT = Path(__file__).resolve().parent.parent


def alembic_config() -> Config:
    return Config(str(ROOT / "alembic.ini"))


def upgrade_database() -> None:
    """Create or upgrade the database to head; safe to call at every start."""
    command.upgrade(alembic_config(), "head")


def downgrade_database(revision: str = "base") -> None:
    command.downgrade(alembic_config(), revision)
