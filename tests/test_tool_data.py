"""hrlkit.tasks.tool_data: quality normalisation and hint prefixes on hand-built responses."""

import pytest

from hrlkit.tasks.tool_data import HINTS, hint_prefix, quality_check, tool_calls

GOOD = ("<think> need two facts </think> <search> area of vora </search> <result> the area of vora is 12 . </result> "
        "<python> 12 * 3 </python> <result> 36 </result> <answer> \\boxed{36} </answer>")


def test_calls_are_listed_in_order():
    assert tool_calls(GOOD) == [("search", "area of vora"), ("python", "12 * 3")]


def test_a_clean_trajectory_is_kept():
    assert quality_check(GOOD) == (True, "")


def test_each_rule_names_itself():
    repeated = GOOD.replace("<answer>", "<python> 12  *  3 </python> <result> 36 </result> <answer>")
    assert quality_check(repeated) == (False, "repeated call: <python> 12 * 3")
    many = GOOD.replace("<answer>", " ".join(f"<python> {k} + 1 </python> <result> {k + 1} </result>"
                                             for k in range(3)) + " <answer>")
    assert quality_check(many, max_calls=4) == (False, "5 tool calls (at most 4)")
    assert quality_check(many, max_calls=5) == (True, "")
    bad = GOOD.replace("<result> 36 </result> ", "")
    assert quality_check(bad)[0] is False and quality_check(bad)[1].startswith("format:")


def test_hint_prefix_cuts_the_reasoning_and_appends_the_hint():
    response = "<think> the area is about 12 so 36 </think> <answer> \\boxed{36} </answer>"
    hint = HINTS["logical verification"]
    assert hint_prefix(response, 3, hint) == f"<think> the area is {hint}"
    with pytest.raises(ValueError, match="outside"):
        hint_prefix(response, 99, hint)
