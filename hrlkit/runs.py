"""Output folder, runs.csv (long format) and timing.json of one notebook run; the raw per-run results.

``load("<slug>")`` gives a paper's committed raw results (``data/runs/<slug>/``, written by the task runner) as a
DataFrame, one row per task, without training anything (:func:`load`).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from hrlkit.provenance import repo_root
from hrlkit.store import read_manifest, read_result, runs_dir_for

RUNS_COLUMNS = ("method", "seed", "metric", "value")
# Set by the pipeline ("<nominal out_dir>=<staging folder>", absolute paths): a stage writes into a staging folder
# and moves its outputs in only when it succeeded; the notebook keeps showing its nominal out_dir.
STAGING_ENV = "HRL_STAGING"


def prepare_out_dir(out_dir: str | Path) -> Path:
    """Resolve ``out_dir`` against the repository root (not the kernel's cwd) and create ``figures/``."""
    path = Path(out_dir)
    if not path.is_absolute():
        path = repo_root() / path
    staged = os.environ.get(STAGING_ENV, "")
    if "=" in staged:
        nominal, staging = staged.split("=", 1)
        if path.resolve() == Path(nominal):
            path = Path(staging)
    (path / "figures").mkdir(parents=True, exist_ok=True)
    return path


def runs_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Long-format table: method, seed, metric, value, then optional step and condition columns."""
    df = pd.DataFrame(list(rows))
    missing = [c for c in RUNS_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"runs rows lack required column(s) {missing}")
    extra = sorted(c for c in df.columns if c not in RUNS_COLUMNS)
    return df[list(RUNS_COLUMNS) + extra]


def per_seed(frame: pd.DataFrame, metric: str, method: str, **where: Any):
    """One metric of one method (rows whose condition columns equal ``where``), one value per seed in seed order, as
    a :class:`hrlkit.stats.Sample` labelled with what was asked, so a statistic that cannot be computed on it says
    which. No matching row, or one seed twice, is an error that names the selection."""
    from hrlkit.stats import Sample

    sel = frame[(frame["metric"] == metric) & (frame["method"] == method)]
    for col, value in where.items():
        if col not in sel.columns:
            raise KeyError(f"runs have no column {col!r} (selecting {metric} of {method})")
        sel = sel[sel[col] == value]
    label = f"{metric} of {method}" + "".join(f", {k} = {v}" for k, v in where.items())
    if sel.empty:
        raise ValueError(f"no runs for {label}: is the method, metric or condition missing?")
    if sel["seed"].duplicated().any():
        raise ValueError(f"{label}: several rows per seed; select a single condition (columns "
                         f"{[c for c in sel.columns if c not in RUNS_COLUMNS]})")
    return Sample(sel.sort_values("seed")["value"].to_numpy(dtype=float), label)


def write_runs(df: pd.DataFrame, out_dir: Path, *, missing: Mapping[str, str] | None = None) -> Path:
    """Write runs.csv deterministically: stable row order, 8 significant digits.

    Every value must be finite: a NaN or ±inf is an error naming the metric, method and seed, unless its metric
    declares what a missing value means (``missing={"time_to_goal_s": "no episode of the run reached the goal"}``);
    such NaNs are written as empty cells."""
    import numpy as np

    values = pd.to_numeric(df["value"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        declared = set(missing or {})
        undeclared = bad & ~(df["metric"].isin(declared).to_numpy() & np.isnan(values))
        if undeclared.any():
            first = df[undeclared].iloc[0]
            metrics = sorted(set(df.loc[undeclared, "metric"]))
            raise FloatingPointError(
                f"runs.csv: {int(undeclared.sum())} value(s) are not finite, for metric(s) {metrics} (first: "
                f"metric {first['metric']!r}, method {first['method']!r}, seed {first['seed']}, value "
                f"{first['value']!r}); a metric whose missing values mean something declares it in `missing`")
    keys = [c for c in df.columns if c != "value"]
    df = df.sort_values(keys, kind="mergesort", na_position="first").reset_index(drop=True)
    path = Path(out_dir) / "runs.csv"
    df.to_csv(path, index=False, float_format="%.8g", lineterminator="\n")
    return path


class WallClock:
    """Wall time of the notebook run, written to timing.json (kept out of metrics.json: it is not seeded)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def write(self, out_dir: Path, *, workers: int, device: str, profile: str, **extra: Any) -> Path:
        import torch

        doc = {"wall_time_s": round(time.perf_counter() - self.start, 1), "workers": workers,
               "cpu_count": os.cpu_count(), "torch": torch.__version__.split("+")[0], "device": device,
               "profile": profile, "python": platform.python_version(), **extra}
        path = Path(out_dir) / "timing.json"
        path.write_text(json.dumps(doc, indent=2) + "\n")
        return path


# ---- the raw results of a paper, for readers ----------------------------------------------------------


def load_results(slug_or_path: str | Path, group: str) -> list[Any]:
    """The decoded results of one task group (``"train"``, ``"evaluate"``, …), in task order."""
    folder = runs_dir_for(slug_or_path)
    manifest = read_manifest(folder)
    groups = manifest.get("groups", {})
    if group not in groups:
        raise KeyError(f"{folder} has no task group {group!r}; it has {sorted(groups)}")
    return [read_result(folder / "tasks", t["file"])[1] for t in groups[group]["tasks"]]


def _same_scalar(a: Any, b: Any) -> bool:
    try:
        return type(a) in (str, int, float, bool) and type(b) in (str, int, float, bool) and a == b
    except Exception:  # noqa: BLE001
        return False


def load(slug_or_path: str | Path, group: str | None = None):
    """The raw per-run results of a paper as a DataFrame: one row per task (``group``, the task's arguments, then
    each top-level field of its result: numbers as columns, curves and tables as Python objects in their cell).

        >>> from hrlkit import runs
        >>> df = runs.load("teleop_slicing")          # no training, no network: reads data/runs/teleop_slicing/
    """
    import pandas as pd

    folder = runs_dir_for(slug_or_path)
    manifest = read_manifest(folder)
    rows = []
    for name, g in manifest.get("groups", {}).items():
        if group is not None and name != group:
            continue
        for task in g["tasks"]:
            _, result = read_result(folder / "tasks", task["file"])
            row = {"group": name, **task.get("label", {})}
            if isinstance(result, dict) and all(isinstance(k, str) for k in result):
                for k, v in result.items():
                    if k in row and _same_scalar(row[k], v):
                        continue                    # a result that echoes its task's argument
                    row[k if k not in row else f"result_{k}"] = v
            else:
                row["result"] = result
            rows.append(row)
    if group is not None and not rows:
        raise KeyError(f"{folder} has no task group {group!r}; it has {sorted(manifest.get('groups', {}))}")
    return pd.DataFrame(rows)
