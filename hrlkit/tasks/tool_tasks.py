"""Questions that need a search tool, a calculator, or both, over a generated knowledge base: the task family of
Tool-Star (arXiv 2505.16410) at small scale, with the scripted tool-integrated trajectories its cold start learns
from.

Three splits (:data:`LEVELS` gives each split's difficulty levels):

* **knowledge** (needs ``search``): level 1 asks one fact ("what is the capital of vorlan ?"); level 2 asks which of
  two places has the larger value of an attribute (two searches; the comparison of two 5–7 digit numbers is easy).
* **computational** (needs ``python``): level 1 is a product of a ``big`` and a ``small`` number plus a ``big`` one
  (by default 3–4 digits × 2 digits + 3–4 digits); level 2 adds a second product. Exact answers of 5–7 digits,
  beyond what a tiny LM computes in its head.
* **hybrid** (needs both): level 1 combines one searched number with given numbers ("the population of vorlan times
  7 plus 1234"); level 2 combines two searched numbers; level 3 asks a derived fact, the population density
  ⌊population / area⌋ ("what is the population density of vorlan ?"): two searches and the calculator, or, for the
  places whose density the knowledge base states (:attr:`Question.stated`), one search. On those questions a
  one-tool answer and a two-tool answer can both be right, so the multi-tool bonus r_M is what decides between them.

:func:`make_questions` draws questions deterministically from a seed. :func:`teacher_trajectory` writes the response
a tool-using expert would give, calling the real tools (:class:`hrlkit.tasks.knowledge.KnowledgeBase` and
:mod:`hrlkit.tasks.python_tool`), in the protocol of :mod:`hrlkit.tasks.tool_protocol`; with a split's own tool only,
or none, it still answers the part it can and guesses the rest, as a single-tool or tool-free expert would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from hrlkit.tasks.knowledge import KnowledgeBase
from hrlkit.tasks.python_tool import evaluate_here, format_value

__all__ = ["SPLITS", "LEVELS", "Question", "make_questions", "teacher_trajectory", "NUMERIC_ATTRIBUTES"]

SPLITS = ("knowledge", "computational", "hybrid")
LEVELS = {"knowledge": (1, 2), "computational": (1, 2), "hybrid": (1, 2, 3)}
NUMERIC_ATTRIBUTES = ("population", "area", "founded")
_ATTRIBUTE_WORDS = {"population": "population", "area": "area", "founded": "founding year", "capital": "capital",
                    "density": "population density"}


@dataclass(frozen=True)
class Question:
    split: str
    level: int
    text: str
    answer: str
    facts: tuple[tuple[str, str], ...] = ()      # the (place, attribute) pairs the answer needs
    expression: str = ""                           # the arithmetic with the facts' values written in ({0}, {1})
    tools: tuple[str, ...] = field(default=())     # the tools an expert needs
    derived: str = ""                              # a derived attribute the answer is (level-3 hybrid: "density")
    stated: bool = False                           # the knowledge base states the derived fact in one passage


def _value(kb: KnowledgeBase, place: str, attribute: str) -> int | str:
    return kb.entities[place].value(attribute)


def _knowledge(kb: KnowledgeBase, rng: np.random.Generator, level: int) -> Question:
    places = list(kb.entities)
    if level == 1:
        place = places[int(rng.integers(len(places)))]
        attribute = str(rng.choice(("capital", *NUMERIC_ATTRIBUTES)))
        return Question("knowledge", 1, f"what is the {_ATTRIBUTE_WORDS[attribute]} of {place} ?",
                        str(_value(kb, place, attribute)), facts=((place, attribute),), tools=("search",))
    a, b = (places[i] for i in rng.choice(len(places), size=2, replace=False))
    attribute = str(rng.choice(NUMERIC_ATTRIBUTES))
    larger = a if _value(kb, a, attribute) >= _value(kb, b, attribute) else b
    return Question("knowledge", 2, f"which has the larger {_ATTRIBUTE_WORDS[attribute]} , {a} or {b} ?", larger,
                    facts=((a, attribute), (b, attribute)), tools=("search",))


#: Default operand ranges ``[low, high)`` of the arithmetic: ``big`` terms and offsets, ``small`` factors.
BIG, SMALL = (100, 10_000), (10, 100)


def _computational(rng: np.random.Generator, level: int, big: tuple[int, int] = BIG,
                   small: tuple[int, int] = SMALL) -> Question:
    terms = [f"{int(rng.integers(*big))} * {int(rng.integers(*small))}" for _ in range(level)]
    expression = " + ".join(terms) + f" + {int(rng.integers(*big))}"
    answer = format_value(eval_checked(expression))
    return Question("computational", level, f"what is {expression} ?", answer, expression=expression,
                    tools=("python",))


def _hybrid(kb: KnowledgeBase, rng: np.random.Generator, level: int, big: tuple[int, int] = BIG,
            small: tuple[int, int] = SMALL) -> Question:
    places = list(kb.entities)
    if level == 3:
        place = places[int(rng.integers(len(places)))]
        answer = format_value(eval_checked(f"{_value(kb, place, 'population')} // {_value(kb, place, 'area')}"))
        return Question("hybrid", 3, f"what is the population density of {place} ?", answer,
                        facts=((place, "population"), (place, "area")), expression="{0} // {1}",
                        tools=("search", "python"), derived="density", stated=place in kb.stated)
    chosen = [places[i] for i in rng.choice(len(places), size=level, replace=False)]
    attributes = [str(rng.choice(NUMERIC_ATTRIBUTES)) for _ in chosen]
    factor, offset = int(rng.integers(*small)), int(rng.integers(*big))
    if level == 1:
        text = (f"what is the {_ATTRIBUTE_WORDS[attributes[0]]} of {chosen[0]} times {factor} plus {offset} ?")
        expression = f"{{0}} * {factor} + {offset}"
    else:
        text = (f"what is the {_ATTRIBUTE_WORDS[attributes[0]]} of {chosen[0]} times {factor} plus the "
                f"{_ATTRIBUTE_WORDS[attributes[1]]} of {chosen[1]} ?")
        expression = f"{{0}} * {factor} + {{1}}"
    values = [_value(kb, p, a) for p, a in zip(chosen, attributes)]
    answer = format_value(eval_checked(expression.format(*values)))
    return Question("hybrid", level, text, answer, facts=tuple(zip(chosen, attributes)), expression=expression,
                    tools=("search", "python"))


def eval_checked(expression: str) -> int | float:
    """The calculator's value of ``expression`` (an error if the calculator refuses it)."""
    result = evaluate_here(expression)
    if not result.ok:
        raise ValueError(f"the calculator refused {expression!r}: {result.output}")
    return float(result.output) if "." in result.output else int(result.output)


