"""Provenance: which code and which parameters produced a file."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any, Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent


def repo_root() -> Path:
    """The repository root (resolve every path from here: nbval and papermill start in different folders)."""
    return REPO_ROOT


def git_commit() -> str:
    """The checked-out commit (12 hex digits); ``unknown`` outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out or "unknown"


def file_hash(path: Path) -> str:
    """12 hex digits of the SHA-256 of a file's bytes; ``missing`` when there is no such file."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
    except OSError:
        return "missing"


def params_hash(params: Mapping[str, Any]) -> str:
    """12 hex digits of the SHA-256 of the parameters as canonical JSON (sorted keys)."""
    blob = json.dumps(dict(params), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]
