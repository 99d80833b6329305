"""The arithmetic `python` tool (hrlkit.tasks.python_tool): right answers, and every hostile input refused cleanly,
in a worker process with a wall-time limit."""

import numpy as np
import pytest

from hrlkit.tasks.python_tool import Limits, PythonTool, ToolResult, check, evaluate_here

HOSTILE = [
    "__import__('os').system('echo escaped')", "import os", "os.system('ls')", "open('/etc/passwd').read()",
    "().__class__.__bases__[0].__subclasses__()", "(1).__class__", "getattr(1, 'real')", "exec('1')", "eval('1')",
    "compile('1', 'x', 'eval')", "globals()", "lambda: 1", "[x for x in range(10**9)]", "'a' * 10**9", "'abc'",
    "b'x'", "2 ** 10 ** 10", "9 ** 9 ** 9", "10 ** 100", "(-8) ** 0.5", "1e308 * 10", "10**15 * 10**15",
    "(" * 300 + "1" + ")" * 300, "-" * 150 + "1", "1" * 10_000, "x", "abs", "abs(1, 2)", "min(1)", "max(*[1, 2])",
    "round(1, ndigits=2)", "round(1.5, 0.5)", "1 if 1 else 2", "{1: 2}", "[1, 2]", "(1, 2)", "1; 2", "a = 1",
    "True + 1", "1j * 2", "1 < 2", "1 and 2", "not 1", "~1", "1 << 64", "1 / 0", "5 // 0", "5 % 0", "0 ** -1",
    "f'{1}'", "...", "None", "\x00", "", "   ", "1 +", None, 3,
]


@pytest.mark.parametrize("code, value", [
    ("1 + 2", "3"), ("734219 + 3 * (12 - 5) // 2", "734229"), ("-(4 - 10) ** 2", "-36"), ("7 / 2", "3.5"),
    ("7 // 2 + 7 % 2", "4"), ("2 ** 10", "1024"), ("2 ** -2", "0.25"), ("abs(-3) + min(4, 2) + max(1, 5, 3)", "10"),
    ("round(2.675, 2)", "2.67"), ("1 / 3", "0.3333333333"), ("10.0 / 4", "2.5"), ("6.0 * 7", "42"),
])
def test_arithmetic_is_right(code, value):
    assert evaluate_here(code) == ToolResult(True, value)


@pytest.mark.parametrize("code", HOSTILE)
def test_hostile_inputs_are_refused_cleanly(code):
    result = evaluate_here(code)
    assert result.ok is False and result.output.startswith("error: ")


def test_limits_are_checked_before_evaluation():
    assert evaluate_here("2 ** 65") == ToolResult(False, "error: exponent larger than 64 in magnitude")
    assert check("((1))") is not None                                  # parentheses alone add no depth
    assert evaluate_here("2 ** 49").ok and not evaluate_here("2 ** 50 * 2 ** 50").ok      # |value| ≤ 1e15
    assert not evaluate_here("1 + 1", Limits(max_chars=3)).ok
    assert not evaluate_here("-(-1)", Limits(max_depth=2)).ok


def _random_expression(rng: np.random.Generator, depth: int) -> tuple[str, int]:
    """A random integer expression and its value, computed here (never by eval)."""
    if depth == 0 or rng.random() < 0.3:
        n = int(rng.integers(0, 100))
        return str(n), n
    left, a = _random_expression(rng, depth - 1)
    right, b = _random_expression(rng, depth - 1)
    op = rng.choice(["+", "-", "*"])
    return f"({left} {op} {right})", {"+": a + b, "-": a - b, "*": a * b}[op]


def test_random_expressions_match_their_values():
    rng = np.random.default_rng(0)
    for _ in range(300):
        code, value = _random_expression(rng, 4)
        assert evaluate_here(code) == ToolResult(True, str(value)), code


def test_fuzz_never_raises_and_never_returns_a_non_number():
    rng = np.random.default_rng(1)
    alphabet = list("0123456789+-*/%().,_ [ ]{}:'\"\\abcdefghijklmnopqrstuvwxyz=<>!@#~^&|") + ["**", "//", "__"]
    for _ in range(2000):
        code = "".join(rng.choice(alphabet, size=int(rng.integers(1, 40))))
        result = evaluate_here(code)
        if result.ok:
            float(result.output)          # a number, nothing else
        else:
            assert result.output.startswith("error: ")


def test_worker_process_answers_times_out_and_recovers():
    with PythonTool(Limits(timeout_s=5.0)) as tool:
        assert tool("6 * 7") == ToolResult(True, "42")
        assert tool("__import__('os')").ok is False
        assert tool(None).ok is False and tool("1" * 500).ok is False
        tool._process.kill()                      # a dead worker is replaced on the next call
        tool._process.wait()
        assert not tool.alive()
        assert tool("1 + 1") == ToolResult(True, "2")
    with PythonTool(Limits(timeout_s=0.0)) as impatient:      # no worker answers in zero seconds
        result = impatient("1 + 1")
        assert result.ok is False and "timed out" in result.output
        assert impatient.alive()                  # a fresh worker stands ready
