"""Every paper notebook runs top to bottom in smoke mode (≤ 60 s), writes valid outputs, is deterministic whatever
the worker count, gives the same report from stored results as from fresh ones, writes nothing under reports/ by
default, and rejects bad parameters in its setup cell, before any compute, naming the parameter."""

import hashlib
import json
import math
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml
from papermill.exceptions import PapermillExecutionError

from hrlkit.claims import validate_metrics
from hrlkit.params import ParameterError
from hrlkit.pipeline import check_section, run_notebook, scratch_params

ROOT = Path(__file__).resolve().parent.parent
PAPERS = list(yaml.safe_load((ROOT / "params.yaml").read_text())["papers"])
# The smoke budget is for the notebook's own run, top to bottom (timing.json's wall_time_s, which its report shows),
# not for starting the kernel and rendering the HTML report (about 10-15 s more, measured on a 2-core machine).
SMOKE_BUDGET_S = 60.0
# At least six bad inputs per paper: a typo, NaN, inf, a float where an integer is needed, a repeated list value, a
# missing file (or, without file parameters, a folder outside the repository), plus what each notebook adds.
BAD_PARAMETERS = {
    "teleop_slicing": [({"train_update": 0}, "train_update"),                  # typo: unknown name
                       ({"penalty_weight": math.nan}, "penalty_weight"),
                       ({"tuning_seeds": [1, 100]}, "tuning_seeds"),                 # overlaps the reported seeds
                       ({"tuning_budget": 10}, "tuning_budget"),                      # above the grids' size
                       ({"gamma": math.inf}, "gamma"),
                       ({"train_updates": 2.0}, "train_updates"),
                       ({"snr_levels_db": [10, 10]}, "snr_levels_db"),
                       ({"control_periods_ms": [2.5, 10]}, "control_periods_ms[0]"),   # no silent truncation
                       ({"out_dir": "../../elsewhere"}, "out_dir"),
                       ({"methods": ["hierarchical-drl", "round-robin"]}, "methods[1]"),
                       ({"default_snr_db": 12}, "default_snr_db")],              # a relation between parameters
    "share_grpo": [({"rl_step": 3}, "rl_step"),
                   ({"tuning_budget": 4}, "tuning_budget"),
                   ({"temperature": math.inf}, "temperature"),
                   ({"rl_steps": 8.0}, "rl_steps"),
                   ({"sensitivity_m": [3, 3]}, "sensitivity_m"),
                   ({"warmup_checkpoint": "data/share_grpo/missing.pt"}, "warmup_checkpoint"),
                   ({"warmup_checkpoint": "data/share_grpo"}, "warmup_checkpoint"),       # a folder, not a file
                   ({"variants_m": 5}, "variants_m"),
                   ({"sensitivity_seeds": [7]}, "sensitivity_seeds"),
                   ({"warmup_section": "no_such_section"}, "warmup_section"),
                   ({"tuning_seeds": [0, 100]}, "tuning_seeds"),                     # overlaps the reported seeds
                   ({"probe_questions": 0}, "probe_questions")],
    "ebus_charging": [({"update": 3}, "update"),
                      ({"clip_coef": math.nan}, "clip_coef"),
                      ({"tuning_seeds": [0, 100]}, "tuning_seeds"),                  # overlaps the reported seeds
                      ({"scaling_fleet_sizes": [4]}, "scaling_fleet_sizes"),          # not larger than fleet_size
                      ({"complexity_fleet_sizes": [8, 16]}, "complexity_fleet_sizes"),   # must hold fleet_size
                      ({"gamma": -math.inf}, "gamma"),
                      ({"fleet_size": 8.0}, "fleet_size"),
                      ({"scaling_fleet_sizes": [16, 16]}, "scaling_fleet_sizes"),
                      ({"out_dir": "/etc/hrl-repro"}, "out_dir"),
                      ({"scaling_fleet_sizes": [4, 6]}, "scaling_fleet_sizes[1]"),
                      ({"seeds": [200, 201], "scaling_seeds": [0]}, "scaling_seeds"),
                      ({"methods": ["dac-mappo-e", "hddqn"]}, "methods[1]"),
                      ({"long_seeds": [5]}, "long_seeds"),                            # not a reported seed
                      ({"long_factor": 1}, "long_factor")],
    "motion_priors": [({"high_update": 3}, "high_update"),
                      ({"train_roughness": math.nan}, "train_roughness"),
                      ({"tuning_budget": 4}, "tuning_budget"),                        # above the grid's size
                      ({"tuning_seeds": [0]}, "tuning_seeds"),                        # a reported seed
                      ({"no_prior_updates": 0}, "no_prior_updates"),
                      ({"n_envs": 8.0}, "n_envs"),
                      ({"eval_roughness": [0.0, 0.0]}, "eval_roughness"),
                      ({"prior_path": "data/motion_priors/missing.pt"}, "prior_path"),
                      ({"prior_path": "data"}, "prior_path"),
                      ({"w_res": 0.1}, "w_res"),
                      ({"eval_roughness": [0.0, 0.5]}, "eval_roughness[1]")],
    "tool_star": [({"rl_step": 3}, "rl_step"),
                  ({"clip": math.nan}, "clip"),
                  ({"temperature": math.inf}, "temperature"),
                  ({"tuning_seeds": [0, 100]}, "tuning_seeds"),                      # overlaps the reported seeds
                  ({"tuning_budget": 4}, "tuning_budget"),                            # above the grid's size
                  ({"rl_steps": 4.0}, "rl_steps"),
                  ({"seeds": [1, 1]}, "seeds"),
                  ({"sft_checkpoint": "data/tool_star/missing.pt"}, "sft_checkpoint"),
                  ({"corpus_path": "data/tool_star"}, "corpus_path"),                 # a folder, not a file
                  ({"dpo_every": 9}, "dpo_every"),                                    # no DPO phase would run
                  ({"test_per_split_level": 51}, "test_per_split_level"),             # more than the pool holds
                  ({"device": "cuda"}, "device"),
                  ({"strong_dpo_seeds": [7]}, "strong_dpo_seeds"),                     # not a reported seed
                  ({"methods": ["no-dpo", "tool-star"]}, "methods")],                 # ours must come first
    "quadruped_soccer": [({"update": 3}, "update"),
                         ({"gamma": math.nan}, "gamma"),
                         ({"tuning_seeds": [0, 100]}, "tuning_seeds"),               # overlaps the reported seeds
                         ({"updates": 4.0}, "updates"),
                         ({"skills_path": "data/quadruped_soccer/missing.pt"}, "skills_path"),
                         ({"e2e_seeds": [7]}, "e2e_seeds"),                          # not a reported seed
                         ({"episode_steps": 105}, "episode_steps"),                  # not whole 5 Hz decisions
                         ({"methods": ["mappo-sp", "mappo-fsp", "scripted"]}, "methods"),   # ours must come first
                         ({"device": "cuda"}, "device"),
                         ({"methods": ["mappo-fsp", "mappo-sp"]}, "methods")],       # the scripted team is needed
    "entropy_planner": [({"env_step": 400}, "env_step"),                           # typo: unknown name
                        ({"meta_lr": math.nan}, "meta_lr"),
                        ({"tuning_seeds": [1, 100]}, "tuning_seeds"),                  # overlaps the reported seeds
                        ({"candidates": 8.0}, "candidates"),                           # a float for an integer
                        ({"eval_porosities": [0.2, 0.2]}, "eval_porosities"),           # repeated entry
                        ({"eval_porosities": [0.0, 0.5]}, "eval_porosities"),           # the training porosity missing
                        ({"min_goal_distance": 5}, "min_goal_distance"),               # farther than any cell of 3 × 3
                        ({"methods": ["planner", "mpc"]}, "methods"),                  # base Dreamer is needed
                        ({"fixed_horizon": 7}, "fixed_horizon"),                       # not one of the code's horizons
                        ({"device": "cuda"}, "device"),
                        ({"methods": ["dreamer", "planner"]}, "methods")],            # ours must come first
}
# one paper per shared code path: the RL/PPO core, the LM/GRPO core, the MAPPO/options core + MILP, MuJoCo + prior,
# tool rollouts with a tool process, team games over frozen skills with opponent pools
DETERMINISM_PAPERS = ("teleop_slicing", "share_grpo", "ebus_charging", "motion_priors", "tool_star", "quadruped_soccer",
                      "entropy_planner")

