"""Claims, facts and verdicts, and the notebook's metrics.json.

A **claim** is a measurable sentence of the paper's abstract, declared *before* the experiments run (its test,
statistic, threshold and direction fixed up front, and any precondition it needs), then measured from the runs. Its
verdict is computed, never typed:

* ``reproduced``     — the whole 95 % CI lies on the claimed side of the threshold;
* ``not reproduced`` — the whole CI lies on the other side (touching the threshold counts as the other side);
* ``inconclusive``   — the CI straddles the threshold;
* ``untestable``     — a declared precondition failed, or the claim cannot be measured at this scale; the reason is
  stated (``Claim.untestable``, ``Claim.require``).

Comparative claims are measured from per-seed values (:meth:`Claim.compare`). When the two methods share their seeds
or evaluation sets the comparison is **paired** (per-seed differences, seeds resampled together) and the claim
records ``paired: true``. Every comparative claim also carries the probability of improvement (the share of seeds,
or of seed pairs, on the claimed side), the minimum detectable effect at 80 % power with the seeds used, a t-test
p value and, once the table is complete, its Holm-adjusted p value across the paper's claims (a multiplicity view
beside the pre-registered verdict, which it never changes); an ``inconclusive`` one also says how many seeds would
have been needed to decide it, from the observed spread.

A **fact** is a number worth reporting that is not a test: what holds by construction (a parameter count of our own
architecture) or what is only descriptive. Facts sit beside the claims, in the notebook, metrics.json and the
scorecard.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from hrlkit import stats
from hrlkit.display import html_table, md_escape
from hrlkit.stats import round_sig

VERDICTS = ("reproduced", "not reproduced", "inconclusive", "untestable")
DIRECTIONS = (">", "<")
FACT_BASES = ("by construction", "descriptive")
AGGREGATE_NAMES = {"iqm": "IQM", "mean": "mean"}
#: Bootstrap resamples behind every verdict-bearing CI (tables use stats.DEFAULT_RESAMPLES). At 2 000 resamples a CI
#: bound that lies within Monte Carlo error of the threshold could flip its verdict with the bootstrap's seed; at
#: 100 000 that error is about seven times smaller.
VERDICT_RESAMPLES = 100_000

_NUM_OR_NULL = {"type": ["number", "null"]}
_CI = {"oneOf": [{"type": "null"}, {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}]}

METRICS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["paper", "profile", "seeds", "methods", "headline", "claims", "facts", "tuning"],
    "properties": {
        "paper": {
            "type": "object",
            "required": ["slug", "arxiv", "title"],
            "properties": {"slug": {"type": "string"}, "arxiv": {"type": "string"}, "title": {"type": "string"}},
        },
        "profile": {"enum": ["smoke", "repro"]},
        "seeds": {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1},
        "methods": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "headline": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["ci95"],
                    "properties": {"ci95": _CI},
                },
            },
        },
        "claims": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "claim", "test", "statistic", "value", "ci95", "threshold", "direction",
                             "paired", "prob_improvement", "mde", "verdict", "reason", "post_hoc"],
                "properties": {
                    "id": {"type": "string"},
                    "value": _NUM_OR_NULL,
                    "ci95": _CI,
                    "threshold": {"type": "number"},
                    "direction": {"enum": list(DIRECTIONS)},
                    "paired": {"type": ["boolean", "null"]},
                    "prob_improvement": _NUM_OR_NULL,
                    "mde": _NUM_OR_NULL,
                    "seeds_needed": {"type": ["integer", "null"]},
                    "p_value": _NUM_OR_NULL,
                    "p_holm": _NUM_OR_NULL,
                    "verdict": {"enum": list(VERDICTS)},
                    "reason": {"type": "string"},
                    "post_hoc": {"type": "boolean"},
                    "precondition": {"type": "string"},
                },
            },
        },
        "facts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "fact", "value", "basis"],
                "properties": {"id": {"type": "string"}, "fact": {"type": "string"},
                               "value": {"type": ["number", "string"]}, "ci95": _CI,
                               "basis": {"enum": list(FACT_BASES)}},
            },
        },
        "tuning": {
            "type": "object",
            "required": ["summary"],
            "properties": {"summary": {"type": "string"}},
        },
    },
}


def verdict(ci95: Sequence[float] | None, threshold: float, direction: str) -> str:
    """The CI rule for a claim "statistic <direction> threshold" (``inconclusive`` without a CI)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if ci95 is None:
        return "inconclusive"
    lo, hi = float(ci95[0]), float(ci95[1])
    if lo > hi:
        raise ValueError(f"ci95 must be [low, high], got {list(ci95)}")
    if direction == ">":
        return "reproduced" if lo > threshold else ("not reproduced" if hi <= threshold else "inconclusive")
    return "reproduced" if hi < threshold else ("not reproduced" if lo >= threshold else "inconclusive")


