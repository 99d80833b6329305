"""The generated knowledge base and its BM25 retriever (hrlkit.tasks.knowledge): the formula against a hand-computed
case, ranking quality on a generated base, determinism."""

import math

import numpy as np
import pytest

from hrlkit.tasks.knowledge import ATTRIBUTES, BM25, make_knowledge_base, tokenize


def test_bm25_matches_a_hand_computed_case():
    index = BM25([["a", "b"], ["a", "a", "c"], ["c"]], k1=1.5, b=0.75)
    idf_a = math.log((3 - 2 + 0.5) / (2 + 0.5) + 1)                 # N = 3 passages, 2 contain "a"
    avgdl = (2 + 3 + 1) / 3
    d0 = idf_a * 1 * 2.5 / (1 + 1.5 * (1 - 0.75 + 0.75 * 2 / avgdl))
    d1 = idf_a * 2 * 2.5 / (2 + 1.5 * (1 - 0.75 + 0.75 * 3 / avgdl))
    assert index.scores(["a"]) == pytest.approx([d0, d1, 0.0])
    assert [i for i, _ in index.search(["a"], 3)] == [1, 0]        # passages without the term are not returned
    assert index.search(["zzz"], 3) == []


def test_the_fact_passage_ranks_first_for_a_plain_query():
    kb = make_knowledge_base(seed=0, n_entities=300)
    rng = np.random.default_rng(0)
    hits = 0
    names = list(kb.entities)
    for name in rng.choice(names, size=200, replace=False):
        attribute = str(rng.choice(ATTRIBUTES))
        top = kb.search(f"{name} {attribute}", k=1)
        hits += bool(top) and str(kb.entities[name].value(attribute)) in tokenize(top[0])
    assert hits == 200


def test_a_misspelled_name_retrieves_another_place():
    kb = make_knowledge_base(seed=0, n_entities=300)
    name, place = list(kb.entities.items())[-1]                     # not the first: ties go to lower indices
    top = kb.search(f"{name}x population", k=3)                     # the name is a token: no partial match
    assert len(top) == 3 and all(name not in tokenize(p_) for p_ in top)
    assert str(place.population) not in " ".join(top)


def test_knowledge_base_is_deterministic_and_names_are_distinct():
    a, b = make_knowledge_base(seed=3, n_entities=50), make_knowledge_base(seed=3, n_entities=50)
    assert a.passages == b.passages and a.entities == b.entities
    assert len({e.capital for e in a.entities.values()} | set(a.entities)) == 100
    assert make_knowledge_base(seed=4, n_entities=50).passages != a.passages
    with pytest.raises(ValueError, match="n_entities"):
        make_knowledge_base(seed=0, n_entities=2, neighbours=2)


def test_value_ranges_are_respected_and_checked():
    kb = make_knowledge_base(seed=5, n_entities=80, population=(1_000, 2_000), area=(10, 20))
    assert all(1_000 <= e.population < 2_000 and 10 <= e.area < 20 for e in kb.entities.values())
    with pytest.raises(ValueError, match="population range"):
        make_knowledge_base(seed=5, n_entities=80, population=(5, 5))


def test_the_derived_share_states_densities_without_changing_the_facts():
    plain = make_knowledge_base(seed=5, n_entities=200)
    half = make_knowledge_base(seed=5, n_entities=200, derived_share=0.5)
    assert plain.entities == half.entities and plain.stated == frozenset()
    assert 70 <= len(half.stated) <= 130                 # Binomial(200, 0.5): far outside 4 SD would be a bug
    assert len(half.passages) == len(plain.passages) + len(half.stated)
    place = sorted(half.stated)[0]
    e = half.entities[place]
    assert e.density == e.population // e.area
    assert half.search(f"density of {place}", k=1) == [
        f"the population density of {place} is {e.density} people per square kilometre ."]
    # the plain fact still ranks first for its own query (the shorter passage)
    assert half.search(f"population of {place}", k=1) == [f"the population of {place} is {e.population} ."]
    with pytest.raises(ValueError, match="derived_share"):
        make_knowledge_base(seed=5, n_entities=10, derived_share=1.5)


def test_every_stated_density_is_found_by_the_experts_query_at_one_passage():
    """At the corpus stage's own settings (seed 0, 300 places, share 0.5, one passage per search) the expert's query
    for a density returns that density's passage for every place whose density is stated."""
    from hrlkit.tasks.tool_tasks import _query

    kb = make_knowledge_base(seed=0, n_entities=300, derived_share=0.5)
    assert len(kb.stated) > 100
    for place in kb.stated:
        assert kb.search(_query(place, "density"), k=1)[0].startswith(f"the population density of {place} is"), place
