"""The Tool-Star corpus at small scale: a knowledge base, question pools and the cold-start SFT trajectories, built by
the data pipeline of :mod:`hrlkit.tasks.tool_sampling` and written to one JSON file (a cached DVC stage).

``build_corpus(config)`` does, deterministically from the config's seeds:

1. the knowledge base (:func:`hrlkit.tasks.knowledge.make_knowledge_base`);
2. a **synthesis pool** of questions; per question ``samples`` tool-integrated and ``samples`` language-only samples of
   the noisy sampler, and their pass rates;
3. the **difficulty-aware split** (:func:`~hrlkit.tasks.tool_sampling.difficulty_split`): questions solved without
   tools are dropped; the *easy* ones give the SFT data (up to ``kept_per_question`` normalised tool-integrated
   trajectories, plus one hint-based trajectory when it passes normalisation); the *hard* ones are kept as a list;
4. question pools drawn from their own seeds: ``rl`` (RL prompts; a notebook filters them by the cold-start model's
   own pass rate), ``validation`` (tuning) and ``test`` (reporting).

The pools are **disjoint by text**: they are drawn in the order test, validation, rl, synthesis, and a question whose
text an earlier pool already holds is redrawn (knowledge questions about one place repeat easily), so no test question
is ever trained on. A density question has one text per place, so the synthesis pool, drawn last, holds those the
other pools left (fewer than ``synthesis_per_split_level`` when the base is small; its statistics count them).

``python -m hrlkit.tasks.tool_corpus <params section> --out <file>`` builds and writes it. The JSON holds the
config, the SFT texts and every pool's questions (text, answer, split, level, facts, expression), and statistics of
the pipeline (how many samples each normalisation rule dropped, the split's sizes per split and level), so a reader
can audit the data without running anything.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from hrlkit.tasks.knowledge import KnowledgeBase, make_knowledge_base
from hrlkit.tasks.tool_sampling import (SamplerNoise, difficulty_split, is_correct, normalise, sample_language_only,
                                        sample_tir, sample_with_hint)
from hrlkit.tasks.stage_config import config_from_dict, params_section
from hrlkit.tasks.tool_tasks import LEVELS, Question, make_questions

__all__ = ["CorpusConfig", "build_corpus", "fresh_questions", "write_corpus", "read_corpus", "question_from_dict",
           "main"]


@dataclass(frozen=True)
class CorpusConfig:
    kb_seed: int = 0
    n_entities: int = 300
    synthesis_seed: int = 1
    synthesis_per_split_level: int = 300
    rl_seed: int = 3
    rl_per_split_level: int = 100
    validation_seed: int = 4
    validation_per_split_level: int = 25
    test_seed: int = 2
    test_per_split_level: int = 50
    samples: int = 4                 # sampler draws per question and mode (tool-integrated, language-only)
    copy_noise: float = 0.1          # SamplerNoise.copy
    extra_call_noise: float = 0.1    # SamplerNoise.extra_call
    format_noise: float = 0.05       # SamplerNoise.format
    skip_python_noise: float = 0.0   # SamplerNoise.skip_python
    max_calls: int = 4               # β of quality normalisation
    easy_rate: float = 0.75          # tool-integrated pass rate at or above which a question is easy
    solved_rate: float = 1.0         # language-only pass rate at or above which a question needs no tool
    kept_per_question: int = 2       # normalised tool-integrated trajectories kept per easy question
    search_k: int = 1                # passages the search tool returns
    derived_share: float = 0.0       # share of places whose population density a passage states

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (not isinstance(value, int) or value < 0):
                raise ValueError(f"CorpusConfig.{f.name} must be an int >= 0, got {value!r}")
        for name in ("samples", "n_entities", "max_calls", "search_k", "kept_per_question"):
            if getattr(self, name) < 1:
                raise ValueError(f"CorpusConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        SamplerNoise(self.copy_noise, self.extra_call_noise, self.format_noise,      # checks the probabilities
                     self.skip_python_noise)
        if not 0.0 <= self.derived_share <= 1.0:
            raise ValueError(f"CorpusConfig.derived_share must be a probability in [0, 1], got {self.derived_share!r}")
        seeds = [self.synthesis_seed, self.rl_seed, self.validation_seed, self.test_seed]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"the pools' seeds must differ (disjoint pools), got {seeds}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CorpusConfig":
        return config_from_dict(cls, d)

    def knowledge_base(self) -> KnowledgeBase:
        return make_knowledge_base(self.kb_seed, self.n_entities, derived_share=self.derived_share)


def _question_dict(q: Question) -> dict[str, Any]:
    return {"split": q.split, "level": q.level, "text": q.text, "answer": q.answer,
            "facts": [list(f) for f in q.facts], "expression": q.expression, "tools": list(q.tools),
            "derived": q.derived, "stated": q.stated}


def question_from_dict(d: dict[str, Any]) -> Question:
    return Question(split=d["split"], level=d["level"], text=d["text"], answer=d["answer"],
                    facts=tuple(tuple(f) for f in d["facts"]), expression=d["expression"], tools=tuple(d["tools"]),
                    derived=d.get("derived", ""), stated=d.get("stated", False))


def fresh_questions(kb: KnowledgeBase, seed: int, per_split_level: int, used: set[str],
                    at_most: bool = False) -> list[Question]:
    """``per_split_level`` questions per split and level from ``seed`` whose texts are not in ``used`` (which then
    holds them too): the first ones of ever larger draws, so the result depends only on ``seed`` and ``used``.
    ``at_most``: a group with fewer fresh texts left (a density question per place: one text per place) keeps what
    the largest draw found instead of failing (the synthesis pool, drawn last)."""
    groups = sum(map(len, LEVELS.values()))
    for factor in (2, 4, 8, 16):
        out, taken = [], {}
        for q in make_questions(kb, seed, factor * per_split_level):
            key = (q.split, q.level)
            if q.text not in used and taken.get(key, 0) < per_split_level and q.text not in {x.text for x in out}:
                out.append(q)
                taken[key] = taken.get(key, 0) + 1
        full = len(taken) == groups and len(out) == per_split_level * groups
        if full or (at_most and factor == 16 and len(taken) == groups):
            used.update(q.text for q in out)
            return out
    raise ValueError(f"cannot draw {per_split_level} fresh questions per split and level from seed {seed}: the "
                     "knowledge base has too few places for the pools asked for")


def _counts(questions: list[Question]) -> dict[str, int]:
    out: dict[str, int] = {}
    for q in questions:
        key = f"{q.split} {q.level}"
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


class _SearchK:
    """The knowledge base as the sampler's search tool sees it: ``search_k`` passages per query."""

    def __init__(self, kb: KnowledgeBase, k: int) -> None:
        self.kb, self.k, self.entities = kb, k, kb.entities

    def search(self, query: str, k: int | None = None) -> list[str]:
        return self.kb.search(query, self.k)


