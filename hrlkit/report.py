"""HTML rendering of executed notebooks, and the collection's scorecard (pipeline only).

Two jobs, two CLI sub-commands::

    python -m hrlkit.report html <executed.ipynb> <out.html>
    python -m hrlkit.report scorecard --reports reports --params params.yaml

``render_html`` turns an executed notebook into ONE self-contained, offline HTML file: nbconvert's
``lab`` look through the ``foldable`` template (``hrlkit/templates/foldable``: code inputs folded in
``<details>``, no ``<script src>`` at all), equations converted to MathML at build time (no MathJax),
images embedded once, widget state and progress-bar noise dropped. The same notebook gives the same bytes.

``build_scorecard`` gathers every ``reports/<slug>/metrics.json`` (and ``timing.json``) of the papers listed
in ``params.yaml`` into ``reports/SCORECARD.md`` and ``reports/index.html``: deterministic (no clock), in
params.yaml order.
"""

from __future__ import annotations

import argparse
import copy
import html
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "foldable"

VERDICTS = ("reproduced", "not reproduced", "inconclusive", "untestable")
NOT_YET = "not yet reproduced"

_MATHML_NS = ' xmlns="http://www.w3.org/1998/Math/MathML"'
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")


# =====================================================================================================
# LaTeX -> MathML
# =====================================================================================================

# Labels/numbering commands mean nothing without MathJax's equation numbering; drop them before converting.
_DROP_LATEX = re.compile(r"\\label\{[^{}]*\}|\\nonumber\b|\\notag\b")