def _r(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else round_sig(float(x), digits)


@dataclass
class Claim:
    """One claim of the abstract: declared with its test before the data, measured after."""

    id: str
    claim: str
    test: str
    statistic: str
    threshold: float
    direction: str
    precondition: str = ""          # what must hold for the test to mean anything (checked with ``require``)
    post_hoc: bool = False          # added after seeing reported results: shown, never replaces a verdict
    value: float | None = None
    ci95: tuple[float, float] | None = None
    note: str = ""
    reason: str = ""                # why the claim is untestable
    paired: bool | None = None
    prob_improvement: float | None = None
    mde: float | None = None
    seeds_needed: int | None = None
    p_value: float | None = None
    p_holm: float | None = None
    measured: bool = field(default=False, repr=False)
    _untestable: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"claim {self.id}: direction must be one of {DIRECTIONS}, got {self.direction!r}")

    # ---- measuring -----------------------------------------------------------------------------------

    def _oriented(self, x: np.ndarray) -> np.ndarray:
        """> 0 where a unit lies on the claimed side of the threshold."""
        return (x - self.threshold) if self.direction == ">" else (self.threshold - x)

    def _finish(self, value: float, ci: Sequence[float], *, paired: bool | None, poi: float | None,
                sd: float | None, n: int | None, p: float | None, note: str) -> "Claim":
        self.value = _r(value)
        self.ci95 = (_r(ci[0]), _r(ci[1]))
        self.paired, self.prob_improvement, self.p_value = paired, _r(poi, 4), _r(p, 4)
        self.note = note or self.note
        self.measured, self._untestable, self.reason = True, False, ""
        if sd is not None and n is not None:
            self.mde = _r(stats.min_detectable_effect(sd, n, paired=bool(paired)), 4)
            self.seeds_needed = (stats.units_needed(float(value) - self.threshold, sd, paired=bool(paired))
                                 if self.verdict == "inconclusive" else None)
        return self

    def _finish_paired(self, value: float, ci: Sequence[float], units: np.ndarray, note: str) -> "Claim":
        """Record a paired statistic: its power figures come from the per-seed (per-unit) values ``units``."""
        return self._finish(value, ci, paired=True, poi=stats.probability_of_improvement_paired(self._oriented(units)),
                            sd=stats.spread(units), n=len(units), p=stats.t_test_p(units, threshold=self.threshold),
                            note=note)

    def compare(self, first: Sequence[float], second: Sequence[float], names: tuple[str, str], *,
                paired: bool = True, aggregate: str = "iqm") -> "Claim":
        """Measure ``aggregate(first) − aggregate(second)`` over seeds.

        ``paired=True`` (the default: use it whenever both were run on the same seeds or evaluation sets, in the
        same order) takes the aggregate of the per-seed differences and resamples seeds together; ``False``
        resamples each side on its own (stratified) and compares the two aggregates."""
        a = first if isinstance(first, stats.Sample) else stats.Sample(first, f"{self.id}: {names[0]}")
        b = second if isinstance(second, stats.Sample) else stats.Sample(second, f"{self.id}: {names[1]}")
        agg = stats.AGGREGATES[aggregate]
        label = AGGREGATE_NAMES[aggregate]
        note = f"{label} {names[0]} {float(agg(np.asarray(a))):.3g}, {names[1]} {float(agg(np.asarray(b))):.3g}"
        if paired:
            value, ci = stats.paired_difference_ci(a, b, aggregate, n_resamples=VERDICT_RESAMPLES)
            d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
            return self._finish_paired(value, ci, d, note + f"; paired over {len(d)} seeds")
        value, ci = stats.difference_ci(a, b, aggregate, n_resamples=VERDICT_RESAMPLES)
        x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        pairs = self._oriented(x[:, None] - y[None, :])
        return self._finish(value, ci, paired=False, poi=float(np.mean((pairs > 0) + 0.5 * (pairs == 0))),
                            sd=stats.spread(x, y), n=min(len(x), len(y)),
                            p=stats.t_test_p(x, y, threshold=self.threshold, paired=False),
                            note=note + "; unpaired")

    def compare_items(self, first: np.ndarray, second: np.ndarray, names: tuple[str, str], *,
                      aggregate: str = "iqm") -> "Claim":
        """As the paired ``compare``, for (seeds × items) scores of both methods on the same test items (e.g. 0/1
        correctness per problem): the statistic is ``aggregate`` over seeds of the per-seed mean over items of
        first − second, and its CI resamples seeds and items (:func:`stats.paired_two_way_bootstrap_ci`), so it
        also covers which items the test set happens to hold. Power figures come from the per-seed means."""
        a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
        value, ci = stats.paired_two_way_bootstrap_ci(a, b, aggregate, n_resamples=VERDICT_RESAMPLES)
        d = a.mean(axis=1) - b.mean(axis=1)
        agg, label = stats.AGGREGATES[aggregate], AGGREGATE_NAMES[aggregate]
        note = (f"{label} {names[0]} {float(agg(a.mean(axis=1))):.3g}, {names[1]} {float(agg(b.mean(axis=1))):.3g}; "
                f"paired over {len(d)} seeds and {a.shape[1]} items, CI resampling both")
        return self._finish_paired(value, ci, d, note)

    def measure_units(self, units: Sequence[float], *, note: str = "", aggregate: str = "iqm") -> "Claim":
        """Measure the aggregate of per-seed values of the statistic itself (a per-seed slope difference, a
        per-seed count …), seeds resampled: a paired design by construction."""
        u = units if isinstance(units, stats.Sample) else stats.Sample(units, f"{self.id}: {self.statistic}")
        value, ci = stats.bootstrap_ci(u, aggregate, n_resamples=VERDICT_RESAMPLES)
        return self._finish_paired(value, ci, np.asarray(u, dtype=float), note)

    def measure(self, value: float, ci95: Sequence[float], note: str = "", *, paired: bool | None = None) -> "Claim":
        """Record a statistic and its CI computed elsewhere (no power figures: prefer ``compare``/``measure_units``)."""
        return self._finish(value, ci95, paired=paired, poi=None, sd=None, n=None, p=None, note=note)

    def untestable(self, why: str) -> "Claim":
        """The claim cannot be tested here; ``why`` is shown with the verdict."""
        if not why:
            raise ValueError(f"claim {self.id}: say why it is untestable")
        self.value = self.ci95 = self.prob_improvement = self.mde = self.seeds_needed = self.p_value = None
        self.paired, self.reason, self.measured, self._untestable = None, why, True, True
        return self

    def require(self, holds: bool, what: str) -> bool:
        """Check the declared precondition: when it does not hold, the claim is ``untestable`` and says which
        precondition failed (``what``, with the numbers). Returns ``holds``."""
        if not self.precondition:
            raise ValueError(f"claim {self.id} declares no precondition")
        if not holds:
            self.untestable(f"precondition failed: {what}")
        return bool(holds)

    @property
    def verdict(self) -> str:
        if self._untestable:
            return "untestable"
        return verdict(self.ci95, self.threshold, self.direction)

    def to_json(self) -> dict[str, Any]:
        out = {"id": self.id, "claim": self.claim, "test": self.test, "statistic": self.statistic,
               "value": self.value, "ci95": list(self.ci95) if self.ci95 is not None else None,
               "threshold": self.threshold, "direction": self.direction, "paired": self.paired,
               "prob_improvement": self.prob_improvement, "mde": self.mde, "seeds_needed": self.seeds_needed,
               "p_value": self.p_value, "p_holm": self.p_holm, "verdict": self.verdict, "reason": self.reason,
               "post_hoc": self.post_hoc}
        if self.precondition:
            out["precondition"] = self.precondition
        if self.note:
            out["note"] = self.note
        return out


