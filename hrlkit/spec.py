"""What determines a paper's raw results: the notebook's training cells, its training parameters, the code they run.

A paper notebook is split at the code cell tagged ``experiments`` (the cell that calls the task runner):

* the **training side** is every code cell from the top through that cell. Its code, the values of the parameters it
  reads, and the files it runs (:data:`RESULT_CORE`, and the paper's ``env``/``kit``/``data`` in params.yaml)
  determine the raw results under ``data/runs/<slug>/``;
* the **report side** is everything after it: statistics, figures, claims, the summary. Editing it, or a parameter
  that only it reads, never retrains.

:func:`training_spec` reads this off the notebook's source. The pipeline writes it to ``data/runs/<slug>.training.py``
(``python -m hrlkit.pipeline spec <slug>``), which is what DVC hashes to decide whether ``runs@<slug>`` must run; the
task runner hashes the same thing to decide whether a stored result is still valid. The code is normalised (comments,
docstrings and formatting dropped), so a comment edited in a training cell changes neither.

Parameters are sorted into four kinds:

* **runtime** (:data:`RUNTIME_PARAMETERS`: where outputs go, how many processes, the profile's label): never part of
  a result's identity (results do not depend on ``workers``);
* **report-only**: never read by the training side;
* **task enumerators**: read only by top-level statements of the ``experiments`` cell whose values reach nothing but
  the task lists (``seeds``, ``methods``, …). A task's arguments carry what it needs, so a stored task stays valid
  when, say, a seed is added: only the new tasks run;
* **training**: everything else the training side reads; a change invalidates every stored result of the paper.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import io
import json
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from hrlkit.provenance import repo_root

SPEC_VERSION = 1
EXPERIMENTS_TAG = "experiments"
TUNING_TAG = "tuning"               # an optional cell before the experiments that tunes the methods (hrlkit.tune)
TRAINING_TAG = "training"           # an optional cell before both that ends the training code: a runner cut there
#                                     stores trained models, so an edit of the evaluation code never retrains
CUTS = (EXPERIMENTS_TAG, TUNING_TAG, TRAINING_TAG)
PARAMETERS_TAG = "parameters"
RUNTIME_PARAMETERS = ("profile", "workers", "out_dir", "runs_dir", "tuning_dir")
# hrlkit core files whose code runs inside tasks and can change their numbers (the rest of the core only moves,
# validates or reports results). A paper's env, kit and data come on top (params.yaml papers.<slug>).
RESULT_CORE = ("hrlkit/seeding.py", "hrlkit/parallel.py")
_BUILTINS = frozenset(dir(builtins))
_DYNAMIC = frozenset({"globals", "vars", "locals", "eval", "exec"})


# =====================================================================================================
# Reading the notebook
# =====================================================================================================


def notebook_path(slug: str, root: Path | None = None) -> Path:
    return (root or repo_root()) / "notebooks" / f"{slug}.py"


def read_notebook(slug: str, root: Path | None = None):
    import jupytext

    return jupytext.read(notebook_path(slug, root))


def _tagged(nb, tag: str) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and tag in c.metadata.get("tags", [])]


def parameters_cell_index(nb) -> int:
    found = _tagged(nb, PARAMETERS_TAG)
    if len(found) != 1:
        raise ValueError(f"expected exactly one cell tagged {PARAMETERS_TAG!r}, found {len(found)}")
    return found[0]


def cut_cell_index(nb, cut: str = EXPERIMENTS_TAG) -> int:
    """Index of the code cell tagged ``cut`` (``experiments``: runs the tasks; ``tuning``: tunes the methods;
    ``training``: ends the training code, before the evaluation code)."""
    if cut not in CUTS:
        raise ValueError(f"cut must be one of {CUTS}, got {cut!r}")
    found = _tagged(nb, cut)
    if len(found) != 1:
        raise ValueError(f"expected exactly one code cell tagged {cut!r}, found {len(found)}")
    return found[0]


def experiments_cell_index(nb) -> int:
    return cut_cell_index(nb, EXPERIMENTS_TAG)


def has_cut(nb, cut: str) -> bool:
    return len(_tagged(nb, cut)) == 1


def notebook_parameters(nb) -> dict[str, Any]:
    """Names and default values of the notebook's ``parameters`` cell (plain literals only)."""
    source = nb.cells[parameters_cell_index(nb)].source
    out: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0], node.value
        else:
            raise ValueError(f"parameters cell: only `name = literal` lines are allowed, got {ast.unparse(node)!r}")
        try:
            out[target.id] = ast.literal_eval(value)
        except ValueError as exc:
            raise ValueError(f"parameters cell: {target.id} must be a plain literal "
                             f"(papermill cannot update derived values), got {ast.unparse(value)!r}") from exc
    return out


