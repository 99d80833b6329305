"""Equal-budget tuning, and the pilot that sizes an experiment.

A fair comparison gives every method, ours included, the same tuning budget: the same number of configurations of
a search space declared in the notebook, evaluated on **tuning seeds disjoint from the reported seeds**, and selected
by a validation metric declared before tuning. Rule-based baselines are tuned through the same interface (a grid
over their knobs on validation data).

    SETUP = tune.Setup(metric="validation_cost", direction="minimize", budget=12, seeds=[100, 101, 102],
                       sampler="tpe")
    SPACES = {"ours": tune.Space(lr=tune.LogUniform(1e-4, 1e-3), hidden=tune.Grid(64, 128)),
              "rule": tune.Space(threshold=tune.Grid(0.2, 0.3, 0.4), target=tune.Grid(0.9, 1.0))}
    TUNED = tune.tune(RUNNER, trial, SPACES, SETUP, reported_seeds=seeds)    # trial(method, config, seed) -> dict
    TUNED.selected["ours"]            # the configuration the experiments use

Samplers: ``grid`` (the whole product when it fits the budget, else a seeded subset), ``random`` and ``tpe``
(Optuna's seeded samplers, proposing ``batch`` configurations per round). Every trial is a task of the notebook's
runner, so trials are stored with the raw results and never rerun while valid. The proposals depend only on the
sampler's seed and on earlier trial results, taken in a fixed order, so tuning gives the same selection whatever
``workers`` is.

The **pilot** (:func:`pilot`) reads the per-seed spread of the selected configurations on the tuning seeds and says
how many seeds a comparison needs to detect a given effect with 80 % power.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from hrlkit import stats

SAMPLERS = ("grid", "random", "tpe")
DIRECTIONS = ("minimize", "maximize")


# =====================================================================================================
# Search spaces
# =====================================================================================================


@dataclass(frozen=True)
class Grid:
    """A finite set of values (numbers, strings, booleans)."""

    values: tuple

    def __init__(self, *values: Any) -> None:
        if not values:
            raise ValueError("Grid needs at least one value")
        object.__setattr__(self, "values", tuple(values))


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float


@dataclass(frozen=True)
class LogUniform:
    low: float
    high: float


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int


class Space:
    """A search space: one dimension per knob, in declaration order."""

    def __init__(self, **dims: Any) -> None:
        for name, dim in dims.items():
            if not isinstance(dim, (Grid, Uniform, LogUniform, IntRange)):
                raise TypeError(f"search dimension {name!r} must be Grid, Uniform, LogUniform or IntRange")
            if isinstance(dim, (Uniform, LogUniform, IntRange)) and not dim.low < dim.high:
                raise ValueError(f"search dimension {name!r}: low must be < high")
            if isinstance(dim, LogUniform) and dim.low <= 0:
                raise ValueError(f"search dimension {name!r}: a log-uniform range must be positive")
        self.dims = dict(dims)

    @property
    def finite(self) -> bool:
        return all(isinstance(d, Grid) for d in self.dims.values())

    def grid(self) -> list[dict[str, Any]]:
        if not self.finite:
            raise ValueError("only a space of Grid dimensions can be enumerated")
        names = list(self.dims)
        return [dict(zip(names, combo)) for combo in itertools.product(*(self.dims[n].values for n in names))]

    def describe(self) -> str:
        def one(dim) -> str:
            if isinstance(dim, Grid):
                return "{" + ", ".join(map(str, dim.values)) + "}"
            kind = {Uniform: "uniform", LogUniform: "log-uniform", IntRange: "integers"}[type(dim)]
            return f"{kind} [{dim.low:g}, {dim.high:g}]"

        return ", ".join(f"{n} ∈ {one(d)}" for n, d in self.dims.items()) or "(nothing to tune)"

    def _optuna(self) -> dict[str, Any]:
        from optuna import distributions as D

        out = {}
        for name, dim in self.dims.items():
            if isinstance(dim, Grid):
                out[name] = D.CategoricalDistribution(list(dim.values))
            elif isinstance(dim, Uniform):
                out[name] = D.FloatDistribution(dim.low, dim.high)
            elif isinstance(dim, LogUniform):
                out[name] = D.FloatDistribution(dim.low, dim.high, log=True)
            else:
                out[name] = D.IntDistribution(dim.low, dim.high)
        return out


@dataclass
class Setup:
    """What is tuned how, declared before tuning."""

    metric: str                       # validation metric the trial function returns
    direction: str                    # "minimize" or "maximize"
    budget: int                       # configurations per method (the same for every method)
    seeds: Sequence[int]              # tuning seeds, disjoint from the reported ones
    sampler: str = "tpe"
    sampler_seed: int = 0
    batch: int = 4                    # configurations proposed per round (tpe), independent of workers

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {self.direction!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if self.budget < 1 or self.batch < 1:
            raise ValueError("budget and batch must be >= 1")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"tuning seeds must be distinct and at least one: {list(self.seeds)}")


# =====================================================================================================
# Tuning
# =====================================================================================================


@dataclass
class Result:
    setup: Setup
    spaces: Mapping[str, Space]
    trials: Any                                   # DataFrame: method, trial, seed, config, metric
    selected: dict[str, dict[str, Any]]
    scores: dict[str, float]                      # mean validation metric of the selected configuration
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        s = self.setup
        parts = [f"{m}: {self.counts[m]} configurations ({self.spaces[m].describe()})" for m in self.selected]
        return (f"every method tuned with the same budget ({s.budget} configurations, sampler {s.sampler}, seed "
                f"{s.sampler_seed}) on tuning seeds {list(s.seeds)}, disjoint from the reported seeds, selected by "
                f"the {'lowest' if s.direction == 'minimize' else 'highest'} mean {s.metric}; " + "; ".join(parts))

    def configuration_table(self, metrics: Sequence[str]) -> Any:
        """One row per method and configuration tried, in trial order: the ``config.<name>`` columns, the mean over
        the tuning seeds of each metric in ``metrics``, and ``selected`` ("yes" for the selected configuration)."""
        config = [c for c in self.trials.columns if c.startswith("config.")]
        table = self.trials.groupby(["method", *config], sort=False, dropna=False)[list(metrics)].mean().reset_index()
        table["selected"] = ["yes" if all(row[f"config.{k}"] == v for k, v in self.selected[row["method"]].items())
                             else "" for _, row in table.iterrows()]
        return table

    def position(self, method: str, name: str) -> str:
        """Where ``method``'s selected value of the numeric grid dimension ``name`` sits in its grid: "the lower
        edge", "the upper edge" or "interior" ("the only value" for a one-value grid). An edge selection says the
        best value may lie beyond the grid."""
        values = sorted(self.spaces[method].dims[name].values)
        chosen = self.selected[method][name]
        if len(values) == 1:
            return "the only value"
        if chosen == values[0]:
            return "the lower edge"
        return "the upper edge" if chosen == values[-1] else "interior"

    def selected_trials(self, method: str):
        """The trials of ``method``'s selected configuration, one row per tuning seed, in seed order."""
        sel = self.trials[self.trials["method"] == method]
        for k, v in self.selected[method].items():
            sel = sel[sel[f"config.{k}"] == v]
        return sel.sort_values("seed")

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary(), "metric": self.setup.metric, "direction": self.setup.direction,
                "budget": self.setup.budget, "sampler": self.setup.sampler, "seeds": [int(x) for x in self.setup.seeds],
                "selected": self.selected, "scores": {m: stats.round_sig(v) for m, v in self.scores.items()},
                "configurations": self.counts}


