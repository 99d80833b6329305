"""The task runner of a paper notebook: each task runs once, its result is stored, every later run loads it.

    RUNNER = Runner(SLUG, NOTEBOOK_PARAMS, runs_dir=runs_dir, workers=workers)
    trained = RUNNER.run("train", train_level1, parallel.grid(seed=seeds))

A task is a module-level function and its keyword arguments (``method``, ``seed``, a condition …). Its result is
stored under ``<runs_dir>/tasks/`` (:mod:`hrlkit.store`: JSON + npz, deterministic, no pickles) with a **key**: the
SHA-256 of the task group, the function's name, the arguments, and the paper's training context
(:meth:`hrlkit.spec.TrainingSpec.context`: the normalised training cells, the training parameters except the task
enumerators, and the content of the code they run). A stored result is used only when its key matches, so a changed
training parameter or training code never loads a stale result, while a new seed runs only its own tasks.

``<runs_dir>/manifest.json`` lists, per group, the tasks of the last run in order; :func:`hrlkit.runs.load` reads
it. Wall-clock numbers are not results (they differ run to run): the runner times every task itself, a task may
return its own measurements under the key ``"timing"``, and both go to ``<runs_dir>/timing.json``, outside the
byte-identical results, to be merged back when a result is loaded.

A notebook that tunes its methods (:mod:`hrlkit.tune`) has a second runner for the trials, cut at its ``tuning``
cell (``Runner(..., cut="tuning", runs_dir=tuning_dir)``): the trials depend only on the cells up to that one, so
editing the experiments never retunes. A notebook whose evaluation is worth changing without retraining has a
``training`` cell before both: a runner cut there (``cut="training"``) stores the trained models, keyed only on the
cells up to it, and the evaluation tasks take the stored models as arguments.

The pipeline names in ``HRL_LOAD_ONLY`` the cuts whose runners must only load (``experiments,tuning,training`` in the
report stage, ``tuning`` in the runs stage): a task without a valid stored result is then an error
(:class:`StaleResultsError`) instead of a silent retraining.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from hrlkit import parallel, store
from hrlkit.provenance import repo_root
from hrlkit.spec import EXPERIMENTS_TAG, TUNING_TAG, training_spec

LOAD_ONLY_ENV = "HRL_LOAD_ONLY"
TIMING_KEY = "timing"
_GROUP = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_LABEL_TYPES = (str, int, float, bool, type(None))


class StaleResultsError(RuntimeError):
    """The report stage found a task with no stored result valid for the current training code and parameters."""


def resolve_dir(path: str | Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else repo_root() / p


class _Timed:
    """``fn(**task)`` and the seconds it took (runs inside the worker process)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __call__(self, **task: Any) -> tuple[Any, float]:
        start = time.perf_counter()
        out = self.fn(**task)
        return out, time.perf_counter() - start


def task_label(task: Mapping[str, Any]) -> dict[str, Any]:
    """The task's arguments as readable scalars (an array or an earlier result shows as its content hash)."""
    out = {}
    for k, v in task.items():
        plain = type(v) in _LABEL_TYPES or (type(v) is dict and all(type(x) in _LABEL_TYPES for x in v.values())
                                            and all(type(x) is str for x in v))
        out[k] = v if plain else f"<{type(v).__name__} {store.content_hash(v)[:12]}>"
    return out


