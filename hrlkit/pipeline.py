"""The stages of ``dvc repro`` for one paper: train once (raw results), report many (figures, claims, HTML).

    python -m hrlkit.pipeline spec <slug>     # data/runs/<slug>.training.py: what determines the raw results
    python -m hrlkit.pipeline runs <slug>     # run the training cells; store every task under data/runs/<slug>/
    python -m hrlkit.pipeline report <slug>   # run the whole notebook on the stored results (never trains) into
                                              # reports/<slug>/ and reports/<slug>.html
    python -m hrlkit.pipeline tune <slug>     # run the trials of the notebook's `tuning` cell into tuning_dir
                                              # (data/tuning/<slug>; a note there when the notebook tunes nothing)
    python -m hrlkit.pipeline smoke [slug …]  # every (or the named) notebook in smoke mode into scratch/smoke/,
                                              # a progress line per paper, then its verdicts in the terminal
    python -m hrlkit.pipeline check           # every params.yaml section against its notebook's declaration
    python -m hrlkit.pipeline params <slug>   # the notebook's parameters: default, what is allowed, what it does

A paper's notebook is split at its cell tagged ``experiments`` (:mod:`hrlkit.spec`). ``runs`` executes the cells up
to that one with the paper's params.yaml section; the task runner (:mod:`hrlkit.runner`) computes what is not
stored yet and stores it. ``report`` executes the whole notebook with
``HRL_LOAD_ONLY=experiments,tuning,training``: the experiments cell loads the stored results, and a missing one is an
error rather than a silent retraining. A notebook that tunes its methods has a ``tuning`` cell before the
experiments; ``tune`` runs the cells up to it, and the runs stage then only loads the trials. A notebook may also
have a ``training`` cell before both, where its trained models are keyed, so that an evaluation edit reruns the
evaluation on the stored models and never retrains.

Both write into a staging folder and move their outputs in only when they succeeded, so an interrupted
``dvc repro`` leaves the committed reports as they were; the kernel and its worker processes die with the stage
(also when dvc itself is killed). Parameters go to papermill as Python values (never ``-p`` strings).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Mapping

import yaml

from hrlkit.provenance import repo_root
from hrlkit.runs import STAGING_ENV
from hrlkit.spec import (has_cut, notebook_parameters, notebook_path, read_notebook,  # noqa: F401 (re-exported)
                         experiments_cell_index, spec_path, training_spec)


def load_params(path: Path | None = None) -> dict[str, Any]:
    with open(path or repo_root() / "params.yaml") as fh:
        return yaml.safe_load(fh)


SCHEMA_TAG = "schema"


def load_schema(slug: str, nb=None):
    """The notebook's parameter declaration: the :class:`hrlkit.params.Parameters` subclass its ``schema`` cell
    defines (the cell runs on its own, as it does right after the parameters cell)."""
    from hrlkit.params import Parameters

    nb = nb if nb is not None else read_notebook(slug)
    cells = [c for c in nb.cells if c.cell_type == "code" and SCHEMA_TAG in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"notebooks/{slug}.py must have exactly one code cell tagged {SCHEMA_TAG!r}, found "
                         f"{len(cells)}")
    import types

    module = types.ModuleType(f"hrlkit_schema_{slug}")      # a real module, so pydantic resolves the annotations
    sys.modules[module.__name__] = module
    try:
        exec(compile(cells[0].source, f"notebooks/{slug}.py[schema]", "exec"), module.__dict__)  # noqa: S102
    finally:
        sys.modules.pop(module.__name__, None)
    namespace = module.__dict__
    found = [v for v in namespace.values() if isinstance(v, type) and issubclass(v, Parameters)
             and v is not Parameters and v.__module__ == namespace["__name__"]]
    if len(found) != 1:
        raise ValueError(f"the schema cell of notebooks/{slug}.py must define one Parameters subclass, found "
                         f"{[c.__name__ for c in found]}")
    return found[0]


def check_section(slug: str, section: Mapping[str, Any], nb=None) -> dict[str, Any]:
    """Check a params.yaml section (over the notebook's defaults) against the notebook's declaration: unknown names,
    types, ranges, files and relations. Returns the complete parameter values."""
    nb = nb if nb is not None else read_notebook(slug)
    defaults = notebook_parameters(nb)
    schema = load_schema(slug, nb)
    if set(defaults) != set(schema.names()):
        raise ValueError(f"notebooks/{slug}.py: the parameters cell and the schema cell must name the same "
                         f"parameters; only in the parameters cell: {sorted(set(defaults) - set(schema.names()))}, "
                         f"only in the schema: {sorted(set(schema.names()) - set(defaults))}")
    unknown = [k for k in section if k not in defaults]
    if unknown:
        from hrlkit.params import ParameterError, _unknown_message

        raise ParameterError(_unknown_message(unknown, schema.names(), f" in params.yaml section {slug!r}"))
    return schema.check({**defaults, **section}, where=f" (params.yaml section {slug!r})")


def describe_parameters(slug: str) -> list[dict[str, Any]]:
    """Every parameter: name, default, what is allowed (the declaration) and what it does (its comment)."""
    import papermill
    import nbformat

    nb = read_notebook(slug)
    defaults = notebook_parameters(nb)
    allowed = {r["name"]: r["allowed"] for r in load_schema(slug, nb).describe()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{slug}.ipynb"
        nbformat.write(nb, path)
        helps = {k: (v.get("help") or "") for k, v in papermill.inspect_notebook(str(path)).items()}
    return [{"name": k, "default": v, "allowed": allowed.get(k, ""), "help": helps.get(k, "")}
            for k, v in defaults.items()]


# =====================================================================================================
# Executing notebooks
# =====================================================================================================


def _relative(path: Path) -> str:
    try:
        return Path(path).resolve().relative_to(repo_root()).as_posix()
    except ValueError:
        return Path(path).name


def _execute(nb, executed: Path, params: Mapping[str, Any], *, log_output: bool, source_name: str) -> None:
    """papermill ``nb`` with ``params`` into ``executed``; the papermill metadata keeps no machine paths."""
    import nbformat
    import papermill

    executed.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / executed.name
        nbformat.write(nb, source)
        papermill.execute_notebook(str(source), str(executed), parameters=dict(params), kernel_name="python3",
                                   cwd=str(repo_root()), log_output=log_output, progress_bar=False)
    done = nbformat.read(executed, as_version=4)
    meta = done.metadata.get("papermill", {})
    meta["input_path"], meta["output_path"] = source_name, None
    nbformat.write(done, executed)


class _Env:
    def __init__(self, **values: str) -> None:
        self.values = values

    def __enter__(self):
        self.saved = {k: os.environ.get(k) for k in self.values}
        os.environ.update(self.values)

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _staged(nominal: Path, staging: Path) -> _Env:
    """Route a notebook's ``out_dir`` into a staging folder (read by :func:`hrlkit.runs.prepare_out_dir`)."""
    return _Env(**{STAGING_ENV: f"{Path(nominal).resolve()}={Path(staging).resolve()}"})


def run_notebook(slug: str, params: Mapping[str, Any], out_dir: Path, *, html: bool = True,
                 log_output: bool = False, check: bool = True) -> Path:
    """Execute the whole ``notebooks/<slug>.py`` with ``params`` into ``out_dir/<slug>.ipynb`` (+ the HTML next to
    ``out_dir``). Tasks without a stored result in the notebook's ``runs_dir`` are computed (tests, smoke runs).
    ``check=False`` leaves the checking of ``params`` to the notebook's own setup cell."""
    nb = read_notebook(slug)
    if check:
        check_section(slug, params, nb)
    out_dir = Path(out_dir)
    executed = out_dir / f"{slug}.ipynb"
    _execute(nb, executed, params, log_output=log_output, source_name=f"notebooks/{slug}.py")
    if html:
        from hrlkit.report import render_html

        render_html(executed, out_dir.parent / f"{slug}.html")
    return executed


def training_notebook(slug: str, nb=None, cut: str = "experiments"):
    """The notebook cut after its experiments (or tuning) cell: what the runs (or tune) stage executes."""
    import copy

    from hrlkit.spec import cut_cell_index

    nb = copy.deepcopy(nb if nb is not None else read_notebook(slug))
    nb.cells = nb.cells[:cut_cell_index(nb, cut) + 1]
    return nb


def _section(slug: str) -> dict[str, Any]:
    params = load_params()
    if slug not in params.get("papers", {}):
        raise SystemExit(f"unknown paper {slug!r}; params.yaml lists {sorted(params.get('papers', {}))}")
    section = dict(params.get(slug) or {})
    check_section(slug, section)
    for key in ("out_dir", "runs_dir"):
        if key not in section:
            raise SystemExit(f"params.yaml section {slug!r} must set {key}")
    return section


def write_spec(slug: str) -> Path:
    spec = training_spec(slug, _section(slug))
    path = spec_path(slug)
    path.parent.mkdir(parents=True, exist_ok=True)
    from hrlkit.store import atomic_write

    atomic_write(path, spec.text().encode("utf-8"))
    print(f"wrote {_relative(path)}: {len(spec.parameters)} training parameters "
          f"({len(spec.enumerators)} task enumerators), {len(spec.report_only)} report-only")
    return path


def run_stage_runs(slug: str, cut: str = "experiments") -> None:
    """Execute the training cells (through the experiments cell, or the tuning cell for ``cut="tuning"``); the
    runner stores each task; then drop the stored results no task uses any more."""
    from hrlkit.runner import LOAD_ONLY_ENV, collect_garbage, resolve_dir, write_timing

    section = _section(slug)
    key = "runs_dir" if cut == "experiments" else "tuning_dir"
    if cut == "tuning" and not has_cut(read_notebook(slug), "tuning"):
        _write_no_tuning(slug, section)
        return
    if key not in section:
        raise SystemExit(f"params.yaml section {slug!r} must set {key}")
    if cut == "tuning" and Path(section[key]) != Path(TUNING_ROOT) / slug:
        raise SystemExit(f"params.yaml section {slug!r}: tuning_dir must be {TUNING_ROOT}/{slug} (the tune stage's "
                         f"output), got {section[key]!r}")
    runs_dir = resolve_dir(section[key])
    (runs_dir / "manifest.json").unlink(missing_ok=True)    # rebuilt, group by group, by this run
    timing_path = runs_dir / "timing.json"
    before = json.loads(timing_path.read_text()) if timing_path.exists() else {}
    start = time.perf_counter()
    load_only = "tuning" if cut == "experiments" else ""    # the runs stage reads the tune stage's trials
    with tempfile.TemporaryDirectory(prefix=f"hrl-{cut}-{slug}-") as tmp:
        staging = Path(tmp) / "out"
        with _staged(resolve_dir(section["out_dir"]), staging), _Env(**{LOAD_ONLY_ENV: load_only}):
            _execute(training_notebook(slug, cut=cut), Path(tmp) / f"{slug}.{cut}.ipynb", section, log_output=True,
                     source_name=f"notebooks/{slug}.py")
    removed = collect_garbage(runs_dir)
    doc = json.loads(timing_path.read_text()) if timing_path.exists() else {}
    if doc.get("tasks") != before.get("tasks") or "stage" not in before:   # something was computed: time it
        import torch

        doc["stage"] = {"wall_time_s": round(time.perf_counter() - start, 1), "workers": section.get("workers"),
                        "cpu_count": os.cpu_count(), "torch": torch.__version__.split("+")[0]}
    else:
        doc["stage"] = before["stage"]
    write_timing(runs_dir, doc)
    print(f"raw results of {slug} ({cut}) in {_relative(runs_dir)} ({len(removed)} obsolete files removed)")


TUNING_ROOT = "data/tuning"


def _write_no_tuning(slug: str, section: dict) -> None:
    """The tune stage of a notebook without a ``tuning`` cell: a note in data/tuning/<slug>, so that every paper's
    runs stage can depend on its tuning folder."""
    from hrlkit.runner import resolve_dir
    from hrlkit.store import atomic_write

    if "tuning_dir" in section:
        raise SystemExit(f"params.yaml section {slug!r} sets tuning_dir, but notebooks/{slug}.py has no cell tagged "
                         "'tuning'")
    folder = resolve_dir(f"{TUNING_ROOT}/{slug}")
    folder.mkdir(parents=True, exist_ok=True)
    note = {"slug": slug, "tuning": "none: the notebook has no cell tagged 'tuning' (metrics.json says why)"}
    atomic_write(folder / "manifest.json", (json.dumps(note, indent=1, sort_keys=True) + "\n").encode())
    print(f"{slug}: no tuning cell; wrote {_relative(folder / 'manifest.json')}")


def run_stage_report(slug: str) -> None:
    """Execute the whole notebook on the stored results into a staging folder, render the HTML, move both in."""
    from hrlkit.runner import LOAD_ONLY_ENV, resolve_dir

    section = _section(slug)
    out_dir = resolve_dir(section["out_dir"])
    html_path = out_dir.parent / f"{slug}.html"
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging_root = Path(tempfile.mkdtemp(prefix=f".staging-{slug}-", dir=out_dir.parent))
    _STAGING_DIRS.append(staging_root)
    try:
        staged_out = staging_root / out_dir.name
        with _staged(out_dir, staged_out), _Env(**{LOAD_ONLY_ENV: "experiments,tuning,training"}):
            executed = staged_out / f"{slug}.ipynb"
            _execute(read_notebook(slug), executed, section, log_output=True, source_name=f"notebooks/{slug}.py")
        from hrlkit.report import render_html

        staged_html = staging_root / html_path.name
        render_html(executed, staged_html)
        _move_in(staged_out, out_dir, staging_root)
        os.replace(staged_html, html_path)
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)
        _STAGING_DIRS.remove(staging_root)
    print(f"report of {slug}: {_relative(out_dir)}/ and {_relative(html_path)}")


