"""A job row for the report's unit tests, which then write the frames and attempts they need."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from labeller.config import JobSpec, Settings
from labeller.store import Job

#: `add_job(engine, providers, frame_count=, created_at=)`: job `j1`, running, whose spec routes
#: to `providers` (name: model, the name also the kind) and names a recording that does not
#: exist (`gone.h5`); returns its spec.
AddJob = Callable[..., JobSpec]


@pytest.fixture
def add_job(tmp_path: Path) -> AddJob:
    def add(
        engine: Engine, providers: dict[str, str], *, frame_count: int, created_at: float
    ) -> JobSpec:
        settings = Settings.model_validate(
            {"providers": [{"name": n, "kind": n, "model": m} for n, m in providers.items()]}
        )
        spec = JobSpec.from_settings(settings, recording=str(tmp_path / "gone.h5"), simulated=True)
        with engine.begin() as conn:
            conn.execute(
                insert(Job),
                [
                    {
                        "id": "j1",
                        "recording": spec.recording,
                        "spec": spec.model_dump_json(),
                        "state": "running",
                        "frame_count": frame_count,
                        "created_at": created_at,
                    }
                ],
            )
        return spec

    return add
