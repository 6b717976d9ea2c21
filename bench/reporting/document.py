"""The report's document model and its two renderers: report.html and report.md.

A `Section` holds blocks (`Paragraph`, `Heading`, `Preformatted`, `Links`,
`Table`, `Figure`); each block is a small frozen class that renders itself to
HTML and to Markdown, `level` being its section's heading level. The sections'
content (bench/reporting/sections.py) builds blocks and knows neither format;
`render_html` and `render_markdown` make the pages of a list of sections.
"""

from __future__ import annotations

import base64
import dataclasses
import html
from pathlib import Path

from bench.reporting import interactive

FIGURES = "figures"  # the figures' folder, beside the pages
MIME = {"png": "image/png", "svg": "image/svg+xml"}  # the figure formats a page can embed


@dataclasses.dataclass(frozen=True)
class Paragraph:
    text: str

    def html(self, level: int) -> str:
        return f"<p>{html.escape(self.text)}</p>"

    def markdown(self, level: int, figures_rel: str) -> list[str]:
        return [self.text, ""]


@dataclasses.dataclass(frozen=True)
class Heading:
    """A heading one level below its section's."""

    text: str

    def html(self, level: int) -> str:
        return f"<h{level + 1}>{html.escape(self.text)}</h{level + 1}>"

    def markdown(self, level: int, figures_rel: str) -> list[str]:
        return ["#" * (level + 1) + f" {self.text}", ""]


@dataclasses.dataclass(frozen=True)
class Preformatted:
    """Preformatted text (the suite's JSON)."""

    text: str
    language: str = "json"

    def html(self, level: int) -> str:
        return f"<pre>{html.escape(self.text)}</pre>"

    def markdown(self, level: int, figures_rel: str) -> list[str]:
        return [f"```{self.language}", self.text, "```", ""]


@dataclasses.dataclass(frozen=True)
class Links:
    """A list of links to sections: (id, text) pairs (plain items in Markdown)."""

    items: tuple[tuple[str, str], ...]

    def html(self, level: int) -> str:
        e = html.escape
        return "<ul>" + "".join(f'<li><a href="#{e(i)}">{e(t)}</a></li>' for i, t in self.items) + "</ul>"

    def markdown(self, level: int, figures_rel: str) -> list[str]:
        return [f"- {t}" for _, t in self.items] + [""]


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


@dataclasses.dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    id: str | None = None
    caption: str = ""

    def __post_init__(self):  # lists in, tuples kept: a block does not change once made
        object.__setattr__(self, "headers", tuple(self.headers))
        object.__setattr__(self, "rows", tuple(tuple(r) for r in self.rows))

    def html(self, level: int = 2) -> str:
        e = html.escape
        ident = f' id="{e(self.id)}"' if self.id else ""
        head = "".join(f"<th>{e(h)}</th>" for h in self.headers)
        body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in self.rows)
        cap = f"<caption>{e(self.caption)}</caption>" if self.caption else ""
        return f"<table{ident}>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def markdown(self, level: int = 2, figures_rel: str = "") -> list[str]:
        lines = ["| " + " | ".join(_md_cell(h) for h in self.headers) + " |",
                 "|" + "|".join("---" for _ in self.headers) + "|"]
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in self.rows]
        if self.caption:
            lines += ["", f"*{_md_cell(self.caption)}*"]
        return ["\n".join(lines), ""]


@dataclasses.dataclass(frozen=True)
class Figure:
    """A figure's files ({format: path}; the first is the one shown), its alt text and caption, and
    its interactive version (`interactive.Plot`): shown in HTML instead of the file when given."""

    files: dict[str, Path]
    alt: str
    caption: str
    plot: interactive.Plot | None = None

    @property
    def shown(self) -> Path:
        return next(iter(self.files.values()))

    def html(self, level: int) -> str:
        e = html.escape
        files = ", ".join(f"{FIGURES}/{p.name}" for p in self.files.values())
        if self.plot is not None:
            return (f"<figure>{self.plot.html(self.alt)}<figcaption>{e(self.caption)} (static: {e(files)})"
                    "</figcaption></figure>")
        return (f'<figure><img src="{_data_uri(self.shown)}" alt="{e(self.alt)}">'
                f"<figcaption>{e(self.caption)} (files: {e(files)})</figcaption></figure>")

    def markdown(self, level: int, figures_rel: str) -> list[str]:
        others = "".join(f" ([{f.upper()}]({figures_rel}/{p.name}))" for f, p in self.files.items()
                         if p != self.shown)
        return [f"![{self.alt}]({figures_rel}/{self.shown.name})", "", f"*{self.caption}*{others}", ""]


Block = Paragraph | Heading | Preformatted | Links | Table | Figure


@dataclasses.dataclass
class Section:
    title: str
    level: int = 2
    id: str | None = None
    blocks: list[Block] = dataclasses.field(default_factory=list)


def _data_uri(path: Path) -> str:
    return f"data:{MIME[path.suffix[1:]]};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


# --------------------------------------------------------------------------- rendering

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.6em 0 1.4em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#f2f2f2}caption{caption-side:bottom;text-align:left;color:#555;font-size:.9em;padding-top:.3em}
figure{margin:1em 0 1.6em}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.9em}pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.85em}
nav a{margin-right:1em}
"""


def render_html(sections: list[Section], title: str) -> str:
    """The page; with interactive figures it embeds plotly.js once and the script that draws them."""
    e = html.escape
    live = any(isinstance(b, Figure) and b.plot is not None for s in sections for b in s.blocks)
    script_src, scripts = interactive.page_scripts() if live else ("", "")
    policy = "default-src 'none'; img-src data: blob:; style-src 'unsafe-inline'" + (f"; {script_src}" if live else "")
    css = _CSS + (interactive.CSS if live else "")
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{e(title)}</title><style>{css}</style></head><body>", f"<h1>{e(title)}</h1>"]
    nav = [s for s in sections if s.level == 2 and s.id]
    out.append("<nav>" + "".join(f'<a href="#{e(s.id)}">{e(s.title)}</a>' for s in nav) + "</nav>")
    for s in sections:
        ident = f' id="{e(s.id)}"' if s.id else ""
        out.append(f"<section{ident}><h{s.level}>{e(s.title)}</h{s.level}>")
        out += [b.html(s.level) for b in s.blocks]
        out.append("</section>")
    out += [scripts, "</body></html>"] if live else ["</body></html>"]
    return "\n".join(out) + "\n"


def render_markdown(sections: list[Section], title: str, figures_rel: str = FIGURES) -> str:
    out = [f"# {title}", ""]
    for s in sections:
        out += ["#" * s.level + f" {s.title}", ""]
        for b in s.blocks:
            out += b.markdown(s.level, figures_rel)
    return "\n".join(out).rstrip() + "\n"
