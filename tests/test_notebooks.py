"""Every paper notebook runs top to bottom in smoke mode (≤ 60 s), writes valid outputs, is deterministic
whatever the worker count, and rejects bad parameters before any compute."""

import json
import re
import time
from pathlib import Path

import pytest
import yaml
from papermill.exceptions import PapermillExecutionError

from hrlkit.claims import validate_metrics
from hrlkit.pipeline import run_notebook

ROOT = Path(__file__).resolve().parent.parent
PAPERS = list(yaml.safe_load((ROOT / "params.yaml").read_text())["papers"])
SMOKE_BUDGET_S = 60.0
# One bad value per failure kind, per paper: an unknown method name and a negative step count.
BAD_PARAMETERS = {
    "teleop_slicing": [({"methods": ["hierarchical-drl", "round-robin"]}, "methods"),
                       ({"train_updates": -5}, "train_updates")],
    "share_grpo": [({"methods": ["share-grpo", "dapo"]}, "methods"),
                   ({"variants_m": 5}, "variants_m"),
                   ({"lm_backend": "gpt2"}, "lm_backend"),
                   ({"warmup_section": "no_such_section"}, "warmup_section")],
    "ebus_charging": [({"methods": ["dac-mappo-e", "hddqn"]}, "methods"),
                      ({"fleet_size": 2}, "fleet_size"),
                      ({"scaling_fleet_sizes": [4, 6]}, "scaling_fleet_sizes[1]"),
                      ({"learning_rate": 0}, "learning_rate")],
    "motion_priors": [({"methods": ["prior-residual", "amp"]}, "methods"),
                      ({"w_res": 0.1}, "w_res"),
                      ({"eval_roughness": [0.0, 0.5]}, "eval_roughness[1]"),
                      ({"prior_path": "data/motion_priors/missing.pt"}, "prior_path")],
}
# one paper per shared code path: the RL/PPO core, the LM/GRPO core, the MAPPO/options core + MILP, MuJoCo + prior
DETERMINISM_PAPERS = ("teleop_slicing", "share_grpo", "ebus_charging", "motion_priors")

pytestmark = pytest.mark.notebook


def _smoke(slug: str, out: Path, **params) -> tuple[Path, float]:
    start = time.perf_counter()
    run_notebook(slug, {"out_dir": str(out), **params}, out, html=True)
    return out, time.perf_counter() - start


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    runs = {}
    for slug in PAPERS:
        runs[slug] = _smoke(slug, tmp_path_factory.mktemp(slug) / slug)
    return runs


@pytest.mark.parametrize("slug", PAPERS)
def test_smoke_run_within_budget_and_valid(slug, smoke_runs):
    out, wall = smoke_runs[slug]
    assert wall <= SMOKE_BUDGET_S, f"{slug} smoke run took {wall:.1f} s (budget {SMOKE_BUDGET_S} s)"
    metrics = json.loads((out / "metrics.json").read_text())
    validate_metrics(metrics)
    assert metrics["paper"]["slug"] == slug and metrics["profile"] == "smoke"
    timing = json.loads((out / "timing.json").read_text())
    assert timing["wall_time_s"] > 0
    assert (out / "runs.csv").read_text().startswith("method,seed,metric,value")
    assert list((out / "figures").glob("*.png")), "no figure written"
    html = (out.parent / f"{slug}.html").read_text()
    assert "<math" in html and "<details" in html
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']https?:""", html), "report loads from the network"
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) + len(html)
    assert total <= 5_000_000, f"{slug} reports weigh {total / 1e6:.1f} MB (limit 5 MB)"


@pytest.mark.parametrize("slug", DETERMINISM_PAPERS)
def test_determinism_across_reruns_and_workers(slug, smoke_runs, tmp_path):
    first, _ = smoke_runs[slug]
    again, _ = _smoke(slug, tmp_path / "again")
    two_workers, _ = _smoke(slug, tmp_path / "workers2", workers=2)
    for name in ("metrics.json", "runs.csv"):
        reference = (first / name).read_bytes()
        assert (again / name).read_bytes() == reference, f"{name} differs between two identical runs"
        assert (two_workers / name).read_bytes() == reference, f"{name} differs with workers=2"


@pytest.mark.parametrize("slug", PAPERS)
def test_bad_parameters_fail_in_validation(slug, tmp_path):
    assert slug in BAD_PARAMETERS, f"add {slug}'s bad-parameter cases to BAD_PARAMETERS"
    for params, name in BAD_PARAMETERS[slug]:
        out = tmp_path / name
        start = time.perf_counter()
        with pytest.raises(PapermillExecutionError) as err:
            run_notebook(slug, {"out_dir": str(out), **params}, out, html=False)
        assert "ParameterError" in str(err.value) and name in str(err.value)
        assert not (out / "runs.csv").exists()
        assert time.perf_counter() - start < 30, "validation must fail before any compute"
