"""Claims and verdicts, and the notebook's metrics.json.

A claim is declared *before* the experiments run (threshold and direction fixed up front), then measured
from data; its verdict is computed by the rule of CONVENTIONS.md, never typed:

* ``reproduced``     — the whole 95 % CI lies on the claimed side of the threshold,
* ``not reproduced`` — the whole CI lies on the other side (touching the threshold counts as the other side),
* ``inconclusive``   — the CI straddles the threshold, or the claim cannot be tested at this scale.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from hrlkit.stats import difference_ci, iqm, round_sig

VERDICTS = ("reproduced", "not reproduced", "inconclusive")
DIRECTIONS = (">", "<")

METRICS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["paper", "profile", "seeds", "methods", "headline", "claims"],
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
                    "properties": {"ci95": {"type": "array", "items": {"type": "number"}, "minItems": 2,
                                            "maxItems": 2}},
                },
            },
        },
        "claims": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "claim", "test", "statistic", "value", "ci95", "threshold", "direction",
                             "verdict"],
                "properties": {
                    "id": {"type": "string"},
                    "value": {"type": ["number", "null"]},
                    "ci95": {"oneOf": [{"type": "null"},
                                       {"type": "array", "items": {"type": "number"}, "minItems": 2,
                                        "maxItems": 2}]},
                    "threshold": {"type": "number"},
                    "direction": {"enum": list(DIRECTIONS)},
                    "verdict": {"enum": list(VERDICTS)},
                },
            },
        },
    },
}


def verdict(ci95: Sequence[float] | None, threshold: float, direction: str) -> str:
    """The verdict rule of CONVENTIONS.md for a claim "statistic <direction> threshold"."""
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


@dataclass
class Claim:
    """One claim of the abstract: declared with its test before the data, measured after."""

    id: str
    claim: str
    test: str
    statistic: str
    threshold: float
    direction: str
    value: float | None = None
    ci95: tuple[float, float] | None = None
    note: str = ""
    measured: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"claim {self.id}: direction must be one of {DIRECTIONS}, got {self.direction!r}")

    def measure(self, value: float, ci95: Sequence[float], note: str = "") -> "Claim":
        """Record the statistic and its CI computed from the runs."""
        self.value = round_sig(float(value))
        self.ci95 = (round_sig(float(ci95[0])), round_sig(float(ci95[1])))
        self.note = note or self.note
        self.measured = True
        return self

    def measure_difference(self, first: Sequence[float], second: Sequence[float], names: tuple[str, str]) -> "Claim":
        """Record IQM(first) − IQM(second) over seeds with its stratified-bootstrap 95 % CI
        (:func:`hrlkit.stats.difference_ci`); the note gives both IQMs under ``names``."""
        value, ci = difference_ci(first, second, "iqm")
        return self.measure(value, ci, f"IQM {names[0]} {iqm(np.asarray(first)):.3g}, "
                                       f"{names[1]} {iqm(np.asarray(second)):.3g}")

    def untestable(self, why: str) -> "Claim":
        """Mark the claim as not testable at this scale (verdict ``inconclusive``, reason shown)."""
        self.value, self.ci95, self.note, self.measured = None, None, why, True
        return self

    @property
    def verdict(self) -> str:
        return verdict(self.ci95, self.threshold, self.direction)

    def to_json(self) -> dict[str, Any]:
        out = {"id": self.id, "claim": self.claim, "test": self.test, "statistic": self.statistic,
               "value": self.value, "ci95": list(self.ci95) if self.ci95 is not None else None,
               "threshold": self.threshold, "direction": self.direction, "verdict": self.verdict}
        if self.note:
            out["note"] = self.note
        return out


class ClaimsTable:
    """The notebook's claims, in declaration order; renders itself as a table in Jupyter."""

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

    def to_frame(self):
        import pandas as pd

        rows = []
        for c in self.claims:
            ci = "n/a" if c.ci95 is None else f"[{c.ci95[0]:.3g}, {c.ci95[1]:.3g}]"
            rows.append({"id": c.id, "claim": c.claim, "test": c.test, "statistic": c.statistic,
                         "value": "n/a" if c.value is None else f"{c.value:.3g}", "95% CI": ci,
                         "threshold": f"{c.direction} {c.threshold:g}", "verdict": c.verdict,
                         "note": c.note})
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        colours = {"reproduced": "#1a7f37", "not reproduced": "#cf222e", "inconclusive": "#9a6700"}
        df = self.to_frame()
        head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
        body = []
        for _, row in df.iterrows():
            cells = []
            for col, v in row.items():
                style = f' style="color:{colours[v]};font-weight:600"' if col == "verdict" else ""
                cells.append(f"<td{style}>{html.escape(str(v))}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"

    def to_markdown(self) -> str:
        return self.to_frame().to_markdown(index=False)

    def summary_lines(self) -> list[str]:
        """One Markdown bullet per claim: statistic = value [CI], threshold → verdict (for the Summary section)."""
        lines = []
        for c in self.claims:
            value = "n/a" if c.value is None else f"{c.value:.3g}"
            ci = "" if c.ci95 is None else f" [{c.ci95[0]:.3g}, {c.ci95[1]:.3g}]"
            lines.append(f"- **{c.id}** ({c.claim}): {c.statistic} = {value}{ci}, threshold {c.direction} "
                         f"{c.threshold:g} → **{c.verdict}**")
        return lines


def headline_entry(per_method: Mapping[str, Sequence[float]], aggregate: str = "iqm") -> dict[str, Any]:
    """``{method: {"iqm": v, "ci95": [lo, hi]}}`` for one headline metric."""
    from hrlkit.stats import aggregate_ci

    return {m: aggregate_ci(v, aggregate) for m, v in per_method.items()}


def build_metrics(*, paper: Mapping[str, str], profile: str, seeds: Sequence[int], methods: Sequence[str],
                  headline: Mapping[str, Any], claims: ClaimsTable,
                  extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    claims.check_all_measured()
    doc = {"paper": dict(paper), "profile": profile, "seeds": [int(s) for s in seeds],
           "methods": list(methods), "headline": dict(headline), "claims": [c.to_json() for c in claims]}
    if extra:
        doc.update(extra)
    validate_metrics(doc)
    return doc


def validate_metrics(doc: Mapping[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` if ``doc`` breaks the metrics.json contract."""
    import jsonschema

    jsonschema.validate(doc, METRICS_SCHEMA)
    for c in doc["claims"]:
        expected = verdict(c["ci95"], c["threshold"], c["direction"])
        if c["verdict"] != expected:
            raise ValueError(f"claim {c['id']}: verdict {c['verdict']!r} does not follow from its CI ({expected!r})")


def write_metrics(out_dir: Path | str, doc: Mapping[str, Any]) -> Path:
    """Write metrics.json deterministically (sorted keys, fixed float formatting via round_sig upstream)."""
    path = Path(out_dir) / "metrics.json"
    path.write_text(json.dumps(doc, indent=2, sort_keys=False, allow_nan=False) + "\n")
    return path
