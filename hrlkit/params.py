"""Notebook parameters: one declaration per notebook, checked before any compute.

Each paper notebook has a ``parameters`` cell (plain literals with one comment each: the defaults, i.e. the smoke
profile, and the help ``papermill --help-notebook`` shows) and, right after it, a cell tagged ``schema`` that
declares every parameter's type and constraints as a :class:`Parameters` subclass (a pydantic model):

    class Teleop(P.Parameters):
        methods: P.Subset(*ALL_METHODS, first=OURS)
        train_updates: P.Int(ge=1)
        learning_rate: P.Number(gt=0)
        snr_levels_db: P.UniqueList(P.Number(ge=-10, le=40), min_len=2)

That one declaration drives everything:

* the setup cell's ``PARAMS = Teleop.from_notebook(globals())``: unknown names injected by papermill (a typo),
  wrong types (a float where an integer is needed, a string for a number), NaN and ±inf, values out of range,
  duplicates in a list, missing files, and the relations between parameters each fail there, with a
  :class:`ParameterError` that names the parameter and says what is allowed;
* the pipeline's check of params.yaml (``python -m hrlkit.pipeline check``), before any stage runs;
* ``python -m hrlkit.pipeline params <slug>``: every parameter with its default, constraint and help.

Why pydantic rather than a JSON schema: the constraints that matter here are relations between parameters (a
default SNR that must be one of the swept SNRs, scaling seeds that must be among the main seeds) and files that must
exist, which a JSON schema cannot state; pydantic states them in the notebook's own language, next to the types,
and its strict mode refuses the silent conversions (``2.5`` → ``2``, ``"2"`` → ``2``, ``true`` → ``1``) that caused
wrong results. Validation never changes a value: the notebook goes on using its plain globals.
"""

from __future__ import annotations

import ast
import difflib
import tempfile
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal, Mapping

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from hrlkit.provenance import repo_root

PROFILES = ("smoke", "repro")
DEVICES = ("auto", "cpu", "cuda")
INJECTED_MARKER = "# Parameters"   # the first line of the cell papermill injects after the parameters cell


class ParameterError(ValueError):
    """A notebook parameter has a value outside what the notebook allows (or does not exist)."""


# =====================================================================================================
# Types
# =====================================================================================================


def Int(ge: int | None = None, le: int | None = None, multiple_of: int | None = None):  # noqa: N802
    """An integer (not a float, not a bool) within [ge, le] (and a multiple of ``multiple_of``)."""
    return Annotated[int, Field(strict=True, ge=ge, le=le, multiple_of=multiple_of)]


def Number(gt: float | None = None, ge: float | None = None, lt: float | None = None,  # noqa: N802
           le: float | None = None):
    """A finite number (an integer is accepted) within the bounds."""
    return Annotated[float, Field(strict=True, gt=gt, ge=ge, lt=lt, le=le, allow_inf_nan=False)]


def Choice(*allowed: Any):  # noqa: N802
    """One of the listed values."""
    return Literal[allowed]


def _unique(values: list) -> list:
    seen, dup = set(), []
    for v in values:
        if v in seen and v not in dup:
            dup.append(v)
        seen.add(v)
    if dup:
        raise ValueError(f"has duplicate value(s) {dup}: each value may appear once")
    return values


def UniqueList(item: Any, *, min_len: int = 1, max_len: int | None = None):  # noqa: N802
    """A list of ``item`` with no value twice, of at least ``min_len`` values."""
    return Annotated[list[item], Field(min_length=min_len, max_length=max_len), AfterValidator(_unique)]


def Subset(*allowed: Any, min_len: int = 1, first: Any = None):  # noqa: N802
    """A list of distinct values among ``allowed``; ``first``, when given, must be its first value."""

    def first_is(values: list) -> list:
        if first is not None and values and values[0] != first:
            raise ValueError(f"must start with {first!r} (the paper's method; the others are compared with it)")
        return values

    return Annotated[UniqueList(Literal[allowed], min_len=min_len), AfterValidator(first_is)]


