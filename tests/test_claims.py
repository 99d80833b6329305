"""Claims and verdicts (hrlkit.claims): the CI rule, four verdicts, preconditions, paired comparisons, power,
Holm, facts, and the metrics.json contract."""

import json

import jsonschema
import numpy as np
import pytest

from hrlkit import stats
from hrlkit.claims import (Claim, ClaimsTable, Fact, FactsTable, build_metrics, equivalence, flat_metrics,
                           md_escape, validate_metrics, verdict, write_metrics)

TUNING = {"summary": "no method was tuned"}
PAPER = {"slug": "x", "arxiv": "0000.00000", "title": "X"}


@pytest.mark.parametrize("ci, threshold, direction, expected", [
    ((0.1, 0.3), 0.0, ">", "reproduced"),          # whole CI above
    ((-0.1, 0.3), 0.0, ">", "inconclusive"),       # straddles
    ((-0.3, -0.1), 0.0, ">", "not reproduced"),    # whole CI below
    ((-0.3, 0.0), 0.0, ">", "not reproduced"),     # touching the threshold is not on the claimed side
    ((0.0, 0.0), 0.0, ">", "not reproduced"),
    ((-0.3, -0.1), 0.0, "<", "reproduced"),
    ((0.1, 0.3), 0.0, "<", "not reproduced"),
    ((-0.1, 0.1), 0.0, "<", "inconclusive"),
    ((1.6, 2.0), 1.5, ">", "reproduced"),
    (None, 0.0, ">", "inconclusive"),
])
def test_verdict_rule(ci, threshold, direction, expected):
    assert verdict(ci, threshold, direction) == expected


def test_verdict_rejects_bad_inputs():
    with pytest.raises(ValueError):
        verdict((0.0, 1.0), 0.0, ">=")
    with pytest.raises(ValueError):
        verdict((1.0, 0.0), 0.0, ">")


def _claims():
    return ClaimsTable([
        Claim("C1", "ours beats baseline", "difference of IQMs", "IQM(ours) - IQM(base)", 0.0, ">"),
        Claim("C2", "cannot be tested small", "n/a", "n/a", 0.0, ">"),
    ])


def _metrics(claims, facts=None):
    return build_metrics(paper=PAPER, profile="smoke", seeds=[0, 1], methods=["ours", "base"],
                         headline={"m": {"ours": {"iqm": 1.0, "ci95": [0.5, 1.5]}}}, claims=claims, facts=facts,
                         tuning=TUNING)


def test_four_verdicts_and_metrics_roundtrip(tmp_path):
    claims = _claims()
    with pytest.raises(RuntimeError, match="C1"):
        claims.check_all_measured()
    claims["C1"].measure(0.5, (0.2, 0.8))
    claims["C2"].untestable("needs the full benchmark")
    facts = FactsTable([Fact("F1", "actor parameters of ours", 5812, "by construction")])
    path = write_metrics(tmp_path, _metrics(claims, facts))
    loaded = json.loads(path.read_text())
    assert [c["verdict"] for c in loaded["claims"]] == ["reproduced", "untestable"]
    assert loaded["claims"][1]["value"] is None and loaded["claims"][1]["reason"] == "needs the full benchmark"
    assert loaded["facts"] == [{"id": "F1", "fact": "actor parameters of ours", "value": 5812,
                                "basis": "by construction"}]
    assert claims.counts() == {"reproduced": 1, "not reproduced": 0, "inconclusive": 0, "untestable": 1}
    assert "<table" in claims._repr_html_() and "<table" in facts._repr_html_()
    with pytest.raises(ValueError, match="say why"):
        Claim("C3", "x", "t", "s", 0, ">").untestable("")


def test_a_failed_precondition_is_untestable_not_a_failure():
    rng = np.random.default_rng(0)
    ours, base = rng.normal(0.9, 0.02, 8), rng.normal(0.1, 0.02, 8)      # very different task success
    claim = Claim("C2a", "smoother at similar success", "action rate", "rate(base) − rate(ours)", 0.0, ">",
                  precondition="similar success: |Δ success| < 0.15 (whole paired 95 % CI)")
    holds, what = equivalence(ours, base, 0.15)
    assert not holds and "not inside ±0.15" in what
    if claim.require(holds, f"success {what}"):
        claim.compare([1.0, 2.0], [0.5, 1.0], ("base", "ours"))
    assert claim.verdict == "untestable" and claim.reason.startswith("precondition failed: success difference")
    assert equivalence(ours, ours + 0.01, 0.15)[0]
    with pytest.raises(ValueError, match="no precondition"):
        Claim("C9", "x", "t", "s", 0, ">").require(True, "")


