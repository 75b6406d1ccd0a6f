"""Job lifecycle: plan frames, feed them to the broker, sweep, watch progress, requeue, export."""

from __future__ import annotations

from labeller.jobs.estimate import Estimate, ProviderEstimate, estimate_job
from labeller.jobs.export import (
    EXPORT_SUFFIXES,
    ExportResult,
    export_format,
    export_job,
    export_jsonl,
    export_rows,
)
from labeller.jobs.feeder import Feeder, FeedRound, publish_frames, queue_depth, run_feeder
from labeller.jobs.leader import Leadership
from labeller.jobs.pilot import Agreement, PilotReport, ProviderPilot, pilot_report
from labeller.jobs.pilot_plan import PilotPlan, create_pilot
from labeller.jobs.plan import create_job
from labeller.jobs.progress import Rates, rates, read_summary, wait_for_job
from labeller.jobs.publisher import Publisher
from labeller.jobs.requeue import requeue_failed, requeue_pending, requeue_stale
from labeller.jobs.sampling import percentiles, spread

__all__ = [
    "Estimate",
    "ProviderEstimate",
    "estimate_job",
    "Agreement",
    "PilotPlan",
    "PilotReport",
    "ProviderPilot",
    "create_pilot",
    "pilot_report",
    "FeedRound",
    "Feeder",
    "Leadership",
    "Publisher",
    "Rates",
    "create_job",
    "EXPORT_SUFFIXES",
    "ExportResult",
    "export_format",
    "export_job",
    "export_jsonl",
    "export_rows",
    "publish_frames",
    "queue_depth",
    "run_feeder",
    "rates",
    "read_summary",
    "requeue_failed",
    "requeue_pending",
    "requeue_stale",
    "wait_for_job",
    "percentiles",
    "spread",
]
