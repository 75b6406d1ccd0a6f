"""The report's stylesheet, inlined in its `<head>`: system fonts only, nothing fetched."""

from __future__ import annotations

__all__ = ["CSS"]

CSS = """
:root {
  --ink: #1d2433; --muted: #5d6677; --line: #e3e7ee; --card: #ffffff; --page: #f4f6fa;
  --accent: #2f6fdb; --good: #1f8a4c; --bad: #d64545; --warn: #e8912d;
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--page); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
main { max-width: 1240px; margin: 0 auto; padding: 28px 28px 48px; }
header.top { display: flex; justify-content: space-between; align-items: flex-end; gap: 16px;
  flex-wrap: wrap; margin-bottom: 18px; }
h1 { font-size: 26px; margin: 0; letter-spacing: -0.01em; }
h1 .id { font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; color: var(--accent); }
h2 { font-size: 19px; margin: 34px 0 12px; letter-spacing: -0.01em; }
h3 { font-size: 14px; margin: 0 0 6px; color: var(--muted); font-weight: 600;
  text-transform: uppercase; letter-spacing: 0.04em; }
.sub { color: var(--muted); margin-top: 4px; word-break: break-all; }
.badge { display: inline-block; padding: 3px 12px; border-radius: 999px; font-weight: 600;
  font-size: 13px; background: #e8eefb; color: var(--accent); }
.badge.done { background: #e3f4ea; color: var(--good); }
.badge.failed, .badge.cancelled { background: #fbe6e6; color: var(--bad); }
.badge.paused { background: #fdf0df; color: #b36a12; }
.badge.sim { background: #efe8fa; color: #7040b0; margin-left: 6px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: 12px; }
.tile, .card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; }
.tile { padding: 14px 16px; }
.tile .label { color: var(--muted); font-size: 13px; }
.tile .value { font-size: 26px; font-weight: 650; margin-top: 2px;
  font-variant-numeric: tabular-nums; }
.tile .note { color: var(--muted); font-size: 13px; }
.tile.bad .value { color: var(--bad); }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 16px 2px 0;
  font-size: 14px; }
.meta dt { color: var(--muted); }
.meta dd { margin: 0; word-break: break-all; }
.chips { display: flex; flex-wrap: wrap; gap: 8px; }
.chip { display: inline-flex; align-items: center; gap: 6px; padding: 2px 10px;
  border: 1px solid var(--line); border-radius: 999px; background: var(--card); font-size: 13px; }
.swatch { width: 10px; height: 10px; border-radius: 3px; display: inline-block; flex: none; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 16px; }
.card { padding: 16px 18px 10px; }
.card p.why { margin: 0 0 8px; color: var(--muted); font-size: 13px; }
.legend { display: flex; gap: 14px; font-size: 13px; color: var(--muted); margin: 0 0 6px; }
.legend span { display: inline-flex; align-items: center; gap: 5px; }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart text { font-size: 12px; font-family: inherit; }
svg.chart text.axis { font-size: 12.5px; }
svg.chart text.cat { font-size: 13px; font-weight: 600; }
svg.chart text.val { font-size: 12.5px; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px;
  font-variant-numeric: tabular-nums; }
th, td { padding: 7px 9px; border-bottom: 1px solid var(--line); text-align: right;
  white-space: nowrap; }
th { color: var(--muted); font-weight: 600; font-size: 13px; background: #f8f9fc; }
th.l, td.l { text-align: left; }
td.err { white-space: normal; text-align: left; font-family: ui-monospace, Menlo, Consolas,
  monospace; font-size: 13px; word-break: break-word; }
tr.total td { font-weight: 650; border-top: 2px solid var(--line); }
.scroll { overflow-x: auto; }
.ok { color: var(--good); font-weight: 600; margin: 6px 0; }
.note { color: var(--muted); }
.notice { background: #fff8ec; border: 1px solid #f3d7a8; color: #7a4b0b; padding: 12px 16px;
  border-radius: 10px; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(270px, 1fr)); gap: 16px; }
figure.frame { margin: 0; background: var(--card); border: 1px solid var(--line);
  border-radius: 10px; overflow: hidden; display: flex; flex-direction: column; }
figure.frame img { width: 100%; height: auto; display: block; background: #10101a;
  image-rendering: auto; }
figure.frame .missing { aspect-ratio: 4 / 3; display: flex; align-items: center;
  justify-content: center; background: #eceff4; color: var(--muted); padding: 12px;
  font-size: 13px; text-align: center; }
figcaption { padding: 10px 12px 12px; }
figcaption .where { font-size: 12.5px; color: var(--muted); display: flex; gap: 6px;
  align-items: center; justify-content: space-between; flex-wrap: wrap; }
figcaption .by { display: inline-flex; align-items: center; gap: 5px; white-space: nowrap; }
figcaption .caption { margin: 6px 0 0; font-size: 14px; }
details { margin-top: 14px; font-size: 14px; }
details summary { cursor: pointer; color: var(--muted); }
pre.prompt { white-space: pre-wrap; background: var(--card); border: 1px solid var(--line);
  border-radius: 8px; padding: 10px 12px; font-size: 13px; }
footer { margin-top: 40px; color: var(--muted); font-size: 13px; text-align: center; }
"""
