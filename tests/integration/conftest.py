"""Fixtures shared by the store tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store.engine import create_engine, migrate


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated store on the test's database (SQLite file or PostgreSQL), disposed after."""
    engine = create_engine(database_url)
    await migrate(engine)
    yield engine
    await engine.dispose()
