"""The training spec (hrlkit.spec) and the task runner (hrlkit.runner): a stored result is loaded only while the
training code, the training parameters and the code they run are unchanged; new seeds run only their own tasks."""

import json
import textwrap
from pathlib import Path

import pytest
from conftest import make_toy_repo
import yaml

from hrlkit import runs, spec, store
from hrlkit.runner import Runner, StaleResultsError, collect_garbage

CALLS: list[tuple] = []


def toy_task(method: str, seed: int) -> dict:
    CALLS.append((method, seed))
    return {"method": method, "seed": seed, "score": seed * 10.0 + len(method), "curve": [float(seed)] * 3,
            "timing": {"seconds": 0.5}}


NOTEBOOK = '''\
# %% tags=["parameters"]
profile = "smoke"        # label
seeds = [0, 1]           # seeds
workers = 1              # processes
out_dir = "scratch/toy"  # outputs
runs_dir = "scratch/toy/runs"  # raw results
device = "auto"          # device
methods = ["a", "b"]     # methods
scale = 2.0              # used inside a task
window = 3               # used by the report only

# %%
import numpy as np
OFFSET = 1


def train(method, seed):
    """A docstring."""
    return scale * seed + OFFSET  # a comment

# %% tags=["experiments"]
TASKS = [dict(method=m, seed=s) for m in methods for s in seeds]
RESULTS = [train(**t) for t in TASKS]

# %%
smoothed = window * 2
'''


@pytest.fixture
def toy(tmp_path):
    CALLS.clear()
    return make_toy_repo(tmp_path / "repo", NOTEBOOK)


PARAMS = dict(profile="smoke", seeds=[0, 1], workers=1, out_dir="scratch/toy", runs_dir="scratch/toy/runs",
              device="auto", methods=["a", "b"], scale=2.0, window=3)


def runner(root, runs_dir, **changes):
    return Runner("toy", {**PARAMS, **changes}, runs_dir=runs_dir, root=root)


def tasks(seeds=(0, 1), methods=("a", "b")):
    return [dict(method=m, seed=s) for m in methods for s in seeds]


def test_spec_sorts_the_parameters(toy):
    s = spec.training_spec("toy", PARAMS, root=toy)
    assert set(s.parameters) == {"seeds", "methods", "scale"} and s.enumerators == ["methods", "seeds"]
    assert s.report_only == ["device", "window"]      # the toy never reads device
    assert "# a comment" not in s.text() and "A docstring" not in s.text() and "scale * seed + OFFSET" in s.text()


def test_compute_once_then_load(toy, tmp_path):
    first = runner(toy, tmp_path / "runs").run("train", toy_task, tasks())
    assert len(CALLS) == 4
    again = runner(toy, tmp_path / "runs").run("train", toy_task, tasks())
    assert len(CALLS) == 4 and again == first
    assert first[0]["timing"] == {"seconds": 0.5}                    # the task's own timing comes back
    stored = json.loads(next((tmp_path / "runs" / "tasks").glob("*.json")).read_text())
    assert "timing" not in json.dumps(stored["result"])             # … but is not part of the stored result
    assert json.loads((tmp_path / "runs" / "timing.json").read_text())["tasks"]


def test_a_changed_training_parameter_recomputes_everything(toy, tmp_path):
    runner(toy, tmp_path / "runs").run("train", toy_task, tasks())
    runner(toy, tmp_path / "runs", scale=3.0).run("train", toy_task, tasks())
    assert len(CALLS) == 8


def test_a_report_only_parameter_or_a_new_seed_does_not(toy, tmp_path):
    runner(toy, tmp_path / "runs").run("train", toy_task, tasks())
    runner(toy, tmp_path / "runs", window=10).run("train", toy_task, tasks())
    assert len(CALLS) == 4
    runner(toy, tmp_path / "runs", seeds=[0, 1, 2]).run("train", toy_task, tasks(seeds=(0, 1, 2)))
    assert CALLS[4:] == [("a", 2), ("b", 2)]                         # only the new tasks ran


def test_code_edits(toy, tmp_path):
    runner(toy, tmp_path / "runs").run("train", toy_task, tasks())
    nb = toy / "notebooks" / "toy.py"
    nb.write_text(NOTEBOOK.replace("# a comment", "# another comment").replace("A docstring", "Other words")
                  .replace("smoothed = window * 2", "smoothed = window * 3"))
    runner(toy, tmp_path / "runs").run("train", toy_task, tasks())
    assert len(CALLS) == 4                                           # comments, docstrings, report cells: no rerun
    nb.write_text(NOTEBOOK.replace("OFFSET = 1", "OFFSET = 2"))
    runner(toy, tmp_path / "runs").run("train", toy_task, tasks())
    assert len(CALLS) == 8                                           # a training line: everything reruns


