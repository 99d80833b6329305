"""Tests for hrlkit.report: offline HTML rendering of executed notebooks, and the scorecard."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from hrlkit import report

# A valid 1x1 PNG.
PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*['\"]?\s*(?:https?:)?//", re.I)


# ---------------------------------------------------------------------------------------
# render_html
# ---------------------------------------------------------------------------------------


def _tiny_notebook(tmp_path: Path, md_extra: str = "", outputs_extra: list | None = None) -> Path:
    md = ("Energy $E = mc^2$ and a price of \\$5; code `$notmath$` stays.\n\n"
          "$$\\hat A_t = \\sum_l (\\gamma\\lambda)^l \\delta_{t+l}$$\n" + md_extra)
    code = new_code_cell("print('hello report')\nshow()", execution_count=1, outputs=[
        new_output("stream", name="stdout", text="hello report\n"),
        new_output("display_data", data={"image/png": PNG_1X1, "text/plain": "<Figure size 10x10>"}),
        *(outputs_extra or []),
    ])
    params = new_code_cell("seeds = [0, 1]", execution_count=0, metadata={"tags": ["injected-parameters"]})
    nb = new_notebook(cells=[new_markdown_cell(md), params, code])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"x": {"big": "y" * 5000}}}}
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("render")
    src = _tiny_notebook(tmp)
    out = tmp / "out" / "tiny.html"
    report.render_html(src, out)
    return src, out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def rendered(tiny) -> str:
    return tiny[1]


def test_render_html_converts_math_to_mathml(rendered):
    assert rendered.count("<math") == 2
    assert '<math display="block"' in rendered and '<math display="inline"' in rendered
    assert "$E = mc^2$" not in rendered and "E = mc^2" not in rendered
    assert "\\hat A_t" not in rendered and "$$" not in rendered
    assert "<code>$notmath$</code>" in rendered  # code spans are not math
    assert "price of $5" in rendered             # \$ is a literal dollar


def test_render_html_is_offline(rendered):
    assert not REMOTE_SCRIPT.search(rendered)
    assert "<script" not in rendered.lower()
    assert "mathjax" not in rendered.lower()
    assert "cdnjs" not in rendered.lower() and "cdn.jsdelivr" not in rendered.lower()
    assert not re.search(r"<link\b[^>]*href=['\"]?https?:", rendered, re.I)


def test_render_html_folds_code_and_keeps_outputs(rendered):
    assert rendered.count("<details") == 2
    assert "<details open" not in rendered
    assert "<summary>parameters (injected by papermill)</summary>" in rendered
    folded = re.findall(r"<details.*?</details>", rendered, re.S)
    assert any("print" in d for d in folded)
    assert all("hello report\n</pre>" not in d for d in folded)  # the output is outside the fold
    assert "hello report\n</pre>" in rendered


def test_render_html_is_lean_and_deterministic(tiny, tmp_path):
    src, rendered = tiny
    assert rendered.count(PNG_1X1) == 1
    assert "widget-state" not in rendered and "y" * 100 not in rendered
    assert len(rendered.encode()) < 60_000  # JupyterLab's CSS pruned to what the page uses
    report.render_html(src, tmp_path / "again.html")
    assert (tmp_path / "again.html").read_bytes() == rendered.encode("utf-8")


def test_render_html_survives_bad_formula_and_noise(tmp_path):
    md = "\n\nBroken $\\frac{1}{$ then fine $\\alpha_*$.\n\n![fig](figures/f.png)\n"
    extra = [
        new_output("stream", name="stderr", text="\r  0%|   | 0/3\r 50%|#  | 1/3"),
        new_output("stream", name="stderr", text="\r100%|###| 3/3\n"),
        new_output("display_data", data={"image/png": PNG_1X1, "text/plain": "<Figure>"}),  # same figure again
        new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "m"},
                                         "text/plain": "HBox(children=(FloatProgress(value=0.0),))"}),
    ]
    src = _tiny_notebook(tmp_path, md_extra=md, outputs_extra=extra)
    (tmp_path / "figures").mkdir()
    other_png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="

    (tmp_path / "figures" / "f.png").write_bytes(base64.b64decode(other_png))
    out = tmp_path / "noisy.html"
    report.render_html(src, out)
    page = out.read_text(encoding="utf-8")
    assert 'class="hrl-math-error"' in page and "\\frac{1}{" in page
    assert page.count("<math") == 3
    assert page.count(PNG_1X1) == 1 and "[same figure as above]" in page
    assert page.count(other_png) == 1  # the markdown image, embedded from disk
    assert 'src="figures/f.png"' not in page
    assert "100%|###| 3/3" in page and "50%|#" not in page
    assert "widget-view" not in page and "HBox" not in page


def test_cli_html(tmp_path):
    src = _tiny_notebook(tmp_path)
    assert report.main(["html", str(src), str(tmp_path / "cli.html")]) == 0
    assert "<math" in (tmp_path / "cli.html").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------
# scorecard
# ---------------------------------------------------------------------------------------

CLAIM_TEXT = "Hierarchical DRL keeps URLLC violations < 1% & beats PF"


def _write_reports(root: Path) -> tuple[Path, Path]:
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump({
        "seeds": [0, 1, 2],
        "papers": {
            "zeta_done": {"title": "Teleoperation slicing", "arxiv": "2505.15977",
                          "notebook": "notebooks/zeta_done.py"},
            "alpha_todo": {"title": "Options critic", "arxiv": "1609.05140", "notebook": "notebooks/alpha_todo.py"},
        },
    }, sort_keys=False))
    reports = root / "reports"
    (reports / "zeta_done").mkdir(parents=True)
    metrics = {
        "paper": {"slug": "zeta_done", "arxiv": "2505.15977", "title": "Teleoperation slicing"},
        "profile": "repro", "seeds": [0, 1, 2, 3, 4], "methods": ["hierarchical-drl", "proportional-fair"],
        "headline": {"urllc_violation": {"hierarchical-drl": {"iqm": 0.01, "ci95": [0.008, 0.013]}}},
        "claims": [
            {"id": "C1", "claim": CLAIM_TEXT, "test": "paired bootstrap", "statistic": "PF - HDRL violation",
             "value": 0.0212345, "ci95": [0.0151, 0.02749], "threshold": 0.0, "direction": ">", "paired": True,
             "prob_improvement": 1.0, "mde": 0.00512, "p_holm": 0.012, "verdict": "reproduced", "reason": "",
             "post_hoc": False},
            {"id": "C2", "claim": "Lower latency costs $3 | day", "test": "t", "statistic": "latency gap",
             "value": -1.5, "ci95": [-2.0, -1.0], "threshold": 0.0, "direction": ">", "paired": False,
             "prob_improvement": 0.1, "mde": 0.7, "p_holm": 0.2, "verdict": "not reproduced", "reason": "",
             "post_hoc": False},
            {"id": "C3", "claim": "Scales to 100 users", "test": "n/a", "statistic": "throughput ratio",
             "value": None, "ci95": None, "threshold": 1.0, "direction": "<", "paired": None,
             "prob_improvement": None, "mde": None, "verdict": "untestable", "reason": "needs 100 users",
             "post_hoc": False},
            {"id": "C4", "claim": "Beats PF on eMBB", "test": "t", "statistic": "gap", "value": 123456.0,
             "ci95": [100000.0, 150000.0], "threshold": 0.0, "direction": ">", "paired": True,
             "prob_improvement": 0.8, "mde": 1000.0, "verdict": "reproduced", "reason": "", "post_hoc": True},
        ],
        "facts": [{"id": "F1", "fact": "actor parameters", "value": 5812, "basis": "by construction"}],
        "tuning": {"summary": "PF and static share grid-tuned, 16 configurations each"},
    }
    (reports / "zeta_done" / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (reports / "zeta_done" / "timing.json").write_text(json.dumps(
        {"wall_time_s": 41.0, "workers": 2, "cpu_count": 2, "torch": "2.13.0", "device": "cpu", "profile": "repro",
         "training": {"task_seconds_total": 412.3}, "tuning": {"task_seconds_total": 100.0, "tasks": 4}}))
    return reports, params


def test_scorecard_markdown(tmp_path):
    reports, params = _write_reports(tmp_path)
    report.build_scorecard(reports, params)
    md = (reports / "SCORECARD.md").read_text(encoding="utf-8")
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    done = next(r for r in rows if "Teleoperation slicing" in r)
    todo = next(r for r in rows if "Options critic" in r)
    cells = [c.strip() for c in done.strip("|").split(" | ")]
    # paper, arXiv, seeds, declared, reproduced, not reproduced, inconclusive, untestable, post hoc, compute, ...
    # the post hoc C4 (reproduced) is counted apart from the three declared rows
    assert cells[1:9] == ["2505.15977", "5", "3", "1", "1", "0", "1", "1 (1 reproduced)"]
    assert cells[9] == "8 min 32 s"                  # training and tuning tasks together
    assert "zeta_done/zeta_done.html" in cells[10] and "zeta_done/zeta_done.ipynb" in cells[11]
    assert "not yet reproduced" in todo and "1609.05140" in todo
    assert "declared claims: 1 reproduced, 1 not reproduced, 0 inconclusive, 1 untestable" in md
    assert "1 post hoc rows (1 reproduced)" in md
    # params.yaml order, not alphabetical
    assert md.index("Teleoperation slicing") < md.index("Options critic")
    # claims table: 3 significant digits, n/a, threshold with direction, paired, P(impr.), MDE, Holm
    c1 = next(r for r in rows if r.startswith("| C1 "))
    assert "| 0.0212 |" in c1 and "[0.0151, 0.0275]" in c1 and "| > 0 |" in c1 and "reproduced" in c1
    assert "| paired | 1.00 | 0.00512 | 0.012 (survives) |" in c1
    c2 = next(r for r in rows if r.startswith("| C2 "))
    assert "costs \\$3 \\| day" in c2 and "0.2 (does not survive)" in c2 and "| unpaired |" in c2
    c3 = next(r for r in rows if r.startswith("| C3 "))
    assert "| n/a | n/a | < 1 |" in c3 and "untestable" in c3 and "needs 100 users" in c3
    assert "| 1.23e+05 |" in next(r for r in rows if r.startswith("| C4 (post hoc) "))
    assert "Tuning: PF and static share grid-tuned, 16 configurations each" in md
    assert "| F1 | actor parameters | 5812 | by construction |" in md


def test_scorecard_html(tmp_path):
    reports, params = _write_reports(tmp_path)
    report.build_scorecard(reports, params)
    page = (reports / "index.html").read_text(encoding="utf-8")
    assert "URLLC violations &lt; 1% &amp; beats PF" in page
    assert CLAIM_TEXT not in page
    assert "<script" not in page.lower() and not re.search(r"<link\b", page, re.I)
    assert 'href="zeta_done/zeta_done.html"' in page and 'href="zeta_done/metrics.json"' in page
    assert "not yet reproduced" in page
    for css_class in ("v-reproduced", "v-not-reproduced", "v-untestable"):
        assert f'class="verdict {css_class}"' in page
    assert page.index("Teleoperation slicing") < page.index("Options critic")


def test_scorecard_is_deterministic(tmp_path):
    reports, params = _write_reports(tmp_path)
    report.build_scorecard(reports, params)
    first = {n: (reports / n).read_bytes() for n in ("SCORECARD.md", "index.html")}
    assert report.main(["scorecard", "--reports", str(reports), "--params", str(params)]) == 0
    assert {n: (reports / n).read_bytes() for n in first} == first


def test_formatting_helpers():
    assert report.fmt_num(None) == "n/a" and report.fmt_num(0.000123456) == "0.000123"
    assert report.fmt_ci(None) == "n/a" and report.fmt_ci([1, 2.3456]) == "[1, 2.35]"
    assert report.fmt_threshold({"threshold": 0.0, "direction": "<"}) == "< 0"
    assert report.fmt_duration(None) == "—" and report.fmt_duration(4000) == "1 h 06 min"


def test_css_pruning_keeps_what_can_match():
    css = ("/* c */ :root {--used: 1px; --unused: url(data:image/svg+xml;base64,AAAA);}\n"
           ".a .b {color: red;} .a, .zzz {margin: var(--used);} .a:not(.zzz) {top: 0;} .zzz {x: y;}\n"
           "@media print { .zzz {a: b;} .a {c: d;} } @media screen { .zzz {e: f;} } body {content: '{;}';}")
    page = f'<style>{css}</style><div class="a b">x</div>'
    lean = report._lean_styles(page)
    assert ".a .b {color: red;}" in lean and ".a {margin: var(--used);}" in lean
    assert ".a:not(.zzz) {top: 0;}" in lean and "@media print" in lean and ".a {c: d;}" in lean
    assert ".zzz" not in lean.replace(":not(.zzz)", "") and "@media screen" not in lean
    assert "--used: 1px" in lean and "--unused" not in lean and "/* c */" not in lean
    assert "body {content: '{;}';}" in lean


# ---------------------------------------------------------------------------------------
# sanitising, progress bars
# ---------------------------------------------------------------------------------------


def test_sanitizer_removes_active_content_and_keeps_the_rest():
    hostile = ('<p>ok <b onclick="x()">bold</b></p><script>alert(1)</script><img src="javascript:alert(1)" alt="a">'
               '<a href="https://example.org" onmouseover=\'evil()\'>fine</a><iframe src="x"></iframe>'
               '<svg><a xlink:href="javascript:1">s</a></svg><IMG SRC=x ONERROR=alert(3)>'
               '<a href="  JAVASCRIPT:alert(2)">l</a><object data="x"></object><embed src="y">'
               '<form action="x"><input></form><meta http-equiv="refresh" content="0;url=x">'
               '<math display="inline"><mi>x</mi></math>')
    clean = report.sanitize_html(hostile)
    low = clean.lower()
    assert "<script" not in low and "javascript:" not in low and not re.search(r"\son\w+\s*=", low)
    for tag in ("<iframe", "<object", "<embed", "<form", "refresh"):
        assert tag not in low
    assert '<a href="https://example.org">fine</a>' in clean and '<math display="inline"><mi>x</mi></math>' in clean
    assert '<img alt="a">' in clean
    safe = '<p class="x">a &amp; b</p><img src="data:image/png;base64,AAAA" alt="f">'
    assert report.sanitize_html(safe) == safe                    # nothing unsafe: byte for byte


def test_hostile_outputs_never_reach_the_report(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("show()")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": '<b onclick="steal()">x</b><script>evil()</script>',
                                                     "text/plain": "x"}),
        nbformat.v4.new_output("display_data", data={"text/markdown": "[link](javascript:alert(1)) costs 3 \\$",
                                                     "text/plain": "y"}),
        nbformat.v4.new_output("stream", name="stderr", text="runs:  40%|####      | 2/5 [00:03<00:04, 1.5s/it]\r"
                                                              "runs: 100%|##########| 5/5 [00:07<00:00, 1.4s/it]\n"),
    ]
    nb.cells = [cell]
    page = report.notebook_to_html(nb)
    low = page.lower()
    assert "evil()" not in page and "onclick" not in low and "javascript:" not in low
    assert "5/5 [" not in page                                    # progress bars stay in the console
    assert "costs 3 $" in page and "<math" not in page            # an escaped dollar is not maths
