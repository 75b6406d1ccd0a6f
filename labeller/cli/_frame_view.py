"""How `labeller jobs` and `labeller show` look: the job list, a frame and its attempts, and
the pseudo-frame redrawn from the recording."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from rich import box
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from labeller.config import JobSpec
from labeller.errors import UserError
from labeller.files import check_output, write_atomically
from labeller.frames import encode_for_request, image_digest, render_window
from labeller.pipeline import cache_key, frame_prompt
from labeller.recordings import open_recording
from labeller.report import instant
from labeller.store import Attempt, Frame, FrameDetail, Job, JobListing

__all__ = [
    "WrittenImage",
    "frame_json",
    "frame_panel",
    "jobs_json",
    "jobs_table",
    "write_pseudo_frame",
]

#: Colour of each frame or job state, and of each attempt status.
_STYLES = {
    "done": "green",
    "ok": "green",
    "failed": "red",
    "running": "cyan",
    "planning": "cyan",
    "paused": "yellow",
    "cancelled": "dim",
    "skipped": "dim",
    "rate_limited": "yellow",
}


def _styled(value: str) -> Text:
    return Text(value, style=_STYLES.get(value, ""))


def jobs_table(listed: list[JobListing]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("job", no_wrap=True)
    table.add_column("recording", overflow="fold", max_width=28)
    table.add_column("state", no_wrap=True)
    table.add_column("created UTC", no_wrap=True)
    table.add_column("done", justify="right", no_wrap=True)
    table.add_column("failed", justify="right", no_wrap=True)
    table.add_column("USD", justify="right", no_wrap=True)
    simulated = False
    for job in listed:
        name = Path(job.recording).name
        if job.kind != "full":
            name += f" ({job.kind})"
        state = _styled(job.state)
        cost = f"{job.cost_usd:.4f}"
        if job.simulated:
            cost += "*"
            simulated = True
        table.add_row(
            job.job_id,
            name,
            state,
            instant(job.created_at, seconds=False, zone=False),
            f"{job.done}/{job.frame_count}",
            Text(str(job.failed), style="red" if job.failed else ""),
            cost,
        )
    if simulated:
        table.caption = "* simulated: captions are synthetic, costs at list prices"
        table.caption_justify = "left"
    return table


def jobs_json(listed: list[JobListing]) -> list[dict[str, Any]]:
    return [
        {
            "job_id": job.job_id,
            "recording": job.recording,
            "kind": job.kind,
            "state": job.state,
            "simulated": job.simulated,
            "created_at": job.created_at,
            "finished_at": job.finished_at,
            "frames": job.frame_count,
            "counts": job.counts,
            "cost_usd": round(job.cost_usd, 6),
        }
        for job in listed
    ]


def _lease(frame: Frame, now: float) -> str:
    if frame.lease_owner is None or frame.lease_until is None:
        return "none"
    left = frame.lease_until - now
    when = f"expires in {left:.0f} s" if left >= 0 else f"expired {-left:.0f} s ago"
    return f"{frame.lease_owner}, {when}"


def _frame_facts(job: Job, detail: FrameDetail, now: float) -> Table:
    frame = detail.frame
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    start_s = (frame.t_start_us - detail.origin_us) / 1e6
    end_s = (frame.t_end_us - detail.origin_us) / 1e6
    facts.add_row(
        "window",
        f"{start_s:.3f} to {end_s:.3f} s into the job ({(end_s - start_s) * 1000:g} ms; "
        f"file time {frame.t_start_us:,} µs)",
    )
    facts.add_row(
        "events", f"{frame.i_start:,} to {frame.i_end:,} ({frame.i_end - frame.i_start:,})"
    )
    state = _styled(frame.state)
    if frame.state == "done" and frame.cached_from_job is not None:
        state.append(f", from the cache ({frame.model or 'unknown model'})", style="")
    elif frame.state == "done":
        model = f" ({frame.model})" if frame.model else ""
        state.append(f" by {frame.provider}{model}", style="")
    elif frame.state in ("pending", "queued", "running"):
        state.append(f" on {frame.provider}", style="")
    facts.add_row("state", state)
    if frame.cached_from_job is not None:
        facts.add_row(
            "cached",
            f"caption reused from job {frame.cached_from_job} frame {frame.cached_from_frame}",
        )
    if frame.caption is not None:
        facts.add_row("caption", Text(frame.caption))
    if frame.error is not None:
        facts.add_row("error", Text(frame.error, style="red"))
    facts.add_row(
        "attempts", f"{frame.attempts} of at most {_max_attempts(job)} (429s not counted)"
    )
    facts.add_row("lease", _lease(frame, now))
    if frame.not_before is not None and frame.state == "pending" and frame.not_before > now:
        facts.add_row("waiting", f"not sent again for {frame.not_before - now:.0f} s (rate limit)")
    facts.add_row("updated", instant(frame.updated_at))
    if frame.finished_at is not None:
        facts.add_row("finished", instant(frame.finished_at))
    return facts


def _max_attempts(job: Job) -> int:
    return JobSpec.model_validate_json(job.spec).max_attempts


def _attempts_table(job: Job, attempts: list[Attempt]) -> Table:
    """Calls in the order they were made; their errors are listed under the table, by #."""
    table = Table(
        title=f"{len(attempts)} provider call(s), in order (tokens: in/out)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        show_footer=len(attempts) > 1,
    )
    tokens_in = sum(a.prompt_tokens for a in attempts)
    tokens_out = sum(a.completion_tokens for a in attempts)
    cost = sum(a.cost_usd for a in attempts)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("at", justify="right", no_wrap=True)
    table.add_column("provider", no_wrap=True, footer="total")
    table.add_column("key", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("ms", justify="right", no_wrap=True)
    table.add_column(
        "tokens", justify="right", no_wrap=True, footer=f"{tokens_in:,}/{tokens_out:,}"
    )
    table.add_column("USD", justify="right", no_wrap=True, footer=f"{cost:.6f}")
    for n, attempt in enumerate(attempts, 1):
        table.add_row(
            str(n),
            f"{attempt.started_at - job.created_at:.1f}s",
            attempt.provider,
            attempt.key_alias or "-",
            _styled(attempt.status),
            f"{attempt.latency_ms:.0f}",
            f"{attempt.prompt_tokens:,}/{attempt.completion_tokens:,}",
            f"{attempt.cost_usd:.6f}",
        )
    return table


def _attempt_errors(attempts: list[Attempt]) -> Table:
    notes = Table.grid(padding=(0, 1))
    notes.add_column(no_wrap=True, style="red")
    notes.add_column(overflow="fold")
    for n, attempt in enumerate(attempts, 1):
        if attempt.error:
            notes.add_row(f"#{n}", attempt.error)
    return notes


def frame_panel(job: Job, detail: FrameDetail, now: float) -> RenderableType:
    frame = detail.frame
    title = Text.from_markup(
        f"[bold]job {escape(job.id)} frame {frame.index}[/] of {job.frame_count} "
        f"({escape(Path(job.recording).name)})"
    )
    parts: list[RenderableType] = [title, _frame_facts(job, detail, now)]
    if detail.attempts:
        parts += ["", _attempts_table(job, detail.attempts)]
        if any(a.error for a in detail.attempts):
            parts.append(_attempt_errors(detail.attempts))
    else:
        parts += ["", Text("no provider call was made for this frame", style="dim")]
    return Group(*parts)


def _attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "provider": attempt.provider,
        "key_alias": attempt.key_alias,
        "model": attempt.model,
        "status": attempt.status,
        "http_status": attempt.http_status,
        "latency_ms": round(attempt.latency_ms, 3),
        "prompt_tokens": attempt.prompt_tokens,
        "completion_tokens": attempt.completion_tokens,
        "cost_usd": attempt.cost_usd,
        "error": attempt.error,
        "worker": attempt.worker,
        "started_at": attempt.started_at,
    }


