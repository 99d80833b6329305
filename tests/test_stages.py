"""The pipeline's stages (hrlkit.pipeline): a report-side edit never reruns training while a training-side one does,
outputs are replaced only when a stage succeeded, and a stage dies with dvc."""

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from hrlkit import pipeline

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SLUG = "teleop_slicing"


def _env() -> dict:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "DVC_NO_ANALYTICS": "1"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """The committed tree (what a fresh clone has: uncommitted edits are not in it), as its own git repository."""
    if not (ROOT / "data" / "runs" / SLUG / "manifest.json").exists():
        pytest.skip("no committed raw results")
    dest = tmp_path_factory.mktemp("clone") / "repo"
    dest.mkdir()
    archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def dvc(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "dvc"), *args], cwd=repo, capture_output=True, text=True, timeout=300,
                          env=_env())


def changed_stages(repo: Path) -> set[str]:
    out = dvc(repo, "status", "--json")
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout or "{}"))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_the_committed_pipeline_is_up_to_date(repo):
    assert changed_stages(repo) == set(), "dvc status is not clean in a fresh copy"


def test_a_report_side_edit_leaves_the_runs_stage_up_to_date(repo):
    nb = repo / "notebooks" / f"{SLUG}.py"
    original = nb.read_text()
    try:
        edit(nb, "display(FACTS)", "display(FACTS)\nprint('a report-side edit')")
        assert dvc(repo, "repro", f"spec@{SLUG}").returncode == 0
        changed = changed_stages(repo)
        assert f"runs@{SLUG}" not in changed and f"report@{SLUG}" in changed
        # a comment in a training cell changes nothing either
        edit(nb, "def train_level1(seed: int, config: dict, constrained: bool = True) -> dict:",
             "def train_level1(seed: int, config: dict, constrained: bool = True) -> dict:  # a comment")
        assert dvc(repo, "repro", f"spec@{SLUG}").returncode == 0
        assert f"runs@{SLUG}" not in changed_stages(repo)
        # a training line does
        edit(nb, 'optimizer = torch.optim.Adam(model.parameters(), lr=config["learning_rate"], eps=1e-5)',
             'optimizer = torch.optim.Adam(model.parameters(), lr=config["learning_rate"], eps=1e-6)')
        assert dvc(repo, "repro", f"spec@{SLUG}").returncode == 0
        assert f"runs@{SLUG}" in changed_stages(repo)
    finally:
        nb.write_text(original)
        assert dvc(repo, "repro", f"spec@{SLUG}").returncode == 0


def test_an_analysis_edit_reruns_only_reports(repo):
    stats = repo / "hrlkit" / "stats.py"
    original = stats.read_text()
    try:
        stats.write_text(original + "\n# a comment\n")
        changed = changed_stages(repo)
        papers = pipeline.load_params(repo / "params.yaml")["papers"]
        assert changed == {f"report@{s}" for s in papers}, changed
    finally:
        stats.write_text(original)
    env = repo / "hrlkit" / "envs" / "slice5g.py"
    original = env.read_text()
    try:
        env.write_text(original + "\n# a comment\n")
        assert {f"runs@{SLUG}", f"report@{SLUG}"} <= changed_stages(repo)
    finally:
        env.write_text(original)


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_failed_report_leaves_the_committed_report_alone(monkeypatch):
    reports = ROOT / "reports"
    before = _digest(reports)

    def half_done(nb, executed, params, **kw):
        executed.parent.mkdir(parents=True, exist_ok=True)
        (executed.parent / "metrics.json").write_text("{}")       # a half-written output …
        raise RuntimeError("the kernel died")                     # … then the stage fails

    monkeypatch.setattr(pipeline, "_execute", half_done)
    with pytest.raises(RuntimeError, match="kernel died"):
        pipeline.run_stage_report(SLUG)
    assert _digest(reports) == before
    assert not list(reports.glob(".staging-*"))


STAGE = """
import subprocess, sys, time
from hrlkit.pipeline import die_with_parent
die_with_parent()
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print(child.pid, flush=True)
time.sleep(120)
"""
DVC_LIKE = """
import subprocess, sys, time
stage = subprocess.Popen([sys.executable, sys.argv[1]], stdout=subprocess.PIPE, text=True)
print(stage.pid, stage.stdout.readline().strip(), flush=True)
time.sleep(120)
"""


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_stage_and_its_children_die_with_dvc(tmp_path):
    (tmp_path / "stage.py").write_text(STAGE)
    (tmp_path / "dvc_like.py").write_text(DVC_LIKE)
    parent = subprocess.Popen([sys.executable, str(tmp_path / "dvc_like.py"), str(tmp_path / "stage.py")],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    stage_pid, worker_pid = map(int, parent.stdout.readline().split())
    assert not _gone(stage_pid) and not _gone(worker_pid)
    parent.kill()                                   # dvc killed without a chance to clean up
    parent.wait()
    deadline = time.time() + 10
    while time.time() < deadline and not (_gone(stage_pid) and _gone(worker_pid)):
        time.sleep(0.2)
    try:
        assert _gone(stage_pid) and _gone(worker_pid), "the stage or its worker outlived dvc"
    finally:
        for pid in (stage_pid, worker_pid):
            if not _gone(pid):
                psutil.Process(pid).kill()
