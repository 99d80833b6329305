"""Tool-Star's format check and hierarchical reward (hrlkit.tasks.tool_protocol) on hand-built responses."""

import pytest

from hrlkit.tasks.tool_protocol import (boxed_answer, hierarchical_reward, math_branch_reward, normalize_answer,
                                        token_f1, validate_format)

BOTH_TOOLS = ("<think> need the population </think> <search> vorlan population </search> <result> the population of "
              "vorlan is 734219 . </result> <think> times three </think> <python> 734219 * 3 </python> <result> "
              "2202657 </result> <answer> \\boxed{2202657} </answer>")
SEARCH_ONLY = ("<think> look it up </think> <search> capital of vorlan </search> <result> the capital of vorlan is "
               "ketha . </result> <answer> the answer is \\boxed{Ketha} </answer>")
NO_TOOL = "<think> easy </think> <answer> \\boxed{42} </answer>"


@pytest.mark.parametrize("response", [BOTH_TOOLS, SEARCH_ONLY, NO_TOOL])
def test_valid_responses(response):
    assert validate_format(response) == (True, "")


@pytest.mark.parametrize("response, why", [
    ("<answer> \\boxed{42} </answer>", "<think>"),
    ("<think> a </think> <answer> \\boxed{1} </answer> <answer> \\boxed{2} </answer>", "exactly one"),
    ("<think> a </think> <search> q </search> <answer> \\boxed{1} </answer>", "followed directly"),
    ("<think> a </think> <search> q </search> text <result> r </result> <answer> \\boxed{1} </answer>",
     "followed directly"),
    ("<think> a <search> q </search> </think> <answer> \\boxed{1} </answer>", "not closed"),
    ("<think> a </think> <answer> 42 </answer>", "boxed"),
    ("<think> a </think> <answer> \\boxed{1} </answer> more", "after </answer>"),
    ("<think> a </think> </result> <answer> \\boxed{1} </answer>", "without its opening"),
    ("<think> a </think> <answer> \\boxed{1} <think> b </think> </answer>", "<think>"),
])
def test_invalid_responses_say_why(response, why):
    valid, reason = validate_format(response)
    assert not valid and why in reason


def test_boxed_answer_and_f1():
    assert boxed_answer("<answer> \\boxed{\\frac{1}{2}} and \\boxed{3} </answer>") == "3"
    assert boxed_answer("<answer> \\boxed{\\frac{1}{2}} </answer>") == "\\frac{1}{2}"
    assert normalize_answer("The  Capital, Ketha!") == "capital ketha"
    assert token_f1("ketha city", "Ketha") == pytest.approx(2 * 0.5 * 1.0 / 1.5)     # precision 1/2, recall 1
    assert token_f1("vorlan", "ketha") == 0.0 and token_f1("", "ketha") == 0.0


def test_hierarchical_reward_levels():
    assert hierarchical_reward(BOTH_TOOLS, "2202657") == pytest.approx(1.1)     # right, both tools: + 0.1
    assert hierarchical_reward(SEARCH_ONLY, "ketha") == pytest.approx(1.0)     # right, one tool
    assert hierarchical_reward(BOTH_TOOLS, "17") == 0.0                        # well formatted, wrong: no bonus
    assert hierarchical_reward("<answer> \\boxed{17} </answer>", "17") == -1.0  # bad format


def test_hierarchical_reward_options_of_the_baselines():
    assert hierarchical_reward(BOTH_TOOLS, "2202657", bonus=0.0) == pytest.approx(1.0)    # without r_M
    assert hierarchical_reward(SEARCH_ONLY, "ketha", tools=("search",)) == pytest.approx(1.0)
    assert hierarchical_reward(BOTH_TOOLS, "2202657", tools=("search",)) == -1.0   # python tag in a search-only system
    assert hierarchical_reward(SEARCH_ONLY, "ketha", tools=("python",)) == -1.0
    assert math_branch_reward(BOTH_TOOLS, "2202657") == 1.0                    # the code's math branch
    assert math_branch_reward(BOTH_TOOLS, "17") == pytest.approx(0.1)
    assert math_branch_reward("<answer> \\boxed{17} </answer>", "17") == 0.0


def test_the_reward_without_its_format_gate():
    broken = "<answer> \\boxed{17} </answer>"                                       # no think block: bad format
    assert hierarchical_reward(broken, "17", gate=False) == 1.0                    # scored on its answer alone
    assert hierarchical_reward(broken, "18", gate=False) == 0.0                    # a bad format costs nothing
    assert hierarchical_reward(BOTH_TOOLS, "2202657", gate=False) == pytest.approx(1.1)   # the rest is unchanged
    assert hierarchical_reward(BOTH_TOOLS, "17", gate=False) == 0.0