def python_source(cell_source: str) -> str:
    """A code cell as plain Python (IPython magics and shell escapes turned into calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(cell_source)


def normalized(source: str) -> str:
    """The code without comments, docstrings, blank lines or trailing spaces: two sources that differ only there give
    the same text. The text is cut from the source itself (never regenerated from a syntax tree), so the result is
    the same on every Python version that runs the notebook; the content of string literals is never touched."""
    tree = ast.parse(source)
    lines = source.splitlines()
    cuts: list[tuple[int, int, int, int, str]] = []          # (row0, col0, row1, col1, replacement), 1-based rows
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                cuts.append((first.lineno, first.col_offset, first.end_lineno, first.end_col_offset, "..."))
    in_string: set[int] = set()             # rows strictly between the first and last row of a multi-line string
    fstring_start = getattr(tokenize, "FSTRING_START", None)
    fstring_end = getattr(tokenize, "FSTRING_END", None)
    open_fstrings: list[int] = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            cuts.append((tok.start[0], tok.start[1], tok.end[0], tok.end[1], ""))
        elif tok.type == tokenize.STRING:
            in_string.update(range(tok.start[0] + 1, tok.end[0]))
        elif fstring_start is not None and tok.type == fstring_start:
            open_fstrings.append(tok.start[0])
        elif fstring_end is not None and tok.type == fstring_end and open_fstrings:
            in_string.update(range(open_fstrings.pop() + 1, tok.end[0]))
    for row0, _, row1, _, text in cuts:
        if text:                                # a docstring goes entirely, its inner rows included
            in_string.difference_update(range(row0, row1 + 1))
    for row0, col0, row1, col1, text in sorted(cuts, reverse=True):
        head, tail = lines[row0 - 1][:col0], lines[row1 - 1][col1:]
        lines[row0 - 1:row1] = [head + text + tail] + [""] * (row1 - row0)
    out = []
    for row, line in enumerate(lines, start=1):
        if row in in_string:
            out.append(line)              # string content: kept exactly
        elif line.strip():
            out.append(line.rstrip())
    return "\n".join(out)


# =====================================================================================================
# Which parameters the training side reads, and which of them only enumerate tasks
# =====================================================================================================


class _Names(ast.NodeVisitor):
    """Every name loaded, with whether the load sits inside a ``def`` or ``class`` body (lambdas and comprehensions
    count as the scope they are written in)."""

    def __init__(self) -> None:
        self.loads: list[tuple[str, bool]] = []
        self.dynamic = False
        self._depth = 0

    def _scope(self, node) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scope

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.loads.append((node.id, self._depth > 0))

    def visit_Call(self, node: ast.Call) -> None:
        if _is_schema_validation(node):
            self.visit(node.func)
            return
        if isinstance(node.func, ast.Name) and node.func.id in _DYNAMIC:
            self.dynamic = True
        self.generic_visit(node)


def _is_schema_validation(call: ast.Call) -> bool:
    """``<Schema>.from_notebook(globals())``: the setup cell's one sanctioned dynamic read of the parameters (the
    schema only accepts or rejects values; it never changes one)."""
    return (isinstance(call.func, ast.Attribute) and call.func.attr == "from_notebook" and len(call.args) == 1
            and not call.keywords and isinstance(call.args[0], ast.Call)
            and isinstance(call.args[0].func, ast.Name) and call.args[0].func.id == "globals")


def _loads(node) -> _Names:
    v = _Names()
    v.visit(node)
    return v


def _assigned_bases(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement may bind or mutate: assignment targets (the base of ``x[i] = …`` / ``x.a = …``),
    loop and ``with`` targets, and the objects whose methods an expression statement calls (``jobs.sort()``)."""

    def bases(target) -> set[str]:
        if isinstance(target, ast.Name):
            return {target.id}
        if isinstance(target, (ast.Tuple, ast.List)):
            return set().union(*(bases(t) for t in target.elts)) if target.elts else set()
        if isinstance(target, ast.Starred):
            return bases(target.value)
        if isinstance(target, (ast.Subscript, ast.Attribute)):
            return bases(target.value)
        return set()

    out: set[str] = set()
    if isinstance(stmt, ast.Assign):
        for t in stmt.targets:
            out |= bases(t)
    elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
        out |= bases(stmt.target)
    elif isinstance(stmt, (ast.For, ast.AsyncFor)):
        out |= bases(stmt.target)
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        for item in stmt.items:
            if item.optional_vars is not None:
                out |= bases(item.optional_vars)
    elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        out.add(stmt.name)
    for node in ast.walk(stmt):   # method calls anywhere in the statement may mutate their object
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            out |= bases(node.func.value)
        if isinstance(node, ast.NamedExpr):
            out |= bases(node.target)
    return out - _BUILTINS


