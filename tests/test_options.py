"""DAC composition (Zhang & Whiteson 2019) on hand-computed cases."""

import math

import numpy as np
import pytest
import torch

from hrlkit.rl import options as O


def test_high_policy_hand_computed():
    beta = torch.tensor([0.25])
    mu = torch.tensor([[0.5, 0.3, 0.2]])
    prev = torch.tensor([1])
    p = O.high_policy_probs(beta, mu, prev)
    # (1 − β)·1[o = 1] + β μ:  [0.125, 0.75 + 0.075, 0.05]
    np.testing.assert_allclose(p.numpy(), [[0.125, 0.825, 0.05]], rtol=1e-6)
    assert p.sum().item() == pytest.approx(1.0)
    # log-probs agree with the composed distribution, for the kept and the switched option
    log_mu = torch.log(mu)
    for o in range(3):
        lp = O.high_log_prob(beta, log_mu, prev, torch.tensor([o]))
        assert lp.item() == pytest.approx(math.log(p[0, o].item()), rel=1e-6)
    ent = O.high_entropy(beta, mu, prev)
    assert ent.item() == pytest.approx(-sum(x * math.log(x) for x in [0.125, 0.825, 0.05]), rel=1e-6)


def test_termination_extremes():
    mu = torch.tensor([[0.1, 0.9]])
    prev = torch.tensor([0])
    np.testing.assert_allclose(O.high_policy_probs(torch.tensor([0.0]), mu, prev).numpy(), [[1.0, 0.0]])
    np.testing.assert_allclose(O.high_policy_probs(torch.tensor([1.0]), mu, prev).numpy(), mu.numpy())


def test_dac_values_hand_computed():
    q = torch.tensor([[1.0, 2.0, 4.0]])
    pi_h = torch.tensor([[0.125, 0.825, 0.05]])
    v_high, v_low = O.dac_values(q, pi_h, torch.tensor([2]))
    # v^H = Σ π^H q = 0.125 + 1.65 + 0.2 ;  v^L = q(S, o_t = 2)
    assert v_high.item() == pytest.approx(1.975)
    assert v_low.item() == pytest.approx(4.0)


def test_sampling_matches_the_composed_distribution():
    beta = torch.full((20000,), 0.4)
    mu = torch.tensor([0.2, 0.5, 0.3]).expand(20000, 3)
    prev = torch.full((20000,), 2)
    option, terminated = O.sample_high(beta, mu, prev, torch.Generator().manual_seed(0))
    freq = torch.bincount(option, minlength=3).double() / 20000
    expected = O.high_policy_probs(beta[:1], mu[:1], prev[:1])[0].double()
    np.testing.assert_allclose(freq.numpy(), expected.numpy(), atol=0.012)
    assert abs(terminated.double().mean().item() - 0.4) < 0.012
    assert bool((option[~terminated] == 2).all())


def test_factorised_options_round_trip_and_log_probs():
    z1 = torch.tensor([[0.0, 1.0, -1.0]])
    z2 = torch.tensor([[2.0, 0.0]])
    joint = O.factorised_log_probs([z1, z2])
    assert joint.shape == (1, 6)
    assert joint.exp().sum().item() == pytest.approx(1.0)
    a, b = torch.tensor([2]), torch.tensor([1])
    idx = O.option_index([a, b], [3, 2])
    assert idx.item() == 5
    expected = torch.log_softmax(z1, -1)[0, 2] + torch.log_softmax(z2, -1)[0, 1]
    assert joint[0, idx].item() == pytest.approx(expected.item())
    back = O.option_factors(torch.arange(6), [3, 2])
    assert back[0].tolist() == [0, 0, 1, 1, 2, 2] and back[1].tolist() == [0, 1, 0, 1, 0, 1]


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="beta"):
        O.high_policy_probs(torch.zeros(2), torch.ones(3, 4) / 4, torch.zeros(3, dtype=torch.long))
