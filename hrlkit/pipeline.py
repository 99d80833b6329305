"""Run one paper notebook the way ``dvc repro`` does: params.yaml section → papermill → reports/.

    python -m hrlkit.pipeline notebook <slug>     # execute notebooks/<slug>.py with params.yaml[<slug>]
    python -m hrlkit.pipeline check               # every params.yaml key is a parameter of its notebook

The notebooks' source of truth is the jupytext ``py:percent`` file ``notebooks/<slug>.py`` (JupyterLab opens it
as a notebook; saving there rewrites only that file, so re-running a notebook interactively does not touch what
DVC tracks unless the code changed). Parameters go to papermill as Python values (never ``-p`` strings), after
checking that every key is a parameter of the notebook: papermill itself only warns about unknown ones.
"""

from __future__ import annotations

import argparse
import ast
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping

import yaml

from hrlkit.provenance import repo_root


def load_params(path: Path | None = None) -> dict[str, Any]:
    with open(path or repo_root() / "params.yaml") as fh:
        return yaml.safe_load(fh)


def notebook_path(slug: str) -> Path:
    return repo_root() / "notebooks" / f"{slug}.py"


def read_notebook(slug: str):
    import jupytext

    return jupytext.read(notebook_path(slug))


def notebook_parameters(nb) -> dict[str, Any]:
    """Names and default values of the notebook's ``parameters`` cell (plain literals only)."""
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"expected exactly one cell tagged 'parameters', found {len(cells)}")
    out: dict[str, Any] = {}
    for node in ast.parse(cells[0].source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise ValueError(f"parameters cell: only `name = literal` lines are allowed, got {ast.unparse(node)!r}")
        try:
            out[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError as exc:
            raise ValueError(f"parameters cell: {node.targets[0].id} must be a plain literal "
                             f"(papermill cannot update derived values), got {ast.unparse(node.value)!r}") from exc
    return out


def check_section(slug: str, section: Mapping[str, Any], nb=None) -> None:
    """Fail when params.yaml names a parameter the notebook does not have, or changes its type."""
    defaults = notebook_parameters(nb if nb is not None else read_notebook(slug))
    unknown = sorted(set(section) - set(defaults))
    if unknown:
        raise KeyError(f"params.yaml section {slug!r} has key(s) {unknown} that are not parameters of "
                       f"notebooks/{slug}.py (known: {sorted(defaults)})")
    for key, value in section.items():
        default = defaults[key]
        numeric = (int, float)
        same = isinstance(value, type(default)) or (isinstance(value, numeric) and isinstance(default, numeric)
                                                    and not isinstance(value, bool) and not isinstance(default, bool))
        if not same:
            raise TypeError(f"params.yaml {slug}.{key} = {value!r} has type {type(value).__name__}, the notebook's "
                            f"default {default!r} is {type(default).__name__}")


def run_notebook(slug: str, params: Mapping[str, Any], out_dir: Path, *, html: bool = True,
                 log_output: bool = False) -> Path:
    """Execute ``notebooks/<slug>.py`` with ``params`` into ``out_dir/<slug>.ipynb`` (+ ``reports/<slug>.html``)."""
    import nbformat
    import papermill

    nb = read_notebook(slug)
    check_section(slug, params, nb)
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / f"{slug}.ipynb"
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"{slug}.ipynb"
        nbformat.write(nb, source)
        papermill.execute_notebook(str(source), str(executed), parameters=dict(params), kernel_name="python3",
                                   cwd=str(repo_root()), log_output=log_output, progress_bar=False)
    if html:
        from hrlkit.report import render_html

        render_html(executed, out_dir.parent / f"{slug}.html")
    return executed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hrlkit.pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("notebook", help="execute one paper notebook with its params.yaml section")
    run.add_argument("slug")
    run.add_argument("--no-html", action="store_true")
    sub.add_parser("check", help="check every params.yaml section against its notebook's parameters")
    args = parser.parse_args(argv)
    params = load_params()
    if args.cmd == "check":
        for slug in params["papers"]:
            if slug in params:
                check_section(slug, params[slug])
        print("params.yaml matches the notebooks' parameters")
        return 0
    if args.slug not in params.get("papers", {}):
        parser.error(f"unknown paper {args.slug!r}; params.yaml lists {sorted(params.get('papers', {}))}")
    section = params.get(args.slug, {})
    out_dir = repo_root() / section.get("out_dir", f"reports/{args.slug}")
    run_notebook(args.slug, section, out_dir, html=not args.no_html, log_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
