"""hrlkit.tasks.tool_corpus: the corpus is byte-reproducible, its pools never share a question, its SFT data are
normalised trajectories of easy questions only, and a bad config fails naming the field."""

import pytest

from hrlkit.tasks.tool_corpus import (CorpusConfig, build_corpus, fresh_questions, question_from_dict, read_corpus,
                                      write_corpus)
from hrlkit.tasks.tool_data import quality_check
from hrlkit.tasks.tool_sampling import is_correct

SMALL = CorpusConfig(n_entities=60, synthesis_per_split_level=6, rl_per_split_level=4,
                     validation_per_split_level=2, test_per_split_level=3, samples=3)


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(SMALL)


def test_the_corpus_is_byte_reproducible(corpus, tmp_path):
    write_corpus(tmp_path / "a.json", corpus)
    write_corpus(tmp_path / "b.json", build_corpus(SMALL))
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert read_corpus(tmp_path / "a.json") == corpus


def test_pools_are_disjoint_and_sized(corpus):
    texts = {name: {q["text"] for q in qs} for name, qs in corpus["pools"].items()}
    texts["synthesis"] = {q["text"] for q in corpus["synthesis"]}
    names = list(texts)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not texts[a] & texts[b], (a, b)
    assert len(corpus["pools"]["test"]) == 6 * 3 and len(corpus["synthesis"]) == 6 * 6


def test_sft_data_are_normalised_right_trajectories_of_easy_questions(corpus):
    synthesis = [question_from_dict(d) for d in corpus["synthesis"]]
    hard = set(corpus["hard"])
    assert corpus["sft"]
    for item in corpus["sft"]:
        q = synthesis[item["question"]]
        assert item["question"] not in hard
        assert quality_check(item["text"], SMALL.max_calls) == (True, "") and is_correct(item["text"], q)


def test_fresh_questions_refuses_an_impossible_request():
    kb = CorpusConfig(n_entities=3).knowledge_base()
    with pytest.raises(ValueError, match="too few places"):
        fresh_questions(kb, seed=0, per_split_level=20, used=set())


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="samples"):
        CorpusConfig(samples=0)
    with pytest.raises(ValueError, match="probability"):
        CorpusConfig(copy_noise=2.0)
    with pytest.raises(ValueError, match="disjoint"):
        CorpusConfig(test_seed=1)
    with pytest.raises(ValueError, match="unknown CorpusConfig field"):
        CorpusConfig.from_dict({"sample": 3})