def untuned(reason: str) -> dict[str, Any]:
    """The metrics.json ``tuning`` entry of a paper whose methods were not tuned (say why)."""
    if not reason:
        raise ValueError("say why no method was tuned")
    return {"summary": reason}


def check_disjoint(tuning_seeds: Sequence[int], reported_seeds: Sequence[int]) -> None:
    shared = sorted(set(tuning_seeds) & set(reported_seeds))
    if shared:
        raise ValueError(f"tuning seeds {shared} are also reported seeds: tune on seeds disjoint from the reported ones")


def _score(values: Sequence[float], direction: str) -> float:
    mean = float(np.mean(values))
    return mean if direction == "minimize" else -mean


def tune(runner, trial: Callable[..., Mapping[str, Any]], spaces: Mapping[str, Space], setup: Setup, *,
         reported_seeds: Sequence[int]) -> Result:
    """Tune every method in ``spaces`` with the same budget. ``trial(method=…, config=…, seed=…)`` runs one
    configuration on one tuning seed and returns a dict holding ``setup.metric`` (a finite number)."""
    import pandas as pd

    check_disjoint(setup.seeds, reported_seeds)
    rows, selected, scores, counts = [], {}, {}, {}
    for method, space in spaces.items():
        configs, values, others = _search(runner, trial, method, space, setup)
        counts[method] = len(configs)
        means = []
        for i, (config, per_seed) in enumerate(zip(configs, values)):
            for seed, v, extra in zip(setup.seeds, per_seed, others[i]):
                row = {"method": method, "trial": i, "seed": int(seed), **{f"config.{k}": v_ for k, v_ in
                                                                            config.items()}}
                # the trial's other numeric results ride along (a pilot may read them), never its selection metric
                rows.append({**{k: x for k, x in extra.items() if k not in row}, **row, setup.metric: v})
            means.append(_score(per_seed, setup.direction))
        best = int(np.argmin(means))                        # ties: the earliest configuration
        selected[method], scores[method] = configs[best], float(np.mean(values[best]))
    return Result(setup=setup, spaces=dict(spaces), trials=pd.DataFrame(rows), selected=selected, scores=scores,
                  counts=counts)


