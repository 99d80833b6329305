"""A generated knowledge base of fictional places and a ranked retriever over it: the ``search`` tool of
tool-integrated reasoning at small scale (Tool-Star's local Wikipedia retriever, reconstructed).

:func:`make_knowledge_base` invents ``n_entities`` places with made-up names and four attributes each (population,
capital, founding year, area) and writes them as short passages: one per fact, plus a "neighbours" passage that
mentions other places. The names share syllables, so queries for one place also match others. For a share
``derived_share`` of the places (drawn apart from the facts, so the facts do not depend on it) the base also states a
**derived fact**, the population density ⌊population / area⌋, in a passage of its own: there one search answers what
otherwise takes two searches and the calculator.

:class:`BM25` ranks passages for a query with Okapi BM25 (Robertson and Zaragoza, 2009):

    score(D, Q) = Σ_{q ∈ Q} idf(q) · f(q, D) (k1 + 1) / (f(q, D) + k1 (1 − b + b |D| / avgdl)),
    idf(q) = ln((N − n(q) + 0.5) / (n(q) + 0.5) + 1),

with f(q, D) the count of term q in passage D, n(q) the passages containing q, N the passages, avgdl their mean
length. The search tool returns the top passages' text, not the answer: the model still has to read it, and a
badly worded query retrieves the wrong place. Hand-written rather than a library: the stack has no BM25 (rank-bm25
would be a dependency for about twenty lines), and a unit test checks it against a hand-computed case.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ATTRIBUTES", "Entity", "KnowledgeBase", "BM25", "make_knowledge_base", "tokenize"]

ATTRIBUTES = ("population", "capital", "founded", "area")
_ONSETS = ("v", "k", "t", "m", "r", "s", "d", "l", "n", "b", "g", "h", "p", "z")
_VOWELS = ("a", "e", "i", "o", "u")
_CODAS = ("", "n", "r", "l", "s", "th", "m")


def tokenize(text: str) -> list[str]:
    """Lower-case words and numbers (punctuation dropped)."""
    return "".join(ch if ch.isalnum() else " " for ch in text.lower()).split()


@dataclass(frozen=True)
class Entity:
    name: str
    population: int
    capital: str
    founded: int
    area: int
    neighbours: tuple[str, ...] = ()

    @property
    def density(self) -> int:
        """The derived fact: people per square kilometre, ⌊population / area⌋."""
        return self.population // self.area

    def value(self, attribute: str) -> int | str:
        return getattr(self, attribute)


@dataclass
class KnowledgeBase:
    entities: dict[str, Entity]
    passages: list[str]
    index: "BM25" = field(repr=False)
    stated: frozenset[str] = frozenset()     # the places whose density a passage states

    def search(self, query: str, k: int = 3) -> list[str]:
        """The text of the top-``k`` passages for ``query`` (the tool's answer)."""
        return [self.passages[i] for i, _ in self.index.search(tokenize(query), k)]


class BM25:
    """Okapi BM25 over tokenised passages (see the module docstring for the formula)."""

    def __init__(self, passages: list[list[str]], k1: float = 1.5, b: float = 0.75) -> None:
        if not passages:
            raise ValueError("BM25 needs at least one passage")
        self.k1, self.b = k1, b
        self.counts = [Counter(p) for p in passages]
        self.lengths = np.array([len(p) for p in passages], dtype=float)
        self.avgdl = float(self.lengths.mean()) or 1.0
        containing = Counter(term for c in self.counts for term in c)
        n = len(passages)
        # idf(q) = ln((N − n(q) + 0.5) / (n(q) + 0.5) + 1)
        self.idf = {term: float(np.log((n - df + 0.5) / (df + 0.5) + 1.0)) for term, df in containing.items()}

    def scores(self, query: list[str]) -> np.ndarray:
        """score(D, Q) for every passage D."""
        out = np.zeros(len(self.counts))
        norm = self.k1 * (1.0 - self.b + self.b * self.lengths / self.avgdl)
        for term in query:
            if term not in self.idf:
                continue
            f = np.array([c.get(term, 0) for c in self.counts], dtype=float)
            out += self.idf[term] * f * (self.k1 + 1.0) / (f + norm)
        return out

    def search(self, query: list[str], k: int) -> list[tuple[int, float]]:
        """The ``k`` best (passage, score) pairs with a positive score, best first; ties go to the lower index."""
        s = self.scores(query)
        order = np.lexsort((np.arange(len(s)), -s))
        return [(int(i), float(s[i])) for i in order[:k] if s[i] > 0]


def _names(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct made-up names of two or three syllables."""
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        syllables = int(rng.integers(2, 4))
        name = "".join(str(rng.choice(_ONSETS)) + str(rng.choice(_VOWELS)) for _ in range(syllables)) \
            + str(rng.choice(_CODAS))
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def make_knowledge_base(seed: int, n_entities: int = 300, neighbours: int = 2,
                        population: tuple[int, int] = (1_000, 100_000),
                        area: tuple[int, int] = (100, 10_000), derived_share: float = 0.0) -> KnowledgeBase:
    """A deterministic knowledge base: the same ``seed`` gives the same places, facts and passages. Populations and
    areas are drawn uniformly from ``[low, high)``; founding years from 800–1999; each place's density is stated with
    probability ``derived_share``."""
    if n_entities < neighbours + 1:
        raise ValueError(f"n_entities = {n_entities} must exceed neighbours = {neighbours}")
    if not 0.0 <= derived_share <= 1.0:
        raise ValueError(f"derived_share must be a probability in [0, 1], got {derived_share!r}")
    for name, (low, high) in (("population", population), ("area", area)):
        if not 0 < low < high:
            raise ValueError(f"{name} range must satisfy 0 < low < high, got {(low, high)}")
    rng = np.random.default_rng(seed)
    names = _names(rng, 2 * n_entities)             # places, then their capitals
    places, capitals = names[:n_entities], names[n_entities:]
    entities = {}
    for i, name in enumerate(places):
        others = [places[j] for j in rng.choice(n_entities, size=neighbours + 1, replace=False) if j != i][:neighbours]
        entities[name] = Entity(name=name, population=int(rng.integers(*population)), capital=capitals[i],
                                founded=int(rng.integers(800, 2000)), area=int(rng.integers(*area)),
                                neighbours=tuple(others))
    stated_rng = np.random.default_rng([seed, 7])     # its own stream: the facts above do not depend on the share
    stated = frozenset(name for name in places if stated_rng.random() < derived_share)
    passages = []
    for e in entities.values():
        passages += [f"the population of {e.name} is {e.population} .",
                     f"the capital of {e.name} is {e.capital} .",
                     f"{e.name} was founded in {e.founded} .",
                     f"the area of {e.name} is {e.area} square kilometres .",
                     f"{e.name} borders {' and '.join(e.neighbours)} ."]
        if e.name in stated:
            passages.append(f"the population density of {e.name} is {e.density} people per square kilometre .")
    return KnowledgeBase(entities=entities, passages=passages, index=BM25([tokenize(p) for p in passages]),
                         stated=stated)
