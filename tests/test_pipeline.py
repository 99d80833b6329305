"""The pipeline's contract: params.yaml ↔ notebooks, dvc.yaml, offline DVC, pinned installs, clean notebooks."""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from hrlkit import pipeline

ROOT = Path(__file__).resolve().parent.parent
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
PAPERS = list(PARAMS["papers"])
REQUIRED_PARAMETERS = {"seeds", "workers", "out_dir", "runs_dir", "profile", "device"}


@pytest.mark.parametrize("slug", PAPERS)
def test_params_yaml_passes_the_notebooks_declaration(slug):
    assert slug in PARAMS, f"params.yaml has no section for paper {slug}"
    pipeline.check_section(slug, PARAMS[slug])
    nb = pipeline.read_notebook(slug)
    defaults = pipeline.notebook_parameters(nb)
    assert REQUIRED_PARAMETERS <= set(defaults)
    assert set(defaults) == set(pipeline.load_schema(slug, nb).names())
    assert PARAMS[slug]["profile"] == "repro" and PARAMS[slug]["out_dir"] == f"reports/{slug}"
    assert PARAMS[slug]["runs_dir"] == f"data/runs/{slug}"
    # the smoke defaults write into the git-ignored scratch folder, never into reports/ or data/runs/
    assert defaults["out_dir"].startswith("scratch/") and defaults["runs_dir"].startswith("scratch/")


@pytest.mark.parametrize("slug", PAPERS)
def test_papermill_parses_every_parameter(slug, tmp_path):
    """papermill's own parser must see each parameter (a comment it cannot parse makes it warn 'unknown')."""
    import nbformat
    import papermill

    nb = pipeline.read_notebook(slug)
    path = tmp_path / f"{slug}.ipynb"
    nbformat.write(nb, path)
    assert set(papermill.inspect_notebook(str(path))) == set(pipeline.notebook_parameters(nb))


def test_a_typo_or_a_bad_value_in_params_fails():
    from hrlkit.params import ParameterError

    slug = PAPERS[0]
    with pytest.raises(ParameterError, match="'seedz' \\(did you mean 'seeds'\\?\\)"):
        pipeline.check_section(slug, {"seedz": [0]})
    with pytest.raises(ParameterError, match="'workers'"):
        pipeline.check_section(slug, {"workers": "2"})
    with pytest.raises(ParameterError, match="'seeds'.*duplicate"):
        pipeline.check_section(slug, {"seeds": [0, 0]})


def test_parameters_cell_must_be_literals():
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("a = 1\nb = a + 1", metadata={"tags": ["parameters"]}))
    with pytest.raises(ValueError, match="literal"):
        pipeline.notebook_parameters(nb)


def test_paper_registry_matches_files():
    for slug, meta in PARAMS["papers"].items():
        assert (ROOT / "notebooks" / f"{slug}.py").exists()
        for key in ("title", "arxiv", "env", "kit", "data"):
            assert key in meta, f"papers.{slug} lacks {key}"
        for key in ("env", "kit", "data"):
            assert (ROOT / meta[key]).exists(), f"papers.{slug}.{key} = {meta[key]} does not exist"