def latex_to_mathml(latex: str, *, display: bool) -> str | None:
    """``<math>`` markup for ``latex`` (without the MathML xmlns, which HTML5 does not need), or ``None``."""
    from latex2mathml.converter import convert

    src = _DROP_LATEX.sub("", latex).strip()
    if not src:
        return None
    try:
        out = convert(src, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - one bad formula must never fail the build
        return None
    return out.replace(_MATHML_NS, "", 1)


def math_html(latex: str, *, display: bool, delimiters: tuple[str, str] | None = None) -> str:
    """MathML for ``latex``; if it cannot be converted, the source (with its delimiters) as ``<code>``."""
    mathml = latex_to_mathml(latex, display=display)
    if mathml is not None:
        return mathml
    left, right = delimiters or (("$$", "$$") if display else ("$", "$"))
    return f'<code class="hrl-math-error" title="formula not converted">{html.escape(left + latex + right)}</code>'


def _latex_environment_html(name: str, body: str) -> str:
    """MathML for ``\\begin{name}body\\end{name}``: numbered/starred variants of equation & co."""
    base = name.rstrip("*")
    if base in ("equation", "displaymath", "math"):
        return math_html(body, display=True, delimiters=(f"\\begin{{{name}}}", f"\\end{{{name}}}"))
    candidates = [f"\\begin{{{name}}}{body}\\end{{{name}}}"]
    if base in ("align", "eqnarray", "alignat", "flalign"):
        candidates.append(f"\\begin{{aligned}}{body}\\end{{aligned}}")
    elif base in ("gather", "multline"):
        candidates.append(f"\\begin{{gathered}}{body}\\end{{gathered}}")
    for cand in candidates:
        mathml = latex_to_mathml(cand, display=True)
        if mathml is not None:
            return mathml
    return f'<code class="hrl-math-error">{html.escape(candidates[0])}</code>'


# =====================================================================================================
# Notebook clean-up before export
# =====================================================================================================


def _collapse_carriage_returns(text: str) -> str:
    """What a terminal shows for text with ``\\r`` overwrites (tqdm bars): the last write on each line."""
    if "\r" not in text:
        return text
    lines = []
    for line in text.split("\n"):
        if "\r" in line:
            parts = [p for p in line.split("\r") if p]
            line = parts[-1] if parts else ""
        lines.append(line)
    return "\n".join(lines)


def _image_signature(data: Mapping[str, Any]) -> tuple | None:
    sig = tuple((m, "".join(data[m]) if isinstance(data[m], list) else str(data[m]))
                for m in _IMAGE_MIMES if m in data)
    return sig or None


def clean_notebook(nb: Any) -> Any:
    """A copy of ``nb`` lean for HTML: no widget state/views, ``\\r``-collapsed and merged streams,
    an image that was already displayed once replaced by a one-line note."""
    import nbformat

    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    seen_images: set[tuple] = set()
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            otype = out.get("output_type")
            if otype == "stream":
                text = out.get("text", "")
                text = "".join(text) if isinstance(text, list) else text
                prev = outputs[-1] if outputs else {}
                if prev.get("output_type") == "stream" and prev.get("name") == out.get("name"):
                    text = prev["text"] + text
                    outputs.pop()
                out["text"] = text
                outputs.append(out)
                continue
            if otype in ("display_data", "execute_result"):
                data = out.get("data", {})
                for mime in (_WIDGET_VIEW, _WIDGET_STATE):
                    data.pop(mime, None)
                if not data:
                    continue
                if set(data) == {"text/plain"} and otype == "display_data" and _is_widget_repr(data["text/plain"]):
                    continue
                sig = _image_signature(data)
                if sig is not None:
                    if sig in seen_images:
                        out = nbformat.v4.new_output("display_data", data={"text/plain": "[same figure as above]"})
                    else:
                        seen_images.add(sig)
            outputs.append(out)
        for out in outputs:
            if out.get("output_type") == "stream":
                out["text"] = _collapse_carriage_returns(out["text"])
                if out.get("name") == "stderr":
                    out["text"] = _drop_progress_lines(out["text"])
        cell["outputs"] = [o for o in outputs if o.get("output_type") != "stream" or o["text"].strip()]
    return nb


_PROGRESS_LINE = re.compile(r"^.*\d+%\|.*\|\s*\d+/\d+\s*\[.*\]\s*$")


def _drop_progress_lines(text: str) -> str:
    """Progress bars (tqdm) belong to the console, not to the rendered report."""
    return "\n".join(line for line in text.split("\n") if not _PROGRESS_LINE.match(line))


def _is_widget_repr(text: Any) -> bool:
    text = "".join(text) if isinstance(text, list) else str(text)
    return bool(re.fullmatch(r"\s*(HBox|VBox|FloatProgress|IntProgress|Output|Label)\(.*\)\s*", text, flags=re.S))


# =====================================================================================================
# HTML export
# =====================================================================================================

_SCRIPT_SRC_REMOTE = re.compile(r"<script\b[^>]*\bsrc\s*=\s*['\"]?\s*(?:https?:)?//[^>]*>.*?</script\s*>",
                                flags=re.I | re.S)
_STYLE_BLOCK = re.compile(r"(<style[^>]*>)(.*?)(</style>)", flags=re.I | re.S)


_CLASS_ATTR = re.compile(r"""\bclass\s*=\s*(?:"([^"]*)"|'([^']*)')""", flags=re.I)
_FUNCTIONAL_PSEUDO = re.compile(r":(?:is|where|has|matches|-webkit-any|-moz-any|host|host-context)\(", flags=re.I)
_NOT_PSEUDO = re.compile(r":not\([^()]*\)", flags=re.I)
_ATTR_SELECTOR = re.compile(r"\[[^\]]*\]")
_CLASS_NAME = re.compile(r"\.(-?[_a-zA-Z][-_a-zA-Z0-9]*)")
_GROUPING_AT_RULES = ("media", "supports", "layer", "container", "document")


def _minify_css(css: str) -> str:
    """Drop comments and indentation of (trusted, nbconvert-shipped) CSS; keeps every rule."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    lines = (line.strip() for line in css.splitlines())
    return "\n".join(line for line in lines if line)


def _skip_string(css: str, j: int) -> int:
    """Index just past the quoted string starting at ``css[j]``."""
    quote, j = css[j], j + 1
    while j < len(css) and css[j] != quote:
        j += 2 if css[j] == "\\" else 1
    return j + 1


def _split_css(css: str) -> list[tuple[str, str | None]]:
    """Top-level items of a stylesheet: ``(prelude, block body)`` or ``(statement;, None)``."""
    items: list[tuple[str, str | None]] = []
    i, n = 0, len(css)
    while i < n:
        j = i
        while j < n and css[j] not in "{;}":
            j = _skip_string(css, j) if css[j] in "\"'" else j + 1
        prelude = css[i:j].strip()
        if j >= n or css[j] != "{":
            if prelude and (j >= n or css[j] == ";"):
                items.append((prelude + ";", None))
            i = j + 1
            continue
        depth, k = 1, j + 1
        while k < n and depth:
            if css[k] in "\"'":
                k = _skip_string(css, k)
                continue
            depth += {"{": 1, "}": -1}.get(css[k], 0)
            k += 1
        items.append((prelude, css[j + 1:k - 1]))
        i = k
    return items


def _split_selectors(prelude: str) -> list[str]:
    out, depth, start = [], 0, 0
    for idx, ch in enumerate(prelude):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(prelude[start:idx].strip())
            start = idx + 1
    out.append(prelude[start:].strip())
    return [s for s in out if s]


def _selector_may_match(selector: str, used: set[str]) -> bool:
    """False only when the selector needs a class that no element of the (script-free) page has."""
    if "\\" in selector or _FUNCTIONAL_PSEUDO.search(selector):
        return True
    s = _ATTR_SELECTOR.sub("", selector)
    while True:
        s2 = _NOT_PSEUDO.sub("", s)
        if s2 == s:
            break
        s = s2
    return all(c in used for c in _CLASS_NAME.findall(s))


def _map_rules(css: str, rule: Callable[[str, str], str | None]) -> str:
    """Rebuild a stylesheet, passing every plain rule ``(selectors, body)`` through ``rule`` (``None`` drops it);
    grouping at-rules (``@media`` …) are walked recursively and dropped when they end up empty."""
    out = []
    for prelude, body in _split_css(css):
        if body is None:
            out.append(prelude)
        elif prelude.startswith("@"):
            keyword = re.match(r"@([-\w]+)", prelude)
            if keyword and keyword.group(1).lower() in _GROUPING_AT_RULES:
                inner = _map_rules(body, rule)
                if inner:
                    out.append(f"{prelude} {{\n{inner}\n}}")
            else:
                out.append(f"{prelude} {{{body}}}")
        else:
            kept = rule(prelude, body)
            if kept is not None:
                out.append(kept)
    return "\n".join(out)


def _prune_css(css: str, used: set[str]) -> str:
    """Drop the style rules that cannot match any element: JupyterLab's CSS is ~200 kB, a report uses ~10 %."""

    def rule(prelude: str, body: str) -> str | None:
        selectors = [s for s in _split_selectors(prelude) if _selector_may_match(s, used)]
        return f"{', '.join(selectors)} {{{body.strip()}}}" if selectors else None

    return _map_rules(css, rule)


def _split_declarations(body: str) -> list[str]:
    out, depth, start, i = [], 0, 0, 0
    while i < len(body):
        ch = body[i]
        if ch in "\"'":
            i = _skip_string(body, i)
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == ";" and depth == 0:
            out.append(body[start:i].strip())
            start = i + 1
        i += 1
    out.append(body[start:].strip())
    return [d for d in out if d]


def _strip_custom_properties(css: str, referenced: set[str]) -> str:
    """Drop ``--name: value`` declarations that no ``var(--name)`` uses (JupyterLab's 86 kB of icon variables)."""

    def rule(prelude: str, body: str) -> str | None:
        decls = [d for d in _split_declarations(body)
                 if not d.startswith("--") or d.split(":", 1)[0].strip() in referenced]
        return f"{prelude} {{{'; '.join(decls)};}}" if decls else None

    return _map_rules(css, rule)


_VAR_REF = re.compile(r"var\(\s*(--[-\w]+)")


def _lean_styles(page: str) -> str:
    """Minify and prune every ``<style>`` block of a script-free page: rules against the classes the page
    uses, then custom properties that nothing references."""
    used = {c for m in _CLASS_ATTR.finditer(page) for c in (m.group(1) or m.group(2) or "").split()}
    blocks = [m for m in _STYLE_BLOCK.finditer(page)]
    sheets = [_prune_css(_minify_css(m.group(2)), used) for m in blocks]
    outside = _STYLE_BLOCK.sub("", page)  # style="..." attributes may use variables too
    for _ in range(10):  # variables reference variables: repeat to a fixed point
        referenced = set(_VAR_REF.findall(outside)).union(*(_VAR_REF.findall(css) for css in sheets))
        new = [_strip_custom_properties(css, referenced) for css in sheets]
        if new == sheets:
            break
        sheets = new
    it = iter(sheets)

    def fix(m: re.Match) -> str:
        css = next(it)
        return f"{m.group(1)}\n{css}\n{m.group(3)}" if css.strip() else ""

    return _STYLE_BLOCK.sub(fix, page)


def _make_exporter():
    from jinja2 import pass_context
    from nbconvert.exporters import HTMLExporter
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    class MathMLRenderer(IPythonRenderer):
        """nbconvert's markdown renderer with math written as MathML instead of left for MathJax."""

        def block_math(self, body: str) -> str:
            return math_html(body, display=True)

        def inline_math(self, body: str) -> str:
            return math_html(body, display=False)

        def latex_environment(self, name: str, body: str) -> str:
            return _latex_environment_html(name, body)

        def multiline_math(self, text: str) -> str:  # mistune 2 only
            return text

    class ReportExporter(HTMLExporter):
        @pass_context
        def markdown2html(self, context, source):
            cell = context.get("cell", {})
            path = context.get("resources", {}).get("metadata", {}).get("path", "")
            renderer = MathMLRenderer(
                escape=False,
                attachments=cell.get("attachments", {}),
                embed_images=self.embed_images,
                path=path,
                anchor_link_text=self.anchor_link_text,
                exclude_anchor_links=self.exclude_anchor_links,
                **self.lexer_options,
            )
            return MarkdownWithMath(renderer=renderer).render(source)

    return ReportExporter(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATES_DIR)],
        embed_images=True,      # markdown images relative to the notebook -> data: URIs
        mathjax_url="",
        require_js_url="",
        theme="light",
    )


