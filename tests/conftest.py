"""Shared fixtures. Tests resolve every path from the repository root (papermill and nbval differ in cwd)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def make_toy_repo(root: Path, notebook: str) -> Path:
    """A minimal repository for the runner's tests: notebooks/toy.py, a params.yaml that registers it, its env file
    (``toy_env.py``) and the result core files the training context hashes."""
    import yaml

    from hrlkit import spec

    (root / "notebooks").mkdir(parents=True)
    (root / "notebooks" / "toy.py").write_text(notebook)
    (root / "toy_env.py").write_text("SCALE = 1\n")
    (root / "params.yaml").write_text(yaml.safe_dump({"papers": {"toy": {"env": "toy_env.py", "kit": "toy_env.py",
                                                                         "data": "toy_env.py"}}}))
    for name in spec.RESULT_CORE:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("# core\n")
    return root
