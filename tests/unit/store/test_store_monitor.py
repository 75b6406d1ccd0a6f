"""The views' read-only questions on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from labeller.store import frame_detail


@pytest.mark.parametrize("index", [-1, 2**31, 2**63, 10**20])
def test_an_index_no_frame_can_have_is_no_frame_not_a_database_error(
    engine: Engine, index: int
) -> None:
    """`labeller show JOB 99999999999999999999` once failed with SQLite's OverflowError, and
    2**31 with PostgreSQL's `integer out of range`."""
    assert frame_detail(engine, "some-job", index) is None