def notebook_to_html(nb: Any, *, name: str = "notebook", path: str | Path = ".") -> str:
    """The self-contained HTML of an (executed) notebook node; ``path`` is where relative images live."""
    nb = clean_notebook(nb)
    exporter = _make_exporter()
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": name, "path": str(path)}})
    body = _SCRIPT_SRC_REMOTE.sub("", body)  # belt and braces: nothing may load from the network
    body = sanitize_html(body)
    body = _lean_styles(body)
    return body.rstrip() + "\n"


# =====================================================================================================
# Sanitising: no active content in a report, whatever the outputs held
# =====================================================================================================

_ACTIVE_ELEMENTS = ("script", "iframe", "object", "embed", "applet", "frame", "frameset", "noscript", "template")
_ACTIVE_BLOCK = re.compile(r"<(%s)\b[^>]*>.*?</\1\s*>" % "|".join(_ACTIVE_ELEMENTS), flags=re.I | re.S)
_ACTIVE_TAG = re.compile(r"</?(%s|base|form)\b[^>]*>" % "|".join(_ACTIVE_ELEMENTS), flags=re.I)
_URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "background", "poster", "data", "srcset"}
_BAD_URL = re.compile(r"^\s*(javascript|vbscript|data\s*:\s*text/html)", flags=re.I)