def test_dvc_yaml_stages_and_scorecard_deps():
    from hrlkit import spec

    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    stages = dvc["stages"]
    for name in ("spec", "tune", "runs", "report"):
        assert stages[name]["foreach"] == "${papers}"
    # tuning: its own stage, whose folder the runs and report stages read
    assert stages["tune"]["do"]["outs"] == [{"data/tuning/${key}": {"cache": False, "persist": True}}]
    assert "data/tuning/${key}" in stages["runs"]["do"]["deps"] and "data/tuning/${key}" in stages["report"]["do"]["deps"]
    for slug in PAPERS:
        section = PARAMS.get(slug) or {}
        assert section.get("tuning_dir", f"data/tuning/{slug}") == f"data/tuning/{slug}"
    deps = stages["scorecard"]["deps"]
    for slug in PAPERS:
        assert f"reports/{slug}/metrics.json" in deps and f"reports/{slug}/timing.json" in deps
    # the runs stage depends on what determines the results, and on nothing of the report side
    runs_deps = set(stages["runs"]["do"]["deps"])
    assert set(spec.RESULT_CORE) <= runs_deps and "data/runs/${key}.training.py" in runs_deps
    assert {"${item.env}", "${item.kit}", "${item.data}"} <= runs_deps
    for report_side in ("hrlkit/stats.py", "hrlkit/claims.py", "hrlkit/figures.py", "hrlkit/report.py",
                        "hrlkit/runs.py", "hrlkit/params.py", "hrlkit/display.py", "notebooks/${key}.py"):
        assert report_side not in runs_deps
    assert "params" not in stages["runs"]["do"], "training parameters reach the runs stage through the spec file"
    assert stages["runs"]["do"]["outs"] == [{"data/runs/${key}": {"cache": False, "persist": True}}]
    # the report stage reruns the whole notebook: every hrlkit module a notebook imports is one of its deps
    stage_deps = set(stages["report"]["do"]["deps"])
    for slug in PAPERS:
        meta = PARAMS["papers"][slug]
        tracked = stage_deps | {meta["env"], meta["kit"], meta["data"]}
        src = (ROOT / "notebooks" / f"{slug}.py").read_text()
        found = re.findall(r"^from hrlkit((?:\.\w+)*) import \(([^)]*)\)", src, flags=re.M)
        found += re.findall(r"^from hrlkit((?:\.\w+)*) import ([\w, ]+)$", src, flags=re.M)
        for dotted, names in found:
            package = "hrlkit" + dotted.replace(".", "/")
            imported = [f"{package}/{n.split(' as ')[0].strip()}" for n in names.replace("\n", " ").split(",")
                        if n.strip()]
            # `from hrlkit.x import y`: y is a submodule (hrlkit/x/y.py), a subpackage (hrlkit/x/y/) or a name
            # defined in hrlkit/x.py
            for path in [p if (ROOT / f"{p}.py").exists() or (ROOT / p).is_dir() else package for p in imported]:
                covered = any(f"{path}.py" == t or path == t or path.startswith(t.rstrip("/") + "/") for t in tracked)
                assert covered, f"{slug} imports {path}, not a dep of its report stage"


