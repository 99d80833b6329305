"""Parameter validation for the notebooks' setup cell.

Every check raises :class:`ParameterError` with a message that names the parameter and what is allowed,
so a wrong value fails before any compute (papermill only *warns* about unknown parameters).
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, Iterable, Sequence

PROFILES = ("smoke", "repro")


class ParameterError(ValueError):
    """A notebook parameter has a value outside what the notebook allows."""


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ParameterError(f"parameter {name!r} = {value!r} is not allowed; choose one of {list(allowed)}")
    return value


def check_subset(name: str, values: Sequence[Any], allowed: Iterable[Any], *, min_len: int = 1) -> list[Any]:
    allowed = tuple(allowed)
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ParameterError(f"parameter {name!r} must be a list, got {values!r}")
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ParameterError(f"parameter {name!r} has unknown value(s) {unknown}; allowed: {list(allowed)}")
    if len(values) < min_len:
        raise ParameterError(f"parameter {name!r} needs at least {min_len} value(s), got {list(values)}")
    if len(set(values)) != len(values):
        raise ParameterError(f"parameter {name!r} has duplicates: {list(values)}")
    return list(values)


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ParameterError(f"parameter {name!r} must be an integer, got {value!r}")
    _check_range(name, value, minimum, maximum)
    return int(value)


def check_number(name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None,
                 strict_min: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ParameterError(f"parameter {name!r} must be a number, got {value!r}")
    if strict_min and minimum is not None and value <= minimum:
        raise ParameterError(f"parameter {name!r} = {value!r} must be > {minimum}")
    _check_range(name, value, minimum, maximum)
    return float(value)


def check_numbers(name: str, values: Any, *, minimum: float | None = None, maximum: float | None = None,
                  min_len: int = 1) -> list[float]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) < min_len:
        raise ParameterError(f"parameter {name!r} must be a list of at least {min_len} number(s), got {values!r}")
    return [check_number(f"{name}[{i}]", v, minimum=minimum, maximum=maximum) for i, v in enumerate(values)]


def check_seeds(seeds: Any, name: str = "seeds") -> list[int]:
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not seeds:
        raise ParameterError(f"parameter {name!r} must be a non-empty list of non-negative integers, got {seeds!r}")
    out = [check_int(f"{name}[{i}]", s, minimum=0) for i, s in enumerate(seeds)]
    if len(set(out)) != len(out):
        raise ParameterError(f"parameter {name!r} has duplicate seeds: {out}")
    return out


def check_common(*, seeds: Any, workers: Any, profile: Any, device: Any = "auto") -> None:
    """The parameters every notebook has."""
    check_seeds(seeds)
    check_int("workers", workers, minimum=1)
    check_choice("profile", profile, PROFILES)
    check_choice("device", device, ("auto", "cpu", "cuda"))


def _check_range(name: str, value: Any, minimum: Any, maximum: Any) -> None:
    if minimum is not None and value < minimum:
        raise ParameterError(f"parameter {name!r} = {value!r} must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise ParameterError(f"parameter {name!r} = {value!r} must be <= {maximum}")
