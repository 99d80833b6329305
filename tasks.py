#!/usr/bin/env python3
"""The collection's two commands (and a few helpers). Needs only Python 3.11 and pip.

    python3 tasks.py repro [dvc repro args]   # create .venv on first use, install the pinned stack, dvc repro
    python3 tasks.py test  [pytest args]      # same set-up, then the test suite

Also: ``python3 tasks.py setup`` (install only), ``python3 tasks.py lab`` (JupyterLab on the notebooks),
``python3 tasks.py lock`` (re-pin requirements.lock from the current .venv).
The virtual environment is reinstalled when requirements.lock or pyproject.toml change.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
LOCK = ROOT / "requirements.lock"
STAMP = VENV / ".hrl-installed"
# Pulled in by jupyterlab's dependencies; adds ~1.8 s to every papermill/nbconvert start (measured),
# so `tasks.py lock` leaves it out of requirements.lock (installs use --no-deps, so it is never installed).
SLOW_IMPORTS = ["rfc3987-syntax"]


def _run(cmd: list[str], **kw) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, **kw)


def _install_hash() -> str:
    h = hashlib.sha256()
    for f in (LOCK, ROOT / "pyproject.toml"):
        h.update(f.read_bytes())
    return h.hexdigest()


def setup() -> None:
    """Create .venv and install the exact pinned stack plus hrlkit (editable), once per lock change."""
    if sys.version_info[:2] != (3, 11):
        print(f"warning: the reports were produced with Python 3.11; this is {sys.version.split()[0]}", file=sys.stderr)
    if STAMP.exists() and STAMP.read_text() == _install_hash():
        return
    if not (BIN / "python").exists():
        if _run([sys.executable, "-m", "venv", VENV]) != 0:
            sys.exit("could not create .venv (is the python3-venv module installed?)")
    py = BIN / "python"
    steps = [
        [py, "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [py, "-m", "pip", "install", "--quiet", "--no-deps", "-r", LOCK],
        [py, "-m", "pip", "install", "--quiet", "--no-deps", "-e", "."],
    ]
    for step in steps:
        if _run(step) != 0:
            sys.exit(f"install step failed: {' '.join(map(str, step))}")
    STAMP.write_text(_install_hash())


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
    setup()
    if cmd == "setup":
        return 0
    if cmd == "repro":
        return _run([BIN / "dvc", "repro", *rest], env=_env())
    if cmd == "test":
        return _run([BIN / "python", "-m", "pytest", *rest], env=_env())
    if cmd == "lab":
        return _run([BIN / "jupyter", "lab", "notebooks", *rest], env=_env())
    print(f"unknown command {cmd!r}; expected one of: repro, test, setup, lab, lock", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
