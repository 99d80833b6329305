"""A safe arithmetic ``python`` tool for tool-integrated reasoning (Tool-Star's code interpreter, at small scale).

The tool reads an expression written by a language model, e.g. ``734219 + 3 * (12 - 5) // 2``, and answers with its
value or with an error message the model can read. It never calls ``eval`` or ``exec``:

1. :func:`check` parses the text with ``ast.parse(mode="eval")`` and refuses it unless every node is on a whitelist
   (numbers, the arithmetic operators, parentheses, and calls of a few named functions: ``abs``, ``min``, ``max``,
   ``round``), and unless it stays within :class:`Limits` (length, nesting depth, node count).
2. :func:`evaluate_tree` walks the checked tree itself. Every intermediate value must stay finite and within
   ``max_abs``; a power is refused *before* it is computed when its exponent or its result would be too large.
3. :class:`PythonTool` runs steps 1–2 in a separate worker process (a fresh interpreter) and waits at most ``timeout_s`` for the answer;
   a worker that does not answer in time is killed and replaced, and the call reports a timeout.

A refusal is an ordinary answer (``ToolResult(ok=False, output="error: ...")``), never an exception: the model's
rollout goes on with the error text inserted, as the authors' sandbox inserts a traceback.
"""

from __future__ import annotations

import ast
import json
import math
import operator
import os
import select
import subprocess
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Limits", "ToolResult", "ToolError", "check", "evaluate_tree", "evaluate_here", "PythonTool"]

_ROOT = str(Path(__file__).resolve().parents[2])      # the repository, for the worker's imports
READY = "ready"


@dataclass(frozen=True)
class Limits:
    max_chars: int = 200          # length of the expression text
    max_depth: int = 20           # nesting depth of the syntax tree
    max_nodes: int = 100          # nodes in the syntax tree
    max_abs: float = 1e15         # largest magnitude of any intermediate value
    max_exponent: int = 64        # largest |exponent| of a power
    timeout_s: float = 1.0        # wall time the worker may take (PythonTool only)


@dataclass(frozen=True)
class ToolResult:
    ok: bool
    output: str                   # the value as text, or "error: <why>"


class ToolError(ValueError):
    """An expression the tool refuses or cannot evaluate (the message is what the model reads)."""


_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS = {"abs": abs, "min": min, "max": max, "round": round}
_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Call, ast.Name, ast.Load,
          *_BINARY, *_UNARY)


def _depth(node: ast.AST) -> int:
    children = list(ast.iter_child_nodes(node))
    return 1 + (max(_depth(c) for c in children) if children else 0)


def check(code: str, limits: Limits = Limits()) -> ast.Expression:
    """The parsed expression, or :class:`ToolError` saying why it is refused."""
    if not isinstance(code, str):
        raise ToolError("the expression must be text")
    if len(code) > limits.max_chars:
        raise ToolError(f"expression longer than {limits.max_chars} characters")
    try:
        with warnings.catch_warnings():          # invalid escapes in a string the model wrote are not our warning
            warnings.simplefilter("ignore")
            tree = ast.parse(code.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise ToolError("not an arithmetic expression") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > limits.max_nodes:
        raise ToolError(f"expression has more than {limits.max_nodes} parts")
    if _depth(tree) > limits.max_depth:
        raise ToolError(f"expression nested deeper than {limits.max_depth}")
    for node in nodes:
        if not isinstance(node, _NODES):
            raise ToolError(f"{type(node).__name__} is not allowed (numbers, + - * / // % ** and "
                            f"{', '.join(_FUNCTIONS)} only)")
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool)
                                               or not isinstance(node.value, (int, float))):
            raise ToolError("only numbers are allowed as constants")
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS) or node.keywords:
                raise ToolError(f"only {', '.join(_FUNCTIONS)} may be called, with plain arguments")
            if any(isinstance(a, ast.Starred) for a in node.args):
                raise ToolError("starred arguments are not allowed")
        if isinstance(node, ast.Name) and node.id not in _FUNCTIONS:
            raise ToolError(f"unknown name {node.id[:20]!r}")
    for node in nodes:   # a function name may only appear as the thing called
        if isinstance(node, ast.Name) and not any(isinstance(p, ast.Call) and p.func is node for p in nodes):
            raise ToolError(f"{node.id} must be called")
    return tree


def _bounded(value: Any, limits: Limits) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolError("result is not a finite number")
    if abs(value) > limits.max_abs:
        raise ToolError(f"a value exceeds {limits.max_abs:g} in magnitude")
    return value


def _power(base: int | float, exponent: int | float, limits: Limits) -> int | float:
    # refuse before computing: 9 ** 9 ** 9 must never be evaluated
    if abs(exponent) > limits.max_exponent:
        raise ToolError(f"exponent larger than {limits.max_exponent} in magnitude")
    if base == 0 and exponent < 0:
        raise ToolError("division by zero")
    if abs(base) > 1 and exponent > 0 and exponent * math.log10(abs(base)) > math.log10(limits.max_abs) + 1:
        raise ToolError(f"a value exceeds {limits.max_abs:g} in magnitude")
    if base < 0 and not float(exponent).is_integer():
        raise ToolError("fractional power of a negative number")
    return base ** exponent


