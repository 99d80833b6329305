"""Seeding, parallel runner, figures with provenance, runs.csv."""

import os

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from hrlkit import figures, parallel, seeding  # noqa: E402
from hrlkit.runs import prepare_out_dir, runs_frame, write_runs  # noqa: E402


def _noisy(seed: int, scale: float) -> tuple:
    return seed, scale, float(np.random.rand() * scale), float(torch.rand(1).item())


def test_seed_everything_reproducible():
    rng1 = seeding.seed_everything(7)
    a = (rng1.random(), np.random.rand(), torch.rand(1).item())
    rng2 = seeding.seed_everything(7)
    b = (rng2.random(), np.random.rand(), torch.rand(1).item())
    assert a == b
    assert torch.get_num_threads() == 1
    with pytest.raises(ValueError):
        seeding.seed_everything(-1)


def test_derive_seed_stable_and_distinct():
    assert seeding.derive_seed(1, "eval") == seeding.derive_seed(1, "eval")
    assert seeding.derive_seed(1, "eval") != seeding.derive_seed(1, "train")
    assert seeding.derive_seed(1, "eval") != seeding.derive_seed(2, "eval")


def test_resolve_device():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert seeding.resolve_device("auto") == expected
    with pytest.raises(ValueError, match="device"):
        seeding.resolve_device("tpu")


def test_parallel_results_do_not_depend_on_workers():
    tasks = parallel.grid(seed=[0, 1, 2], scale=[1.0, 10.0])
    assert tasks[1] == {"seed": 0, "scale": 10.0}
    one = parallel.run_tasks(_noisy, tasks, workers=1, progress=False)
    two = parallel.run_tasks(_noisy, tasks, workers=2, progress=False)
    assert one == two
    assert [r[:2] for r in one] == [(t["seed"], t["scale"]) for t in tasks]   # task order kept


def test_parallel_ray_backend_if_installed():
    pytest.importorskip("ray")
    tasks = parallel.grid(seed=[0, 1])
    local = parallel.run_tasks(_noisy, [dict(t, scale=1.0) for t in tasks], workers=1, progress=False)
    ray_out = parallel.run_tasks(_noisy, [dict(t, scale=1.0) for t in tasks], ray_address="local", progress=False)
    assert local == ray_out


def test_save_figure_writes_provenance(tmp_path):
    import matplotlib.pyplot as plt

    figures.set_theme()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png = figures.save_figure(fig, "demo", "A line.", out_dir=tmp_path, slug="demo_paper", params={"a": 1})
    prov = figures.read_png_provenance(png)
    assert prov["slug"] == "demo_paper" and len(prov["params_hash"]) == 12 and prov["git_commit"]
    assert prov["notebook_sha256"] == "missing"          # no notebooks/demo_paper.py
    assert not (tmp_path / "figures" / "demo.svg").exists()      # one file per figure: PNG (dvc plots shows it once)
    figures.save_figure(fig, "demo", "A line.", out_dir=tmp_path, slug="demo_paper", params={"a": 1}, svg=True)
    plt.close(fig)
    assert (tmp_path / "figures" / "demo.svg").read_text().count("demo_paper") >= 1


def test_figure_provenance_hashes_the_notebook_source():
    from hrlkit.provenance import file_hash, repo_root

    source = repo_root() / "notebooks" / "motion_priors.py"
    prov = figures.provenance("motion_priors", {"a": 1})
    assert prov["notebook_sha256"] == file_hash(source)
    assert prov["notebook_sha256"] == __import__("hashlib").sha256(source.read_bytes()).hexdigest()[:12]


def test_runs_csv_is_deterministic(tmp_path):
    rows = [{"method": "b", "seed": 1, "metric": "x", "value": 1 / 3, "snr_db": 5},
            {"method": "a", "seed": 0, "metric": "x", "value": 2 / 3, "snr_db": 5}]
    out = prepare_out_dir(tmp_path / "r")
    write_runs(runs_frame(rows), out)
    first = (out / "runs.csv").read_bytes()
    write_runs(runs_frame(rows[::-1]), out)
    assert (out / "runs.csv").read_bytes() == first
    assert first.decode().splitlines()[0] == "method,seed,metric,value,snr_db"
    with pytest.raises(ValueError):
        runs_frame([{"method": "a", "value": 1}])


def test_runs_csv_rejects_undeclared_non_finite_values(tmp_path):
    rows = [{"method": "a", "seed": 0, "metric": "success", "value": float("nan")},
            {"method": "a", "seed": 0, "metric": "time_to_goal_s", "value": float("nan")},
            {"method": "b", "seed": 1, "metric": "time_to_goal_s", "value": 3.5}]
    out = prepare_out_dir(tmp_path / "r")
    with pytest.raises(FloatingPointError, match=r"\['success'\].*method 'a', seed 0"):
        write_runs(runs_frame(rows), out, missing={"time_to_goal_s": "no episode reached the goal"})
    write_runs(runs_frame(rows[1:]), out, missing={"time_to_goal_s": "no episode reached the goal"})
    assert (out / "runs.csv").read_text().splitlines()[1] == "a,0,time_to_goal_s,"
    with pytest.raises(FloatingPointError, match="time_to_goal_s"):
        write_runs(runs_frame([dict(rows[2], value=float("inf"))]), out, missing={"time_to_goal_s": "x"})


def test_per_seed_selects_one_value_per_seed_and_names_failures():
    from hrlkit.runs import per_seed

    frame = runs_frame([{"method": "a", "seed": s, "metric": "x", "value": float(s), "cond": c}
                        for s in (2, 0, 1) for c in (0.0, 0.5)])
    values = per_seed(frame, "x", "a", cond=0.5)
    assert values.tolist() == [0.0, 1.0, 2.0] and values.label == "x of a, cond = 0.5"
    with pytest.raises(ValueError, match="several rows per seed"):
        per_seed(frame, "x", "a")
    with pytest.raises(ValueError, match="no runs for x of b"):
        per_seed(frame, "x", "b", cond=0.5)