def _evaluate(runner, trial, method: str, configs: list[dict[str, Any]], setup: Setup, offset: int
              ) -> tuple[list[list[float]], list[list[dict[str, float]]]]:
    """The selection metric of every (configuration, tuning seed), and the trial's other numeric results."""
    tasks = [dict(method=method, config=c, seed=int(s)) for c in configs for s in setup.seeds]
    out = runner.run(f"tune-{method}-{offset}", trial, tasks, desc=f"tuning {method}")
    values, others = [], []
    for k, result in enumerate(out):
        v = result.get(setup.metric) if isinstance(result, Mapping) else None
        if v is None or not math.isfinite(float(v)):
            raise FloatingPointError(f"tuning trial {tasks[k]} of {method} returned {setup.metric} = {v!r}")
        values.append(float(v))
        others.append({key: float(x) for key, x in result.items()
                       if key != setup.metric and isinstance(x, (int, float)) and not isinstance(x, bool)})
    n = len(setup.seeds)
    return ([values[i * n:(i + 1) * n] for i in range(len(configs))],
            [others[i * n:(i + 1) * n] for i in range(len(configs))])


def _search(runner, trial, method: str, space: Space, setup: Setup) -> tuple[list[dict], list[list[float]], list]:
    rng = np.random.default_rng([setup.sampler_seed, *map(ord, method)])
    if setup.sampler == "grid" and not space.finite:
        raise ValueError(f"{method}: the grid sampler needs a space of Grid dimensions ({space.describe()})")
    if setup.sampler == "grid" or (space.finite and len(space.grid()) <= setup.budget):
        grid = space.grid()
        if len(grid) > setup.budget:
            grid = [grid[i] for i in sorted(rng.choice(len(grid), size=setup.budget, replace=False))]
        return (grid, *_evaluate(runner, trial, method, grid, setup, 0))
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seed = int(rng.integers(2**31 - 1))
    sampler = (optuna.samplers.RandomSampler(seed=seed) if setup.sampler == "random"
               else optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(setup.batch, setup.budget)))
    study = optuna.create_study(direction="minimize", sampler=sampler)
    distributions = space._optuna()
    configs, values, others = [], [], []
    while len(configs) < setup.budget:
        asked = [study.ask(distributions) for _ in range(min(setup.batch, setup.budget - len(configs)))]
        batch = [{k: _plain(v) for k, v in t.params.items()} for t in asked]
        results, extra = _evaluate(runner, trial, method, batch, setup, len(configs))
        for t, per_seed in zip(asked, results):
            study.tell(t, _score(per_seed, setup.direction))
        configs += batch
        values += results
        others += extra
    return configs, values, others


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


# =====================================================================================================
# Pilot
# =====================================================================================================


@dataclass
class Pilot:
    """Per-seed spread of a metric on the tuning seeds, and what it implies for the reported experiment."""

    metric: str
    sd: float                    # standard deviation over tuning seeds (of per-seed differences when paired)
    n: int                       # tuning seeds it was estimated from
    paired: bool

    def seeds_for(self, effect: float, power: float = stats.POWER) -> int | None:
        """Seeds per method that detect a true difference ``effect`` with probability ``power``."""
        return stats.units_needed(effect, self.sd, paired=self.paired, power=power)

    def mde(self, seeds: int) -> float | None:
        """The smallest difference ``seeds`` seeds detect with 80 % power."""
        return stats.min_detectable_effect(self.sd, seeds, paired=self.paired)

    def describe(self, effect: float, seeds: int) -> str:
        if not math.isfinite(self.sd):
            return f"pilot on {self.n} tuning seed(s): no spread of {self.metric} to size the experiment with"
        need = self.seeds_for(effect)
        return (f"pilot on {self.n} tuning seeds: sd of {self.metric}{' differences' if self.paired else ''} "
                f"{self.sd:.3g}; detecting {effect:.3g} with 80 % power needs {need} seeds; the {seeds} seeds used "
                f"detect {self.mde(seeds):.3g}")


def pilot(result: Result, metric: str | None = None, *, first: str | None = None,
          second: str | None = None) -> Pilot:
    """The spread of the selected configurations on the tuning seeds: of ``first`` − ``second`` per seed when both
    are given (a paired design: both ran on the same tuning seeds), else pooled over the selected methods."""
    metric = metric or result.setup.metric
    per_method = {method: result.selected_trials(method)[metric].to_numpy(dtype=float) for method in result.selected}
    if first is not None and second is not None:
        d = per_method[first] - per_method[second]
        return Pilot(metric, stats.spread(d), len(d), paired=True)
    residuals = np.concatenate([v - v.mean() for v in per_method.values() if len(v) > 1])
    dof = sum(len(v) - 1 for v in per_method.values() if len(v) > 1)
    sd = float(np.sqrt(np.sum(residuals ** 2) / dof)) if dof > 0 else float("nan")
    return Pilot(metric, sd, len(result.setup.seeds), paired=False)
