"""Equal-budget tuning (hrlkit.tune): the same number of configurations for every method, on seeds disjoint from the
reported ones, the same selection whatever the worker count, trials stored with the raw results; the pilot."""

import numpy as np
import pytest
from conftest import make_toy_repo

from hrlkit import stats, tune
from hrlkit.runner import Runner

CALLS = []
NOTEBOOK = '''\
# %% tags=["parameters"]
profile = "smoke"        # label
seeds = [0, 1]           # seeds
workers = 1              # processes
out_dir = "scratch/toy"  # outputs
runs_dir = "scratch/toy/runs"  # raw results
device = "auto"          # device

# %% tags=["experiments"]
RESULTS = [s for s in seeds]
'''
PARAMS = dict(profile="smoke", seeds=[0, 1], workers=1, out_dir="scratch/toy", runs_dir="scratch/toy/runs",
              device="auto")


def trial(method: str, config: dict, seed: int) -> dict:
    """Validation cost: a bowl around lr = 3e-3 (ours) or threshold 0.3 (rule), plus seed noise."""
    CALLS.append((method, seed))
    noise = 0.01 * np.random.default_rng(seed).normal()
    if method == "rule":
        return {"cost": (config["threshold"] - 0.3) ** 2 + config["target"] * 0.01 + noise, "side": float(seed)}
    return {"cost": (np.log10(config["lr"]) - np.log10(3e-3)) ** 2 + 0.001 * config["hidden"] / 64 + noise,
            "side": float(seed), "flag": True, "label": "not a number"}


SPACES = {"ours": tune.Space(lr=tune.LogUniform(1e-4, 1e-1), hidden=tune.Grid(64, 128)),
          "rule": tune.Space(threshold=tune.Grid(0.1, 0.2, 0.3, 0.4), target=tune.Grid(0.9, 1.0))}


@pytest.fixture
def toy(tmp_path):
    CALLS.clear()
    return make_toy_repo(tmp_path / "repo", NOTEBOOK)


def run(toy, runs_dir, workers=1, sampler="tpe", budget=8):
    setup = tune.Setup(metric="cost", direction="minimize", budget=budget, seeds=[100, 101, 102], sampler=sampler,
                       batch=4)
    return tune.tune(Runner("toy", PARAMS, runs_dir=runs_dir, root=toy, workers=workers), trial, SPACES, setup,
                     reported_seeds=[0, 1])


def test_same_budget_for_every_method_and_a_sensible_choice(toy, tmp_path):
    result = run(toy, tmp_path / "r")
    assert result.counts == {"ours": 8, "rule": 8}                      # the rule's 4 × 2 grid fits the budget
    assert result.selected["rule"] == {"threshold": 0.3, "target": 0.9}
    assert abs(np.log10(result.selected["ours"]["lr"]) - np.log10(3e-3)) < 1.0
    assert len(result.trials) == 2 * 8 * 3 and set(result.trials["seed"]) == {100, 101, 102}
    assert "same budget (8 configurations" in result.summary() and "disjoint" in result.summary()
    assert result.to_json()["selected"] == result.selected


def test_grid_larger_than_the_budget_is_subsampled_with_a_seed(toy, tmp_path):
    setup = tune.Setup(metric="cost", direction="minimize", budget=5, seeds=[100, 101], sampler="grid")
    rule = {"rule": SPACES["rule"]}
    a = tune.tune(Runner("toy", PARAMS, runs_dir=tmp_path / "a", root=toy), trial, rule, setup, reported_seeds=[0])
    b = tune.tune(Runner("toy", PARAMS, runs_dir=tmp_path / "b", root=toy), trial, rule, setup, reported_seeds=[0])
    assert a.counts["rule"] == 5 and a.trials.equals(b.trials)
    with pytest.raises(ValueError, match="grid sampler needs"):
        tune.tune(Runner("toy", PARAMS, runs_dir=tmp_path / "c", root=toy), trial, SPACES, setup, reported_seeds=[0])


