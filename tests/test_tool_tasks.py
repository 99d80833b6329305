"""hrlkit.tasks.tool_tasks: the questions are well posed and need exactly the tools they say; the scripted expert
answers them with both tools and fails the splits whose tool it lacks."""

import pytest

from hrlkit.tasks.knowledge import make_knowledge_base
from hrlkit.tasks.tool_protocol import hierarchical_reward, validate_format
from hrlkit.tasks.tool_tasks import LEVELS, SPLITS, make_questions, teacher_trajectory


@pytest.fixture(scope="module")
def kb():
    return make_knowledge_base(seed=0, n_entities=120, derived_share=0.5)


@pytest.fixture(scope="module")
def questions(kb):
    return make_questions(kb, seed=1, per_split_level=20)


def test_questions_are_deterministic_and_cover_every_split_and_level(kb, questions):
    assert questions == make_questions(kb, seed=1, per_split_level=20)
    assert questions != make_questions(kb, seed=2, per_split_level=20)
    assert {(q.split, q.level) for q in questions} == {(s, lv) for s in SPLITS for lv in LEVELS[s]}
    hybrid = [q for q in questions if q.split == "hybrid"]
    assert all(q.tools == ("search", "python") and q.facts for q in hybrid)


def test_a_hand_checked_hybrid_answer(kb, questions):
    q = next(q for q in questions if q.split == "hybrid" and q.level == 2)
    (a, attr_a), (b, attr_b) = q.facts
    factor = int(q.expression.split("*")[1].split("+")[0])
    assert int(q.answer) == kb.entities[a].value(attr_a) * factor + kb.entities[b].value(attr_b)


@pytest.mark.parametrize("split", SPLITS)
def test_the_expert_with_both_tools_is_right_and_well_formatted(kb, questions, split):
    for q in (q for q in questions if q.split == split):
        response = teacher_trajectory(q, kb)
        assert validate_format(response) == (True, ""), response
        bonus = 0.1 if split == "hybrid" else 0.0
        assert hierarchical_reward(response, q.answer) == pytest.approx(1.0 + bonus), response


def test_a_single_tool_cannot_solve_the_hybrid_split_unless_the_base_states_the_answer(kb, questions):
    hybrid = [q for q in questions if q.split == "hybrid"]
    assert {q.stated for q in hybrid if q.level == 3} == {True, False}
    for tools in (("search",), ("python",), ()):
        for q in hybrid:
            reward = hierarchical_reward(teacher_trajectory(q, kb, tools=tools), q.answer)
            assert reward == (1.0 if tools == ("search",) and q.stated else 0.0), (tools, q)


def test_a_density_question_by_hand_and_its_two_right_answers(kb, questions):
    q = next(q for q in questions if q.level == 3 and q.stated)
    place = q.facts[0][0]
    e = kb.entities[place]
    assert q.text == f"what is the population density of {place} ?"
    assert int(q.answer) == e.population // e.area
    one_tool = teacher_trajectory(q, kb, tools=("search",))
    assert one_tool.count("<search>") == 1 and "<python>" not in one_tool
    two_tools = teacher_trajectory(q, kb)
    assert two_tools.count("<search>") == 2 and f"<python> {e.population} // {e.area} </python>" in two_tools
    # r_M decides between two right answers: 1.1 against 1.0; without it they tie
    assert hierarchical_reward(two_tools, q.answer) - hierarchical_reward(one_tool, q.answer) == pytest.approx(0.1)
    assert hierarchical_reward(two_tools, q.answer, bonus=0.0) == hierarchical_reward(one_tool, q.answer, bonus=0.0)


def test_operand_ranges_are_respected_and_checked(kb):
    questions = make_questions(kb, seed=3, per_split_level=10, big=(100, 200), small=(10, 20))
    for q in (q for q in questions if q.split == "computational"):
        numbers = [int(x) for x in q.expression.replace("*", " ").replace("+", " ").split()]
        products = q.expression.split(" + ")
        assert all(100 <= int(p.split(" * ")[0]) < 200 and 10 <= int(p.split(" * ")[1]) < 20 for p in products[:-1])
        assert 100 <= numbers[-1] < 200
    with pytest.raises(ValueError, match="small range"):
        make_questions(kb, seed=3, per_split_level=1, small=(0, 10))