def test_a_changed_dependency_recomputes(toy, tmp_path):
    runner(toy, tmp_path / "runs").run("train", toy_task, tasks())
    (toy / "toy_env.py").write_text("SCALE = 2\n")
    runner(toy, tmp_path / "runs").run("train", toy_task, tasks())
    assert len(CALLS) == 8


def test_load_only_never_trains(toy, tmp_path, monkeypatch):
    runner(toy, tmp_path / "runs").run("train", toy_task, tasks())
    monkeypatch.setenv("HRL_LOAD_ONLY", "experiments,tuning,training")
    runner(toy, tmp_path / "runs").run("train", toy_task, tasks())
    with pytest.raises(StaleResultsError, match="runs@toy"):
        runner(toy, tmp_path / "runs", scale=5.0).run("train", toy_task, tasks())
    assert len(CALLS) == 4


def test_a_tampered_result_is_not_trusted(toy, tmp_path):
    runner(toy, tmp_path / "runs").run("train", toy_task, tasks())
    path = next((tmp_path / "runs" / "tasks").glob("*.json"))
    doc = json.loads(path.read_text())
    doc["key"] = "0" * 64
    path.write_text(json.dumps(doc))
    runner(toy, tmp_path / "runs").run("train", toy_task, tasks())
    assert len(CALLS) == 5


def test_stored_bytes_do_not_depend_on_workers(toy, tmp_path):
    runner(toy, tmp_path / "one").run("train", toy_task, tasks())
    two = Runner("toy", PARAMS, runs_dir=tmp_path / "two", root=toy, workers=2)
    two.run("train", toy_task, tasks())
    for f in sorted((tmp_path / "one" / "tasks").iterdir()):
        assert f.read_bytes() == (tmp_path / "two" / "tasks" / f.name).read_bytes()
    assert (tmp_path / "one" / "manifest.json").read_bytes() == (tmp_path / "two" / "manifest.json").read_bytes()


def test_manifest_load_and_garbage_collection(toy, tmp_path):
    runner(toy, tmp_path / "runs").run("train", toy_task, tasks(seeds=(0, 1, 2)))
    runner(toy, tmp_path / "runs").run("train", toy_task, tasks())          # the manifest now lists 4 tasks
    df = runs.load(tmp_path / "runs")
    assert list(df.columns[:3]) == ["group", "method", "seed"] and len(df) == 4
    assert sorted(df["score"]) == [1.0, 1.0, 11.0, 11.0]
    assert len(list((tmp_path / "runs" / "tasks").glob("*.json"))) == 6
    removed = collect_garbage(tmp_path / "runs")
    assert len(removed) == 2 and len(list((tmp_path / "runs" / "tasks").glob("*.json"))) == 4


def test_same_task_twice_is_an_error(toy, tmp_path):
    with pytest.raises(ValueError, match="same task twice"):
        runner(toy, tmp_path / "runs").run("train", toy_task, tasks() + tasks()[:1])


# ---- the analysis behind the enumerators ------------------------------------------------------------------


def usage(cells, experiments, params=("seeds", "methods", "scale")):
    return spec.parameter_usage([textwrap.dedent(c) for c in cells], experiments, params)


def test_enumerators_are_parameters_that_only_shape_the_task_list():
    u = usage(["def f(seed): return scale * seed", "T = [dict(seed=s) for s in seeds]\nR = run(f, T)"], 1)
    assert u.training == ["scale", "seeds"] and u.enumerators == ["seeds"]


def test_a_value_that_reaches_a_function_is_not_an_enumerator():
    u = usage(["def f(seed): return N * seed", "N = len(seeds)\nR = run(f, [dict(seed=0)])"], 1)
    assert u.enumerators == []
    u = usage(["def f(seed): return CFG[0] * seed", "CFG = [1]\nCFG.append(len(methods))\nR = run(f, [])"], 1,)
    assert u.enumerators == []                                          # a method call mutates a global
    u = usage(["x = seeds[0]", "R = [dict(seed=s) for s in seeds]"], 1)
    assert u.enumerators == []                                          # read outside the experiments cell


def test_dynamic_reads_make_every_parameter_count():
    u = usage(["values = {k: globals()[k] for k in ('scale',)}", "R = [s for s in seeds]"], 1)
    assert u.dynamic and u.training == ["methods", "scale", "seeds"] and u.enumerators == []
    u = usage(["PARAMS = Schema.from_notebook(globals())", "R = [s for s in seeds]"], 1)
    assert not u.dynamic and u.training == ["seeds"]


