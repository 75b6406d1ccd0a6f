"""The report as one HTML page: header, progress, providers, failures, gallery.

Every text from the database or the settings passes through `escape`; the page has no script
and no URL but `data:` ones, so it opens offline and can be mailed or archived as is.
"""

from __future__ import annotations

from html import escape

from labeller.report.charts import (
    CACHE,
    DONE_COLOR,
    FAILED_COLOR,
    FALLBACK_COLOR,
    LIMITED_COLOR,
    draw_charts,
    provider_colors,
)
from labeller.report.data import ReportData
from labeller.report.format import binning_text, duration, instant, money, percent
from labeller.report.gallery import Gallery, GalleryItem
from labeller.report.style import CSS

__all__ = ["render_page"]


def _swatch(color: str) -> str:
    return f'<span class="swatch" style="background:{color}"></span>'


def _tile(label: str, value: str, note: str = "", cls: str = "") -> str:
    return (
        f'<div class="tile {cls}"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(value)}</div><div class="note">{escape(note)}</div></div>'
    )


def _header(data: ReportData, colors: dict[str, str]) -> str:
    job, s = data.job, data.summary
    per_s = s.finished / data.duration_s if data.duration_s > 0 else 0.0
    spend = sum(p.cost_usd for p in data.providers)
    calls = sum(p.calls for p in data.providers)
    limited = sum(p.rate_limited for p in data.providers)
    sim = '<span class="badge sim">simulated</span>' if job.simulated else ""
    chips = "".join(
        f'<span class="chip" data-provider="{escape(p.name)}">{_swatch(colors[p.name])}'
        f"<b>{escape(p.name)}</b> {escape(p.model)}</span>"
        for p in data.providers
        if p.name != CACHE
    )
    spec = data.spec
    render = f"{spec.render.mode}, {spec.render.encoding}"
    meta = [
        ("started", instant(job.created_at)),
        ("finished", instant(job.finished_at)),
        ("frames", escape(binning_text(spec.binning))),
        ("rendering", escape(render)),
        ("providers", f'<div class="chips">{chips}</div>'),
    ]
    rows = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in meta)
    tiles = "".join(
        [
            _tile("Frames done", f"{s.done:,}",
                  f"of {s.frame_count:,} ({percent(s.done, s.frame_count)})"),
            _tile("Failed", f"{s.failed:,}", f"{s.skipped:,} skipped" if s.skipped else "",
                  "bad" if s.failed else ""),
            _tile("Spend", money(spend),
                  "list prices, simulated" if job.simulated else "every call"),
            _tile("Duration", duration(data.duration_s), f"{per_s:,.1f} frames/s on average"),
            _tile("Provider calls", f"{calls:,}", f"{limited:,} answered 429"),
        ]
    )  # fmt: skip
    return (
        f'<header class="top"><div><h1>Labelling report · <span class="id">{escape(job.id)}</span>'
        f'</h1><div class="sub">{escape(job.recording)}</div></div><div>'
        f'<span class="badge {escape(job.state)}" data-state="{escape(job.state)}">'
        f"{escape(job.state)}</span>{sim}</div></header>"
        f'<section class="tiles">{tiles}</section><dl class="meta">{rows}</dl>'
        f'<details><summary>Prompt</summary><pre class="prompt">{escape(spec.prompt)}</pre>'
        "</details>"
    )


def _card(title: str, why: str, svg: str, legend: str = "") -> str:
    return f'<div class="card"><h3>{title}</h3><p class="why">{why}</p>{legend}{svg}</div>'


def _legend(items: list[tuple[str, str]]) -> str:
    spans = "".join(f"<span>{_swatch(c)}{escape(label)}</span>" for label, c in items)
    return f'<div class="legend">{spans}</div>'


#: The provider table's columns, each with the tooltip that says what it counts.
_COLUMNS = (
    ("provider", "as named in the settings"),
    ("model", "the model the provider was asked for"),
    ("frames", "frames this provider captioned"),
    ("share", "of all captioned frames"),
    ("calls", "every call made to this provider"),
    ("429", "calls answered 429 (rate limited)"),
    ("errors", "failed calls other than 429: overloaded, 5xx, timeouts, refused"),
    ("fallbacks", "done frames first sent here and captioned by another provider"),
    ("p50 ms", "median latency of successful calls"),
    ("p90 ms", "90th percentile latency of successful calls"),
    ("p99 ms", "99th percentile latency of successful calls"),
    ("tokens in / out", "prompt and completion tokens billed"),
    ("cost", "every call's cost, failed calls included"),
    ("per frame", "cost divided by the frames captioned"),
)


