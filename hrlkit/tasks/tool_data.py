"""Tool-Star's data pipeline at small scale: quality normalisation of tool-integrated trajectories and hint-based
sampling prefixes (arXiv 2505.16410, §3.1, as summarised in this collection's notes).

* :func:`tool_calls` lists a response's calls in order: (tool, content).
* :func:`quality_check` keeps a trajectory only if its format is valid, it makes at most ``max_calls`` tool calls
  (the paper's β), and it never repeats a call (same tool, same content); otherwise it names the first rule broken.
* :func:`hint_prefix` is hint-based sampling's starting point: a language-only response cut after ``position`` of
  its reasoning words, with a hint appended, from which the model continues with tools.
"""

from __future__ import annotations

import re

from hrlkit.tasks.tool_protocol import TOOLS, validate_format

__all__ = ["tool_calls", "quality_check", "hint_prefix", "HINTS"]

_CALL = re.compile(r"<(%s)>(.*?)</\1>" % "|".join(TOOLS), flags=re.S)
#: The two hint kinds of the paper, in the task family's words.
HINTS = {"logical verification": "wait , let me verify this with a tool", "answer reflection": "wait , let me check"}


def tool_calls(response: str) -> list[tuple[str, str]]:
    """(tool, content) of every tool call, in order, contents with normalised spaces."""
    return [(tool, " ".join(content.split())) for tool, content in _CALL.findall(response)]


def quality_check(response: str, max_calls: int = 4) -> tuple[bool, str]:
    """(kept, why not): valid format, at most ``max_calls`` calls, no call repeated."""
    valid, why = validate_format(response)
    if not valid:
        return False, f"format: {why}"
    calls = tool_calls(response)
    if len(calls) > max_calls:
        return False, f"{len(calls)} tool calls (at most {max_calls})"
    if len(set(calls)) < len(calls):
        repeated = next(c for i, c in enumerate(calls) if c in calls[:i])
        return False, f"repeated call: <{repeated[0]}> {repeated[1]}"
    return True, ""


def hint_prefix(response: str, position: int, hint: str) -> str:
    """The first ``position`` words of a language-only response's reasoning (inside its first ``<think>``), then the
    hint, with the think block left open for the model to continue."""
    match = re.search(r"<think>(.*?)</think>", response, flags=re.S)
    if match is None:
        raise ValueError("the response has no <think> block to cut")
    words = match.group(1).split()
    if not 0 <= position <= len(words):
        raise ValueError(f"position {position} outside the reasoning's {len(words)} words")
    return " ".join(["<think>", *words[:position], hint])
