"""Run independent experiment cells (methods × seeds × conditions) over processes.

Each task is a dict of keyword arguments for a module-level function; every task reseeds from its own
``seed`` inside the worker (one torch thread per worker), so results do not depend on ``workers`` or on the
order in which workers finish. Results come back in task order.

Backends: ``loky`` (joblib's process pool, the default; ``workers=1`` runs in-process) and ``ray`` (when
``ray_address`` is given: ``"local"`` starts a local instance, ``"auto"`` or ``"ray://host:10001"`` joins a
cluster; needs ``pip install -e '.[ray]'``). Functions must be importable by the workers: define them in an
``hrlkit`` module or pass them by reference from the notebook (loky pickles notebook functions with
cloudpickle; Ray does the same).
"""

from __future__ import annotations

import itertools
import sys
from typing import Any, Callable, Iterable, Mapping, Sequence

from hrlkit.seeding import seed_everything


def grid(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    """Cartesian product of named axes in a fixed order: ``grid(method=[...], seed=[...])``."""
    names = list(axes)
    return [dict(zip(names, values)) for values in itertools.product(*(axes[n] for n in names))]


def _call(fn: Callable[..., Any], task: Mapping[str, Any]) -> Any:
    if "seed" in task:
        seed_everything(int(task["seed"]))
    return fn(**task)


def _call_in_process(fn: Callable[..., Any], task: Mapping[str, Any]) -> Any:
    """``_call`` in the calling process, leaving its random streams and torch thread count as they were, as a
    worker process would: what the notebook computes after the tasks never depends on whether they ran here."""
    import random

    import numpy as np

    saved = random.getstate(), np.random.get_state()
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        torch = None
    torch_saved = (torch.get_rng_state(), torch.get_num_threads()) if torch is not None else None
    try:
        return _call(fn, task)
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        if torch_saved is not None:
            torch.set_rng_state(torch_saved[0])
            torch.set_num_threads(torch_saved[1])


def run_tasks(fn: Callable[..., Any], tasks: Iterable[Mapping[str, Any]], *, workers: int = 1,
              ray_address: str | None = None, progress: bool = True, desc: str | None = None,
              on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
    """``[fn(**task) for task in tasks]``, in parallel, results in task order.

    ``on_result(i, result)`` is called in the parent process as each result arrives, in task order (the task runner
    stores results as they come, so an interrupted run keeps what it finished).
    """
    tasks = [dict(t) for t in tasks]
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if ray_address:
        out = _run_ray(fn, tasks, ray_address)
        for i, r in enumerate(out):
            if on_result is not None:
                on_result(i, r)
        return out
    bar = _progress(len(tasks), progress, desc or getattr(fn, "__name__", "runs"))
    try:
        if workers == 1 or len(tasks) <= 1:
            results = (_call_in_process(fn, t) for t in tasks)
        else:
            from joblib import Parallel, delayed

            results = Parallel(n_jobs=min(workers, len(tasks)), backend="loky", return_as="generator")(
                delayed(_call)(fn, t) for t in tasks)
        out = []
        for i, r in enumerate(results):
            out.append(r)
            if on_result is not None:
                on_result(i, r)
            bar.update()
        return out
    finally:
        bar.close()


def _progress(total: int, enabled: bool, desc: str):
    from tqdm import tqdm  # plain text bar: no widget state in executed notebooks

    return tqdm(total=total, disable=not enabled, desc=desc, leave=True, mininterval=2.0)


def _run_ray(fn: Callable[..., Any], tasks: list[dict[str, Any]], address: str) -> list[Any]:
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise ImportError("ray_address was given but Ray is not installed: pip install -e '.[ray]'") from exc
    module = fn.__module__
    if module != "__main__" and not module.startswith("hrlkit") and module in sys.modules:
        # a function from a script or test module that cluster workers cannot import: ship it by value
        ray.cloudpickle.register_pickle_by_value(sys.modules[module])
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=None if address == "local" else address, include_dashboard=False,
                 log_to_driver=False, ignore_reinit_error=True)
    try:
        remote = ray.remote(num_cpus=1)(_call)
        return ray.get([remote.remote(fn, t) for t in tasks])
    finally:
        if started_here:
            ray.shutdown()