pytestmark = pytest.mark.notebook


def _smoke(slug: str, out: Path, runs_dir: Path, **params) -> tuple[Path, float]:
    start = time.perf_counter()
    run_notebook(slug, {**scratch_params(slug, out, runs_dir), **params}, out, html=True)
    return out, time.perf_counter() - start


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory, request):
    """One fresh smoke run per paper (computed: nothing stored yet), run only for the papers the session selected."""
    runs = {}
    wanted = {item.callspec.params.get("slug") for item in request.session.items if hasattr(item, "callspec")}
    for slug in PAPERS:
        if slug in wanted:
            base = tmp_path_factory.mktemp(slug)
            runs[slug] = _smoke(slug, base / slug, base / "runs")
    return runs


@pytest.mark.parametrize("slug", PAPERS)
def test_smoke_run_within_budget_and_valid(slug, smoke_runs):
    out, wall = smoke_runs[slug]
    timing = json.loads((out / "timing.json").read_text())
    notebook_wall = timing["wall_time_s"]
    assert notebook_wall <= SMOKE_BUDGET_S, (f"{slug} smoke run took {notebook_wall:.1f} s inside the notebook "
                                             f"(budget {SMOKE_BUDGET_S} s; {wall:.1f} s with kernel start and HTML)")
    metrics = json.loads((out / "metrics.json").read_text())
    validate_metrics(metrics)
    assert metrics["paper"]["slug"] == slug and metrics["profile"] == "smoke"
    assert metrics["tuning"]["summary"]
    assert timing["wall_time_s"] > 0 and timing["training"]["computed"] > 0
    assert (out / "runs.csv").read_text().startswith("method,seed,metric,value")
    assert list((out / "figures").glob("*.png")), "no figure written"
    html = (out.parent / f"{slug}.html").read_text()
    assert "<math" in html and "<details" in html
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']https?:""", html), "report loads from the network"
    assert not re.search(r"\|\s*:?-{3,}:?\s*\|", re.sub(r"(?s)<[^>]+>", " ", html)), "a table rendered as raw text"
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) + len(html)
    assert total <= 5_000_000, f"{slug} reports weigh {total / 1e6:.1f} MB (limit 5 MB)"