def _unsafe_attr(name: str, value: str | None) -> bool:
    name = name.lower()
    if name.startswith("on"):
        return True
    if name == "http-equiv" and (value or "").strip().lower() == "refresh":
        return True
    return name in _URL_ATTRS and value is not None and bool(_BAD_URL.match(re.sub(r"[\x00-\x20]", "", value)))


def sanitize_html(page: str) -> str:
    """Remove what could run in a reader's browser: script-like elements (with their content), event-handler
    attributes (``on*=``), ``javascript:``/``vbscript:``/``data:text/html`` URLs, ``<base>``/``<form>`` and meta
    refreshes. Everything else is left byte for byte (tags are rewritten only when they carry something unsafe)."""
    from html.parser import HTMLParser

    page = _ACTIVE_BLOCK.sub("", page)
    page = _ACTIVE_TAG.sub("", page)
    edits: list[tuple[int, int, str]] = []
    line_starts = [0] + [i + 1 for i, ch in enumerate(page) if ch == "\n"]

    class Finder(HTMLParser):
        def _tag(self, tag, attrs, closing: str) -> None:
            if not any(_unsafe_attr(k, v) for k, v in attrs):
                return
            raw = self.get_starttag_text() or ""
            line, col = self.getpos()
            start = line_starts[line - 1] + col
            kept = "".join(f" {k}" if v is None else f' {k}="{html.escape(v, quote=True)}"'
                           for k, v in attrs if not _unsafe_attr(k, v))
            edits.append((start, start + len(raw), f"<{tag}{kept}{closing}>"))

        def handle_starttag(self, tag, attrs):
            self._tag(tag, attrs, "")

        def handle_startendtag(self, tag, attrs):
            self._tag(tag, attrs, " /")

    finder = Finder(convert_charrefs=False)
    finder.feed(page)
    finder.close()
    for start, end, text in sorted(edits, reverse=True):
        page = page[:start] + text + page[end:]
    return page


def render_html(executed_ipynb: Path, out_html: Path) -> None:
    """Write ``out_html``: one offline HTML file for the executed notebook ``executed_ipynb``."""
    import nbformat

    executed_ipynb, out_html = Path(executed_ipynb), Path(out_html)
    nb = nbformat.read(executed_ipynb, as_version=4)
    name = str(nb.metadata.get("title") or executed_ipynb.stem)
    page = notebook_to_html(nb, name=name, path=executed_ipynb.resolve().parent)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(page, encoding="utf-8", newline="\n")


# =====================================================================================================
# Scorecard
# =====================================================================================================


@dataclass
class PaperResult:
    slug: str
    title: str
    arxiv: str
    metrics: dict[str, Any] | None
    timing: dict[str, Any] | None
    html_href: str
    metrics_href: str
    notebook_href: str

    @property
    def claims(self) -> list[dict[str, Any]]:
        return list((self.metrics or {}).get("claims") or [])

    @property
    def facts(self) -> list[dict[str, Any]]:
        return list((self.metrics or {}).get("facts") or [])

    @property
    def tuning(self) -> str:
        return str(((self.metrics or {}).get("tuning") or {}).get("summary") or "not stated")

    @property
    def declared(self) -> list[dict[str, Any]]:
        """The rows declared before the reported runs (post hoc rows are shown beside them, never counted)."""
        return [c for c in self.claims if not c.get("post_hoc")]

    @property
    def post_hoc(self) -> list[dict[str, Any]]:
        return [c for c in self.claims if c.get("post_hoc")]

    @property
    def counts(self) -> Counter:
        """Verdicts of the declared rows only."""
        return Counter(str(c.get("verdict", "inconclusive")) for c in self.declared)

    @property
    def post_hoc_text(self) -> str:
        """E.g. "6 (2 reproduced)": the post hoc rows and how many of them reproduced."""
        return f"{len(self.post_hoc)} ({_reproduced(self.post_hoc)} reproduced)" if self.post_hoc else "0"

    @property
    def profile(self) -> str:
        m, t = self.metrics or {}, self.timing or {}
        return str(m.get("profile") or t.get("profile") or "")

    @property
    def n_seeds(self) -> int | None:
        seeds = (self.metrics or {}).get("seeds")
        return len(seeds) if isinstance(seeds, list) else None

    @property
    def compute_s(self) -> float | None:
        """Seconds of computation behind the raw results (summed over the tasks of every runner the notebook
        reports in timing.json: training, tuning, stored models …; one core each)."""
        totals = [v.get("task_seconds_total") for v in (self.timing or {}).values() if isinstance(v, dict)]
        totals = [t for t in totals if isinstance(t, (int, float)) and not isinstance(t, bool)]
        w = sum(totals) if totals else (self.timing or {}).get("wall_time_s")
        return float(w) if isinstance(w, (int, float)) and not isinstance(w, bool) else None


