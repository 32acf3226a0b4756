"""Report building blocks that render themselves to Markdown and to HTML.

HTML goes through jinja2 with autoescape on: every string from the data
(answers, candidate names, file names, reasons) is escaped. Markdown escapes
the same strings as HTML entities, so a Markdown viewer shows them as text.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from harness.fmt import MISSING

TEMPLATES = Path(__file__).parent / "templates"


def _env(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


HTML_ENV = _env(autoescape=True)  # model answers, names and file names are escaped
MD_ENV = _env(autoescape=False)  # Markdown escapes data through md_escape


def md_escape(text: Any) -> str:
    """Text for a Markdown paragraph or table cell: no raw HTML, no broken tables."""
    s = html.escape(str(text), quote=False)
    for ch in ("\\", "`", "*", "_", "[", "]", "|"):
        s = s.replace(ch, "\\" + ch)
    return s.replace("\r", "").replace("\n", "<br>")


def md_pre(text: str) -> str:
    """A preformatted block whose content can not close it early."""
    return "<pre>" + html.escape(text, quote=False) + "</pre>"


MD_ENV.filters["md"] = md_escape


def cell(v: Any) -> str:
    return MISSING if v is None or v == "" else str(v)


class Block:
    def to_markdown(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def to_html(self) -> Markup:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class Paragraph(Block):
    text: str
    kind: str = "p"  # p, note, choice, warn

    def to_markdown(self) -> str:
        prefix = {"note": "_Note:_ ", "warn": "**Warning:** ", "choice": ""}.get(self.kind, "")
        body = md_escape(self.text)
        return f"{prefix}**{body}**" if self.kind == "choice" else prefix + body

    def to_html(self) -> Markup:
        return Markup(HTML_ENV.get_template("paragraph.html.j2").render(p=self))


@dataclass
class Link(Block):
    """A line with one link: `text` then `target` (a path relative to the report, or a URL) as the link."""

    text: str
    target: str

    def to_markdown(self) -> str:
        return f"{md_escape(self.text)}[{md_escape(self.target)}](<{self.target.replace('>', '%3E')}>)"

    def to_html(self) -> Markup:
        return Markup('<p class="note">{}<a href="{}">{}</a></p>').format(self.text, self.target, self.target)


@dataclass
class Banner(Block):
    text: str

    def to_markdown(self) -> str:
        return f"> ⚠ **{md_escape(self.text)}**"

    def to_html(self) -> Markup:
        return Markup(HTML_ENV.get_template("banner.html.j2").render(text=self.text))


@dataclass
class Code(Block):
    text: str
    label: str | None = None

    def to_markdown(self) -> str:
        return (f"{md_escape(self.label)}\n\n" if self.label else "") + md_pre(self.text)

    def to_html(self) -> Markup:
        return Markup(HTML_ENV.get_template("code.html.j2").render(c=self))


@dataclass
class Table(Block):
    """A table; `shape` puts the shape-mode banner on it. None cells render as an em dash."""

    columns: list[str]
    rows: list[list[Any]]
    title: str | None = None
    caption: str | None = None
    shape: bool = False
    html_id: str | None = None
    row_classes: list[str] | None = None
    empty: str = "No rows."

    def cells(self) -> list[list[str]]:
        return [[cell(v) for v in r] for r in self.rows]

    def to_markdown(self) -> str:
        out = []
        if self.title:
            out.append(f"**{md_escape(self.title)}**\n")
        if self.shape:
            out.append(Banner(_shape_banner()).to_markdown() + "\n")
        if not self.rows:
            out.append(f"_{md_escape(self.empty)}_")
        else:
            out.append("| " + " | ".join(md_escape(c) for c in self.columns) + " |")
            out.append("|" + "|".join("---" for _ in self.columns) + "|")
            out.extend("| " + " | ".join(md_escape(c) for c in r) + " |" for r in self.cells())
        if self.caption:
            out.append(f"\n_{md_escape(self.caption)}_")
        return "\n".join(out)

    def to_html(self) -> Markup:
        return Markup(HTML_ENV.get_template("table.html.j2").render(t=self, cells=self.cells(), banner=_shape_banner()))


@dataclass
class Figure(Block):
    name: str  # file stem under plots/
    title: str
    png: bytes
    shape: bool = False
    caption: str | None = None

    @property
    def rel_path(self) -> str:
        return f"plots/{self.name}.png"

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    def to_markdown(self) -> str:
        out = [f"![{md_escape(self.title)}]({self.rel_path})"]
        if self.shape:
            out.insert(0, Banner(_shape_banner()).to_markdown() + "\n")
        if self.caption:
            out.append(f"\n_{md_escape(self.caption)}_")
        return "\n".join(out)

    def to_html(self) -> Markup:
        return Markup(HTML_ENV.get_template("figure.html.j2").render(f=self, banner=_shape_banner()))


@dataclass
class Details(Block):
    """Collapsed content: stderr tails, sample answers."""

    summary: str
    blocks: list[Block] = field(default_factory=list)

    def to_markdown(self) -> str:
        inner = "\n\n".join(b.to_markdown() for b in self.blocks)
        return f"<details><summary>{html.escape(self.summary, quote=False)}</summary>\n\n{inner}\n\n</details>"

    def to_html(self) -> Markup:
        return Markup(HTML_ENV.get_template("details.html.j2").render(d=self))


@dataclass
class Section(Block):
    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> Section:
        self.blocks.extend(blocks)
        return self

    def p(self, text: str, kind: str = "p") -> Section:
        return self.add(Paragraph(text, kind))

    def to_markdown(self) -> str:
        body = "\n\n".join(b.to_markdown() for b in self.blocks)
        return f"## {md_escape(self.title)}\n\n{body}"

    def to_html(self) -> Markup:
        return Markup(HTML_ENV.get_template("section.html.j2").render(s=self))


def _shape_banner() -> str:
    from harness.report.load import SHAPE_BANNER

    return SHAPE_BANNER


def render_page(template: str, **ctx: Any) -> str:
    env = HTML_ENV if template.endswith(".html.j2") else MD_ENV
    return env.get_template(template).render(**ctx)
