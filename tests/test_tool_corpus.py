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
    assert len(corpus["pools"]["test"]) == 7 * 3 and len(corpus["synthesis"]) == 7 * 6     # 7 (split, level) pairs


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


def test_at_most_keeps_the_density_questions_that_are_left():
    kb = CorpusConfig(n_entities=30).knowledge_base()
    used: set[str] = set()
    first = fresh_questions(kb, seed=0, per_split_level=20, used=used)      # 20 of the 30 places' density questions
    rest = fresh_questions(kb, seed=1, per_split_level=20, used=used, at_most=True)
    density = [q for q in rest if q.level == 3]
    assert len(density) == 10 and not {q.text for q in density} & {q.text for q in first}
    assert all(sum(q.split == s and q.level == lv for q in rest) == 20 for s, lv in
               [("knowledge", 1), ("computational", 1), ("hybrid", 1)])
    with pytest.raises(ValueError, match="too few places"):
        fresh_questions(kb, seed=2, per_split_level=20, used=used)             # without at_most: refused


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="samples"):
        CorpusConfig(samples=0)
    with pytest.raises(ValueError, match="probability"):
        CorpusConfig(copy_noise=2.0)
    with pytest.raises(ValueError, match="derived_share"):
        CorpusConfig(derived_share=-0.1)
    with pytest.raises(ValueError, match="disjoint"):
        CorpusConfig(test_seed=1)
    with pytest.raises(ValueError, match="unknown CorpusConfig field"):
        CorpusConfig.from_dict({"sample": 3})