def fmt_num(x: Any, spec: str = ".3g") -> str:
    """:func:`hrlkit.claims.fmt_number` for what a metrics.json holds (``n/a`` for a missing value or a flag)."""
    from hrlkit.claims import fmt_number

    if x is None or isinstance(x, bool):
        return "n/a"
    try:
        return fmt_number(float(x), spec)
    except (TypeError, ValueError):
        return str(x)


def fmt_ci(ci: Any) -> str:
    if not isinstance(ci, (list, tuple)) or len(ci) != 2 or any(v is None for v in ci):
        return "n/a"
    return f"[{fmt_num(ci[0])}, {fmt_num(ci[1])}]"


def fmt_threshold(claim: Mapping[str, Any]) -> str:
    direction, threshold = claim.get("direction"), claim.get("threshold")
    if threshold is None:
        return "n/a"
    return f"{direction or '?'} {fmt_num(threshold)}"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.2g} s"
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {sec:02d} s"


def fmt_paired(claim: Mapping[str, Any]) -> str:
    return {True: "paired", False: "unpaired"}.get(claim.get("paired"), "")


def fmt_holm(claim: Mapping[str, Any]) -> str:
    """Holm-adjusted p, and whether the verdict's direction survives it at 5 %."""
    p = claim.get("p_holm")
    if p is None:
        raw = claim.get("p_value")
        return f"none (post hoc; raw p {fmt_num(raw, '.2g')})" if claim.get("post_hoc") and raw is not None else ""
    return f"{fmt_num(p, '.2g')} ({'survives' if p < 0.05 else 'does not survive'})"


def claim_note(claim: Mapping[str, Any]) -> str:
    return str(claim.get("reason") or claim.get("note") or "")


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def load_papers(params_path: Path) -> dict[str, dict[str, Any]]:
    """The ``papers`` mapping of params.yaml, in file order."""
    import yaml

    doc = yaml.safe_load(Path(params_path).read_text(encoding="utf-8")) or {}
    papers = doc.get("papers") or {}
    if not isinstance(papers, Mapping):
        raise ValueError(f"{params_path}: top-level 'papers' must be a mapping slug -> {{title, arxiv, notebook}}")
    return {str(slug): dict(meta or {}) for slug, meta in papers.items()}


def collect_results(reports_dir: Path, params_path: Path) -> list[PaperResult]:
    reports_dir = Path(reports_dir)
    rows = []
    for slug, meta in load_papers(params_path).items():
        folder = reports_dir / slug
        metrics = _read_json(folder / "metrics.json")
        timing = _read_json(folder / "timing.json") if metrics is not None else None
        paper = (metrics or {}).get("paper") or {}
        # The report's HTML sits next to its metrics (reports/<slug>/<slug>.html) unless it was put at the top.
        html_href = f"{slug}.html" if (reports_dir / f"{slug}.html").is_file() else f"{slug}/{slug}.html"
        rows.append(PaperResult(
            slug=slug,
            title=str(meta.get("title") or paper.get("title") or slug),
            arxiv=str(meta.get("arxiv") or paper.get("arxiv") or ""),
            metrics=metrics, timing=timing,
            html_href=html_href, metrics_href=f"{slug}/metrics.json", notebook_href=f"{slug}/{slug}.ipynb",
        ))
    return rows


# ---- Markdown ----------------------------------------------------------------------------------------


def _md(text: Any) -> str:
    """Text safe inside a Markdown table cell: no ``|`` splits it, no ``$`` typesets maths, no HTML."""
    s = " ".join(str(text).split())
    s = s.replace("\\", "\\\\").replace("|", "\\|").replace("$", "\\$")
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", s)


def _md_row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _totals(rows: Sequence[PaperResult]) -> tuple[int, Counter]:
    """Papers run so far, and the verdicts of their declared rows."""
    done = [r for r in rows if r.metrics is not None]
    total = Counter()
    for r in done:
        total.update(r.counts)
    return len(done), total


