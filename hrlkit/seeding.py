"""Seeding, CPU determinism and device selection.

Every notebook calls :func:`seed_everything` once in its setup cell, and every worker process calls it again
at the start of each run (the parallel runner does this for you), so a run's numbers depend only on its seed.
"""

from __future__ import annotations

import os
import random

import numpy as np

_DEVICES = ("auto", "cpu", "cuda")


def seed_everything(seed: int, *, torch_threads: int | None = 1, deterministic: bool = True) -> np.random.Generator:
    """Seed Python, NumPy and torch; pin torch to ``torch_threads`` threads and deterministic kernels.

    Returns a fresh ``numpy.random.Generator`` for the run (use it, not the legacy global state).
    One torch thread per worker keeps results independent of how many processes run at once and avoids
    oversubscribing the cores when seeds run in parallel.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency, kept optional for light tools
        return np.random.default_rng(int(seed))
    torch.manual_seed(int(seed))
    if torch_threads is not None:
        torch.set_num_threads(int(torch_threads))
    if deterministic:
        # cuBLAS needs this for deterministic matmuls; harmless on CPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    return np.random.default_rng(int(seed))


def torch_generator(seed: int, device: str = "cpu"):
    """A seeded ``torch.Generator`` (for minibatch shuffles that must not touch the global stream)."""
    import torch

    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def resolve_device(device: str = "auto") -> str:
    """Map the notebooks' ``device`` parameter to a torch device string: ``auto`` → ``cuda`` when present."""
    if device not in _DEVICES:
        raise ValueError(f"device must be one of {_DEVICES}, got {device!r}")
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but torch sees no CUDA device; use 'auto' or 'cpu'")
    return device


def derive_seed(*parts: int | str) -> int:
    """A stable 32-bit seed from a tuple of ints/strings (e.g. (seed, "eval", snr_index)).

    Uses ``numpy.random.SeedSequence`` on a hash-free encoding, so it is identical across processes and runs
    (Python's ``hash`` of a string is salted per process and must not be used for seeds).
    """
    entropy: list[int] = []
    for p in parts:
        if isinstance(p, str):
            entropy.extend(p.encode("utf-8"))
        else:
            entropy.append(int(p))
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])