def equivalence(first: Sequence[float], second: Sequence[float], tolerance: float, *, paired: bool = True,
                aggregate: str = "iqm") -> tuple[bool, str]:
    """Does ``aggregate(first) − aggregate(second)`` lie within ±``tolerance``? It holds only when the whole 95 % CI
    of the difference does (for preconditions such as "at similar task success"). Returns (holds, what)."""
    fn = stats.paired_difference_ci if paired else stats.difference_ci
    value, (lo, hi) = fn(first, second, aggregate, n_resamples=VERDICT_RESAMPLES)
    holds = -tolerance < lo and hi < tolerance
    return holds, (f"difference {value:.3g} [{lo:.3g}, {hi:.3g}] ({'paired' if paired else 'unpaired'} 95 % CI) "
                   f"{'inside' if holds else 'not inside'} ±{tolerance:g}")


# =====================================================================================================
# Tables
# =====================================================================================================

_VERDICT_COLOURS = {"reproduced": "#1a7f37", "not reproduced": "#cf222e", "inconclusive": "#9a6700",
                    "untestable": "#57606a"}


def fmt_number(x: Any, spec: str = ".3g") -> str:
    """3 significant digits (a whole number below 10⁵ as itself), ``n/a`` for a missing value."""
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    if spec == ".3g" and float(x).is_integer() and abs(x) < 1e5:
        return str(int(x))
    return f"{x:{spec}}"