def frame_json(job: Job, detail: FrameDetail, image: WrittenImage | None) -> dict[str, Any]:
    frame = detail.frame
    out: dict[str, Any] = {
        "job_id": job.id,
        "recording": job.recording,
        "frame": frame.index,
        "t_start_us": frame.t_start_us,
        "t_end_us": frame.t_end_us,
        "i_start": frame.i_start,
        "i_end": frame.i_end,
        "state": frame.state,
        "provider": frame.provider,
        "model": frame.model,
        "caption": frame.caption,
        "error": frame.error,
        "attempt_count": frame.attempts,
        "prompt_tokens": frame.prompt_tokens,
        "completion_tokens": frame.completion_tokens,
        "cost_usd": frame.cost_usd,
        "lease_owner": frame.lease_owner,
        "lease_until": frame.lease_until,
        "not_before": frame.not_before,
        "updated_at": frame.updated_at,
        "finished_at": frame.finished_at,
        "cached_from": (
            None
            if frame.cached_from_job is None
            else {"job_id": frame.cached_from_job, "frame": frame.cached_from_frame}
        ),
        "attempts": [_attempt_json(a) for a in detail.attempts],
    }
    if image is not None:
        out["image"] = {
            "path": str(image.path),
            "width": image.width,
            "height": image.height,
            "matches_captioned": image.matches,
        }
    return out