def evaluate_tree(node: ast.AST, limits: Limits = Limits()) -> int | float:
    """The value of a tree that :func:`check` accepted (recursion over the whitelisted nodes only)."""
    if isinstance(node, ast.Expression):
        return evaluate_tree(node.body, limits)
    if isinstance(node, ast.Constant):
        return _bounded(node.value, limits)
    if isinstance(node, ast.UnaryOp):
        return _bounded(_UNARY[type(node.op)](evaluate_tree(node.operand, limits)), limits)
    if isinstance(node, ast.BinOp):
        left, right = evaluate_tree(node.left, limits), evaluate_tree(node.right, limits)
        if isinstance(node.op, ast.Pow):
            return _bounded(_power(left, right, limits), limits)
        if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and right == 0:
            raise ToolError("division by zero")
        return _bounded(_BINARY[type(node.op)](left, right), limits)
    if isinstance(node, ast.Call):
        args = [evaluate_tree(a, limits) for a in node.args]
        name = node.func.id
        if (name in ("abs",) and len(args) != 1) or (name in ("min", "max") and len(args) < 2) \
                or (name == "round" and len(args) not in (1, 2)):
            raise ToolError(f"{name} got {len(args)} argument(s)")
        if name == "round" and len(args) == 2 and (not float(args[1]).is_integer() or abs(args[1]) > 15):
            raise ToolError("round's digits must be a whole number between -15 and 15")
        if name == "round" and len(args) == 2:
            args[1] = int(args[1])
        return _bounded(_FUNCTIONS[name](*args), limits)
    raise ToolError(f"{type(node).__name__} is not allowed")   # unreachable for a checked tree


def format_value(value: int | float) -> str:
    """Integers exactly; other numbers with 10 significant digits (a whole float prints as an integer)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value) if isinstance(value, int) else f"{value:.10g}"


def evaluate_here(code: str, limits: Limits = Limits()) -> ToolResult:
    """Check and evaluate in this process (what the worker runs); refusals become ``ok=False`` results."""
    try:
        return ToolResult(True, format_value(evaluate_tree(check(code, limits), limits)))
    except ToolError as error:
        return ToolResult(False, f"error: {error}")
    except (ArithmeticError, RecursionError, MemoryError, ValueError, TypeError):
        return ToolResult(False, "error: the expression cannot be evaluated")


def _serve_lines(limits: Limits) -> None:
    """The worker loop (``python -m hrlkit.tasks.python_tool <limits as JSON>``): one JSON-encoded expression per line
    on stdin, one ``[ok, output]`` line on stdout, until stdin closes. The first line out says it is ready."""
    sys.stdout.write(READY + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        result = evaluate_here(json.loads(line), limits)
        sys.stdout.write(json.dumps([result.ok, result.output]) + "\n")
        sys.stdout.flush()


class PythonTool:
    """The tool as a separate worker process (``with PythonTool() as tool: tool("1 + 2")``).

    The worker is a fresh interpreter started with :mod:`subprocess` (no state inherited from the caller, and
    independent of the caller's multiprocessing setup, so it also runs inside a process-pool worker), talking one
    JSON line per call each way. Each call waits at most ``limits.timeout_s`` for the worker's answer (its start-up
    is waited for apart, so a busy machine does not turn answers into timeouts); a late worker is killed and a fresh
    one started, and the call answers ``error: timed out``."""

    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits
        self._process: subprocess.Popen | None = None
        self._start()

    def _start(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)}
        self._process = subprocess.Popen([sys.executable, "-m", "hrlkit.tasks.python_tool",
                                          json.dumps(asdict(self.limits))], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, bufsize=0)
        # wait for the worker to start (not counted in a call's timeout, so a busy machine cannot change answers)
        if self._process.stdout.readline().decode().strip() != READY:
            raise RuntimeError("the python tool's worker did not start")

    def _restart(self) -> None:
        self._stop()
        self._start()

    def _stop(self) -> None:
        self._process.kill()
        self._process.wait()
        self._process.stdin.close()
        self._process.stdout.close()

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __call__(self, code: str) -> ToolResult:
        if not isinstance(code, str):
            return ToolResult(False, "error: the expression must be text")
        if len(code) > self.limits.max_chars:       # refused by its length alone: it never crosses the pipe
            return evaluate_here(code, self.limits)
        if not self.alive():
            self._restart()
        self._process.stdin.write((json.dumps(code) + "\n").encode())
        ready, _, _ = select.select([self._process.stdout], [], [], self.limits.timeout_s)
        line = self._process.stdout.readline() if ready else b""
        if not line:                                 # late, or the worker died on the way
            self._restart()
            return ToolResult(False, f"error: timed out after {self.limits.timeout_s:g} s")
        ok, output = json.loads(line)
        return ToolResult(bool(ok), str(output))

    def close(self) -> None:
        if self._process is None:
            return
        if self.alive():
            self._process.stdin.close()              # the worker's loop ends when its input does
            try:
                self._process.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                pass
        self._stop()                                 # kills it if it is still there (a no-op once it has exited)
        self._process = None

    def __enter__(self) -> "PythonTool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


if __name__ == "__main__":
    _serve_lines(Limits(**json.loads(sys.argv[1])))
