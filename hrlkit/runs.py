"""Output folder, runs.csv (long format) and timing.json of one notebook run; the raw per-run results.

``load("<slug>")`` gives a paper's committed raw results (``data/runs/<slug>/``, written by the task runner) as a
DataFrame, one row per task, without training anything (:func:`hrlkit.store.load`).
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
from hrlkit.store import load, load_results  # noqa: F401 (the reader's entry points)

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


def write_runs(df: pd.DataFrame, out_dir: Path) -> Path:
    """Write runs.csv deterministically: stable row order, 8 significant digits."""
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