def test_paired_comparison_uses_per_seed_differences():
    seed_effect = np.array([-5.0, -2.0, 0.0, 3.0, 6.0, -4.0, 1.0, 5.0, 2.0, -1.0])
    base = seed_effect
    ours = seed_effect + np.linspace(0.2, 0.4, 10)                         # better on every seed
    paired = Claim("P", "ours beats base", "t", "ours − base", 0.0, ">").compare(ours, base, ("ours", "base"))
    unpaired = Claim("U", "ours beats base", "t", "ours − base", 0.0, ">").compare(ours, base, ("ours", "base"),
                                                                                      paired=False)
    assert paired.paired is True and paired.verdict == "reproduced" and paired.prob_improvement == 1.0
    assert unpaired.paired is False and unpaired.verdict == "inconclusive"     # pairing alone moves this verdict
    assert 0.45 < unpaired.prob_improvement < 0.6
    assert unpaired.seeds_needed is not None and unpaired.seeds_needed > 10
    d = ours - base
    assert paired.value == pytest.approx(stats.iqm(d), rel=1e-6)
    assert paired.mde == pytest.approx(stats.min_detectable_effect(np.std(d, ddof=1), 10), rel=1e-3)
    assert paired.p_value == pytest.approx(stats.t_test_p(d), rel=1e-3)
    assert "paired over 10 seeds" in paired.note


def test_direction_orients_the_probability_of_improvement():
    claim = Claim("C", "ours costs less", "t", "cost(ours) − cost(base)", 0.0, "<")
    claim.compare([1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 3.0], ("ours", "base"))
    assert claim.prob_improvement == pytest.approx(0.75)                   # 3 of 4 seeds cost less


def test_measure_units_is_paired_by_construction():
    claim = Claim("S", "slope gap", "t", "slope(pf) − slope(ours)", 0.0, ">").measure_units([0.5, 0.7, 0.2, 0.9])
    assert claim.paired is True and claim.verdict == "reproduced" and claim.mde is not None


def test_holm_is_shown_beside_the_verdict():
    table = ClaimsTable([Claim(f"C{i}", "c", "t", "s", 0.0, ">") for i in range(3)]
                        + [Claim("U", "u", "t", "s", 0.0, ">"), Claim("H", "h", "t", "s", 0.0, ">", post_hoc=True)])
    table["C0"].measure_units([1.0, 1.1, 0.9, 1.2])
    table["C1"].measure_units([0.3, -0.2, 0.4, 0.1])
    table["C2"].measure_units([2.0, 2.2, 1.9, 2.1])
    table["U"].untestable("no data")
    table["H"].measure_units([1.0, 1.2, 0.8, 1.1])
    table.apply_holm()
    p = [table[c].p_value for c in ("C0", "C1", "C2")]
    adjusted, _ = stats.holm(p)
    assert [table[c].p_holm for c in ("C0", "C1", "C2")] == pytest.approx(adjusted, rel=1e-3)
    assert table["U"].p_holm is None and table["H"].p_holm is None     # untestable and post-hoc rows excluded
    frame = table.to_frame()
    assert list(frame.columns[-6:]) == ["MDE (80 %)", "seeds needed", "p", "Holm p", "verdict", "note"]
    assert frame.loc[4, "p"] != "" and frame.loc[4, "Holm p"] == ""       # a post hoc row: raw p, no Holm
    assert frame.loc[4, "id"] == "H (post hoc)"


def test_read_with_care_names_decided_rows_not_surviving_holm_or_underpowered():
    table = ClaimsTable([Claim(f"C{i}", "c", "t", "s", 0.0, ">") for i in range(3)]
                        + [Claim("H", "h", "t", "s", 0.0, ">", post_hoc=True)])
    table["C0"].measure_units([2.0, 2.2, 1.9, 2.1, 2.0, 2.1])               # large, tight: survives, powered
    table["C1"].measure_units([0.05, 0.6, 0.1, 0.5, 0.2, 0.3])              # decided, but noisy and small
    table["C2"].measure_units([0.3, -0.2, 0.4, 0.1])                        # inconclusive: never listed
    table["H"].measure_units([0.05, 0.6, 0.1, 0.5])                         # post hoc: never listed
    table.apply_holm()
    care = table.read_with_care()
    c1 = table["C1"]
    assert table["C0"].verdict == c1.verdict == "reproduced" and table["C2"].verdict == "inconclusive"
    assert care["not_holm"] == (["C1"] if c1.p_holm >= 0.05 else [])
    assert care["underpowered"] == (["C1"] if c1.mde > abs(c1.value) else [])
    assert "C0" not in care["not_holm"] + care["underpowered"]
    assert care["not_holm"] or care["underpowered"]                         # C1 is a case the method must name