def _reproduced(claims: Sequence[Mapping[str, Any]]) -> int:
    return sum(c.get("verdict") == "reproduced" for c in claims)


def _post_hoc_total(rows: Sequence[PaperResult]) -> str:
    post = [c for r in rows if r.metrics is not None for c in r.post_hoc]
    return (f"{len(post)} post hoc rows ({_reproduced(post)} reproduced), "
            "shown beside the declared rows and counted apart from them")


def _counts_text(c: Counter) -> str:
    return ", ".join(f"{c[v]} {v}" for v in VERDICTS)


LEGEND = ("A claim is *reproduced* when the whole 95 % CI of its statistic lies on the claimed side of the threshold, "
          "*not reproduced* when it lies on the other side, *inconclusive* when it straddles the threshold, "
          "*untestable* when a declared precondition failed or the claim cannot be measured at this scale. "
          "*paired*: the statistic comes from per-seed differences (methods share seeds and evaluation sets). "
          "*P(impr.)*: share of seeds (or seed pairs) on the claimed side. *MDE*: the smallest true effect these "
          "seeds detect with 80 % power (t test). *Holm p*: adjusted across the paper's claims, beside the "
          "pre-registered verdict, which it does not change; post hoc rows get none. *declared*: the rows "
          "written before the reported runs; the verdict counts are theirs. *post hoc*: rows added after seeing "
          "results (marked so, exploratory), counted apart and never replacing a declared verdict.")


def scorecard_markdown(rows: Sequence[PaperResult]) -> str:
    n_done, total = _totals(rows)
    out = [
        "# hrl-repro scorecard",
        "",
        f"{n_done} of {len(rows)} papers run so far; declared claims: {_counts_text(total)}; "
        f"{_post_hoc_total(rows)}. "
        "Generated from `reports/<slug>/metrics.json` by `python -m hrlkit.report scorecard`; do not edit.",
        "",
        LEGEND,
        "",
        _md_row(["paper", "arXiv", "seeds", "declared", *VERDICTS, "post hoc", "compute", "report", "notebook"]),
        _md_row(["---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---", "---"]),
    ]
    for r in rows:
        if r.metrics is None:
            out.append(_md_row([_md(r.title), _md(r.arxiv), NOT_YET, "", "", "", "", "", "", "", "", ""]))
            continue
        c = r.counts
        out.append(_md_row([
            f"[{_md(r.title)}](#{r.slug})", _md(r.arxiv), str(r.n_seeds) if r.n_seeds is not None else "",
            str(len(r.declared)), *(str(c[v]) for v in VERDICTS), r.post_hoc_text, fmt_duration(r.compute_s),
            f"[{r.slug}.html]({r.html_href})", f"[{r.slug}.ipynb]({r.notebook_href})",
        ]))
    for r in rows:
        out += ["", f'<a id="{r.slug}"></a>', "", f"## {_md(r.title)}", ""]
        arxiv = f"arXiv [{r.arxiv}](https://arxiv.org/abs/{r.arxiv})" if r.arxiv else "arXiv: n/a"
        if r.metrics is None:
            out += [f"{arxiv} · slug `{r.slug}` · **{NOT_YET}**"]
            continue
        out += [f"{arxiv} · slug `{r.slug}` · profile {_md(r.profile)} · {r.n_seeds} seeds · "
                f"[report]({r.html_href}) · [notebook]({r.notebook_href}) · [metrics.json]({r.metrics_href})", "",
                f"Tuning: {_md(r.tuning)}", ""]
        out += [_md_row(["id", "claim", "statistic", "value", "95% CI", "threshold", "paired", "P(impr.)", "MDE",
                         "Holm p", "verdict"]),
                _md_row(["---", "---", "---", "---:", "---", "---", "---", "---:", "---:", "---", "---"])]
        for cl in r.claims:
            claim_text = _md(cl.get("claim", ""))
            if claim_note(cl):
                claim_text += f" _({_md(claim_note(cl))})_"
            out.append(_md_row([_md(cl.get("id", "")) + (" (post hoc)" if cl.get("post_hoc") else ""), claim_text,
                                _md(cl.get("statistic", "")), fmt_num(cl.get("value")), fmt_ci(cl.get("ci95")),
                                _md(fmt_threshold(cl)), fmt_paired(cl),
                                fmt_num(cl.get("prob_improvement"), ".2f") if cl.get("prob_improvement") is not None
                                else "", fmt_num(cl.get("mde")) if cl.get("mde") is not None else "",
                                fmt_holm(cl), f"**{_md(cl.get('verdict', 'inconclusive'))}**"]))
        if r.facts:
            out += ["", "Facts (not tests: what holds by construction, or only describes the runs):", "",
                    _md_row(["id", "fact", "value", "basis"]), _md_row(["---", "---", "---:", "---"])]
            for f in r.facts:
                value = fmt_num(f.get("value")) + (f" {fmt_ci(f['ci95'])}" if f.get("ci95") else "")
                out.append(_md_row([_md(f.get("id", "")), _md(f.get("fact", "")), value, _md(f.get("basis", ""))]))
    return "\n".join(out) + "\n"


