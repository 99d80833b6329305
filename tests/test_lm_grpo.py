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


# ---------------------------------------------------------------------------- Share-GRPO


def _reference_share_advantage(scores, uid, inter_uid, inter_bool, eps=1e-6):
    """The brief's pseudo-code (R1-ShareVL core_algos), written with explicit loops over groups."""
    scores = np.asarray(scores, dtype=np.float64)
    adv = np.zeros_like(scores)
    for g in set(uid):
        idx = [t for t, u in enumerate(uid) if u == g]
        s = scores[idx]
        mean, std = (s.mean(), s.std(ddof=1)) if len(s) > 1 else (0.0, 1.0)
        adv[idx] = (s - mean) / (std + eps)
    for g in set(u for u, on in zip(inter_uid, inter_bool) if on):
        idx = [t for t, (u, on) in enumerate(zip(inter_uid, inter_bool)) if on and u == g]
        s = scores[idx]
        mean, std = (s.mean(), s.std(ddof=1)) if len(s) > 1 else (0.0, 1.0)
        adv[idx] += (s - mean) / (std + eps)
    return adv


def test_share_grpo_layout_matches_slot_formula():
    m, n = 3, 2
    layout = grpo.share_grpo_layout(2, m, n)
    assert len(layout["question"]) == 2 * m * m * n
    for s in range(m * m * n):                     # question 1's slots follow question 0's
        t = m * m * n + s
        k, j, i = s // (n * m), (s // n) % m, s % n
        assert layout["prompt_variant"][t] == k and layout["response_variant"][t] == j and layout["sample"][t] == i
        assert layout["inter_bool"][t] == int(k == j)
        assert layout["response_index"][t] == m * n + j * n + i and layout["prompt_index"][t] == m + k
    # every response of the pool is paired with every prompt variant exactly once
    pairs = set(zip(layout["response_index"].tolist(), layout["prompt_index"].tolist()))
    assert len(pairs) == 2 * m * m * n
    no_cross = grpo.share_grpo_layout(2, m, n, cross=False)
    assert bool((no_cross["prompt_variant"] == no_cross["response_variant"]).all())
    assert len(no_cross["question"]) == 2 * m * n


def test_share_grpo_advantage_matches_reference_on_hand_built_batch():
    # one question, m = 2 variants, n = 3 samples: pool rewards R[j][i]
    pool = np.array([[1.0, 0.1, 0.0],      # generated from Q_0
                     [0.1, 0.1, 0.1]])     # generated from Q_1 (its local group has no spread)
    layout = grpo.share_grpo_layout(1, 2, 3)
    scores = torch.tensor(pool.reshape(-1)[layout["response_index"].numpy()])
    uid = layout["question"]
    inter_uid = layout["question"] * 2 + layout["prompt_variant"]
    adv = grpo.share_grpo_advantages(scores, uid, inter_uid, layout["inter_bool"])
    ref = _reference_share_advantage(scores.tolist(), uid.tolist(), inter_uid.tolist(),
                                     layout["inter_bool"].tolist())
    np.testing.assert_allclose(adv.numpy(), ref, rtol=1e-12)
    # by hand: the global group holds each of the 6 rewards twice (12 pairs)
    g_mean = pool.mean()
    g_std = np.sqrt(2 * ((pool - g_mean) ** 2).sum() / 11)
    local_mean, local_std = pool[0].mean(), pool[0].std(ddof=1)
    first = (1.0 - g_mean) / (g_std + 1e-6)
    assert adv[0].item() == pytest.approx(first + (1.0 - local_mean) / (local_std + 1e-6))   # on-variant (k=j=0)
    shared = int(np.flatnonzero((layout["prompt_variant"] == 1).numpy() & (layout["response_index"] == 0).numpy())[0])
    assert adv[shared].item() == pytest.approx(first)                                       # shared (k=1, j=0)
    # Q_1's on-variant pairs: local term is 0 (no spread), only the global term remains
    on_q1 = (layout["inter_bool"] == 1) & (layout["prompt_variant"] == 1)
    np.testing.assert_allclose(adv[on_q1].numpy(), (0.1 - g_mean) / (g_std + 1e-6), atol=1e-9)   # float mean of 0.1s
    # global only (the w/o-local ablation)
    glob = grpo.share_grpo_advantages(scores, uid, inter_uid, layout["inter_bool"], local=False)
    np.testing.assert_allclose(glob.numpy(), (scores.numpy() - g_mean) / (g_std + 1e-6), rtol=1e-12)


def test_share_grpo_advantage_vanishes_only_when_the_whole_pool_agrees():
    layout = grpo.share_grpo_layout(1, 2, 2)
    uid, inter_uid = layout["question"], layout["prompt_variant"]
    same = torch.full((8,), 0.1)
    assert bool((grpo.share_grpo_advantages(same, uid, inter_uid, layout["inter_bool"]) == 0).all())
    pool = torch.tensor([1.0, 1.0, 0.1, 0.1])            # each variant's own group agrees, the pool does not
    adv = grpo.share_grpo_advantages(pool[layout["response_index"]], uid, inter_uid, layout["inter_bool"])
    assert bool((adv != 0).all())


def test_share_grpo_layout_rejects_bad_sizes():
    with pytest.raises(ValueError, match="m must be"):
        grpo.share_grpo_layout(1, 0, 2)
