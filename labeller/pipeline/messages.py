"""What travels on the broker (ids and numbers) and what a labelled frame came to."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["FrameMessage", "Outcome", "OutcomeKind"]


@dataclass(frozen=True)
class FrameMessage:
    """A task message: ids and numbers only, never image bytes, never secrets."""

    job: str
    frame: int
    i_start: int
    i_end: int
    t_start_us: int
    t_end_us: int
    provider: str

    def as_kwargs(self) -> dict[str, Any]:
        # Spelled out: `dataclasses.asdict` deep-copies, and the feeder builds thousands a second.
        return {
            "job": self.job,
            "frame": self.frame,
            "i_start": self.i_start,
            "i_end": self.i_end,
            "t_start_us": self.t_start_us,
            "t_end_us": self.t_end_us,
            "provider": self.provider,
        }

    def describe(self) -> str:
        """How the task's kwargs read in Flower and logs: the ids a person looks for, as a
        Python literal (Flower parses it)."""
        return repr({"job": self.job, "frame": self.frame, "provider": self.provider})

    def routed_to(self, provider: str) -> FrameMessage:
        return FrameMessage(
            self.job, self.frame, self.i_start, self.i_end, self.t_start_us, self.t_end_us, provider
        )


class OutcomeKind(StrEnum):
    #: Captioned by a provider.
    done = "done"
    #: Captioned from the cache: an identical or near-identical frame's caption, at no cost.
    cached = "cached"
    #: Ended failed; the frame row says why.
    failed = "failed"
    #: Already done or validly leased elsewhere: acknowledged without a call.
    duplicate = "duplicate"
    #: Back to the feeder: `Outcome.message` (routed to its next provider) goes out again
    #: after `delay_s`.
    rerouted = "rerouted"
    #: The job reached its budget: the frame went back to pending and nothing was sent.
    paused = "paused"


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    #: rerouted: the message to publish again, routed to its next provider; done: the message
    #: as routed to the provider that captioned the frame; otherwise None.
    message: FrameMessage | None = None
    delay_s: float = 0.0
