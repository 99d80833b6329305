"""hrlkit.tasks.tool_vocab: every scripted response round-trips through the token ids."""

import pytest

from hrlkit.tasks.knowledge import make_knowledge_base, tokenize
from hrlkit.tasks.tool_tasks import make_questions, teacher_trajectory
from hrlkit.tasks.tool_vocab import ToolVocab


@pytest.fixture(scope="module")
def world():
    kb = make_knowledge_base(seed=0, n_entities=60)
    questions = make_questions(kb, seed=3, per_split_level=10)
    words = {w for p in kb.passages for w in tokenize(p) if w.isalpha()}
    words |= {w for q in questions for w in tokenize(q.text) if w.isalpha()} | {"unknown"}
    return kb, questions, ToolVocab(words)


def test_scripted_responses_round_trip(world):
    kb, questions, vocab = world
    for q in questions:
        for tools in (("search", "python"), ("search",), ()):
            text = teacher_trajectory(q, kb, tools=tools)
            ids = vocab.encode(text)
            assert vocab.decode(ids) == " ".join(text.split()), text


def test_numbers_are_spelled_digit_by_digit(world):
    vocab = world[2]
    ids = vocab.encode("<answer> \\boxed{305} </answer>")
    assert [vocab.tokens[i] for i in ids] == ["<answer>", "\\boxed{", "3", "0", "5", "}", "</answer>"]
    assert vocab.decode([vocab.bos, *ids, vocab.eos, vocab.pad]) == "<answer> \\boxed{305} </answer>"


def test_what_cannot_be_spelled_back_is_refused(world):
    vocab = world[2]
    with pytest.raises(ValueError, match="not in the vocabulary"):
        vocab.encode("<think> zzzqqq </think>")
    with pytest.raises(ValueError, match="follow each other"):
        vocab.encode("12 34")
    with pytest.raises(ValueError, match="lower-case"):
        ToolVocab(["Capital"])


def test_floor_division_is_one_token_and_decodes_back():
    vocab = ToolVocab(["what"])
    ids = vocab.encode("<python> 4821 // 93 </python>")
    assert ids.count(vocab.id("//")) == 1 and vocab.id("/") not in ids
    assert vocab.decode(ids) == "<python> 4821 // 93 </python>"
