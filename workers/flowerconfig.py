"""Flower settings for labeller's workers: `labeller flower` passes this file as `--conf`.

Flower (tornado) executes the file and takes each top-level name that is one of its options, so
every other top-level name here starts with `_`. The command line wins over these values
(`labeller flower` sets `--max_tasks`). By hand:
`celery -A workers.app flower --conf=workers/flowerconfig.py`.
"""

from __future__ import annotations

import ast as _ast
from typing import Any as _Any

from workers.publisher import LABEL_FRAME as _LABEL_FRAME

#: The tasks page's columns, the frame each task captions right after its name.
tasks_columns = "name,kwargs,state,received,runtime,worker,uuid"


def format_task(task: _Any) -> _Any:
    """Show a label_frame task's kwargs as `job=3f2a9c1d0b7e, frame=7 → openai`.

    Workers report them as the dict literal `FrameMessage.describe()` writes, which Flower's
    search parses (`kwargs:provider=openai`) and its API returns; this changes only what the
    tasks page shows, on Flower's copy of the task. The page cuts a cell at 400 px (about 44
    characters), so the provider goes without its key: a 7-digit frame and a 9-letter provider
    still fit.
    """
    if task.name != _LABEL_FRAME or not isinstance(task.kwargs, str):
        return task
    try:
        kwargs = _ast.literal_eval(task.kwargs)
    except (ValueError, SyntaxError):  # not ours after all: shown as it came
        return task
    if isinstance(kwargs, dict) and {"job", "frame", "provider"} <= kwargs.keys():
        task.kwargs = f"job={kwargs['job']}, frame={kwargs['frame']} → {kwargs['provider']}"
    return task