@pytest.mark.parametrize("slug", DETERMINISM_PAPERS)
def test_determinism_across_reruns_workers_and_stored_results(slug, smoke_runs, tmp_path, monkeypatch):
    first, _ = smoke_runs[slug]
    # a second run from scratch, with 2 workers: equal bytes show both that a rerun repeats the first run and that
    # the worker count does not matter (a separate identical rerun with 1 worker would add ~35 s per notebook)
    two_workers, _ = _smoke(slug, tmp_path / "workers2", tmp_path / "runs-w2", workers=2)
    # the report stage's path: the same notebook on the results stored by the first run, loading only
    monkeypatch.setenv("HRL_LOAD_ONLY", "experiments,tuning,training")
    loaded, _ = _smoke(slug, tmp_path / "loaded", first.parent / "runs")
    assert json.loads((loaded / "timing.json").read_text())["training"]["computed"] == 0
    for name in ("metrics.json", "runs.csv"):
        reference = (first / name).read_bytes()
        assert (two_workers / name).read_bytes() == reference, f"{name} differs in a rerun with workers=2"
        assert (loaded / name).read_bytes() == reference, f"{name} differs when the results are loaded"


def _tree_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_default_run_writes_nothing_under_reports(smoke_runs):
    slug = "teleop_slicing"
    before = _tree_digest(ROOT / "reports")
    if slug in smoke_runs:      # the smoke run's stored results, where the defaults look: this test is about outputs
        stored = smoke_runs[slug][0].parent
        shutil.copytree(stored / "runs", ROOT / "scratch" / slug / "runs", dirs_exist_ok=True)
        shutil.copytree(stored / "runs-tuning", ROOT / "scratch" / slug / "tuning", dirs_exist_ok=True)
    run_notebook(slug, {}, ROOT / "scratch" / slug, html=False)       # the notebook's own defaults, as in JupyterLab
    assert _tree_digest(ROOT / "reports") == before
    assert (ROOT / "scratch" / slug / "metrics.json").exists()


@pytest.mark.parametrize("slug", PAPERS)
def test_bad_parameters_are_refused_naming_the_parameter(slug):
    """Every bad input, against the notebook's own declaration (the class its setup cell calls)."""
    assert slug in BAD_PARAMETERS and len(BAD_PARAMETERS[slug]) >= 6, f"add {slug}'s bad-parameter cases"
    for params, name in BAD_PARAMETERS[slug]:
        with pytest.raises(ParameterError) as err:
            check_section(slug, {"out_dir": "scratch/bad", "runs_dir": "scratch/bad/runs", **params})
        assert f"'{name}'" in str(err.value), str(err.value)


# through papermill, as a user would pass them: an unknown name (papermill injects it) and the first bad value
SETUP_CELL_CASES = 2


@pytest.mark.parametrize("slug", PAPERS)
def test_bad_parameters_fail_in_the_setup_cell(slug, tmp_path):
    for params, name in BAD_PARAMETERS[slug][:SETUP_CELL_CASES]:
        out = tmp_path / name
        start = time.perf_counter()
        with pytest.raises(PapermillExecutionError) as err:
            run_notebook(slug, {"out_dir": str(out), "runs_dir": str(tmp_path / "runs"), **params}, out,
                         html=False, check=False)
        message = str(err.value)
        assert "ParameterError" in message and f"'{name}'" in message, message[-600:]
        assert err.value.exec_count <= 4, f"{name}: failed in cell {err.value.exec_count}, not in the setup cell"
        assert not (out / "runs.csv").exists() and not (tmp_path / "runs").exists()
        assert time.perf_counter() - start < 20, "validation must fail before any compute"
