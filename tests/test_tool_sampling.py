"""hrlkit.tasks.tool_sampling: the noisy sampler makes each kind of mistake it is asked for and no other, quality
normalisation drops exactly those, and the difficulty split follows its rule on hand-made pass rates."""

import numpy as np
import pytest

from hrlkit.tasks.knowledge import make_knowledge_base
from hrlkit.tasks.tool_data import HINTS, quality_check
from hrlkit.tasks.tool_protocol import validate_format
from hrlkit.tasks.tool_sampling import (SamplerNoise, _miscopy, difficulty_split, is_correct, normalise,
                                        sample_language_only, sample_tir, sample_with_hint)
from hrlkit.tasks.tool_tasks import make_questions, teacher_trajectory

KB = make_knowledge_base(seed=0, n_entities=60)
QUESTIONS = make_questions(KB, seed=1, per_split_level=4)
CLEAN = SamplerNoise(copy=0.0, extra_call=0.0, format=0.0)


def test_without_noise_the_sampler_is_the_expert():
    rng = np.random.default_rng(0)
    for q in QUESTIONS:
        assert sample_tir(q, KB, 2, rng, CLEAN) == [teacher_trajectory(q, KB)] * 2
        kept, dropped = normalise(sample_tir(q, KB, 2, rng, CLEAN), q, max_calls=4)
        assert len(kept) == 2 and dropped == {}


def test_copy_noise_only_miscopies_numbers_read_from_results():
    rng = np.random.default_rng(1)
    hybrid = [q for q in QUESTIONS if q.split == "hybrid"]
    for q in hybrid:
        for response in sample_tir(q, KB, 5, rng, SamplerNoise(copy=1.0, extra_call=0.0, format=0.0)):
            assert validate_format(response)[0] and quality_check(response)[0]
            assert not is_correct(response, q)            # every copied number is wrong, so is the answer
            clean = teacher_trajectory(q, KB)
            # the tool results themselves are never touched
            assert response.split("</result>")[0] == clean.split("</result>")[0]


def test_miscopy_changes_exactly_one_digit():
    rng = np.random.default_rng(2)
    for number in ("7", "12345", "900001"):
        for _ in range(20):
            out = _miscopy(number, rng)
            assert len(out) == len(number) and out[0] != "0"
            assert sum(a != b for a, b in zip(out, number)) == 1


def test_format_and_extra_call_noise_are_what_normalisation_drops():
    rng = np.random.default_rng(3)
    q = next(q for q in QUESTIONS if q.split == "knowledge" and q.level == 1)
    broken = sample_tir(q, KB, 20, rng, SamplerNoise(copy=0.0, extra_call=0.0, format=1.0))
    assert all(not validate_format(r)[0] for r in broken)
    assert normalise(broken, q, 4)[1] == {"format": 20}
    extra = sample_tir(q, KB, 40, rng, SamplerNoise(copy=0.0, extra_call=1.0, format=0.0))
    kept, dropped = normalise(extra, q, 4)
    assert all(r.count("<search>") == 2 for r in extra)
    assert dropped.get("repeated call", 0) > 0 and len(kept) > 0       # a repeat half of the time
    assert normalise(extra, q, max_calls=1)[1] == {"too many calls": 40}


def test_language_only_samples_call_no_tool_and_hints_lead_into_tools():
    rng = np.random.default_rng(4)
    for q in QUESTIONS:
        for response in sample_language_only(q, KB, 2, rng, CLEAN):
            assert "<search>" not in response and "<python>" not in response
        hinted = sample_with_hint(q, KB, rng, CLEAN)
        assert any(h in hinted for h in HINTS.values())
        assert hinted.startswith(f"<think> {q.text} "), hinted          # the question is never cut
        assert validate_format(hinted)[0] and is_correct(hinted, q)


def test_difficulty_split_rule():
    split = difficulty_split(language_only_rate=[1.0, 0.0, 0.0, 0.25, 0.5],
                             tool_rate=[1.0, 0.75, 0.25, 1.0, 0.0], easy_rate=0.75, solved_rate=0.5)
    assert split.no_tool_needed == (0, 4)
    assert split.easy == (1, 3)
    assert split.hard == (2,)
    with pytest.raises(ValueError, match="easy_rate"):
        difficulty_split([0.0], [0.0], easy_rate=0.0, solved_rate=0.5)
    with pytest.raises(ValueError, match="probability"):
        SamplerNoise(copy=1.5)


def test_skip_python_noise_answers_hybrid_questions_with_search_alone():
    rng = np.random.default_rng(4)
    hybrid = [q for q in QUESTIONS if q.split == "hybrid"][:5]
    for q in hybrid:
        for response in sample_tir(q, KB, 3, rng, SamplerNoise(copy=0.0, extra_call=0.0, format=0.0, skip_python=1.0)):
            assert "<python>" not in response and "<search>" in response
            assert is_correct(response, q) and validate_format(response)[0]      # normalisation keeps it
    computational = next(q for q in QUESTIONS if q.split == "computational")  # only hybrid questions skip
    assert all("<python>" in r for r in sample_tir(computational, KB, 3, rng, SamplerNoise(0.0, 0.0, 0.0, 1.0)))


def test_skipping_python_on_a_density_question_is_right_only_where_the_base_states_it():
    kb = make_knowledge_base(seed=0, n_entities=80, derived_share=0.5)
    density = [q for q in make_questions(kb, seed=2, per_split_level=30) if q.level == 3]
    assert {q.stated for q in density} == {True, False}
    skip = SamplerNoise(copy=0.0, extra_call=0.0, format=0.0, skip_python=1.0)
    rng = np.random.default_rng(0)
    for q in density:
        response = sample_tir(q, kb, 1, rng, skip)[0]
        assert "<python>" not in response and is_correct(response, q) == q.stated, response