def _resolve(path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else repo_root() / p


def _existing_file(path: str) -> str:
    p = _resolve(path)
    if p.is_dir():
        raise ValueError(f"is a folder; it must name a file (relative to the repository root)")
    if not p.is_file():
        raise ValueError("does not exist (paths are relative to the repository root)")
    return path


def _inside(p: Path, folder: Path) -> bool:
    try:
        p.relative_to(folder)
        return True
    except ValueError:
        return False


def _confined(path: str) -> str:
    """Inside the repository (not the repository itself), or inside the system's temporary folder (scratch)."""
    if not path or "\0" in path:
        raise ValueError("must be a folder path")
    p = _resolve(path).resolve()
    root = repo_root().resolve()
    scratch = Path(tempfile.gettempdir()).resolve()
    if p == root or not (_inside(p, root) or _inside(p, scratch)):
        raise ValueError(f"must be a folder inside the repository (or under {scratch}, for scratch runs)")
    if p.is_file():
        raise ValueError("is a file; it must name a folder")
    return path


FilePath = Annotated[str, Field(strict=True, description="an existing file (path from the repository root)"),
                     AfterValidator(_existing_file)]
OutDir = Annotated[str, Field(strict=True, description="a folder inside the repository (or a scratch folder under the "
                                                       "system's temporary folder)"), AfterValidator(_confined)]
Seeds = UniqueList(Int(ge=0))
Text = Annotated[str, Field(strict=True, min_length=1)]


# =====================================================================================================
# The base model
# =====================================================================================================


class Parameters(BaseModel):
    """Base of a notebook's parameter declaration: the parameters every notebook has, and the checks."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)

    profile: Choice(*PROFILES)
    seeds: Seeds
    workers: Int(ge=1)
    out_dir: OutDir
    runs_dir: OutDir
    device: Choice(*DEVICES)

    @model_validator(mode="after")
    def _tuning_seeds_are_not_reported(self):
        """A notebook that tunes declares ``tuning_seeds``: they must be disjoint from the reported ``seeds``."""
        tuning = getattr(self, "tuning_seeds", None)
        if tuning is not None:
            require(not set(tuning) & set(self.seeds), "tuning_seeds", tuning,
                    f"must be disjoint from seeds {self.seeds} (tuning on reported seeds biases the comparison)")
        return self

    @classmethod
    def names(cls) -> list[str]:
        return list(cls.model_fields)

    @classmethod
    def check(cls, values: Mapping[str, Any], *, where: str = "") -> dict[str, Any]:
        """Validate a complete mapping of parameter values; returns it unchanged (a plain dict, field order)."""
        unknown = [k for k in values if k not in cls.model_fields]
        if unknown:
            raise ParameterError(_unknown_message(unknown, cls.names(), where))
        missing = [k for k in cls.model_fields if k not in values]
        if missing:
            raise ParameterError(f"parameter(s) {missing} have no value{where}")
        try:
            cls.model_validate(dict(values))
        except ValidationError as exc:
            raise ParameterError(_describe(exc, values, where)) from None
        return {k: values[k] for k in cls.model_fields}

    @classmethod
    def from_notebook(cls, namespace: Mapping[str, Any]) -> dict[str, Any]:
        """Check the notebook's parameters (call in the setup cell with ``globals()``): names papermill injected
        that are not parameters, then every value and relation. Returns ``{name: value}`` of every parameter."""
        injected = injected_names(namespace)
        unknown = [k for k in injected if k not in cls.model_fields]
        if unknown:
            raise ParameterError(_unknown_message(unknown, cls.names(), " (passed to the notebook)"))
        missing = [k for k in cls.model_fields if k not in namespace]
        if missing:
            raise ParameterError(f"parameter(s) {missing} are not defined: run the parameters cell first")
        return cls.check({k: namespace[k] for k in cls.model_fields})

    @classmethod
    def describe(cls) -> list[dict[str, str]]:
        """One row per parameter: name and constraint, from the declaration (help text comes from the comments)."""
        schema = cls.model_json_schema()
        props = schema.get("properties", {})
        return [{"name": name, "allowed": _constraint_text(props.get(name, {}), schema)} for name in cls.model_fields]


def require(condition: bool, name: str, value: Any, what: str) -> None:
    """For relations between parameters (in a ``model_validator``): fail naming ``name`` unless ``condition``."""
    if not condition:
        raise ValueError(f"parameter {name!r} = {value!r} {what}")


def injected_names(namespace: Mapping[str, Any]) -> list[str]:
    """Names assigned by the last cell papermill injected (its source starts with ``# Parameters``), from the
    kernel's input history; empty outside papermill."""
    history = namespace.get("In")
    if not isinstance(history, list):
        return []
    for source in reversed(history):
        if isinstance(source, str) and source.lstrip().startswith(INJECTED_MARKER):
            try:
                tree = ast.parse(source)
            except SyntaxError:
                return []
            return [t.id for node in tree.body if isinstance(node, ast.Assign)
                    for t in node.targets if isinstance(t, ast.Name)]
    return []


# =====================================================================================================
# Messages
# =====================================================================================================


def _unknown_message(unknown: Iterable[str], known: list[str], where: str) -> str:
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return f"unknown parameter(s) {', '.join(parts)}{where}; this notebook's parameters are: {', '.join(known)}"


_PHRASES = {
    "finite_number": "must be a finite number (not NaN or ±inf)",
    "int_type": "must be an integer", "int_from_float": "must be an integer",
    "float_type": "must be a number", "string_type": "must be a string", "bool_type": "must be true or false",
    "list_type": "must be a list",
}


def _phrase(err: Mapping[str, Any]) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in _PHRASES:
        return _PHRASES[kind]
    if kind == "greater_than":
        return f"must be > {ctx['gt']}"
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']}"
    if kind == "less_than":
        return f"must be < {ctx['lt']}"
    if kind == "less_than_equal":
        return f"must be <= {ctx['le']}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind == "multiple_of":
        return f"must be a multiple of {ctx['multiple_of']}"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} value(s)"
    if kind == "too_long":
        return f"takes at most {ctx.get('max_length')} value(s)"
    if kind == "string_too_short":
        return "must not be empty"
    msg = str(err.get("msg", kind))
    return msg[len("Value error, "):] if msg.startswith("Value error, ") else msg


def _describe(exc: ValidationError, values: Mapping[str, Any], where: str) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        if not loc:   # a relation (model validator): its message names the parameter itself
            lines.append(_phrase(err) + where)
            continue
        name = str(loc[0]) + "".join(f"[{p}]" for p in loc[1:] if isinstance(p, int))
        lines.append(f"parameter {name!r} = {err['input']!r} {_phrase(err)}{where}")
    return "; ".join(dict.fromkeys(lines))


def _constraint_text(prop: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    """A short reading of one property of the JSON schema pydantic derives from the declaration."""
    if "$ref" in prop:
        prop = schema.get("$defs", {}).get(prop["$ref"].split("/")[-1], prop)
    if prop.get("description"):
        return prop["description"]
    if "enum" in prop or "const" in prop:
        return "one of " + ", ".join(map(str, prop.get("enum", [prop.get("const")])))
    kind = prop.get("type", "")
    bounds = [f"{op} {prop[k]}" for k, op in (("exclusiveMinimum", ">"), ("minimum", ">="),
                                              ("exclusiveMaximum", "<"), ("maximum", "<="),
                                              ("multipleOf", "multiple of")) if k in prop]
    if kind == "array":
        inner = _constraint_text(prop.get("items", {}), schema)
        n = f", at least {prop['minItems']}" if prop.get("minItems") else ""
        return f"list of distinct {inner}{n}"
    name = {"integer": "integer", "number": "finite number", "string": "text"}.get(kind, kind or "value")
    return " ".join([name, *bounds]) if bounds else name

