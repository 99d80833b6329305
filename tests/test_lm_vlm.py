"""The GridMath "MLLM" (visual encoder + projector + LM) and its supervised warm-up."""

import numpy as np
import pytest
import torch

from hrlkit.lm import warmup as W
from hrlkit.lm.vlm import PolicyConfig, build_policy, response_words, score_responses
from hrlkit.tasks import gridmath as gm


def _problems(count, seed=0, **kw):
    rng = np.random.default_rng(seed)
    return [gm.sample_problem(rng, split="train", **kw) for _ in range(count)]


def test_prompts_are_left_padded_with_visual_tokens_before_the_text():
    policy = build_policy(PolicyConfig(d_model=32, n_layers=1, n_heads=2, d_vis=8))
    problems = _problems(3)
    rng = np.random.default_rng(1)
    problems[1] = gm.make_variant(problems[1], rng, template=1, force_transform="rot90cw")   # longer prompt
    embeds, mask = policy.prompts(problems)
    lengths = [16 + len(gm.prompt_words(p)) for p in problems]
    assert mask.shape[1] == max(lengths) and mask.sum(1).tolist() == lengths
    assert bool((mask[:, -1] == 1).all())
    for row, p in enumerate(problems):
        start = mask.shape[1] - lengths[row]
        visual = policy.projector(torch.from_numpy(policy.encoder(p.grid)))
        torch.testing.assert_close(embeds[row, start:start + 16], visual)
        text = policy.lm.embed_tokens(torch.tensor(gm.VOCAB.encode(gm.prompt_words(p))))
        torch.testing.assert_close(embeds[row, start + 16:], text)


def test_batched_logprobs_do_not_depend_on_the_other_rows():
    policy = build_policy(PolicyConfig(d_model=32, n_layers=2, n_heads=2, d_vis=8), seed=3)
    problems = _problems(4, seed=2)
    ids, mask = W.target_batch(problems)
    together = policy.token_logprobs(problems, ids, mask)
    for row in range(4):
        alone = policy.token_logprobs(problems[row:row + 1], ids[row:row + 1, :int(mask[row].sum())],
                                      mask[row:row + 1, :int(mask[row].sum())])
        torch.testing.assert_close(together[row, :int(mask[row].sum())], alone[0], atol=1e-5, rtol=1e-5)


def test_scores_follow_the_reward_of_the_decoded_words():
    policy = build_policy(PolicyConfig(d_model=32, n_layers=1, n_heads=2, d_vis=8))
    problems = _problems(6)
    out = policy.generate(problems, 12, generator=torch.Generator().manual_seed(0))
    graded = score_responses(out, [p.answer for p in problems])
    for words, p, r in zip(response_words(out), problems, graded.reward):
        assert r == gm.reward(words, p.answer)[0]


def test_shortcut_targets_are_well_formed_answers():
    words = W.shortcut_words(7)
    assert gm.parse_response(words) == (True, 7)
    assert gm.reward(words, 7) == (1.0, 1.0, 1.0) and gm.reward(words, 3)[0] == pytest.approx(0.1)


def test_warmup_learns_and_checkpoint_round_trips(tmp_path):
    config = W.WarmupConfig(policy=PolicyConfig(d_model=32, n_layers=1, n_heads=2, d_vis=8), steps=25,
                            behaviour_steps=5, batch_size=16, lr=3e-3, lr_warmup_steps=5, eval_problems=8)
    policy, log = W.warmup(config)
    assert log["loss"][24] < log["loss"][0] - 0.5          # SFT loss falls
    path = tmp_path / "w.pt"
    W.save_checkpoint(path, policy, config, log)
    first = path.read_bytes()
    W.save_checkpoint(path, policy, config, log)
    assert path.read_bytes() == first                      # byte-reproducible (DVC hashes it)
    loaded, stored, stored_log = W.load_checkpoint(path)
    assert stored == config and stored_log == log
    for (k, a), (_, b) in zip(policy.state_dict().items(), loaded.state_dict().items()):
        torch.testing.assert_close(a, b, msg=k)
    again, _, was_loaded = W.load_or_warmup(path, config)
    assert was_loaded
    other = W.WarmupConfig(**{**config.__dict__, "steps": 2, "behaviour_steps": 0})
    _, _, was_loaded = W.load_or_warmup(path, other)
    assert not was_loaded


