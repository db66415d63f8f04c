"""One self-contained HTML report: sections of text, tables and figures, nothing fetched from elsewhere.

Sections (:mod:`cnnlab.report.document`, plain data built from experiment results) become, with
:func:`write_report`, a single HTML page with a table of contents, each section's settings and running time, figures
embedded as base64 ``data:`` URIs and skipped sections stated plainly with the reason. All text is plain text and
is HTML-escaped; a span between backticks (```like this```) is shown in a monospace font, handy for formulas.
"""

from __future__ import annotations

import base64
import html
import os
import re
from collections.abc import Mapping, Sequence
from numbers import Real
from pathlib import Path
from typing import Any

from cnnlab.report.document import Figure, Link, Section, Table, format_seconds, format_value
from cnnlab.report.math import MATH, latex_to_mathml

_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
                ".svg": "image/svg+xml"}


def _prose(text: str) -> str:
    """Escape ``text``, with its ``\\(...\\)`` / ``\\[...\\]`` formulas as MathML (see :mod:`cnnlab.report.math`)."""
    out, last = [], 0
    for match in MATH.finditer(text):
        out.append(html.escape(text[last:match.start()]))
        display = match.group("display") is not None
        out.append(latex_to_mathml(match.group("display") if display else match.group("inline"), display))
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def _text(value: str) -> str:
    """Escape plain text; spans between backticks become ``<code>``, ``\\(...\\)`` spans MathML; line breaks are
    kept (CSS pre-wrap)."""
    parts = str(value).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: show it literally
        return _prose(str(value))
    return "".join(_prose(part) if i % 2 == 0 else f"<code>{html.escape(part)}</code>"
                   for i, part in enumerate(parts))


#: Numbers worth the eye in answers: accuracies, differences in points, small errors in e-notation.
_KEY_NUMBER = re.compile(r"(?<![\w.])[+−-]?\d+(?:\.\d+)?(?:%| points?\b)|(?<![\w.])\d(?:\.\d+)?e[−+-]?\d+")


def _qa(qa: Sequence[tuple[str, Sequence[str]]]) -> str:
    """Questions in bold, their answers as bullet points with the key numbers highlighted."""
    blocks = []
    for question, points in qa:
        items = "".join(f"<li>{_KEY_NUMBER.sub(lambda m: f'<strong>{m.group(0)}</strong>', _text(point))}</li>"
                        for point in points)
        blocks.append(f'<div class="qa"><p class="q">{_text(question)}</p><ul>{items}</ul></div>')
    return "\n".join(blocks)