def fmt_interval(ci: Sequence[float] | None) -> str:
    return "n/a" if ci is None else f"[{ci[0]:.3g}, {ci[1]:.3g}]"


class ClaimsTable:
    """The notebook's claims, in declaration order; renders itself as an HTML table in Jupyter."""

    def __init__(self, claims: Iterable[Claim]):
        self.claims = list(claims)
        ids = [c.id for c in self.claims]
        if len(set(ids)) != len(ids):
            raise ValueError(f"claim ids must be unique: {ids}")

    def __getitem__(self, claim_id: str) -> Claim:
        for c in self.claims:
            if c.id == claim_id:
                return c
        raise KeyError(claim_id)

    def __iter__(self):
        return iter(self.claims)

    def check_all_measured(self) -> None:
        missing = [c.id for c in self.claims if not c.measured]
        if missing:
            raise RuntimeError(f"claims declared but never measured: {missing}")

    def apply_holm(self) -> None:
        """Holm-adjusted p values across the tested claims that have a p value (pre-registered ones only)."""
        tested = [c for c in self.claims if c.verdict != "untestable" and c.p_value is not None and not c.post_hoc]
        adjusted, _ = stats.holm([c.p_value for c in tested])
        for c in self.claims:
            c.p_holm = None
        for c, p in zip(tested, adjusted):
            c.p_holm = _r(p, 4)

    def read_with_care(self, alpha: float = 0.05) -> dict[str, list[str]]:
        """Pre-registered rows with a decided verdict (reproduced / not reproduced) that a reader should weigh:
        ``not_holm``, whose Holm-adjusted p is >= ``alpha`` (run :meth:`apply_holm` first), and ``underpowered``,
        whose minimum detectable effect (80 % power) exceeds the measured distance from the threshold."""
        decided = [c for c in self.claims if not c.post_hoc and c.verdict in ("reproduced", "not reproduced")]
        return {"not_holm": [c.id for c in decided if c.p_holm is not None and c.p_holm >= alpha],
                "underpowered": [c.id for c in decided if c.mde is not None and c.value is not None
                                 and c.mde > abs(c.value - c.threshold)]}

    def counts(self) -> dict[str, int]:
        return {v: sum(c.verdict == v for c in self.claims) for v in VERDICTS}

    def to_frame(self):
        import pandas as pd

        self.apply_holm()
        rows = []
        for c in self.claims:
            rows.append({
                "id": c.id + (" (post hoc)" if c.post_hoc else ""), "claim": c.claim, "statistic": c.statistic,
                "value": fmt_number(c.value), "95% CI": fmt_interval(c.ci95),
                "threshold": f"{c.direction} {c.threshold:g}",
                "paired": {True: "yes", False: "no", None: ""}[c.paired],
                "P(improvement)": fmt_number(c.prob_improvement, ".2f") if c.prob_improvement is not None else "",
                "MDE (80 %)": fmt_number(c.mde) if c.mde is not None else "",
                "seeds needed": "" if c.seeds_needed is None else str(c.seeds_needed),
                "p": fmt_number(c.p_value, ".2g") if c.p_value is not None else "",
                "Holm p": fmt_number(c.p_holm, ".2g") if c.p_holm is not None else "",
                "verdict": c.verdict,
                "note": c.reason or c.note,
            })
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        def style(col, v):
            return (f' style="color:{_VERDICT_COLOURS[v]};font-weight:600;text-align:left"' if col == "verdict" else "")

        legend = ("<p><small>value and 95 % CI: the statistic over seeds (paired: from per-seed differences, seeds "
                  "resampled together); P(improvement): share of seeds (or seed pairs) on the claimed side; MDE: "
                  "smallest true effect detected with 80 % power by these seeds (t test); seeds needed: to decide "
                  "an inconclusive claim at the observed effect and spread; p: t test of the per-seed values "
                  "against the threshold, unadjusted (it can disagree with the bootstrap CI of an IQM at few seeds); "
                  "Holm p: adjusted over this paper's declared claims (a multiplicity view; the verdict is the "
                  "pre-registered CI rule); post hoc rows get none. Verdict CIs use "
                  f"{VERDICT_RESAMPLES:,} bootstrap resamples.</small></p>")
        return html_table(self.to_frame(), cell_style=style) + legend

    def summary_lines(self) -> list[str]:
        """One Markdown bullet per claim (for the Summary section); ``$`` and ``|`` in the text are escaped."""
        lines = []
        for c in self.claims:
            if c.verdict == "untestable":
                lines.append(f"- **{c.id}** ({md_escape(c.claim)}): **untestable**: {md_escape(c.reason)}")
                continue
            ci = "" if c.ci95 is None else f" {fmt_interval(c.ci95)}"
            paired = "" if c.paired is None else (", paired" if c.paired else ", unpaired")
            lines.append(f"- **{c.id}** ({md_escape(c.claim)}): {md_escape(c.statistic)} = {fmt_number(c.value)}"
                         f"{ci}{paired}, threshold {c.direction} {c.threshold:g} → **{c.verdict}**")
        return lines


