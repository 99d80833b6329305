import math

import numpy as np
import pytest
import torch

from hrlkit.lm import grpo


def test_group_advantages_hand_computed():
    scores = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 0.9])
    groups = ["a", "a", "a", "a", "b", "b", "c"]
    adv = grpo.group_advantages(scores, groups)
    # group a: mean 0.5, unbiased std sqrt(4 * 0.25 / 3) = 0.57735
    sa = math.sqrt(1.0 / 3.0)
    a = 0.5 / (sa + 1e-6)
    np.testing.assert_allclose(adv[:4].numpy(), [a, -a, -a, a], rtol=1e-6)
    # group b: no spread -> advantage 0 ("vanished"); group c: a single response -> mean 0, std 1
    np.testing.assert_allclose(adv[4:6].numpy(), [0.0, 0.0], atol=1e-12)
    assert adv[6].item() == pytest.approx(0.9 / (1 + 1e-6))


def test_group_stats_match_torch_std():
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(12, generator=g)
    groups = [i // 4 for i in range(12)]
    mean, std = grpo.group_stats(scores, groups)
    for k in range(3):
        chunk = scores[4 * k: 4 * k + 4].double()
        assert mean[4 * k].item() == pytest.approx(chunk.mean().item())
        assert std[4 * k].item() == pytest.approx(torch.std(chunk).item())   # unbiased, like verl


def test_vanished_groups():
    scores = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 0.0])
    assert grpo.vanished_groups(scores, [0, 0, 1, 1, 2, 2]) == pytest.approx(2 / 3)


def test_token_clip_loss_hand_computed():
    # two responses, two tokens each; the second token of response 2 is padding
    logp = torch.log(torch.tensor([[0.5, 0.5], [0.2, 0.9]]))
    old = torch.log(torch.tensor([[0.25, 0.5], [0.4, 0.9]]))
    adv = torch.tensor([1.0, -1.0])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    loss, stats = grpo.token_clip_loss(logp, old, adv, mask, clip=0.2)
    # ratios: 2.0 (A=+1 -> clipped to 1.2: max(-2, -1.2) = -1.2), 1.0 (-> -1.0), 0.5 (A=-1: max(0.5, 0.8) = 0.8)
    assert loss.item() == pytest.approx((-1.2 - 1.0 + 0.8) / 3)
    assert stats["clipfrac"] == pytest.approx(2 / 3)


def test_dual_clip_caps_negative_advantage_loss():
    logp = torch.log(torch.tensor([[0.9]]))
    old = torch.log(torch.tensor([[0.1]]))          # ratio 9
    adv = torch.tensor([-1.0])
    mask = torch.ones(1, 1)
    plain, _ = grpo.token_clip_loss(logp, old, adv, mask)
    capped, _ = grpo.token_clip_loss(logp, old, adv, mask, dual_clip=3.0)
    assert plain.item() == pytest.approx(9.0) and capped.item() == pytest.approx(3.0)
    with pytest.raises(ValueError):
        grpo.token_clip_loss(logp, old, adv, mask, dual_clip=0.5)


def test_clipped_tokens_get_no_gradient():
    logp = torch.log(torch.tensor([[0.5, 0.3]])).requires_grad_(True)
    old = torch.log(torch.tensor([[0.25, 0.3]]))     # ratios 2.0 (clipped) and 1.0
    loss, _ = grpo.token_clip_loss(logp, old, torch.tensor([1.0]), torch.ones(1, 2))
    loss.backward()
    assert logp.grad[0, 0].item() == 0.0 and logp.grad[0, 1].item() != 0.0


def test_kl_k3_is_nonnegative_and_unbiased():
    g = torch.Generator().manual_seed(1)
    p = torch.softmax(torch.randn(5, generator=g), 0)
    q = torch.softmax(torch.randn(5, generator=g), 0)
    samples = torch.multinomial(p, 200_000, replacement=True, generator=g)
    estimate = grpo.kl_k3(torch.log(p[samples]), torch.log(q[samples])).mean()
    exact = (p * (p.log() - q.log())).sum()
    assert estimate.item() == pytest.approx(exact.item(), rel=0.03)
    assert torch.all(grpo.kl_k3(torch.log(p), torch.log(q)) >= 0)


def test_masked_mean():
    x = torch.tensor([[1.0, 2.0], [3.0, 100.0]])
    m = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    assert grpo.masked_mean(x, m).item() == pytest.approx(2.0)
    np.testing.assert_allclose(grpo.masked_mean(x, m, dim=1).numpy(), [1.5, 3.0])
