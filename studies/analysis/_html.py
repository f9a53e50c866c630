"""The report as one HTML page: a table of contents, each section's paragraphs, tables and plotly
figures, and plotly.js inlined (opens offline) or loaded from its CDN."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from studies.analysis._collect import AnalysisError
from studies.analysis._format import nowrap_numbers, round_floats, table_html

if TYPE_CHECKING:
    from studies.analysis._report import Report

CSS = """
:root{--muted:#666;--line:#e3e3e3}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem auto;\
max-width:1320px;color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.3rem}\
h2{font-size:1.25rem;border-bottom:1px solid var(--line);padding-bottom:.2rem;margin-top:2.2rem}
p{line-height:1.45;max-width:80rem}nav.toc{font-size:.85rem;color:var(--muted);line-height:1.7}
nav.toc a{color:#1f5fa8;text-decoration:none;margin-right:.9rem;white-space:nowrap}
section.verdict{background:#f6f8fb;border:1px solid #d8e0ea;border-radius:6px;padding:.2rem 1rem .6rem}
section.verdict p{font-size:1.02rem}
.table-wrap{overflow-x:auto;max-width:100%;margin:.6rem 0}
table{border-collapse:collapse;font-size:.85rem;font-variant-numeric:tabular-nums}
th,td{border:1px solid var(--line);padding:.25rem .5rem;text-align:right;vertical-align:top}
th{background:#f4f4f4;position:sticky;top:0;vertical-align:bottom}th.left{text-align:left}
th[title]{cursor:help;text-decoration:underline dotted}
td:first-child,th:first-child{text-align:left}td{white-space:nowrap}td.label,td.verdict{white-space:normal}
td.label{text-align:left;max-width:28rem}.nw{white-space:nowrap}
p.dash{font-size:.8rem;color:var(--muted);margin:.1rem 0 .4rem}
details.more,details.fold{margin:.4rem 0 .8rem}details.more>summary,details.fold>summary{cursor:pointer;color:#1f5fa8}
details.more>summary{font-size:.85rem}details.fold{border-left:3px solid var(--line);padding-left:.8rem}
td.verdict{text-align:left;min-width:5.5rem;max-width:14rem;font-weight:600}td.text{text-align:left}
td.good{color:#1a7f37}td.bad{color:#c62828}
td.same{color:#555}td.undecided{color:#8a6d00;font-weight:400}
details.columns{font-size:.8rem;color:var(--muted);margin:.2rem 0 1rem}\
details.columns dl{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:.4rem 0}
details.columns dt{font-weight:600}details.columns dd{margin:0}
.figure{width:100%;margin:.8rem 0}
@media (max-width:900px){body{padding:0 .5rem}section.verdict{padding:.2rem .5rem .5rem}th,td{padding:.2rem .35rem}}
"""


def _anchor(title: str) -> str:
    return "s-" + "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")[:60]


def render_html(report: Report, *, plotly: str = "inline") -> str:
    """The whole page. ``plotly``: ``inline`` puts plotly.js in the page once (opens offline; about
    4.6 MB), ``cdn`` loads it from cdn.plot.ly (a small file that needs the network to draw)."""
    from plotly.offline import get_plotlyjs

    from studies.analysis._figures import readable

    if plotly == "inline":
        script = f"<script type='text/javascript'>{get_plotlyjs()}</script>"
        where = "Self-contained: opens offline."
    elif plotly == "cdn":
        from plotly.io._utils import plotly_cdn_url

        script = f"<script src='{plotly_cdn_url()}' charset='utf-8'></script>"
        where = ("plotly.js is loaded from its CDN: the figures need the network "
                 "(write it with --plotly inline to open offline).")
    else:
        raise AnalysisError(f"plotly must be 'inline' or 'cdn', got {plotly!r}")
    titles = [s.title for s in report.sections]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>layerlab report: {html.escape(report.study_name)}</title>",
        f"<style>{CSS}</style>",
        script,
        "</head><body>",
        f"<h1>layerlab report: {html.escape(report.study_name)}</h1>",
        f"<p>Generated {html.escape(str(report.data['study']['generated']))}. {where} "
        "Hover a column header for what it means; every table has the same notes under it.</p>",
        "<nav class='toc'>" + " ".join(f"<a href='#{_anchor(t)}'>{html.escape(t)}</a>" for t in titles) + "</nav>",
    ]
    for i, section in enumerate(report.sections):
        cls = " class='verdict'" if i == 0 and section.title.startswith("Verdict") else ""
        parts.append(f"<section id='{_anchor(section.title)}'{cls}>")
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts.extend(f"<p>{nowrap_numbers(html.escape(round_floats(p)))}</p>" for p in section.paragraphs)
        parts.extend(table_html(t) for t in section.tables)
        parts.extend(f"<p>{nowrap_numbers(html.escape(round_floats(p)))}</p>" for p in section.after)
        parts.extend(
            "<div class='figure'>" + readable(fig).to_html(
                full_html=False, include_plotlyjs=False, config={"displaylogo": False, "responsive": True}) + "</div>"
            for fig in section.figures
        )
        for fold in section.folds:  # closed by default: details the first reading does not need
            opened = " open" if fold.open else ""
            parts.append(f"<details class='fold'{opened}><summary>{html.escape(fold.summary)}</summary>")
            parts.extend(f"<p>{nowrap_numbers(html.escape(round_floats(p)))}</p>" for p in fold.paragraphs)
            parts.extend(table_html(t) for t in fold.tables)
            parts.append("</details>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)
