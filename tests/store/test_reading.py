"""Several reads through one connection: what a training partition does with the store."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from embaug_core.store import Store
from embaug_core.store import base as store_base


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "embaug.duckdb")
    with store.connect() as connection:  # made with its schema
        connection.execute("CREATE TABLE notes (n INTEGER)")
        connection.execute("INSERT INTO notes VALUES (1), (2)")
    return store


def counted_openings(monkeypatch) -> list[bool]:
    opened: list[bool] = []
    real = duckdb.connect

    def connect(path, read_only=False):
        opened.append(read_only)
        return real(path, read_only=read_only)

    monkeypatch.setattr(store_base.duckdb, "connect", connect)
    return opened


def test_reads_in_a_block_share_one_connection_from_any_store_on_the_file(store, monkeypatch):
    opened = counted_openings(monkeypatch)
    other = Store(store.path)  # what each resource call makes: a new object, the same file
    with store.reading():
        with other.reading():  # nested: still the one connection
            assert store.query("SELECT sum(n) AS s FROM notes")["s"].iloc[0] == 3
        assert len(other.query("SELECT * FROM notes")) == 2
    assert opened == [True]
    store.query("SELECT 1")  # after the block: a connection of its own again
    assert opened == [True, True]


def test_a_write_inside_a_reading_block_is_refused_and_the_block_is_released(store):
    with (
        pytest.raises(RuntimeError, match="write inside"),
        store.reading(),
        store.connect() as connection,
    ):
        connection.execute("INSERT INTO notes VALUES (3)")
    with store.connect() as connection:  # the reader was closed: writing works again
        connection.execute("INSERT INTO notes VALUES (3)")
    assert len(store.query("SELECT * FROM notes")) == 3