def test_warmup_config_rejects_bad_settings():
    with pytest.raises(ValueError, match="reason_probs"):
        W.WarmupConfig(reason_probs=(0.5, 0.5))
    with pytest.raises(ValueError, match="steps"):
        W.WarmupConfig(steps=0)
    with pytest.raises(ValueError, match="unknown warm-up settings"):
        W.WarmupConfig.from_dict({"stepz": 3})
    with pytest.raises(ValueError, match="backend"):
        W.WarmupConfig.from_dict({"backend": "gpt2"})
    config = W.WarmupConfig.from_dict({"backend": "tiny", "d_model": 32, "steps": 5, "reason_probs": [1, 1, 0, 0]})
    assert config.policy.d_model == 32 and config.reason_probs == (1.0, 1.0, 0.0, 0.0)


def test_misread_targets_answer_the_confusable_question_on_the_original_grid():
    # hand-built grid: red cells hold 3, 5 (row 1) and 9 (row 3); every other cell is green with digit 0
    colours = np.full((4, 4), 1)
    digits = np.zeros((4, 4), dtype=int)
    colours[0, 0], digits[0, 0] = 0, 3
    colours[0, 2], digits[0, 2] = 0, 5
    colours[2, 1], digits[2, 1] = 0, 9
    grid = np.stack([colours, digits], axis=-1)
    problem = gm.Problem(grid=grid, qtype="sum_colour", args=("red",), question=[], answer=17, chain=[],
                         transform=None, difficulty=3, template=2)
    # "sum of the red digits" misread as "how many red cells": 1 + 1 + 1 = 3
    assert W.misread_words(problem) == ["<think>", "1", "+", "1", "+", "1", "=", "3", "</think>", "<box>", "3",
                                        "</box>", "<eos>"]
    counted = gm.Problem(grid=grid, qtype="count_colour", args=("red",), question=[], answer=3, chain=[],
                         transform=None, difficulty=3, template=0)
    # "how many red cells" misread as the sum: 3 + 5 + 9 = 17
    assert W.misread_words(counted)[1:8] == ["3", "+", "5", "+", "9", "=", "1"]
    row = gm.Problem(grid=grid, qtype="max_row", args=(1,), question=[], answer=5, chain=[], transform=None,
                     difficulty=4, template=1)
    # "largest digit of row 1" misread as "how many digits are above 1": 3, 5 and 9
    assert gm.parse_response(W.misread_words(row)) == (True, 3)
    config = W.WarmupConfig(misread={"sum_colour": [3, 2]}, misread_prob=1)
    assert config.misread == {"sum_colour": (2, 3)} and config.misread_prob == 1.0
    assert config.is_misread(problem) and not config.is_misread(counted)
    with pytest.raises(ValueError, match="misread"):
        W.WarmupConfig(misread={"diag_sum": [0]})
    with pytest.raises(ValueError, match="misread"):
        W.WarmupConfig(misread={"max_row": [4]})
    with pytest.raises(ValueError, match="misread_prob"):
        W.WarmupConfig(misread_prob=1.5)


def test_misreading_warmup_answers_misread_wordings_with_the_other_question():
    """With misread_prob = 1 the warm-up's misread wordings get the confusable question's answer."""
    config = W.WarmupConfig(policy=PolicyConfig(d_model=32, n_layers=1, n_heads=2, d_vis=8), steps=5,
                            batch_size=8, lr=3e-3, lr_warmup_steps=1, eval_problems=64,
                            misread={"sum_colour": [0, 1, 2, 3]}, misread_prob=1.0)
    _, log = W.warmup(config)
    assert {"pass1_train_misread", "pass1_train_clear"} <= set(log)


def test_transformers_backend_drives_the_same_policy_interface():
    policy = build_policy(PolicyConfig(backend="hf", d_model=32, n_layers=1, n_heads=2, d_vis=8), seed=1)
    problems = _problems(3, seed=4)
    out = policy.generate(problems, 10, generator=torch.Generator().manual_seed(0))
    recomputed = policy.token_logprobs(problems, out.tokens, out.response_mask)
    torch.testing.assert_close(recomputed, out.logprobs, atol=1e-4, rtol=1e-4)
    loss = W.sft_loss(policy, problems)
    loss.backward()
    assert policy.projector.weight.grad is not None and torch.isfinite(loss)
