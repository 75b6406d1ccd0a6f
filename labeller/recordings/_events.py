"""A slice of a recording's events as column arrays, the currency between recordings and frames.

Columns share one length and order (sorted by time); timestamps are absolute epoch µs so a window
planned on one node means the same instant when a worker on another node reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Events"]


@dataclass(frozen=True, eq=False)
class Events:
    """Events `[i0, i1)` of a recording: pixel column, row, polarity (1 = ON) and time (µs).

    `eq=False`: comparing arrays has no single truth value, so identity equality is kept.
    """

    x: NDArray[np.uint16]
    y: NDArray[np.uint16]
    p: NDArray[np.uint8]
    t_us: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.t_us.shape[0])