@dataclass
class Fact:
    """A number that is reported but not tested: it holds by construction, or it only describes the runs."""

    id: str
    fact: str
    value: float | str
    basis: str = "descriptive"
    ci95: tuple[float, float] | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.basis not in FACT_BASES:
            raise ValueError(f"fact {self.id}: basis must be one of {FACT_BASES}, got {self.basis!r}")
        if not isinstance(self.value, str):
            self.value = _r(self.value)
        if self.ci95 is not None:
            self.ci95 = (_r(self.ci95[0]), _r(self.ci95[1]))

    def to_json(self) -> dict[str, Any]:
        out = {"id": self.id, "fact": self.fact, "value": self.value, "basis": self.basis}
        if self.ci95 is not None:
            out["ci95"] = list(self.ci95)
        if self.note:
            out["note"] = self.note
        return out


class FactsTable:
    """The facts beside the claims (what holds by construction, what is only descriptive)."""

    def __init__(self, facts: Iterable[Fact]):
        self.facts = list(facts)
        ids = [f.id for f in self.facts]
        if len(set(ids)) != len(ids):
            raise ValueError(f"fact ids must be unique: {ids}")

    def __iter__(self):
        return iter(self.facts)

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([{"id": f.id, "fact": f.fact, "value": fmt_number(f.value),
                              "95% CI": "" if f.ci95 is None else fmt_interval(f.ci95), "basis": f.basis,
                              "note": f.note} for f in self.facts],
                            columns=["id", "fact", "value", "95% CI", "basis", "note"])

    def _repr_html_(self) -> str:
        return html_table(self.to_frame())


