"""Migrations form one line: every revision has one parent, so `flask db upgrade` and a
downgrade to any revision are unambiguous, and a branch added in parallel fails here first."""
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from escrow.migrate import alembic_config, downgrade, upgrade


def scripts():
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def test_the_migrations_have_exactly_one_head_and_one_base():
    assert len(scripts().get_heads()) == 1, scripts().get_heads()
    assert len(scripts().get_bases()) == 1


def test_every_revision_has_one_parent_and_at_most_one_child():
    for revision in scripts().walk_revisions():
        assert not isinstance(revision.down_revision, (tuple, list)), revision.revision
        assert len(revision.nextrev) <= 1, (revision.revision, revision.nextrev)


def test_a_fresh_database_upgrades_to_head_downgrades_to_base_and_upgrades_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'zemi.db'}"
    upgrade(url)
    tables = set(inspect(create_engine(url)).get_table_names())
    downgrade(url, "base")
    assert set(inspect(create_engine(url)).get_table_names()) <= {"alembic_version"}
    upgrade(url)
    assert set(inspect(create_engine(url)).get_table_names()) == tables
