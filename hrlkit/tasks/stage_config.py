"""Settings of a cached DVC stage of the task family: a frozen dataclass read from one params.yaml section.

:func:`config_from_dict` builds the dataclass and refuses an unknown key, naming it and the allowed ones;
:func:`params_section` reads the section a stage's command line names, or stops the command with a usage error.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any, TypeVar

__all__ = ["config_from_dict", "params_section"]

C = TypeVar("C")


def config_from_dict(cls: type[C], d: dict[str, Any]) -> C:
    """``cls(**d)`` after checking that every key of ``d`` is a field of ``cls``."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; allowed: {sorted(known)}")
    return cls(**d)


def params_section(parser: argparse.ArgumentParser, section: str) -> dict[str, Any]:
    """The params.yaml section ``section`` (a copy), or a usage error through ``parser``."""
    import yaml

    from hrlkit.provenance import repo_root

    params = yaml.safe_load((repo_root() / "params.yaml").read_text())
    if section not in params:
        parser.error(f"params.yaml has no section {section!r}")
    return dict(params[section])