# =====================================================================================================
# metrics.json
# =====================================================================================================


def headline_entry(per_method: Mapping[str, Sequence[float]], aggregate: str = "iqm") -> dict[str, Any]:
    """``{method: {"iqm": v, "ci95": [lo, hi]}}`` for one headline metric."""
    return {m: stats.aggregate_ci(v, aggregate) for m, v in per_method.items()}


def build_metrics(*, paper: Mapping[str, str], profile: str, seeds: Sequence[int], methods: Sequence[str],
                  headline: Mapping[str, Any], claims: ClaimsTable, facts: FactsTable | None = None,
                  tuning: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The metrics.json document (only seed-determined numbers: byte-identical across reruns)."""
    claims.check_all_measured()
    claims.apply_holm()
    doc = {"paper": dict(paper), "profile": profile, "seeds": [int(s) for s in seeds],
           "methods": list(methods), "headline": dict(headline), "claims": [c.to_json() for c in claims],
           "facts": [f.to_json() for f in (facts or [])], "tuning": dict(tuning)}
    if extra:
        doc.update(extra)
    validate_metrics(doc)
    return doc


def validate_metrics(doc: Mapping[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` (or ``ValueError``) if ``doc`` breaks the metrics.json contract."""
    import jsonschema

    jsonschema.validate(doc, METRICS_SCHEMA)
    for c in doc["claims"]:
        if c["verdict"] == "untestable":
            if not c["reason"]:
                raise ValueError(f"claim {c['id']}: an untestable claim must say why")
            continue
        expected = verdict(c["ci95"], c["threshold"], c["direction"])
        if c["ci95"] is None or c["verdict"] != expected:
            raise ValueError(f"claim {c['id']}: verdict {c['verdict']!r} does not follow from its CI ({expected!r})")


def flat_metrics(doc: Mapping[str, Any]) -> dict[str, int]:
    """The few numbers `dvc metrics show` lists per paper (the same keys for every paper, so the table stays
    narrow): how many declared claims got each verdict, how many post hoc rows there are and how many of them
    reproduced (counted apart: a post hoc row never replaces a declared verdict), and the seeds behind them.
    Everything else is in metrics.json."""
    declared = [c for c in doc["claims"] if not c.get("post_hoc")]
    post_hoc = [c for c in doc["claims"] if c.get("post_hoc")]
    counts = {v: 0 for v in VERDICTS}
    for c in declared:
        counts[c["verdict"]] += 1
    return {**{v.replace(" ", "_"): n for v, n in counts.items()}, "claims": len(declared),
            "post_hoc": len(post_hoc), "post_hoc_reproduced": sum(c["verdict"] == "reproduced" for c in post_hoc),
            "seeds": len(doc["seeds"])}


def write_metrics(out_dir: Path | str, doc: Mapping[str, Any]) -> Path:
    """Write metrics.json deterministically (fixed float formatting via round_sig upstream), and beside it
    dvc_metrics.json, the flat summary DVC shows (:func:`flat_metrics`)."""
    path = Path(out_dir) / "metrics.json"
    path.write_text(json.dumps(doc, indent=2, sort_keys=False, allow_nan=False) + "\n")
    (Path(out_dir) / "dvc_metrics.json").write_text(json.dumps(flat_metrics(doc), indent=1) + "\n")
    return path
