"""Write a job's captions for training: one JSON object per done frame, in frame order."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine

from labeller.errors import UserError
from labeller.store import iter_done_frames

__all__ = ["export_jsonl"]


def export_jsonl(engine: Engine, job_id: str, out: Path) -> int:
    """Write `out` atomically (a temporary file renamed into place); returns frames written."""
    if out.suffix != ".jsonl":
        raise UserError(f"{out}: only .jsonl export is supported")
    tmp = out.with_name(out.name + ".part")
    count = 0
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            for frame in iter_done_frames(engine, job_id):
                record = {
                    "job_id": job_id,
                    "frame": frame.index,
                    "t_start_us": frame.t_start_us,
                    "t_end_us": frame.t_end_us,
                    "provider": frame.provider,
                    "model": frame.model,
                    "caption": frame.caption,
                }
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"{out}: cannot write: {exc.strerror}") from exc
    return count
