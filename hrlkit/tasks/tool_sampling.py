"""Tool-Star's data synthesis at small scale (arXiv 2505.16410, §3.1): sampling tool-integrated trajectories,
hint-based sampling, quality normalisation and the difficulty-aware split.

The paper samples from an instruction-tuned LLM. Here the sampler is the task family's expert
(:func:`hrlkit.tasks.tool_tasks.teacher_trajectory`) with a **noise model** that makes the mistakes a sampled LLM
makes, each with its own probability (:class:`SamplerNoise`):

* ``copy``: a number copied from a tool result into the next call or the answer gets one wrong digit;
* ``extra_call``: a redundant search is inserted (sometimes a repeat of an earlier one);
* ``format``: the response breaks the protocol (a tag dropped, or the answer not boxed);
* ``skip_python``: on a hybrid question, the sampler searches the facts but does the arithmetic in its head and
  writes the result without calling python (right, so quality normalisation keeps it). On a density question it
  searches the density itself: right where the knowledge base states it, a guess otherwise (it has no numbers to
  compute with), which normalisation drops. A sampled LLM often answers a two-tool question with one tool; the
  multi-tool bonus acts on exactly those responses.

The pipeline then does what the paper does with its samples:

1. **Tool-integrated sampling** (:func:`sample_tir`): ``k`` samples per question with both tools.
2. **Hint-based sampling** (:func:`sample_with_hint`): a language-only attempt (no tools: the expert guesses what it
   cannot look up or compute) is cut after a random number of its reasoning words, a hint is appended
   (:data:`hrlkit.tasks.tool_data.HINTS`), and the sampler continues from there with tools.
3. **Quality normalisation** (:func:`normalise`): a trajectory is kept only if its format is valid, it makes at most
   β calls and repeats none (:func:`hrlkit.tasks.tool_data.quality_check`), and its answer is right.
4. **Difficulty-aware split** (:func:`difficulty_split`): per question, the pass rates of language-only and of
   tool-integrated samples. The paper's exact rule was not retrieved (reconstructed): a question that the
   language-only sampler already solves is dropped (no tool needed); of the rest, one the tool-integrated sampler
   solves in at least ``easy_rate`` of its samples is *easy* (its kept trajectories go to the cold-start SFT), and
   one it solves less often is *hard* (it goes to RL, where the policy has something left to learn).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hrlkit.tasks.knowledge import KnowledgeBase
from hrlkit.tasks.tool_data import HINTS, hint_prefix, quality_check
from hrlkit.tasks.tool_protocol import boxed_answer, normalize_answer
from hrlkit.tasks.tool_tasks import Question, teacher_trajectory

__all__ = ["SamplerNoise", "sample_tir", "sample_language_only", "sample_with_hint", "normalise", "is_correct",
           "difficulty_split", "Split"]


@dataclass(frozen=True)
class SamplerNoise:
    """Probabilities of the sampler's mistakes (per copied number, per response, per response)."""

    copy: float = 0.1
    extra_call: float = 0.1
    format: float = 0.05
    skip_python: float = 0.0

    def __post_init__(self) -> None:
        for name in ("copy", "extra_call", "format", "skip_python"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"SamplerNoise.{name} must be a probability in [0, 1], got {value!r}")


def _miscopy(number: str, rng: np.random.Generator) -> str:
    """``number`` with one digit replaced by a different digit (the first digit never becomes 0)."""
    digits = [i for i, ch in enumerate(number) if ch.isdigit()]
    if not digits:
        return number
    i = digits[int(rng.integers(len(digits)))]
    choices = [d for d in "0123456789" if d != number[i] and not (i == 0 and d == "0")]
    return number[:i] + str(rng.choice(choices)) + number[i + 1:]


def _corrupt_reads(response: str, rng: np.random.Generator, p_copy: float) -> str:
    """Miscopy, with probability ``p_copy`` each, the numbers the sampler wrote after its first tool result (in a
    later call or in the answer) that it read out of a tool's output; the results themselves stay exact."""
    import re

    results = " ".join(re.findall(r"<result>(.*?)</result>", response, flags=re.S))
    seen = set(re.findall(r"\d+", results))
    head, sep, tail = response.partition("</result>")
    if not sep:
        return response

    def swap(match: "re.Match[str]") -> str:
        number = match.group(0)
        if number in seen and rng.random() < p_copy:
            return _miscopy(number, rng)
        return number

    # only the text the sampler wrote after reading a result: between results and in the answer
    pieces = re.split(r"(<result>.*?</result>)", tail, flags=re.S)
    pieces = [p if p.startswith("<result>") else re.sub(r"\d+", swap, p) for p in pieces]
    return head + sep + "".join(pieces)


def _break_format(response: str, rng: np.random.Generator) -> str:
    """One protocol violation: drop a closing tag, or unbox the answer."""
    options = ["</think>", "\\boxed{"]
    options += [tag for tag in ("</search>", "</python>") if tag in response]
    tag = str(rng.choice(options))
    if tag == "\\boxed{":
        return response.replace("\\boxed{", "", 1).replace("} </answer>", " </answer>", 1)
    return response.replace(tag, "", 1)


def _extra_search(response: str, question: Question, kb: KnowledgeBase, rng: np.random.Generator) -> str:
    """Insert a redundant search for one of the question's places right after the think block: a repeat of the
    expert's query half of the time, another wording otherwise."""
    if not question.facts:
        place = str(rng.choice(list(kb.entities)))
        query = f"capital of {place}"
    else:
        place, attribute = question.facts[int(rng.integers(len(question.facts)))]
        repeat = f"{place} founded" if attribute == "founded" else f"{attribute} of {place}"
        query = repeat if rng.random() < 0.5 else f"{place}"
    call = f"<search> {query} </search> <result> {' '.join(kb.search(query))} </result>"
    head, sep, tail = response.partition("</think>")
    return f"{head}{sep} {call}{tail}"