def _slug(title: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _table(table: Table) -> str:
    """The table, without the columns that are empty (``None`` or ``""``) in every row."""
    shown = [index for index in range(len(table.columns))
             if not table.rows or any(row[index] not in (None, "") for row in table.rows)]
    head = "".join(f"<th>{_text(table.columns[index])}</th>" for index in shown)
    body = "\n".join(
        "<tr>" + "".join(f'<td class="{"num" if _is_number(row[i]) else "txt"}">{_text(format_value(row[i]))}</td>'
                         for i in shown) + "</tr>"
        for row in table.rows
    )
    caption = f"<caption>{_text(table.caption)}</caption>" if table.caption else ""
    return (f'<div class="table-wrap"><table>{caption}<thead><tr>{head}</tr></thead>\n'
            f"<tbody>\n{body}\n</tbody></table></div>")


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _figure(figure: Figure) -> str:
    path = Path(figure.path)
    caption = f"<figcaption>{_text(figure.caption)}</figcaption>" if figure.caption else ""
    mime = _IMAGE_TYPES.get(path.suffix.lower())
    if mime is None:
        problem = f"cannot embed {path.name}: unsupported image type (use one of {', '.join(_IMAGE_TYPES)})"
    elif not path.is_file():
        problem = f"figure file not found: {path}"
    else:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        alt = html.escape(figure.caption or path.stem, quote=True)
        return (f'<figure><img src="data:{mime};base64,{data}" alt="{alt}" title="click to enlarge">{caption}'
                "</figure>")
    return f'<figure><p class="missing">{_text(problem)}</p>{caption}</figure>'


def _link(link: Link, base: Path | None) -> str:
    """A link to a file beside the report: its path relative to ``base`` (the report's folder) when given."""
    path = Path(link.path)
    href = Path(os.path.relpath(path, base)).as_posix() if base is not None else path.as_posix()
    caption = f" {_text(link.caption)}" if link.caption else ""
    return f'<p class="link"><a href="{html.escape(href, quote=True)}">{_text(link.text)}</a>{caption}</p>'


def _settings(settings: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><th>{_text(str(key))}</th><td>{_text(format_value(value))}</td></tr>"
                   for key, value in settings.items())
    return f'<details class="settings" open><summary>Settings</summary><table>{rows}</table></details>'


def _section(section: Section, slug: str, base: Path | None = None) -> str:
    timing = f'<span class="time">took {format_seconds(section.seconds)}</span>' if section.seconds is not None else ""
    css_class = ' class="skipped"' if section.skipped is not None else ""
    parts = [f'<section id="{slug}"{css_class}>',
             f"<h2>{_text(section.title)} {timing}</h2>"]
    if section.skipped is not None:
        parts.append(f'<p class="skip-note"><strong>Skipped.</strong> {_text(section.skipped)}</p>')
    if section.intro:
        parts.append(f'<p class="intro">{_text(section.intro)}</p>')
    if section.settings:
        parts.append(_settings(section.settings))
    parts.extend(f"<p>{_text(paragraph)}</p>" for paragraph in section.paragraphs)
    parts.extend(_link(link, base) for link in section.links)
    if section.qa:
        parts.append(_qa(section.qa))
    parts.extend(_table(table) for table in section.tables)
    parts.extend(_figure(figure) for figure in section.figures)
    parts.append("</section>")
    return "\n".join(parts)


_CSS = """
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dde5; --accent: #2857a4; --skip: #9a5b00; --skipbg: #fff6e5; }
* { box-sizing: border-box; }
body { font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--fg); max-width: 72rem; margin: 0 auto; padding: 1.5rem 1.25rem 4rem; }
h1 { font-size: 1.9rem; margin: 0 0 .5rem; }
h2 { font-size: 1.35rem; margin: 0 0 .6rem; padding-bottom: .25rem; border-bottom: 1px solid var(--line); }
p { white-space: pre-wrap; margin: .5rem 0; }
code { font: .92em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f2f4f8;
       padding: 0 .2em; border-radius: 3px; }
a { color: var(--accent); }
p.link a { font-weight: 600; }
nav { background: #f7f8fb; border: 1px solid var(--line); border-radius: 6px; padding: .6rem 1rem;
      margin: 1rem 0 2rem; }
nav ol { margin: .3rem 0; padding-left: 1.4rem; }
nav .skipped-mark { color: var(--skip); font-size: .9em; }
section { margin: 0 0 2.5rem; }
section.skipped h2 { color: var(--muted); }
.skip-note { background: var(--skipbg); border-left: 4px solid var(--skip); padding: .5rem .8rem; }
.intro { color: var(--muted); }
.time { font-size: .8rem; font-weight: normal; color: var(--muted); margin-left: .5rem; }
.meta th, .settings th { text-align: left; font-weight: 600; padding-right: 1rem; color: var(--muted); }
.meta td, .settings td { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
.settings { margin: .5rem 0; }
.settings summary { cursor: pointer; color: var(--muted); }
.table-wrap { overflow-x: auto; margin: 1rem 0; font-size: .92em; }
table { border-collapse: collapse; }
.table-wrap table { min-width: 50%; }
.table-wrap th, .table-wrap td { border: 1px solid var(--line); padding: .3rem .6rem; vertical-align: top; }
.table-wrap th { background: #f2f4f8; }
.table-wrap tbody tr:nth-child(even) { background: #fafbfc; }
td.txt { white-space: pre-line; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
caption { caption-side: top; text-align: left; color: var(--muted); padding: .3rem 0; }
figure { margin: 1.2rem 0; overflow-x: auto; }
figure img { max-width: 100%; height: auto; display: block; border: 1px solid var(--line); cursor: zoom-in; }
figure img.zoomed { max-width: none; cursor: zoom-out; }
.banner { background: #fdecea; border-left: 4px solid #b3261e; padding: .6rem .9rem; font-weight: 600; }
figcaption { color: var(--muted); font-size: .92em; margin-top: .3rem; }
.missing { color: #a11; }
math { font-size: 1.12em; }
.qa { margin: 1rem 0; padding: .4rem .9rem; border-left: 3px solid var(--accent); background: #f7f8fb; }
.qa .q { font-weight: 600; margin: .3rem 0; }
.qa ul { margin: .3rem 0 .5rem; padding-left: 1.2rem; }
.qa li { margin: .25rem 0; }
.qa strong { color: var(--accent); font-variant-numeric: tabular-nums; }
footer { color: var(--muted); font-size: .85em; border-top: 1px solid var(--line); padding-top: .5rem; }
"""


#: Clicking a figure shows it at its full size (and back): the report's only script, inline.
_SCRIPT = ("document.querySelectorAll('figure img').forEach(function (img) {"
           " img.addEventListener('click', function () { img.classList.toggle('zoomed'); }); });")


def render_report(sections: Sequence[Section], title: str = "cnnlab report",
                  meta: Mapping[str, Any] | None = None, banner: str | None = None, base: Path | None = None) -> str:
    """The report as one HTML string (see :func:`write_report`); ``base`` is the folder the sections' links are
    relative to (the report's own folder)."""
    taken: set[str] = set()
    slugs = [_slug(section.title, taken) for section in sections]
    toc_items = []
    for section, slug in zip(sections, slugs, strict=True):
        mark = ' <span class="skipped-mark">(skipped)</span>' if section.skipped is not None else ""
        toc_items.append(f'<li><a href="#{slug}">{_text(section.title)}</a>{mark}</li>')
    meta_rows = dict(meta or {})
    timed = [section.seconds for section in sections if section.seconds is not None]
    if timed and "total time" not in meta_rows:
        meta_rows["total time"] = format_seconds(sum(timed))
    skipped = [section.title for section in sections if section.skipped is not None]
    meta_html = ""
    if meta_rows:
        rows = "".join(f"<tr><th>{_text(str(key))}</th><td>{_text(format_value(value))}</td></tr>"
                       for key, value in meta_rows.items())
        meta_html = f'<table class="meta">{rows}</table>'
    summary = (f'<p class="skip-note">{len(skipped)} of {len(sections)} sections were skipped: '
               f"{_text(', '.join(skipped))}. Each says why and how to run it.</p>" if skipped else "")
    toc = f'<nav><strong>Contents</strong><ol>{"".join(toc_items)}</ol></nav>' if sections else ""
    body = "\n".join(_section(section, slug, base) for section, slug in zip(sections, slugs, strict=True))
    from cnnlab import __version__

    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{_text(title)}</h1>",
        f'<p class="banner">{_text(banner)}</p>' if banner else "",
        meta_html,
        summary,
        toc,
        body,
        f"<footer>Written by cnnlab {html.escape(__version__)}; this page is self-contained "
        "(figures embedded; click a figure to enlarge it).</footer>",
        f"<script>{_SCRIPT}</script>",
        "</body>",
        "</html>",
        "",
    ])


def write_report(sections: Sequence[Section], path: Path, title: str = "cnnlab report",
                 meta: Mapping[str, Any] | None = None, banner: str | None = None) -> Path:
    """Write ``sections`` as one self-contained HTML page to ``path`` (folders created) and return the path.

    ``meta`` (e.g. command, data folder, device, date) is shown at the top; the total time of the timed sections
    is added as ``total time`` unless ``meta`` has it; ``banner`` is a warning shown above everything (e.g. that a
    quick run's numbers are a smoke test). Figures are read now and embedded, so the page can be moved or mailed on
    its own; a figure whose file is missing is reported in its place rather than failing the report. The sections'
    links (files beside the report) are relative to ``path``'s folder, so they keep working when the run's whole
    folder is moved.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(sections, title=title, meta=meta, banner=banner, base=path.parent),
                    encoding="utf-8")
    return path