def make_questions(kb: KnowledgeBase, seed: int, per_split_level: int, big: tuple[int, int] = BIG,
                   small: tuple[int, int] = SMALL) -> list[Question]:
    """``per_split_level`` questions of every split and level, drawn from ``seed`` (deterministic), in a fixed order;
    ``big`` and ``small`` are the operand ranges of the arithmetic."""
    for name, (low, high) in (("big", big), ("small", small)):
        if not 0 < low < high:
            raise ValueError(f"{name} range must satisfy 0 < low < high, got {(low, high)}")
    rng = np.random.default_rng([seed, 6])
    out = []
    for split in SPLITS:
        for level in LEVELS[split]:
            for _ in range(per_split_level):
                if split == "knowledge":
                    out.append(_knowledge(kb, rng, level))
                elif split == "computational":
                    out.append(_computational(rng, level, big, small))
                else:
                    out.append(_hybrid(kb, rng, level, big, small))
    return out


def _query(place: str, attribute: str) -> str:
    """The expert's search query for a fact, in the passages' words. The density query leaves out "population": with
    it, the shorter population passage outranks the density passage under BM25's length normalisation."""
    if attribute == "founded":
        return f"{place} founded"
    return f"density of {place}" if attribute == "density" else f"{attribute} of {place}"


def _read_fact(passages: list[str], place: str, attribute: str) -> str | None:
    """The value of ``attribute`` of ``place`` in the retrieved passages, read as a reader would."""
    for p in passages:
        words = p.split()
        if attribute == "density" and words[:5] == ["the", "population", "density", "of", place]:
            return words[6]
        if attribute == "founded" and words[:3] == [place, "was", "founded"]:
            return words[4]
        if attribute != "founded" and words[:4] == ["the", attribute, "of", place]:
            return words[5]
    return None


def teacher_trajectory(question: Question, kb: KnowledgeBase, tools: tuple[str, ...] = ("search", "python"),
                       guess: Callable[[], str] | None = None) -> str:
    """The expert response to ``question`` using only ``tools``: searches for the facts it needs, the calculator for
    the arithmetic, then a boxed answer. A needed tool that is not allowed is replaced by ``guess()`` (a wrong-ish
    value the caller chooses; by default the answer is left unknown and the box holds "unknown"). Asked a derived fact
    with search but no calculator, it searches the derived fact itself (found where the base states it)."""
    guess = guess or (lambda: "unknown")
    parts = ["<think> " + question.text + " </think>"]
    if question.derived and "search" in tools and "python" not in tools:
        place = question.facts[0][0]
        query = _query(place, question.derived)
        passages = kb.search(query)
        parts.append(f"<search> {query} </search> <result> {' '.join(passages)} </result>")
        answer = _read_fact(passages, place, question.derived) or guess()
        return " ".join(parts + [f"<answer> \\boxed{{{answer}}} </answer>"])
    values: list[str] = []
    for place, attribute in question.facts:
        if "search" in tools:
            query = _query(place, attribute)
            passages = kb.search(query)
            parts.append(f"<search> {query} </search> <result> {' '.join(passages)} </result>")
            values.append(_read_fact(passages, place, attribute) or guess())
        else:
            values.append(guess())
    if question.split == "knowledge":
        if question.level == 1:
            answer = values[0]
        else:
            a, b = (place for place, _ in question.facts)
            try:
                answer = a if float(values[0]) >= float(values[1]) else b
            except ValueError:
                answer = guess()
    else:
        expression = question.expression.format(*values) if question.facts else question.expression
        if "python" in tools and all(v.replace(".", "", 1).isdigit() for v in values):
            result = evaluate_here(expression)
            parts.append(f"<python> {expression} </python> <result> {result.output} </result>")
            answer = result.output if result.ok else guess()
        else:
            answer = guess()
    parts.append(f"<answer> \\boxed{{{answer}}} </answer>")
    return " ".join(parts)
