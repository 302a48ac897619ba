"""An API over a real SQLite journal with a few rows, and one key per role (plus a JWT secret)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import KEYS, SECRET, T0, fill
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tallyio.api.app import create_app
from tallyio.api.auth import ApiKey, KeyRing, hash_key
from tallyio.core.clock import FixedClock
from tallyio.journal import JournalStore


@pytest.fixture
def keys() -> KeyRing:
    return KeyRing(tuple(ApiKey(r.label, r, hash_key(k)) for r, k in KEYS.items()), SECRET)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[JournalStore]:
    clock = FixedClock(T0)
    with JournalStore(tmp_path / "journal.db", clock=clock) as store:
        fill(store, clock)
        yield store


@pytest.fixture
def app(journal: JournalStore, keys: KeyRing) -> FastAPI:
    return create_app(journal, keys)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c