# ---- HTML --------------------------------------------------------------------------------------------

_CSS = """
:root { --ok: #1a7f37; --ok-bg: #dafbe1; --bad: #cf222e; --bad-bg: #ffebe9; --meh: #9a6700; --meh-bg: #fff8c5;
        --na: #57606a; --na-bg: #eaeef2; --muted: #57606a; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328; margin: 0;
       background: #f6f8fa; }
main { max-width: 1280px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.25em; margin: 0 0 4px; }
h3 { font-size: 1em; margin: 14px 0 4px; }
p.lead, p.meta { color: var(--muted); margin: 4px 0 12px; }
section.paper { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 18px;
                margin: 18px 0; }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: 0.9em; }
th, td { border: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #f0f3f6; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.nowrap { white-space: nowrap; }
a { color: #0969da; text-decoration: none; }
a:hover { text-decoration: underline; }
.verdict { font-weight: 600; white-space: nowrap; }
.v-reproduced { color: var(--ok); background: var(--ok-bg); }
.v-not-reproduced { color: var(--bad); background: var(--bad-bg); }
.v-inconclusive { color: var(--meh); background: var(--meh-bg); }
.v-untestable { color: var(--na); background: var(--na-bg); }
.v-pending { color: var(--muted); font-style: italic; }
td.count-reproduced { color: var(--ok); font-weight: 600; }
td.count-not-reproduced { color: var(--bad); font-weight: 600; }
td.count-inconclusive { color: var(--meh); font-weight: 600; }
td.count-untestable { color: var(--na); font-weight: 600; }
.note { color: var(--muted); font-size: 0.9em; }
footer { color: var(--muted); font-size: 0.85em; margin-top: 28px; }
""".strip()


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _vclass(verdict: str) -> str:
    return "v-" + re.sub(r"[^a-z]+", "-", verdict.lower()).strip("-")