@dataclass
class Usage:
    training: list[str]          # parameters the training side reads (sorted)
    enumerators: list[str]       # of those, the ones that only enumerate tasks
    dynamic: bool                # the training side reads globals dynamically: every parameter counts


def parameter_usage(cells: Sequence[str], experiments: int, parameters: Iterable[str]) -> Usage:
    """Classify ``parameters`` by how the training ``cells`` (plain Python, in order; ``experiments`` is the index of
    the experiments cell among them) read them. See the module docstring."""
    parameters = [p for p in parameters if p not in RUNTIME_PARAMETERS]
    trees = [ast.parse(c) for c in cells]
    visits = [_loads(t) for t in trees]
    dynamic = any(v.dynamic for v in visits)
    loaded = {name for v in visits for name, _ in v.loads}
    training = sorted(parameters) if dynamic else sorted(p for p in parameters if p in loaded)

    in_function = {name for v in visits for name, inner in v.loads if inner}
    outside_experiments = {name for i, v in enumerate(visits) if i != experiments for name, _ in v.loads}
    top = trees[experiments].body
    enumerators = []
    for p in training:
        if dynamic or p in in_function or p in outside_experiments:
            continue
        tainted = {p}
        for _ in range(2):               # twice: a later statement may taint a name an earlier one read
            for stmt in top:
                if tainted & {n for n, _ in _loads(stmt).loads}:
                    tainted |= _assigned_bases(stmt)
        if not tainted & in_function:
            enumerators.append(p)
    return Usage(training=training, enumerators=enumerators, dynamic=dynamic)


# =====================================================================================================
# The spec
# =====================================================================================================


def _paper_meta(slug: str, root: Path) -> Mapping[str, Any] | None:
    import yaml

    path = root / "params.yaml"
    if not path.exists():
        return None
    papers = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("papers") or {}
    return papers.get(slug)


def result_deps(slug: str, root: Path | None = None) -> list[str]:
    """Files and folders (repository-relative) whose content the paper's results depend on besides the notebook."""
    root = root or repo_root()
    meta = _paper_meta(slug, root)
    if meta is None:   # a paper not registered yet: be conservative
        extra = ["hrlkit"] + ([f"data/{slug}"] if (root / "data" / slug).exists() else [])
        return list(RESULT_CORE) + extra
    return list(RESULT_CORE) + [str(meta[k]) for k in ("env", "kit", "data") if meta.get(k)]


def _files(root: Path, rel: str) -> list[Path]:
    path = root / rel
    if path.is_file():
        return [path]
    if not path.exists():
        raise FileNotFoundError(f"result dependency {rel} does not exist")
    return sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and p.suffix not in (".pyc", ".pyo"))


def files_hash(paths: Iterable[str], root: Path | None = None) -> str:
    """SHA-256 over (relative path, content hash) of every file under ``paths``."""
    root = root or repo_root()
    h = hashlib.sha256()
    for rel in paths:
        for f in _files(root, rel):
            h.update(f.relative_to(root).as_posix().encode() + b"\0")
            h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)