class Runner:
    """Runs, stores and reloads the tasks of one paper notebook (see the module docstring)."""

    def __init__(self, slug: str, params: Mapping[str, Any], *, runs_dir: str | Path, workers: int = 1,
                 ray_address: str | None = None, root: Path | None = None, cut: str = EXPERIMENTS_TAG) -> None:
        self.slug, self.cut = slug, cut
        self.spec = training_spec(slug, params, root=root, cut=cut)
        self.context = self.spec.context()
        self.runs_dir = resolve_dir(runs_dir)
        self.tasks_dir = self.runs_dir / "tasks"
        self.workers = int(workers)
        self.ray_address = ray_address
        self.load_only = cut in os.environ.get(LOAD_ONLY_ENV, "").split(",")
        self.counts = {"loaded": 0, "computed": 0}
        self.groups: list[str] = []          # the task groups this runner ran, in order (its timing counts only these)

    # ---- keys and files -------------------------------------------------------------------------------

    def task_key(self, group: str, fn: Callable[..., Any], task: Mapping[str, Any]) -> str:
        args = {k: task[k] for k in sorted(task)}
        blob = json.dumps({"context": self.context, "group": group, "fn": getattr(fn, "__qualname__", repr(fn)),
                           "args": store.content_hash(args)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    @staticmethod
    def file_name(group: str, key: str) -> str:
        return f"{group}-{key[:20]}"

    def _stored(self, name: str, key: str) -> tuple[dict[str, Any] | None, Any]:
        """(header, result) of a stored result with this key, or (None, None)."""
        path = self.tasks_dir / f"{name}.json"
        if not path.exists():
            return None, None
        header, result = store.read_result(self.tasks_dir, name)
        return (header, result) if header.get("key") == key else (None, None)

    # ---- timing side file -----------------------------------------------------------------------------

    def _read_timing(self) -> dict[str, Any]:
        path = self.runs_dir / "timing.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _write_timing(self, doc: Mapping[str, Any]) -> None:
        write_timing(self.runs_dir, doc)

    # ---- running --------------------------------------------------------------------------------------

    def run(self, group: str, fn: Callable[..., Any], tasks: Iterable[Mapping[str, Any]], *,
            cost: Callable[[Mapping[str, Any]], float] | None = None, desc: str | None = None) -> list[Any]:
        """``[fn(**task) for task in tasks]``: stored results where valid, the rest computed (in parallel) and
        stored as each finishes. Always returns what a later load returns (the decoded stored form), in task order.

        ``cost(task)``, when given, orders the computation: the most expensive tasks start first, so the last ones
        to finish are short (the results and the manifest keep the order of ``tasks``)."""
        if not _GROUP.match(group):
            raise ValueError(f"task group {group!r}: use lowercase letters, digits, '-' or '_' (≤ 40 characters)")
        tasks = [dict(t) for t in tasks]
        keys = [self.task_key(group, fn, t) for t in tasks]
        if len(set(keys)) != len(keys):
            dup = next(task_label(t) for t, k in zip(tasks, keys) if keys.count(k) > 1)
            raise ValueError(f"task group {group!r} lists the same task twice: {dup}")
        names = [self.file_name(group, k) for k in keys]
        timing = self._read_timing()
        task_times = timing.setdefault("tasks", {})
        results: list[Any] = [None] * len(tasks)
        todo = []
        for i, (name, key) in enumerate(zip(names, keys)):
            header, result = self._stored(name, key)
            if header is not None:
                results[i] = self._with_timing(result, task_times.get(name), header.get("timing_keys"))
            else:
                todo.append(i)
        if cost is not None:
            todo.sort(key=lambda i: -cost(tasks[i]))    # stable: equal costs keep the task order
        if todo and self.load_only:
            example = task_label(tasks[todo[0]])
            raise StaleResultsError(
                f"{len(todo)} of {len(tasks)} {group!r} tasks of {self.slug} have no stored result valid for the "
                f"current code and parameters (e.g. {example}); this stage only loads: run "
                f"`dvc repro {'tune@' + self.slug if self.cut == TUNING_TAG else 'runs@' + self.slug}` first")

        def persist(j: int, out: tuple[Any, float]) -> None:
            i = todo[j]
            result, seconds = out
            measured = None
            if isinstance(result, dict) and TIMING_KEY in result:
                result = dict(result)
                measured = result.pop(TIMING_KEY)
            header = {"group": group, "task": getattr(fn, "__qualname__", repr(fn)), "key": keys[i],
                      "label": task_label(tasks[i])}
            if measured is not None:
                header["timing_keys"] = sorted(measured)
            store.write_result(self.tasks_dir, names[i], result, header)
            task_times[names[i]] = {"wall_s": round(seconds, 3),
                                    **({TIMING_KEY: measured} if measured is not None else {})}
            self._write_timing(timing)
            results[i] = self._with_timing(store.roundtrip(result), task_times[names[i]],
                                           header.get("timing_keys"))

        if todo:
            parallel.run_tasks(_Timed(fn), [tasks[i] for i in todo], workers=self.workers,
                               ray_address=self.ray_address, desc=desc or group, on_result=persist)
        self.counts["loaded"] += len(tasks) - len(todo)
        self.counts["computed"] += len(todo)
        self._update_manifest(group, fn, tasks, keys, names)
        if group not in self.groups:
            self.groups.append(group)
        where = self._shown(self.runs_dir)
        print(f"{group}: {len(tasks) - len(todo)} of {len(tasks)} task results loaded from {where}, "
              f"{len(todo)} computed")
        return results

    @staticmethod
    def _with_timing(result: Any, entry: Mapping[str, Any] | None, keys: list[str] | None) -> Any:
        """Put a task's own timing measurements back (NaN where the timing file has lost them)."""
        if keys is None or not isinstance(result, dict):
            return result
        measured = (entry or {}).get(TIMING_KEY) or {}
        return {**result, TIMING_KEY: {k: float(measured.get(k, float("nan"))) for k in keys}}

    def _update_manifest(self, group, fn, tasks, keys, names) -> None:
        path = self.runs_dir / "manifest.json"
        doc = json.loads(path.read_text()) if path.exists() else {}
        if doc.get("slug") not in (None, self.slug):
            raise ValueError(f"{self.runs_dir} holds the raw results of {doc.get('slug')!r}, not {self.slug!r}")
        groups = doc.get("groups", {})
        groups[group] = {"task": getattr(fn, "__qualname__", repr(fn)),
                         "tasks": [{"file": n, "key": k, "label": task_label(t)}
                                   for t, k, n in zip(tasks, keys, names)]}
        doc = {"slug": self.slug, "format": store.FORMAT_VERSION, "context": self.context, "groups": groups}
        store.atomic_write(path, store.dumps_json(doc))

    @staticmethod
    def _shown(path: Path) -> str:
        try:
            return path.relative_to(repo_root()).as_posix()
        except ValueError:
            return path.name

    def timing(self) -> dict[str, Any]:
        """Seconds of computation behind the results of the task groups this runner ran (summed over their tasks),
        for the report's timing.json. Two runners may share a ``runs_dir``; each counts its own groups only, so the
        report's totals never count a task twice."""
        tasks = self._read_timing().get("tasks", {})
        manifest = store.read_manifest(self.runs_dir) if (self.runs_dir / "manifest.json").exists() else {}
        names = [t["file"] for name, g in manifest.get("groups", {}).items() if name in self.groups for t in g["tasks"]]
        seconds = [tasks[n]["wall_s"] for n in names if n in tasks]
        return {"task_seconds_total": round(sum(seconds), 1), "tasks": len(names),
                "tasks_timed": len(seconds), "loaded": self.counts["loaded"], "computed": self.counts["computed"]}


def write_timing(runs_dir: Path, doc: Mapping[str, Any]) -> None:
    """``<runs_dir>/timing.json``: wall-clock numbers, kept apart from the byte-identical results."""
    store.atomic_write(Path(runs_dir) / "timing.json", (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())


def collect_garbage(runs_dir: str | Path) -> list[str]:
    """Remove stored task files (and timing entries) that the manifest no longer lists; returns what went."""
    runs_dir = resolve_dir(runs_dir)
    manifest = store.read_manifest(runs_dir)
    keep = {t["file"] for g in manifest.get("groups", {}).values() for t in g["tasks"]}
    removed = []
    tasks_dir = runs_dir / "tasks"
    for f in sorted(tasks_dir.glob("*")) if tasks_dir.exists() else []:
        stem = f.name.split(".")[0] if not f.name.startswith(".") else None
        if stem not in keep:
            f.unlink()
            removed.append(f.name)
    path = runs_dir / "timing.json"
    if path.exists():
        doc = json.loads(path.read_text())
        doc["tasks"] = {k: v for k, v in doc.get("tasks", {}).items() if k in keep}
        write_timing(runs_dir, doc)
    return removed
