import json

import jsonschema
import pytest

from hrlkit.claims import Claim, ClaimsTable, build_metrics, validate_metrics, verdict, write_metrics


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
    (None, 0.0, ">", "inconclusive"),              # untestable at this scale
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


def test_claims_measure_and_metrics_roundtrip(tmp_path):
    claims = _claims()
    with pytest.raises(RuntimeError, match="C1"):
        claims.check_all_measured()
    claims["C1"].measure(0.5, (0.2, 0.8))
    claims["C2"].untestable("needs the full benchmark")
    doc = build_metrics(paper={"slug": "x", "arxiv": "0000.00000", "title": "X"}, profile="smoke", seeds=[0, 1],
                        methods=["ours", "base"], headline={"m": {"ours": {"iqm": 1.0, "ci95": [0.5, 1.5]}}},
                        claims=claims)
    path = write_metrics(tmp_path, doc)
    loaded = json.loads(path.read_text())
    assert [c["verdict"] for c in loaded["claims"]] == ["reproduced", "inconclusive"]
    assert loaded["claims"][1]["value"] is None and loaded["claims"][1]["note"]
    assert "<table>" in claims._repr_html_() and "reproduced" in claims.to_markdown()


def test_validate_metrics_rejects_typed_verdict():
    claims = _claims()
    claims["C1"].measure(0.5, (0.2, 0.8))
    claims["C2"].measure(-1.0, (-2.0, -0.5))
    doc = build_metrics(paper={"slug": "x", "arxiv": "1", "title": "X"}, profile="repro", seeds=[0],
                        methods=["a"], headline={}, claims=claims)
    doc["claims"][1]["verdict"] = "reproduced"   # a verdict that does not follow from the CI
    with pytest.raises(ValueError, match="C2"):
        validate_metrics(doc)
    doc["claims"][1]["verdict"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        validate_metrics(doc)


def test_claim_ids_unique_and_direction_checked():
    with pytest.raises(ValueError):
        ClaimsTable([Claim("C1", "a", "t", "s", 0, ">"), Claim("C1", "b", "t", "s", 0, ">")])
    with pytest.raises(ValueError):
        Claim("C1", "a", "t", "s", 0, "=")


def test_summary_lines_render_every_claim():
    from hrlkit.claims import Claim, ClaimsTable

    table = ClaimsTable([Claim("C1", "A beats B", "t", "A − B", threshold=0.0, direction=">"),
                         Claim("C2", "untestable", "t", "—", threshold=1.0, direction="<")])
    table["C1"].measure(0.5, (0.25, 0.75))
    table["C2"].untestable("no data")
    lines = table.summary_lines()
    assert lines[0] == "- **C1** (A beats B): A − B = 0.5 [0.25, 0.75], threshold > 0 → **reproduced**"
    assert lines[1] == "- **C2** (untestable): — = n/a, threshold < 1 → **inconclusive**"


def test_measure_difference_records_the_iqm_difference_ci_and_both_iqms():
    import numpy as np

    from hrlkit import stats

    first, second = np.array([3.0, 4.0, 5.0, 6.0]), np.array([1.0, 1.0, 2.0, 2.0])
    claim = Claim("X", "x", "x", "x", threshold=0.0, direction=">").measure_difference(first, second, ("a", "b"))
    value, ci = stats.difference_ci(first, second, "iqm")
    assert claim.value == pytest.approx(value) and claim.ci95 == pytest.approx(ci)
    assert claim.value == pytest.approx(4.5 - 1.5)            # IQM of 4 values = mean of the middle two
    assert claim.note == "IQM a 4.5, b 1.5" and claim.verdict == "reproduced"