def _sample(question: Question, kb: KnowledgeBase, rng: np.random.Generator, noise: SamplerNoise,
            tools: tuple[str, ...]) -> str:
    def guess() -> str:
        return str(int(rng.integers(1_000, 100_000)))

    if (noise.skip_python and question.split == "hybrid" and "python" in tools
            and rng.random() < noise.skip_python):     # arithmetic in its head: no python call, the right result
        in_head = guess if question.derived else (lambda: question.answer)   # a density needs numbers it lacks
        response = teacher_trajectory(question, kb, tools=tuple(t for t in tools if t != "python"), guess=in_head)
    else:
        response = teacher_trajectory(question, kb, tools=tools, guess=guess)
    if tools and rng.random() < noise.extra_call:
        response = _extra_search(response, question, kb, rng)
    response = _corrupt_reads(response, rng, noise.copy)
    if rng.random() < noise.format:
        response = _break_format(response, rng)
    return response


def sample_tir(question: Question, kb: KnowledgeBase, k: int, rng: np.random.Generator,
               noise: SamplerNoise = SamplerNoise()) -> list[str]:
    """``k`` tool-integrated samples (both tools) of the response to ``question``."""
    return [_sample(question, kb, rng, noise, ("search", "python")) for _ in range(k)]


def sample_language_only(question: Question, kb: KnowledgeBase, k: int, rng: np.random.Generator,
                         noise: SamplerNoise = SamplerNoise()) -> list[str]:
    """``k`` samples without tools: the sampler guesses every fact and result it would need a tool for."""
    return [_sample(question, kb, rng, noise, ()) for _ in range(k)]


def sample_with_hint(question: Question, kb: KnowledgeBase, rng: np.random.Generator,
                     noise: SamplerNoise = SamplerNoise()) -> str:
    """Hint-based sampling: a language-only attempt cut at the end of its reasoning, a hint appended, then the
    sampler's tool-integrated continuation. The paper cuts a reasoning chain at a random point; here the language-only
    attempt's think block holds only the question, so the only cut that keeps the question whole is after it."""
    attempt = sample_language_only(question, kb, 1, rng, SamplerNoise(copy=0.0, extra_call=0.0, format=0.0))[0]
    words = attempt.split("</think>")[0].split()[1:]
    hint = HINTS[str(rng.choice(list(HINTS)))]
    prefix = hint_prefix(attempt, len(words), hint)
    continuation = _sample(question, kb, rng, noise, ("search", "python")).split("</think>", 1)
    if len(continuation) < 2:                  # the format noise dropped the think block's end: keep it broken
        return prefix + " " + continuation[0].split(" ", 1)[-1]
    return f"{prefix} </think>{continuation[1]}"


def is_correct(response: str, question: Question) -> bool:
    """Whether the boxed answer equals the reference (after normalisation)."""
    answer = boxed_answer(response)
    return answer is not None and normalize_answer(answer) == normalize_answer(question.answer)


def _rule(why: str) -> str:
    """The rule a dropped response broke, without its particulars (which call, how many calls)."""
    for prefix, rule in (("format", "format"), ("repeated call", "repeated call")):
        if why.startswith(prefix):
            return rule
    return "too many calls" if "tool calls (at most" in why else why


def normalise(responses: Sequence[str], question: Question, max_calls: int) -> tuple[list[str], dict[str, int]]:
    """The responses that pass quality normalisation and are right, and the count of each reason for dropping."""
    kept, dropped = [], {}
    for response in responses:
        ok, why = quality_check(response, max_calls)
        if ok and not is_correct(response, question):
            ok, why = False, "wrong answer"
        if ok:
            kept.append(response)
        else:
            reason = _rule(why)
            dropped[reason] = dropped.get(reason, 0) + 1
    return kept, dropped


@dataclass(frozen=True)
class Split:
    """The difficulty-aware split of a pool of questions (indices into the pool)."""

    easy: tuple[int, ...]            # tool-integrated sampling solves it reliably: cold-start SFT
    hard: tuple[int, ...]            # solved less often: RL
    no_tool_needed: tuple[int, ...]  # language-only sampling already solves it: dropped


def difficulty_split(language_only_rate: Sequence[float], tool_rate: Sequence[float], easy_rate: float,
                     solved_rate: float) -> Split:
    """Easy / hard / dropped by the pass rates of the language-only and tool-integrated samples (see the module
    docstring): dropped if language-only passes ≥ ``solved_rate``; else easy if tools pass ≥ ``easy_rate``; else hard."""
    if not 0.0 < easy_rate <= 1.0 or not 0.0 < solved_rate <= 1.0:
        raise ValueError(f"easy_rate and solved_rate must lie in (0, 1], got {easy_rate!r}, {solved_rate!r}")
    if len(language_only_rate) != len(tool_rate):
        raise ValueError("one language-only and one tool-integrated pass rate per question")
    easy, hard, dropped = [], [], []
    for i, (lang, tool) in enumerate(zip(language_only_rate, tool_rate)):
        if lang >= solved_rate:
            dropped.append(i)
        elif tool >= easy_rate:
            easy.append(i)
        else:
            hard.append(i)
    return Split(easy=tuple(easy), hard=tuple(hard), no_tool_needed=tuple(dropped))