def scorecard_html(rows: Sequence[PaperResult]) -> str:
    n_done, total = _totals(rows)
    counts = ", ".join(f'<span class="verdict {_vclass(v)}">{total[v]} {v}</span>' for v in VERDICTS)
    h = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>hrl-repro scorecard</title>",
        f"<style>\n{_CSS}\n</style>",
        "</head>",
        "<body>",
        "<main>",
        "<h1>hrl-repro scorecard</h1>",
        f'<p class="lead">{n_done} of {len(rows)} papers run so far; declared claims: {counts}; '
        f"{_e(_post_hoc_total(rows))}. Built from "
        "<code>reports/&lt;slug&gt;/metrics.json</code>.</p>",
        f'<p class="note">{_e(LEGEND).replace("*", "")}</p>',
        "<table>",
        "<thead><tr><th>paper</th><th>arXiv</th><th>seeds</th><th>declared</th>"
        + "".join(f"<th>{v}</th>" for v in VERDICTS)
        + "<th>post hoc</th><th>compute</th><th>report</th></tr></thead>",
        "<tbody>",
    ]
    for r in rows:
        arxiv = f'<a href="https://arxiv.org/abs/{_e(r.arxiv)}">{_e(r.arxiv)}</a>' if r.arxiv else ""
        if r.metrics is None:
            h.append(f'<tr><td><a href="#{_e(r.slug)}">{_e(r.title)}</a></td><td class="nowrap">{arxiv}</td>'
                     f'<td colspan="9" class="v-pending">{NOT_YET}</td></tr>')
            continue
        c = r.counts
        t = r.timing or {}
        title = ", ".join(f"{k} {t[k]}" for k in ("workers", "cpu_count", "device", "torch") if k in t)
        h.append(
            f'<tr><td><a href="#{_e(r.slug)}">{_e(r.title)}</a></td><td class="nowrap">{arxiv}</td>'
            f'<td class="num">{r.n_seeds if r.n_seeds is not None else ""}</td>'
            f'<td class="num">{len(r.declared)}</td>'
            + "".join(f'<td class="num count-{_vclass(v)[2:]}">{c[v]}</td>' for v in VERDICTS)
            + f'<td class="num">{_e(r.post_hoc_text)}</td>'
            + f'<td class="num" title="{_e(title)}">{_e(fmt_duration(r.compute_s))}</td>'
            f'<td class="nowrap"><a href="{_e(r.html_href)}">{_e(r.slug)}.html</a></td></tr>'
        )
    h += ["</tbody>", "</table>"]
    for r in rows:
        h.append(f'<section class="paper" id="{_e(r.slug)}">')
        h.append(f"<h2>{_e(r.title)}</h2>")
        arxiv = (f'arXiv <a href="https://arxiv.org/abs/{_e(r.arxiv)}">{_e(r.arxiv)}</a>' if r.arxiv
                 else "arXiv n/a")
        if r.metrics is None:
            h.append(f'<p class="meta">{arxiv} · <code>{_e(r.slug)}</code> · '
                     f'<span class="v-pending">{NOT_YET}</span></p>')
            h.append("</section>")
            continue
        h.append(f'<p class="meta">{arxiv} · <code>{_e(r.slug)}</code> · profile {_e(r.profile)} · '
                 f"{r.n_seeds} seeds · compute {_e(fmt_duration(r.compute_s))} · "
                 f'<a href="{_e(r.html_href)}">report</a> · <a href="{_e(r.notebook_href)}">notebook</a> · '
                 f'<a href="{_e(r.metrics_href)}">metrics.json</a></p>')
        h.append(f'<p class="note">Tuning: {_e(r.tuning)}</p>')
        h.append("<table>")
        h.append("<thead><tr><th>id</th><th>claim</th><th>statistic</th><th>value</th><th>95% CI</th>"
                 "<th>threshold</th><th>paired</th><th>P(impr.)</th><th>MDE</th><th>Holm p</th><th>verdict</th>"
                 "</tr></thead>")
        h.append("<tbody>")
        for cl in r.claims:
            verdict = str(cl.get("verdict", "inconclusive"))
            claim_cell = _e(cl.get("claim", ""))
            if claim_note(cl):
                claim_cell += f'<br><span class="note">{_e(claim_note(cl))}</span>'
            test = cl.get("test")
            poi = cl.get("prob_improvement")
            h.append(
                f'<tr><td class="nowrap">{_e(cl.get("id", ""))}{" (post hoc)" if cl.get("post_hoc") else ""}</td>'
                f"<td>{claim_cell}</td>"
                f'<td{f" title={chr(34)}{_e(test)}{chr(34)}" if test else ""}>{_e(cl.get("statistic", ""))}</td>'
                f'<td class="num">{_e(fmt_num(cl.get("value")))}</td>'
                f'<td class="num">{_e(fmt_ci(cl.get("ci95")))}</td>'
                f'<td class="num">{_e(fmt_threshold(cl))}</td>'
                f"<td>{_e(fmt_paired(cl))}</td>"
                f'<td class="num">{_e(fmt_num(poi, ".2f") if poi is not None else "")}</td>'
                f'<td class="num">{_e(fmt_num(cl.get("mde")) if cl.get("mde") is not None else "")}</td>'
                f'<td class="nowrap">{_e(fmt_holm(cl))}</td>'
                f'<td class="verdict {_vclass(verdict)}">{_e(verdict)}</td></tr>'
            )
        h += ["</tbody>", "</table>"]
        if r.facts:
            h.append("<h3>Facts (not tests: what holds by construction, or only describes the runs)</h3>")
            h.append("<table><thead><tr><th>id</th><th>fact</th><th>value</th><th>basis</th></tr></thead><tbody>")
            for f in r.facts:
                value = fmt_num(f.get("value")) + (f" {fmt_ci(f['ci95'])}" if f.get("ci95") else "")
                h.append(f'<tr><td class="nowrap">{_e(f.get("id", ""))}</td><td>{_e(f.get("fact", ""))}</td>'
                         f'<td class="num">{_e(value)}</td><td>{_e(f.get("basis", ""))}</td></tr>')
            h.append("</tbody></table>")
        h.append("</section>")
    h += ['<footer>Generated by <code>python -m hrlkit.report scorecard</code> from the committed '
          "<code>metrics.json</code> and <code>timing.json</code> files; do not edit by hand.</footer>",
          "</main>", "</body>", "</html>"]
    return "\n".join(h) + "\n"


def build_scorecard(reports_dir: Path, params_path: Path) -> None:
    """Write ``reports_dir/SCORECARD.md`` and ``reports_dir/index.html`` for the papers of params.yaml."""
    reports_dir = Path(reports_dir)
    rows = collect_results(reports_dir, Path(params_path))
    reports_dir.mkdir(parents=True, exist_ok=True)
    (reports_dir / "SCORECARD.md").write_text(scorecard_markdown(rows), encoding="utf-8", newline="\n")
    (reports_dir / "index.html").write_text(scorecard_html(rows), encoding="utf-8", newline="\n")


# =====================================================================================================
# CLI
# =====================================================================================================


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hrlkit.report", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_html = sub.add_parser("html", help="render an executed notebook as one offline HTML file")
    p_html.add_argument("notebook", type=Path, help="executed .ipynb")
    p_html.add_argument("out", type=Path, help="output .html")
    p_sc = sub.add_parser("scorecard", help="write reports/SCORECARD.md and reports/index.html")
    p_sc.add_argument("--reports", type=Path, default=Path("reports"))
    p_sc.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    if args.command == "html":
        render_html(args.notebook, args.out)
        print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    else:
        build_scorecard(args.reports, args.params)
        print(f"wrote {args.reports / 'SCORECARD.md'} and {args.reports / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