def test_deterministic_whatever_the_workers_and_stored(toy, tmp_path):
    one = run(toy, tmp_path / "one", workers=1)
    two = run(toy, tmp_path / "two", workers=2)
    assert one.selected == two.selected and one.trials.equals(two.trials)
    calls = len(CALLS)
    again = run(toy, tmp_path / "one", workers=1)                      # every trial is loaded, none rerun
    assert len(CALLS) == calls and again.selected == one.selected


def test_tuning_seeds_must_be_disjoint_from_reported_ones(toy, tmp_path):
    setup = tune.Setup(metric="cost", direction="minimize", budget=2, seeds=[0, 7])
    with pytest.raises(ValueError, match=r"tuning seeds \[0\]"):
        tune.tune(Runner("toy", PARAMS, runs_dir=tmp_path / "r", root=toy), trial, SPACES, setup, reported_seeds=[0])
    with pytest.raises(ValueError, match="direction"):
        tune.Setup(metric="cost", direction="down", budget=2, seeds=[1])
    assert tune.untuned("no baseline has knobs")["summary"] == "no baseline has knobs"


def test_pilot_sizes_the_experiment(toy, tmp_path):
    result = run(toy, tmp_path / "r")
    p = tune.pilot(result, first="ours", second="rule")
    per = {m: result.trials[(result.trials["method"] == m)] for m in ("ours", "rule")}
    assert p.paired and p.n == 3 and np.isfinite(p.sd)
    assert p.seeds_for(0.05) == stats.units_needed(0.05, p.sd, paired=True)
    assert "needs" in p.describe(0.05, 10)
    pooled = tune.pilot(result)
    assert not pooled.paired and pooled.sd > 0 and per["ours"].shape[0] == 24


def test_trials_keep_the_other_numeric_results_and_a_pilot_reads_them(toy, tmp_path):
    result = run(toy, tmp_path / "r")
    t = result.trials
    assert (t["side"] == t["seed"]).all()                 # another numeric result rides along with its trial
    assert "flag" not in t and "label" not in t           # booleans and text do not
    side = tune.pilot(result, "side")
    assert side.sd == pytest.approx(np.std([100, 101, 102], ddof=1))   # the seeds' spread, pooled over methods
    one_seed = tune.Pilot("cost", float("nan"), 1, paired=True)
    assert "no spread" in one_seed.describe(0.05, 10)


def test_selected_trials_are_the_selected_configuration_per_seed(toy, tmp_path):
    result = run(toy, tmp_path / "r")
    rows = result.selected_trials("rule")
    assert list(rows["seed"]) == [100, 101, 102]
    assert all((rows[f"config.{k}"] == v).all() for k, v in result.selected["rule"].items())


def test_position_of_a_selection_in_its_grid():
    spaces = {m: tune.Space(lr=tune.Grid(3e-4, 1e-4, 1e-3)) for m in ("a", "b", "c")}
    spaces["d"] = tune.Space(lr=tune.Grid(1e-3))
    result = tune.Result(setup=None, spaces=spaces, trials=None, scores={},
                         selected={"a": {"lr": 1e-4}, "b": {"lr": 3e-4}, "c": {"lr": 1e-3}, "d": {"lr": 1e-3}})
    assert [result.position(m, "lr") for m in "abcd"] == ["the lower edge", "interior", "the upper edge",
                                                           "the only value"]


def test_configuration_table_means_over_seeds_and_marks_the_selection(toy, tmp_path):
    result = run(toy, tmp_path / "r")
    metric = result.setup.metric
    table = result.configuration_table([metric])
    assert len(table) == sum(result.counts.values())                 # one row per method and configuration
    for _, row in table.iterrows():
        config = {c[7:]: row[c] for c in table.columns if c.startswith("config.") and row[c] == row[c]}
        trials = result.trials[result.trials["method"] == row["method"]]
        for k, v in config.items():
            trials = trials[trials[f"config.{k}"] == v]
        assert row[metric] == pytest.approx(trials[metric].mean())
        assert (row["selected"] == "yes") == (config == result.selected[row["method"]])
