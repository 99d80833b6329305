"""Every committed report reads right: no table broken into raw text, no machine path, no pointer outside the
repository or internal word, nothing active in the HTML, and metrics.json follows the contract."""

import json
import re
from pathlib import Path

import pytest

from hrlkit.claims import validate_metrics

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "reports").glob("*.html"))
METRICS = sorted((ROOT / "reports").glob("*/metrics.json"))
INTERNAL = re.compile(r"CONVENTIONS\.md|TOOLCHAIN\.md|REVIEW\.md|\.\./shared|\bthe brief\b|\bthe issue\b|"
                      r"\bbrief's\b", re.I)


def _texts(page: str) -> tuple[str, str]:
    """(all visible text, prose only: without code cells)."""
    no_style = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", page)
    full = re.sub(r"(?s)<[^>]+>", " ", no_style)
    prose = re.sub(r"(?s)<[^>]+>", " ", re.sub(r"(?is)<(pre|code)\b.*?</\1>", " ", no_style))
    return full, prose


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_report_reads_right(page):
    html = page.read_text(encoding="utf-8")
    full, prose = _texts(html)
    assert not re.search(r"\|\s*:?-{3,}:?\s*\|", prose), "a Markdown table rendered as raw text"
    path = re.search(r"(?:^|[\s='\"(])(/(?:[\w.-]+/){2,}[\w.-]*)", full)
    assert path is None, f"a machine path in the report: {path.group(1) if path else ''}"
    assert not INTERNAL.search(full), f"an internal word or outside pointer: {INTERNAL.search(full).group(0)}"
    low = html.lower()
    assert "<script" not in low and "javascript:" not in low, "active content in the report"
    assert not re.search(r"<[a-z][^>]*\son[a-z]+\s*=", low), "an event-handler attribute in the report"


@pytest.mark.parametrize("path", METRICS, ids=lambda p: p.parent.name)
def test_metrics_follow_the_contract(path):
    doc = json.loads(path.read_text())
    validate_metrics(doc)
    assert doc["profile"] == "repro" and doc["tuning"]["summary"]
    for claim in doc["claims"]:
        if claim["verdict"] == "untestable":
            assert claim["reason"] and claim["value"] is None
        elif claim["mde"] is not None:          # measured from per-seed values: the power figures come with it
            assert claim["prob_improvement"] is not None and claim["paired"] is not None


def test_scorecard_lists_every_paper_with_four_verdicts():
    import yaml

    md = (ROOT / "reports" / "SCORECARD.md").read_text(encoding="utf-8")
    for slug in yaml.safe_load((ROOT / "params.yaml").read_text())["papers"]:
        assert f'<a id="{slug}"></a>' in md
    for word in ("reproduced", "not reproduced", "inconclusive", "untestable", "Holm", "MDE", "Tuning:"):
        assert word in md
    assert not INTERNAL.search(md)