def _provider_table(data: ReportData, colors: dict[str, str]) -> str:
    head = (
        "<tr>"
        + "".join(
            f'<th class="{"l" if i < 2 else ""}" title="{escape(why)}">{name}</th>'
            for i, (name, why) in enumerate(_COLUMNS)
        )
        + "</tr>"
    )
    done = sum(p.frames_done for p in data.providers)
    rows = []
    for p in data.providers:
        lat = p.latency
        cells = [
            f'<td class="l">{_swatch(colors[p.name])} {escape(p.name)}</td>',
            f'<td class="l">{escape(p.model) if p.name != CACHE else "reused captions"}</td>',
            *(
                f"<td>{v}</td>"
                for v in (
                    f"{p.frames_done:,}",
                    percent(p.frames_done, done),
                    f"{p.calls:,}",
                    f"{p.rate_limited:,}",
                    f"{p.other_errors:,}",
                    f"{p.fallbacks:,}",
                    f"{lat.p50:,.0f}" if lat else "—",
                    f"{lat.p90:,.0f}" if lat else "—",
                    f"{lat.p99:,.0f}" if lat else "—",
                    f"{p.prompt_tokens:,} / {p.completion_tokens:,}",
                    money(p.cost_usd),
                    money(p.cost_usd / p.frames_done) if p.frames_done else "—",
                )
            ),
        ]
        rows.append(f'<tr data-provider="{escape(p.name)}">{"".join(cells)}</tr>')
    return f'<div class="card scroll"><table>{head}{"".join(rows)}</table></div>'


def _failures(data: ReportData) -> str:
    if not data.failures:
        return '<p class="ok">No frame failed.</p>'
    rows = "".join(
        f'<tr><td class="err">{escape(g.error)}</td><td>{g.count:,}</td>'
        f'<td class="l">{", ".join(str(i) for i in g.examples)}'
        f"{' …' if g.count > len(g.examples) else ''}</td></tr>"
        for g in data.failures
    )
    shown = sum(g.count for g in data.failures)
    more = data.summary.failed - shown
    tail = f'<p class="note">and {more:,} more failed frames with rarer errors</p>' if more else ""
    return (
        '<div class="card scroll"><table><tr><th class="l">error</th><th>frames</th>'
        f'<th class="l">example frames</th></tr>{rows}</table>{tail}</div>'
    )


def _figure(item: GalleryItem, origin_us: int, colors: dict[str, str]) -> str:
    f = item.frame
    t0, t1 = (f.t_start_us - origin_us) / 1e6, (f.t_end_us - origin_us) / 1e6
    if item.image_uri is not None:
        picture = f'<img src="{item.image_uri}" alt="pseudo-frame {f.index}">'
    elif item.error is not None:
        picture = f'<div class="missing">{escape(item.error)}</div>'
    else:
        picture = ""
    color = colors.get(f.provider, "#9aa3b2")
    return (
        f'<figure class="frame" data-frame="{f.index}">{picture}<figcaption>'
        f'<div class="where"><span><b>frame {f.index}</b> · {t0:.3f}–{t1:.3f} s</span>'
        f'<span class="by">{_swatch(color)}{escape(f.provider)}</span></div>'
        f'<p class="caption">{escape(f.caption)}</p></figcaption></figure>'
    )


def _gallery(gallery: Gallery, colors: dict[str, str]) -> str:
    note = f'<p class="notice">{escape(gallery.note)}</p>' if gallery.note else ""
    figures = "".join(_figure(i, gallery.origin_us, colors) for i in gallery.items)
    return f'{note}<div class="gallery">{figures}</div>'


def _count_note(sample: int) -> str:
    return f' <span class="note">({sample} spread over the job)</span>' if sample else ""


def render_page(data: ReportData, gallery: Gallery, *, version: str) -> str:
    """The whole self-contained HTML document."""
    colors = provider_colors([p.name for p in data.providers])
    charts = draw_charts(data, colors)
    provider_legend = _legend([(p.name, colors[p.name]) for p in data.providers])
    limit_legend = _legend([("429 answers", LIMITED_COLOR), ("frames handed on", FALLBACK_COLOR)])
    progress = (
        _card("Progress", "Frames ended since the job started.", charts["progress"],
              _legend([("done", DONE_COLOR)]
                      + ([("failed", FAILED_COLOR)] if data.summary.failed else [])))
        + _card("Throughput", "Frames captioned per second, by the provider that captioned them.",
                charts["throughput"], provider_legend)
    )  # fmt: skip
    providers = (
        _card("Share", "Frames each provider captioned.", charts["share"])
        + _card("Latency", "Successful calls: box from p25 to p75, line at the median, "
                "whiskers p5 to p95.", charts["latency"])
        + _card("429s and fallbacks", "Calls answered 429, and done frames whose first call "
                "went to the provider but another one captioned them.", charts["limits"],
                limit_legend)
        + _card("Cost", "Every call's cost, failed calls included.", charts["cost"])
    )  # fmt: skip
    sample = len(gallery.items)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>labeller report · job {escape(data.job.id)}</title><style>{CSS}</style></head>"
        f"<body><main>{_header(data, colors)}"
        f'<h2>Progress and throughput</h2><section class="grid">{progress}</section>'
        f'<h2>Providers</h2><section class="grid">{providers}</section>'
        f'<section style="margin-top:16px">{_provider_table(data, colors)}</section>'
        f'<h2>Failures</h2><section id="failures">{_failures(data)}</section>'
        f"<h2>Sample frames{_count_note(sample)}</h2>"
        f'<section id="gallery">{_gallery(gallery, colors)}</section>'
        f"<footer>Made by labeller {escape(version)} on {instant(data.now)} · one file: "
        "no scripts, nothing fetched</footer></main></body></html>"
    )