def test_normalized_drops_only_what_cannot_change_a_result():
    a = 'def f(x):  # note\n    """Doc."""\n\n    s = """keep\n\n  this"""\n    return f"{x} # kept"\n'
    b = 'def f(x):\n    """Other doc."""\n    s = """keep\n\n  this"""   # trailing\n    return f"{x} # kept"\n'
    assert spec.normalized(a) == spec.normalized(b)
    assert '"""keep\n\n  this"""' in spec.normalized(a) and "# kept" in spec.normalized(a)
    assert spec.normalized(a) != spec.normalized(a.replace("keep", "kept"))


@pytest.mark.parametrize("slug", yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
                         ["papers"])
def test_committed_spec_is_current(slug, root):
    """data/runs/<slug>.training.py is what the notebook and params.yaml give now (dvc status checks it too)."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    expected = spec.training_spec(slug, params[slug]).text()
    assert (root / "data" / "runs" / f"{slug}.training.py").read_text() == expected


def test_tuning_trials_depend_only_on_the_cells_up_to_the_tuning_cell(toy, tmp_path):
    nb = toy / "notebooks" / "toy.py"
    tuned = NOTEBOOK.replace('# %% tags=["experiments"]', '# %% tags=["tuning"]\nBEST = 1\n\n# %% tags=["experiments"]')
    nb.write_text(tuned)
    Runner("toy", PARAMS, runs_dir=tmp_path / "tuning", root=toy, cut="tuning").run("trial", toy_task, tasks())
    nb.write_text(tuned.replace("RESULTS = [train(**t) for t in TASKS]", "RESULTS = [train(**t) for t in TASKS][:1]"))
    Runner("toy", PARAMS, runs_dir=tmp_path / "tuning", root=toy, cut="tuning").run("trial", toy_task, tasks())
    assert len(CALLS) == 4                          # an edit of the experiments cell never retunes
    nb.write_text(tuned.replace("BEST = 1", "BEST = 2"))
    Runner("toy", PARAMS, runs_dir=tmp_path / "tuning", root=toy, cut="tuning").run("trial", toy_task, tasks())
    assert len(CALLS) == 8
    with pytest.raises(ValueError, match="before the experiments"):
        nb.write_text(NOTEBOOK + '\n# %% tags=["tuning"]\nX = 1\n')
        spec.training_spec("toy", PARAMS, root=toy, cut="tuning")


def test_trained_models_depend_only_on_the_cells_up_to_the_training_cell(toy, tmp_path):
    """A runner cut at the ``training`` cell keeps its stored models when the evaluation code after it changes."""
    nb = toy / "notebooks" / "toy.py"
    split = NOTEBOOK.replace("# %% tags=[\"experiments\"]",
                             "# %% tags=[\"training\"]\nSTEPS = 1\n\n# %%\ndef evaluate(x):\n    return x + 1\n\n"
                             "# %% tags=[\"experiments\"]")
    nb.write_text(split)

    def models():
        Runner("toy", PARAMS, runs_dir=tmp_path / "models", root=toy, cut="training").run("model", toy_task, tasks())

    models()
    nb.write_text(split.replace("return x + 1", "return x + 2"))          # an evaluation edit
    models()
    assert len(CALLS) == 4                          # ... never retrains
    nb.write_text(split.replace("STEPS = 1", "STEPS = 2"))                # a training edit
    models()
    assert len(CALLS) == 8
    with pytest.raises(ValueError, match="before the tuning and experiments"):
        nb.write_text(NOTEBOOK + '\n# %% tags=["training"]\nX = 1\n')
        spec.training_spec("toy", PARAMS, root=toy, cut="training")


def test_runners_sharing_a_runs_dir_time_only_their_own_groups(toy, tmp_path):
    """Two runners on one runs_dir (trained models and their evaluation): each timing counts its own tasks once."""
    nb = toy / "notebooks" / "toy.py"
    nb.write_text(NOTEBOOK.replace("# %% tags=[\"experiments\"]",
                                   "# %% tags=[\"training\"]\nSTEPS = 1\n\n# %% tags=[\"experiments\"]"))
    shared = tmp_path / "shared"
    models = Runner("toy", PARAMS, runs_dir=shared, root=toy, cut="training")
    models.run("model", toy_task, tasks())
    evaluation = Runner("toy", PARAMS, runs_dir=shared, root=toy)
    evaluation.run("evaluation", toy_task, tasks())
    own = {r.groups[0]: r.timing() for r in (models, evaluation)}
    assert own["model"]["tasks"] == own["evaluation"]["tasks"] == len(tasks())
    assert models.groups == ["model"] and evaluation.groups == ["evaluation"]
