"""The tool-call protocol and the hierarchical reward of Tool-Star (arXiv 2505.16410), from the authors' code
(`re_search.py`, `re_search_math.py`) as transcribed in this collection's notes.

A response reasons in ``<think> … </think>``, may call tools with ``<search> query </search>`` or
``<python> expression </python>``, each call answered by the environment with ``<result> … </result>`` right after
it, and ends with exactly one ``<answer> … \\boxed{final} … </answer>``.

Rewards (``gt`` the reference answer, F1 the token F1 of the boxed answer against it, after SQuAD-style
normalisation):

* :func:`hierarchical_reward` (the paper, and the code's QA branch):
  R = −1 if the format is invalid; F1 + 0.1 if F1 > 0 and both ``</search>`` and ``</python>`` occur; F1 if F1 > 0;
  0 otherwise. The paper writes it R = max(Acc + r_M, Acc) for Acc > 0 with r_M = 0.1 for multi-tool use.
* :func:`math_branch_reward` (the code's math branch, a discrepancy with the paper): 0 for an invalid format or no
  box, 1.0 if the answer is right, 0.1 if it is well formatted but wrong; no −1 and no multi-tool bonus.
"""

from __future__ import annotations

import re
import string
from collections import Counter

__all__ = ["TOOLS", "validate_format", "boxed_answer", "normalize_answer", "token_f1", "hierarchical_reward",
           "math_branch_reward", "MULTI_TOOL_BONUS"]

TOOLS = ("search", "python")
MULTI_TOOL_BONUS = 0.1
_TAG = re.compile(r"</?(think|answer|search|python|result)>")


def validate_format(response: str) -> tuple[bool, str]:
    """(valid, why not): paired ``<think>`` blocks, exactly one ``<answer>`` at the end, every tool call closed and
    followed directly by a ``<result>`` block, no tag inside a tool call or a result, a ``\\boxed{}`` in the answer."""
    tags = [(m.group(0), m.start(), m.end()) for m in _TAG.finditer(response)]
    names = [t for t, _, _ in tags]
    if names.count("<think>") != names.count("</think>") or "<think>" not in names:
        return False, "unpaired or missing <think>"
    if names.count("<answer>") != 1 or names.count("</answer>") != 1:
        return False, "not exactly one <answer>"
    open_tag: str | None = None
    expect_result = False
    for i, (tag, start, end) in enumerate(tags):
        name = tag.strip("</>")
        closing = tag.startswith("</")
        if expect_result:
            if tag != "<result>" or response[tags[i - 1][2]:start].strip():
                return False, "a tool call is not followed directly by <result>"
            expect_result = False
        if open_tag is not None:
            if not (closing and name == open_tag):
                return False, f"<{open_tag}> is not closed before {tag}"
            open_tag = None
            expect_result = name in TOOLS
            continue
        if closing:
            return False, f"{tag} without its opening tag"
        open_tag = name
    if open_tag is not None or expect_result:
        return False, "the response ends inside a block or without a tool result"
    answer_start = response.index("<answer>")
    if response[response.index("</answer>") + len("</answer>"):].strip():
        return False, "text after </answer>"
    if any(start > answer_start for tag, start, _ in tags if tag not in ("<answer>", "</answer>")):
        return False, "a tag inside or after <answer>"
    if boxed_answer(response) is None:
        return False, "no \\boxed{} in the answer"
    return True, ""


def boxed_answer(response: str) -> str | None:
    """The content of the last ``\\boxed{…}`` inside ``<answer>`` (balanced braces), or None."""
    match = re.search(r"<answer>(.*)</answer>", response, flags=re.S)
    if match is None:
        return None
    text = match.group(1)
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 0, start + len("\\boxed{") - 1
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1:j]
    return None


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def token_f1(prediction: str, truth: str) -> float:
    """Token-level F1 of the normalised answers (0 when either is empty)."""
    pred, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = sum((Counter(pred) & Counter(gold)).values())
    if not pred or not gold or common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def hierarchical_reward(response: str, truth: str, *, bonus: float = MULTI_TOOL_BONUS,
                        tools: tuple[str, ...] = TOOLS, gate: bool = True) -> float:
    """R = −1 (bad format); F1 + r_M if F1 > 0 and both tools were called; F1 if F1 > 0; 0 otherwise.

    ``bonus`` is r_M (0 gives the "without the multi-tool bonus" reward). ``tools`` are the tools the system offers:
    with fewer than all of them (a single-tool system such as Search-R1's), a call tag of another tool is a format
    error (−1), and no bonus can be earned. ``gate=False`` drops the format rung (the reward ladder's ablation): a
    response is scored on its boxed answer and tools whatever its format, and a bad format costs nothing."""
    valid, _ = validate_format(response)
    foreign = any(f"<{tool}>" in response for tool in TOOLS if tool not in tools)
    if gate and (not valid or foreign):
        return -1.0
    f1 = token_f1(boxed_answer(response) or "", truth)
    if f1 > 0 and all(f"</{tool}>" in response for tool in TOOLS) and set(tools) == set(TOOLS):
        return f1 + bonus
    return f1


def math_branch_reward(response: str, truth: str) -> float:
    """The code's math branch: 0 (bad format or no box), 1.0 (right), 0.1 (well formatted, wrong)."""
    valid, _ = validate_format(response)
    answer = boxed_answer(response)
    if not valid or answer is None:
        return 0.0
    return 1.0 if normalize_answer(answer) == normalize_answer(truth) else 0.1