def _move_in(new: Path, target: Path, scratch: Path) -> None:
    """Replace the folder ``target`` by ``new`` (two renames on one file system)."""
    old = scratch / f"{target.name}.previous"
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


# =====================================================================================================
# Dying with dvc
# =====================================================================================================

_STAGING_DIRS: list[Path] = []


def _kill_descendants() -> None:
    import psutil

    me = psutil.Process()
    children = me.children(recursive=True)
    for p in children:
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(children, timeout=3)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass


def _abort(code: int) -> None:
    _kill_descendants()
    for d in list(_STAGING_DIRS):
        shutil.rmtree(d, ignore_errors=True)
    os._exit(code)


def die_with_parent() -> None:
    """Stop this stage, its kernel and the kernel's workers when dvc (the parent) goes away or sends a signal."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            PR_SET_PDEATHSIG = 1
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except OSError:  # pragma: no cover - not glibc
            pass
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: _abort(128 + signum))

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                _abort(128 + signal.SIGTERM)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def verdict_table(doc: Mapping[str, Any], width: int = 72) -> str:
    """A plain-text table of a metrics.json's claims: id, verdict, value [95 % CI], the claim (shortened)."""
    lines = []
    for c in doc["claims"]:
        value = "" if c.get("value") is None else f"{c['value']:.3g}"
        if c.get("ci95"):
            value += f" [{c['ci95'][0]:.3g}, {c['ci95'][1]:.3g}]"
        claim = c["claim"] if len(c["claim"]) <= width else c["claim"][:width - 1] + "…"
        lines.append(f"  {c['id']:<5} {c['verdict']:<15} {value:<34} {claim}")
    return "\n".join(lines)


