"""What a notebook shows besides figures: tables and generated prose that no cell text can break.

* :func:`table` renders a DataFrame as an HTML table with every cell escaped, so a ``|`` in a label cannot split it
  into raw text and a ``$`` in a price cannot start maths (a Markdown table from ``to_markdown`` does both).
* :func:`prose` shows generated Markdown (summaries, readings of the numbers) with ``$`` escaped, so "28.6 $ … 14 $"
  stays two prices instead of becoming a formula.
"""

from __future__ import annotations

import html
import re
from typing import Any, Callable, Iterable


def md_escape(text: Any) -> str:
    """Text that Markdown shows as written: ``$`` is not maths, ``|`` does not split a table, ``*``, ``_`` and a
    backquote stay characters, ``<`` starts no HTML."""
    s = str(text)
    for ch in ("\\", "$", "|", "*", "_", "`"):
        s = s.replace(ch, "\\" + ch)
    return s.replace("<", "&lt;")


_NUMERIC = re.compile(r"^[\s\-+−0-9.,eE\[\]%()/—]*$|^n/a$")


def _is_text(values) -> bool:
    return any(not _NUMERIC.match(str(v)) for v in values)


def html_table(df, *, classes: str = "hrl-table", cell_style: Callable[[Any, Any], str] | None = None) -> str:
    """A DataFrame as an HTML table whose cell text is escaped; columns of text are left-aligned, numbers right."""
    text_cols = {c for c in df.columns if _is_text(df[c].tolist())}
    left = ' style="text-align:left"'
    head = "".join(f"<th{left if c in text_cols else ''}>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for _, row in df.iterrows():
        cells = []
        for col, v in row.items():
            style = (cell_style(col, v) if cell_style else "") or (left if col in text_cols else "")
            cells.append(f"<td{style}>{html.escape(str(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{classes}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


class Table:
    """A DataFrame shown as an escaped HTML table (optionally with a caption under it)."""

    def __init__(self, df, caption: str = "") -> None:
        self.df, self.caption = df, caption

    def _repr_html_(self) -> str:
        cap = f"<p><small>{html.escape(self.caption)}</small></p>" if self.caption else ""
        return html_table(self.df) + cap

    def __repr__(self) -> str:
        return self.df.to_string(index=False) + (f"\n{self.caption}" if self.caption else "")


def table(df, caption: str = "") -> Table:
    """``display(table(df))``: the DataFrame as an HTML table nothing in its cells can break."""
    return Table(df, caption)


class Prose:
    """Generated Markdown whose dollar signs are text: shown as Markdown in the notebook and the report."""

    def __init__(self, markdown: str) -> None:
        self.markdown = markdown

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __repr__(self) -> str:
        return self.markdown


def prose(*lines: str | Iterable[str]) -> Prose:
    """``display(prose(...))``: lines of generated Markdown, with every ``$`` escaped (``**bold**`` still works)."""
    out = []
    for line in lines:
        out.extend([line] if isinstance(line, str) else list(line))
    return Prose("\n".join(s.replace("\\$", "$").replace("$", "\\$") for s in out))
