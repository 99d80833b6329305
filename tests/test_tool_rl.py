"""hrlkit.tasks.tool_rl: the self-critic pairing rule on hand-made rewards, a GRPO step and a DPO phase that run with
real tools, change the policy reproducibly and report their statistics, and greedy evaluation of a trained model."""

import pytest
import torch

from hrlkit.tasks.python_tool import evaluate_here
from hrlkit.tasks.tool_corpus import CorpusConfig, build_corpus, question_from_dict
from hrlkit.tasks.tool_protocol import hierarchical_reward
from hrlkit.tasks.tool_rl import RLConfig, dpo_phase, evaluate_greedy, evaluate_responses, grpo_step, preference_pairs
from hrlkit.tasks.tool_sft import SFTConfig, corpus_vocab, train_sft


def test_preference_pairs_rule():
    assert preference_pairs([0.0, 1.1, -1.0, 1.0]) == (1, 2)
    assert preference_pairs([1.0, 1.1]) is None              # nothing below 1 to reject
    assert preference_pairs([0.5, -1.0, 0.0]) is None        # nothing at 1 to choose


@pytest.fixture(scope="module")
def setup():
    corpus = build_corpus(CorpusConfig(n_entities=40, synthesis_per_split_level=4, rl_per_split_level=2,
                                       validation_per_split_level=1, test_per_split_level=1, samples=2))
    vocab = corpus_vocab(corpus)
    model, _ = train_sft([item["text"] for item in corpus["sft"]], vocab,
                         SFTConfig(d_model=32, n_layers=2, n_heads=2, steps=150, batch=16, learning_rate=3e-3))
    kb = CorpusConfig.from_dict(corpus["config"]).knowledge_base()
    tools = {"search": lambda q: (True, " ".join(kb.search(q, 1))),
             "python": lambda code: (lambda r: (r.ok, r.output))(evaluate_here(code))}
    questions = [question_from_dict(d) for d in corpus["pools"]["rl"]]
    return model, vocab, tools, questions


def reward(question, response):
    return hierarchical_reward(response, question.answer)


def test_grpo_step_is_reproducible_and_moves_the_policy(setup):
    model, vocab, tools, questions = setup
    config = RLConfig(prompts_per_step=4, samples=4, minibatches=2, max_new_tokens=40)
    results = []
    for _ in range(2):
        policy = __import__("copy").deepcopy(model)
        optimiser = torch.optim.AdamW(policy.parameters(), lr=1e-3)
        stats = grpo_step(policy, optimiser, vocab, questions[:4], tools, reward, config,
                          torch.Generator().manual_seed(0))
        results.append((stats, [p.detach().clone() for p in policy.parameters()]))
    assert results[0][0] == results[1][0]
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1]))
    assert set(results[0][0]) == {"reward", "vanished_groups", "both_tools", "format_ok", "truncated", "clipfrac"}
    assert -1.0 <= results[0][0]["reward"] <= 1.1
    moved = any(not torch.equal(a, b) for a, b in zip(results[0][1], model.parameters()))
    assert moved or results[0][0]["vanished_groups"] == 1.0   # no signal in any group leaves it unchanged


def test_dpo_phase_and_greedy_evaluation(setup):
    model, vocab, tools, questions = setup
    policy = __import__("copy").deepcopy(model)
    optimiser = torch.optim.AdamW(policy.parameters(), lr=1e-3)
    config = RLConfig(prompts_per_step=4, samples=4, max_new_tokens=40, dpo_steps=2)
    stats = dpo_phase(policy, optimiser, vocab, questions[:6], tools, reward, config, torch.Generator().manual_seed(1))
    assert set(stats) == {"pairs", "loss", "accuracy"} and stats["pairs"] >= 0
    rows = evaluate_greedy(policy, vocab, questions[:6], tools, config)
    assert len(rows) == 6 and all(r["calls"] == r["search"] + r["python"] for r in rows)
    assert evaluate_greedy(policy, vocab, questions[:6], tools, config) == rows       # greedy: deterministic
    sampled = [evaluate_responses(policy, vocab, questions[:6], tools, config, temperature=1.0,
                                  generator=torch.Generator().manual_seed(3)) for _ in range(2)]
    assert sampled[0] == sampled[1] and len(sampled[0]) == 6                         # seeded sampling reproduces


def test_config_checks():
    with pytest.raises(ValueError, match="samples"):
        RLConfig(samples=1)
    with pytest.raises(ValueError, match="clip"):
        RLConfig(clip=1.5)