def scratch_params(slug: str, out_dir: Path, runs_dir: Path) -> dict[str, str]:
    """The folders of a run outside the pipeline (smoke command, tests): outputs, raw results, and the tuning trials
    beside the raw results when the notebook tunes."""
    def spelled(path: Path) -> str:                 # repository-relative inside it, absolute elsewhere
        path = Path(path).resolve()
        return _relative(path) if path.is_relative_to(repo_root()) else str(path)

    params = {"out_dir": spelled(out_dir), "runs_dir": spelled(runs_dir)}
    if "tuning_dir" in notebook_parameters(read_notebook(slug)):
        params["tuning_dir"] = spelled(Path(runs_dir).parent / f"{Path(runs_dir).name}-tuning")
    return params


def run_smoke(slugs: list[str]) -> int:
    """Run every (or each named) paper's notebook in smoke mode into scratch/smoke/<slug>/ and print its verdicts."""
    papers = list(load_params()["papers"])
    unknown = [s for s in slugs if s not in papers]
    if unknown:
        raise SystemExit(f"unknown paper(s) {unknown}; params.yaml lists {papers}")
    chosen = slugs or papers
    for i, slug in enumerate(chosen, 1):
        out = repo_root() / "scratch" / "smoke" / slug
        shutil.rmtree(out, ignore_errors=True)
        params = scratch_params(slug, out, out / "runs")
        print(f"[{i}/{len(chosen)}] {slug}: running the notebook in smoke mode …", flush=True)
        start = time.perf_counter()
        run_notebook(slug, params, out, html=False)
        doc = json.loads((out / "metrics.json").read_text())
        print(f"[{i}/{len(chosen)}] {slug}: done in {time.perf_counter() - start:.0f} s → {_relative(out)}/\n"
              f"  verdicts of the smoke run (a code-path check: its numbers mean nothing; the reports in "
              f"reports/ hold the repro ones):\n{verdict_table(doc)}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hrlkit.pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name, text in (("spec", "write data/runs/<slug>.training.py"),
                       ("runs", "train: store every task result under the paper's runs_dir"),
                       ("report", "report from the stored results into reports/"),
                       ("tune", "tune: store every trial under the paper's tuning_dir")):
        sub.add_parser(name, help=text).add_argument("slug")
    sub.add_parser("smoke", help="run notebooks in smoke mode and print their verdicts").add_argument(
        "slugs", nargs="*")
    sub.add_parser("check", help="check every params.yaml section against its notebook's parameter declaration")
    sub.add_parser("params", help="list a notebook's parameters: default, what is allowed, what it does"
                   ).add_argument("slug")
    args = parser.parse_args(argv)
    if args.cmd == "check":
        params = load_params()
        for slug in params["papers"]:
            check_section(slug, params.get(slug) or {})
        print("params.yaml matches the notebooks' parameter declarations")
        return 0
    if args.cmd == "params":
        for row in describe_parameters(args.slug):
            print(f"{row['name']:<28} {row['default']!r:<34} {row['allowed']:<40} {row['help']}")
        return 0
    if args.cmd == "smoke":
        return run_smoke(args.slugs)
    if args.cmd == "spec":
        write_spec(args.slug)
        return 0
    die_with_parent()
    try:
        if args.cmd == "report":
            run_stage_report(args.slug)
        else:
            run_stage_runs(args.slug, cut="experiments" if args.cmd == "runs" else "tuning")
    except KeyboardInterrupt:
        _abort(130)
    return 0


if __name__ == "__main__":
    sys.exit(main())