def test_dvc_parses_and_is_offline():
    config = (ROOT / ".dvc" / "config").read_text()
    assert re.search(r"analytics\s*=\s*false", config) and re.search(r"check_update\s*=\s*false", config)
    dvc = Path(sys.executable).with_name("dvc")
    out = subprocess.run([str(dvc), "repro", "--dry", "--force"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={"DVC_NO_ANALYTICS": "1", "PATH": str(dvc.parent)})
    assert out.returncode == 0, out.stderr
    for slug in PAPERS:
        for stage in ("spec", "runs", "report"):
            assert f"{stage}@{slug}" in out.stdout
    assert "scorecard" in out.stdout


def test_pins_are_consistent():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            lock[re.sub(r"[-_.]+", "-", name.lower())] = version
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    for req in wanted:
        name = re.sub(r"[-_.]+", "-", re.split(r"[<>=!\[ ;]", req, maxsplit=1)[0].lower())
        assert name in lock, f"{name} is a dependency in pyproject.toml but not pinned in requirements.lock"
    assert lock["torch"].startswith("2.13."), "torch must stay on 2.13.* (a newer range pulls a CUDA build)"
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python=")]
    assert python == ["python=3.11"] and project["requires-python"] == ">=3.11,<3.14"
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-r requirements.lock" in pip_section and "-e ." in pip_section


def _tasks_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("hrl_tasks", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_setup_refuses_an_unsupported_python_at_once():
    tasks = _tasks_module()
    for ok in ((3, 11), (3, 12), (3, 13)):
        tasks.check_python(ok)
    for bad in ((3, 10), (3, 14)):
        with pytest.raises(SystemExit, match=r"needs Python 3\.11, 3\.12, 3\.13; this is 3\.1[04]"):
            tasks.check_python(bad)
    # pyproject says the same
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    from packaging.specifiers import SpecifierSet

    allowed = SpecifierSet(project["requires-python"])
    assert all(f"{a}.{b}.0" in allowed for a, b in tasks.SUPPORTED_PYTHONS)
    assert "3.10.0" not in allowed and "3.14.0" not in allowed


def test_lab_settings_open_python_notebooks_as_notebooks(tmp_path):
    tasks = _tasks_module()
    path = tasks.write_lab_settings(tmp_path)
    assert path == tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    settings = json.loads(path.read_text())
    assert settings["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]["python"] == "Jupytext Notebook"
    # JupyterLab's own reader finds it
    from jupyterlab_server.settings_utils import _get_overrides

    overrides, _ = _get_overrides(str(path.parent))
    assert overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]["python"] == "Jupytext Notebook"


def test_environment_yml_pip_section_installs(tmp_path):
    """conda passes the pip list to `pip install -r`: every line must be valid in a requirements file, and the
    whole list must resolve (dry run, in a fresh venv)."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    requirements = tmp_path / "requirements.txt"
    lines = [line.replace("-r requirements.lock", f"-r {ROOT / 'requirements.lock'}").replace("-e .", f"-e {ROOT}")
             for line in pip_section]
    requirements.write_text("\n".join(lines) + "\n")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    out = subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "--dry-run", "--quiet", "--retries", "0",
                          "--timeout", "5", "-r", requirements], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]


def test_committed_notebooks_carry_no_outputs():
    tracked = subprocess.run(["git", "ls-files", "notebooks"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    for path in tracked:
        if path.endswith(".ipynb"):
            nb = json.loads((ROOT / path).read_text())
            assert not any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), path
    for slug in PAPERS:
        text = (ROOT / "notebooks" / f"{slug}.py").read_text()
        assert "format_name: percent" in text, f"notebooks/{slug}.py must be a jupytext py:percent notebook"


def test_ci_calls_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 tasks.py test" in readme and "python3 tasks.py test" in ci
    assert "python3 tasks.py repro" in readme


@pytest.mark.parametrize("slug", PAPERS)
def test_saving_in_jupyterlab_leaves_the_tracked_file_unchanged(slug):
    """jupytext's round trip .py → notebook (with outputs) → .py is byte-identical, so an interactive run and
    save does not change what DVC tracks (the stage would rerun otherwise)."""
    import jupytext
    import nbformat

    path = ROOT / "notebooks" / f"{slug}.py"
    nb = jupytext.read(path)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="run interactively\n")]
            cell.execution_count = 1
    assert jupytext.writes(nb, fmt="py:percent") == path.read_text()


def test_tune_stage_of_a_notebook_without_tuning_writes_a_note(tmp_path, monkeypatch):
    from conftest import make_toy_repo

    repo = make_toy_repo(tmp_path / "repo", "# %% tags=[\"parameters\"]\nseeds = [0]\n\n"
                                            "# %% tags=[\"experiments\"]\nx = 1\n")
    monkeypatch.chdir(repo)
    monkeypatch.setattr("hrlkit.runner.repo_root", lambda: repo)
    pipeline._write_no_tuning("toy", {})
    note = json.loads((repo / "data" / "tuning" / "toy" / "manifest.json").read_text())
    assert note["slug"] == "toy" and note["tuning"].startswith("none")
    with pytest.raises(SystemExit, match="tuning_dir"):
        pipeline._write_no_tuning("toy", {"tuning_dir": "data/tuning/toy"})


def test_params_yaml_is_in_the_layout_dvc_writes(tmp_path):
    """`dvc exp run -S key=value` rewrites params.yaml through DVC's own override writer: the committed file is already
    in that layout (lists in block style), so setting one value changes exactly one line."""
    from dvc.utils.hydra import apply_overrides

    copy = tmp_path / "params.yaml"
    original = (ROOT / "params.yaml").read_text()
    copy.write_text(original)
    value = yaml.safe_load(original)["teleop_slicing"]["eval_slots"]
    apply_overrides(copy, [f"teleop_slicing.eval_slots={value}"])
    assert copy.read_text() == original, "params.yaml is not in DVC's layout: rewrite it once with apply_overrides"
    apply_overrides(copy, [f"teleop_slicing.eval_slots={value + 1}"])
    after = copy.read_text().splitlines()
    changed = [(a, b) for a, b in zip(original.splitlines(), after) if a != b]
    assert len(after) == len(original.splitlines()) and len(changed) == 1, changed


def test_smoke_command_names_an_unknown_paper():
    with pytest.raises(SystemExit, match="unknown paper"):
        pipeline.run_smoke(["no_such_paper"])


def test_verdict_table_is_plain_text():
    doc = {"claims": [{"id": "C1", "verdict": "reproduced", "value": 0.123456, "ci95": [0.1, 0.2],
                       "claim": "x" * 100},
                      {"id": "C2", "verdict": "untestable", "value": None, "ci95": None, "claim": "short"}]}
    lines = pipeline.verdict_table(doc).splitlines()
    assert lines[0].split()[:4] == ["C1", "reproduced", "0.123", "[0.1,"] and lines[0].endswith("…")
    assert lines[1].split() == ["C2", "untestable", "short"]