def build_corpus(config: CorpusConfig) -> dict[str, Any]:
    """The corpus of the module docstring, as a JSON-ready dict."""
    kb = _SearchK(config.knowledge_base(), config.search_k)
    rng = np.random.default_rng([config.synthesis_seed, 18])
    noise = SamplerNoise(config.copy_noise, config.extra_call_noise, config.format_noise, config.skip_python_noise)
    used: set[str] = set()
    pools = {name: fresh_questions(kb.kb, seed, per, used) for name, seed, per in (
        ("test", config.test_seed, config.test_per_split_level),
        ("validation", config.validation_seed, config.validation_per_split_level),
        ("rl", config.rl_seed, config.rl_per_split_level))}
    pool = fresh_questions(kb.kb, config.synthesis_seed, config.synthesis_per_split_level, used, at_most=True)
    tool_samples = [sample_tir(q, kb, config.samples, rng, noise) for q in pool]
    language_samples = [sample_language_only(q, kb, config.samples, rng, noise) for q in pool]
    tool_rate = [float(np.mean([is_correct(r, q) for r in rs])) for q, rs in zip(pool, tool_samples)]
    language_rate = [float(np.mean([is_correct(r, q) for r in rs])) for q, rs in zip(pool, language_samples)]
    split = difficulty_split(language_rate, tool_rate, config.easy_rate, config.solved_rate)
    sft, dropped, hinted = [], {}, 0
    for i in split.easy:
        kept, why = normalise(tool_samples[i], pool[i], config.max_calls)
        for reason, count in why.items():
            dropped[reason] = dropped.get(reason, 0) + count
        sft += [{"question": i, "text": t, "kind": "tool-integrated"} for t in kept[:config.kept_per_question]]
        with_hint = sample_with_hint(pool[i], kb, rng, noise)
        if normalise([with_hint], pool[i], config.max_calls)[0]:
            sft.append({"question": i, "text": with_hint, "kind": "hint-based"})
            hinted += 1
    return {
        "config": asdict(config),
        "synthesis": [_question_dict(q) for q in pool],
        "sft": sft,
        "hard": list(split.hard),
        "pools": {name: [_question_dict(q) for q in qs] for name, qs in pools.items()},
        "stats": {"easy": _counts([pool[i] for i in split.easy]), "hard": _counts([pool[i] for i in split.hard]),
                  "no_tool_needed": _counts([pool[i] for i in split.no_tool_needed]),
                  "normalisation_dropped": dict(sorted(dropped.items())), "sft_trajectories": len(sft),
                  "hint_based": hinted,
                  "tool_pass_rate_mean": float(np.mean(tool_rate)),
                  "language_only_pass_rate_mean": float(np.mean(language_rate))},
    }


def write_corpus(path: str | Path, corpus: dict[str, Any]) -> None:
    """Byte-reproducible JSON (sorted keys, fixed separators)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(corpus, sort_keys=True, indent=0, separators=(",", ":")) + "\n")


def read_corpus(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def main(argv: list[str] | None = None) -> int:

    parser = argparse.ArgumentParser(prog="python -m hrlkit.tasks.tool_corpus", description=__doc__.splitlines()[0])
    parser.add_argument("section", help="params.yaml section holding the CorpusConfig fields")
    parser.add_argument("--out", required=True, help="JSON file to write")
    args = parser.parse_args(argv)
    corpus = build_corpus(CorpusConfig.from_dict(params_section(parser, args.section)))
    write_corpus(args.out, corpus)
    print(f"tool corpus: {corpus['stats']['sft_trajectories']} SFT trajectories, {len(corpus['hard'])} hard "
          f"questions -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