def test_validate_metrics_rejects_typed_verdicts():
    claims = _claims()
    claims["C1"].measure(0.5, (0.2, 0.8))
    claims["C2"].measure(-1.0, (-2.0, -0.5))
    doc = _metrics(claims)
    doc["claims"][1]["verdict"] = "reproduced"   # a verdict that does not follow from the CI
    with pytest.raises(ValueError, match="C2"):
        validate_metrics(doc)
    doc["claims"][1]["verdict"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        validate_metrics(doc)
    doc["claims"][1].update(verdict="untestable", reason="")
    with pytest.raises(ValueError, match="say why"):
        validate_metrics(doc)


def test_claim_ids_unique_and_direction_checked():
    with pytest.raises(ValueError):
        ClaimsTable([Claim("C1", "a", "t", "s", 0, ">"), Claim("C1", "b", "t", "s", 0, ">")])
    with pytest.raises(ValueError):
        Claim("C1", "a", "t", "s", 0, "=")
    with pytest.raises(ValueError):
        Fact("F", "x", 1.0, basis="guessed")


def test_summary_lines_render_every_claim_and_escape_markdown():
    table = ClaimsTable([Claim("C1", "A beats B at 3 $/day", "t", "|A − B|", threshold=0.0, direction=">"),
                         Claim("C2", "untestable", "t", "—", threshold=1.0, direction="<")])
    table["C1"].measure(0.5, (0.25, 0.75))
    table["C2"].untestable("no data")
    lines = table.summary_lines()
    assert lines[0] == r"- **C1** (A beats B at 3 \$/day): \|A − B\| = 0.5 [0.25, 0.75], threshold > 0 → **reproduced**"
    assert lines[1] == "- **C2** (untestable): **untestable**: no data"
    assert md_escape("a_b*c") == r"a\_b\*c"


def test_html_cells_are_escaped():
    table = ClaimsTable([Claim("C1", "cost < 3 $ | day <script>", "t", "s", 0.0, ">")])
    table["C1"].untestable("no <b>data</b>")
    html = table._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;" in html


def test_flat_metrics_count_declared_rows_and_post_hoc_rows_apart():
    doc = {"seeds": [0, 1, 2], "claims": [
        {"id": "C1", "verdict": "reproduced", "post_hoc": False},
        {"id": "C2", "verdict": "inconclusive", "post_hoc": False},
        {"id": "C1-run", "verdict": "reproduced", "post_hoc": True},
        {"id": "C2-run", "verdict": "not reproduced", "post_hoc": True}]}
    assert flat_metrics(doc) == {"reproduced": 1, "not_reproduced": 0, "inconclusive": 1, "untestable": 0,
                                            "claims": 2, "post_hoc": 2, "post_hoc_reproduced": 1, "seeds": 3}


def test_compare_items_resamples_items_as_well_as_seeds():
    rng = np.random.default_rng(3)
    first = (rng.random((10, 60)) < 0.6).astype(float)          # 10 seeds × 60 problems, 0/1
    second = (rng.random((10, 60)) < 0.4).astype(float)
    by_items = Claim("C", "better", "t", "acc A − acc B", threshold=0.0, direction=">").compare_items(
        first, second, ("A", "B"))
    by_seeds = Claim("C", "better", "t", "acc A − acc B", threshold=0.0, direction=">").compare(
        first.mean(axis=1), second.mean(axis=1), ("A", "B"))
    assert by_items.value == pytest.approx(by_seeds.value)      # the same statistic …
    assert by_items.ci95[1] - by_items.ci95[0] > by_seeds.ci95[1] - by_seeds.ci95[0]   # … with a wider interval
    assert by_items.paired and by_items.p_value == by_seeds.p_value and "60 items" in by_items.note


def test_verdict_intervals_use_the_verdict_resample_count():
    from hrlkit.claims import VERDICT_RESAMPLES
    a, b = np.array([0.3, 0.5, 0.2, 0.6, 0.4, 0.45]), np.array([0.1, 0.4, 0.25, 0.3, 0.2, 0.5])
    claim = Claim("C", "better", "t", "a − b", threshold=0.0, direction=">").compare(a, b, ("a", "b"))
    _, ci = stats.paired_difference_ci(a, b, "iqm", n_resamples=VERDICT_RESAMPLES)
    assert claim.ci95 == pytest.approx(ci, abs=1e-6) and VERDICT_RESAMPLES >= 100_000
