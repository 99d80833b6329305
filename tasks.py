#!/usr/bin/env python3
"""The collection's commands. Needs only Python 3.11, 3.12 or 3.13 with pip and venv.

    python3 tasks.py repro [dvc repro args]   # create .venv on first use, install the pinned stack, dvc repro
    python3 tasks.py test  [pytest args]      # same set-up, then the test suite

Also:
    python3 tasks.py smoke [slug ...]         # every (or the named) notebook in smoke mode, then its verdicts
    python3 tasks.py lab                      # JupyterLab on the notebooks (each .py opens as a notebook)
    python3 tasks.py setup [--cuda]           # install only; --cuda: PyTorch's CUDA build instead of the CPU one
    python3 tasks.py lock                     # re-pin requirements.lock from the current .venv

The virtual environment is reinstalled when requirements.lock, pyproject.toml or the torch build change.
PyTorch: the CPU build comes from PyTorch's own index (download.pytorch.org); when that index cannot be reached,
the build PyPI serves for the platform is installed with its dependencies (on Linux x86_64 the CUDA build, which
also runs on a CPU, ~3 GB). `--cuda` asks for that build on purpose.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
LOCK = ROOT / "requirements.lock"
STAMP = VENV / ".hrl-installed"
SUPPORTED_PYTHONS = ((3, 11), (3, 12), (3, 13))
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# Pulled in by jupyterlab's dependencies; adds ~1.8 s to every papermill/nbconvert start (measured),
# so `tasks.py lock` leaves it out of requirements.lock (installs use --no-deps, so it is never installed).
SLOW_IMPORTS = ["rfc3987-syntax"]
# JupyterLab setting shipped into the venv: a jupytext .py notebook opens as a notebook on a double click
LAB_OVERRIDES = {"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}}}


def _run(cmd: list, **kw) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, **kw)


def check_python(version: tuple[int, int] | None = None) -> None:
    """Fail at once, before installing anything, on a Python the pinned stack does not support."""
    major_minor = tuple(version or sys.version_info[:2])
    if major_minor not in SUPPORTED_PYTHONS:
        allowed = ", ".join(f"{a}.{b}" for a, b in SUPPORTED_PYTHONS)
        sys.exit(f"hrl-repro needs Python {allowed}; this is {major_minor[0]}.{major_minor[1]} "
                 f"({sys.executable}). Run the command with one of those, e.g. `python3.12 tasks.py setup`.")


def torch_pin() -> str:
    pins = [line.strip() for line in LOCK.read_text().splitlines() if line.startswith("torch==")]
    if len(pins) != 1:
        sys.exit("requirements.lock must pin torch exactly once (torch==X.Y.Z)")
    return pins[0]


def reachable(url: str, timeout: float = 8.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except Exception:  # noqa: BLE001 - offline, DNS, proxy: all mean "not reachable"
        return False


def torch_install(py: Path, cuda: bool) -> list:
    """The pip command that installs torch (with its dependencies): the CPU build unless ``cuda``."""
    pin = torch_pin()
    if not cuda and reachable(f"{TORCH_CPU_INDEX}/torch/"):
        return [py, "-m", "pip", "install", "--quiet", "--index-url", TORCH_CPU_INDEX, "--extra-index-url",
                "https://pypi.org/simple", pin]
    if not cuda:
        print(f"note: {TORCH_CPU_INDEX} is not reachable; installing the torch build your pip index serves "
              "(on Linux x86_64 from PyPI: the CUDA build, which also runs on a CPU)", flush=True)
    return [py, "-m", "pip", "install", "--quiet", pin]


def _install_hash(cuda: bool) -> str:
    h = hashlib.sha256()
    for f in (LOCK, ROOT / "pyproject.toml"):
        h.update(f.read_bytes())
    h.update(b"cuda" if cuda else b"cpu")
    h.update(json.dumps(LAB_OVERRIDES, sort_keys=True).encode())
    return h.hexdigest()


def write_lab_settings(prefix: Path = VENV) -> Path:
    """JupyterLab reads <prefix>/share/jupyter/lab/settings/overrides.json at start-up."""
    path = prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(path.read_text()) if path.exists() else {}
    for plugin, values in LAB_OVERRIDES.items():
        merged = current.setdefault(plugin, {})
        for key, value in values.items():
            merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
    path.write_text(json.dumps(current, indent=2) + "\n")
    return path


def setup(cuda: bool = False) -> None:
    """Create .venv; install torch (CPU build unless ``cuda``), the exact pinned stack and hrlkit (editable), once
    per lock change; ship the JupyterLab settings."""
    check_python()
    if STAMP.exists() and STAMP.read_text() == _install_hash(cuda):
        return
    if not (BIN / "python").exists():
        if _run([sys.executable, "-m", "venv", VENV]) != 0:
            sys.exit("could not create .venv (is the python3-venv module installed?)")
    py = BIN / "python"
    steps = [
        [py, "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        torch_install(py, cuda),
        # everything else at the exact pinned versions; torch is already there (its pin matches the local build)
        [py, "-m", "pip", "install", "--quiet", "--no-deps", "-r", LOCK],
        [py, "-m", "pip", "install", "--quiet", "--no-deps", "-e", "."],
    ]
    for step in steps:
        if _run(step) != 0:
            sys.exit(f"install step failed: {' '.join(map(str, step))}")
    if _run([py, "-c", "import torch, hrlkit; print('torch', torch.__version__, 'ready')"]) != 0:
        sys.exit("the installed stack does not import; see the messages above")
    write_lab_settings()
    STAMP.write_text(_install_hash(cuda))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV)
    env.setdefault("DVC_NO_ANALYTICS", "1")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return env


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "lock":
        frozen = subprocess.run([BIN / "python", "-m", "pip", "freeze", "--exclude-editable"],
                                capture_output=True, text=True, check=True).stdout.splitlines()
        header = LOCK.read_text().splitlines()[:3]
        pins = [p.replace("+cpu", "") for p in frozen if p.split("==")[0] not in SLOW_IMPORTS]
        LOCK.write_text("\n".join(header + pins) + "\n")
        return 0
    cuda = cmd == "setup" and "--cuda" in rest
    setup(cuda=cuda or (STAMP.exists() and STAMP.read_text() == _install_hash(True)))
    if cmd == "setup":
        return 0
    if cmd == "repro":
        return _run([BIN / "dvc", "repro", *rest], env=_env())
    if cmd == "test":
        return _run([BIN / "python", "-m", "pytest", *rest], env=_env())
    if cmd == "smoke":
        return _run([BIN / "python", "-m", "hrlkit.pipeline", "smoke", *rest], env=_env())
    if cmd == "lab":
        return _run([BIN / "jupyter", "lab", "notebooks", *rest], env=_env())
    print(f"unknown command {cmd!r}; expected one of: repro, test, smoke, lab, setup, lock", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