@dataclass(frozen=True)
class WrittenImage:
    path: Path
    width: int
    height: int
    #: Whether its digest equals the one the worker stored; None if none was stored.
    matches: bool | None

    def describe(self) -> str:
        line = f"wrote {self.path} ({self.width}x{self.height})"
        if self.matches is True:
            return line + ": the image that was captioned (same digest)"
        if self.matches is False:
            return (
                line + ": WARNING: it differs from the image that was captioned (digest "
                "mismatch): the recording or the renderer changed since"
            )
        return line


#: Extensions `--image` writes, and the encoding whose bytes go into them unchanged.
_IMAGE_SUFFIXES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg"}


def write_pseudo_frame(
    job_id: str, spec: JobSpec, frame: Frame, out: Path, moved_to: Path | None
) -> WrittenImage:
    """Render the frame again as its worker did and write it to `out`, whole or not at all.

    The bytes are the ones sent to the provider when `out`'s type is the job's encoding; a
    JPEG job written as .png is the decoded JPEG, losslessly. Raises UserError naming the
    recording or the file; a file that cannot be written is refused before rendering.
    """
    wanted = _IMAGE_SUFFIXES.get(out.suffix.lower())
    if wanted is None:
        raise UserError(f"--image {out}: name a .png file (or .jpg/.jpeg for a JPEG job)")
    if wanted == "jpeg" and spec.render.encoding != "jpeg":
        raise UserError(f"--image {out}: job {job_id} sent PNG images; name a .png file")
    target = check_output(out)
    path = moved_to if moved_to is not None else Path(spec.recording)
    if moved_to is not None and not moved_to.exists():
        raise UserError(f"--recording {moved_to}: no such file")
    if not path.exists():
        raise UserError(
            f"job {job_id}'s recording {path} is gone; pass --recording NEW_PATH if it moved"
        )
    with open_recording(path, spec.recording_options) as recording:
        image = render_window(recording, frame.i_start, frame.i_end, frame.t_end_us, spec.render)
        prompt = frame_prompt(
            spec,
            window=frame.index if frame.full_index is None else frame.full_index,
            t_start_us=frame.t_start_us,
            t_end_us=frame.t_end_us,
            event_count=frame.i_end - frame.i_start,
            origin_us=recording.t_start_us,
            width=recording.width,
            height=recording.height,
        )
    encoded = encode_for_request(image, spec.render)
    data = encoded.data
    if wanted != spec.render.encoding:
        buffer = io.BytesIO()
        Image.open(io.BytesIO(encoded.data)).save(buffer, format="PNG")
        data = buffer.getvalue()
    write_atomically(target, data)
    matches = _matches(spec, frame, encoded.data, prompt)
    return WrittenImage(target, encoded.width, encoded.height, matches)


def _matches(spec: JobSpec, frame: Frame, data: bytes, prompt: str) -> bool | None:
    """Whether `data` is the image the worker hashed, asked with `prompt` (the worker folds a
    filled template into the stored key, so the same key function is applied); None when no
    hash was stored (cache off)."""
    if frame.image_hash is None:
        return None
    return cache_key(spec, image_digest(data), prompt) == frame.image_hash