@dataclass
class TrainingSpec:
    slug: str
    cells: list[str]                         # normalised code of the training cells (parameters cell excluded)
    parameters: dict[str, Any]               # training parameters (enumerators included) and their values
    enumerators: list[str]
    report_only: list[str]
    deps: list[str]
    runtime: list[str] = field(default_factory=lambda: list(RUNTIME_PARAMETERS))
    root: Path = field(default_factory=repo_root, repr=False)

    def context(self) -> str:
        """The hash every stored task result of the paper is tied to: code, training parameters except the task
        enumerators, and the content of the dependencies."""
        fixed = {k: v for k, v in self.parameters.items() if k not in self.enumerators}
        blob = _canonical({"spec": SPEC_VERSION, "code": self.cells, "parameters": fixed,
                           "deps": files_hash(self.deps, self.root)})
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def text(self) -> str:
        """The generated ``data/runs/<slug>.training.py`` that DVC hashes."""
        lines = [f"# Generated by `python -m hrlkit.pipeline spec {self.slug}` from notebooks/{self.slug}.py and "
                 "params.yaml; do not edit.",
                 f"# What determines the raw results in data/runs/{self.slug}/: when this file (or a dependency "
                 "below) changes, `dvc repro` reruns",
                 f"# runs@{self.slug}; anything else (the report cells, report-only parameters) only rebuilds the "
                 "report.",
                 f"# spec version {SPEC_VERSION}",
                 "#",
                 "# training parameters (params.yaml over the notebook's defaults):"]
        lines += [f"#   {k} = {v!r}" for k, v in self.parameters.items()]
        lines += ["#",
                  "# task enumerators (adding a value runs only the new tasks): "
                  + (", ".join(self.enumerators) or "none"),
                  "# report-only parameters (never retrain): " + (", ".join(self.report_only) or "none"),
                  "# runtime parameters (never part of a result): " + ", ".join(self.runtime),
                  "# code the results also depend on: " + ", ".join(self.deps),
                  "#",
                  "# The training cells, normalised (comments, docstrings and formatting dropped):"]
        for i, code in enumerate(self.cells):
            lines += ["", f"# %% training cell {i + 1}", code]
        return "\n".join(lines) + "\n"


def training_spec(slug: str, values: Mapping[str, Any] | None = None, *, nb=None, root: Path | None = None,
                  cut: str = EXPERIMENTS_TAG) -> TrainingSpec:
    """The training spec of ``notebooks/<slug>.py`` for parameter ``values`` (missing names take the notebook's
    defaults; unknown names are an error), cut after its ``experiments`` cell (or its ``tuning`` cell: what
    determines the tuning trials; or its ``training`` cell: what determines the trained models)."""
    root = root or repo_root()
    nb = nb if nb is not None else read_notebook(slug, root)
    defaults = notebook_parameters(nb)
    values = dict(values or {})
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise KeyError(f"{unknown} are not parameters of notebooks/{slug}.py")
    merged = {k: values.get(k, v) for k, v in defaults.items()}
    p_idx, e_idx = parameters_cell_index(nb), cut_cell_index(nb, cut)
    if e_idx < p_idx:
        raise ValueError(f"the {cut} cell must come after the parameters cell")
    if cut == TUNING_TAG and e_idx > experiments_cell_index(nb):
        raise ValueError("the tuning cell must come before the experiments cell")
    if cut == TRAINING_TAG and (e_idx > experiments_cell_index(nb)
                                or (has_cut(nb, TUNING_TAG) and e_idx > cut_cell_index(nb, TUNING_TAG))):
        raise ValueError("the training cell must come before the tuning and experiments cells")
    sources, experiments = [], None
    for i, cell in enumerate(nb.cells[:e_idx + 1]):
        if cell.cell_type != "code" or i == p_idx:
            continue
        if i == e_idx:
            experiments = len(sources)
        sources.append(python_source(cell.source))
    usage = parameter_usage(sources, experiments, merged)
    report_only = sorted(k for k in merged if k not in usage.training and k not in RUNTIME_PARAMETERS)
    return TrainingSpec(slug=slug, cells=[normalized(s) for s in sources],
                        parameters={k: merged[k] for k in usage.training}, enumerators=usage.enumerators,
                        report_only=report_only, deps=result_deps(slug, root),
                        runtime=[k for k in RUNTIME_PARAMETERS if k in merged], root=root)


def spec_path(slug: str, root: Path | None = None) -> Path:
    return (root or repo_root()) / "data" / "runs" / f"{slug}.training.py"
