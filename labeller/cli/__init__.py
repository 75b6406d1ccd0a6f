"""The `labeller` command: typer commands wiring the library to Celery; one-line user errors."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import typer

from labeller.cli._common import err_console
from labeller.cli.estimate import estimate
from labeller.cli.export import export
from labeller.cli.flower import flower
from labeller.cli.inspect import inspect
from labeller.cli.jobs import jobs, show
from labeller.cli.manage import (
    db_upgrade,
    requeue,
    resume,
    sample,
    simulate,
    status,
    worker,
)
from labeller.cli.operate import cancel, feed
from labeller.cli.pilot import pilot_report_command
from labeller.cli.report import report
from labeller.cli.run import demo, run
from labeller.errors import LabellerError, UserError

__all__ = ["app", "main"]

app = typer.Typer(
    name="labeller",
    help="Caption event-camera recordings with vision-language models on Celery workers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(inspect)
app.command()(estimate)
app.command()(run)
app.command("pilot-report")(pilot_report_command)
app.command()(demo)
app.command()(status)
app.command()(jobs)
app.command()(show)
app.command()(requeue)
app.command()(resume)
app.command()(cancel)
app.command()(export)
app.command()(report)
app.command()(sample)
app.command()(simulate)
app.command()(worker)
app.command()(feed)
app.command()(flower)
db = typer.Typer(help="Database schema.", no_args_is_help=True)
db.command("upgrade")(db_upgrade)
app.add_typer(db, name="db")


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so every started service is stopped."""
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    try:
        app()
    except UserError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except LabellerError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
