"""hrlkit.tasks.preference.dpo_loss against the closed form, by hand."""

import math

import pytest
import torch

from hrlkit.tasks.preference import dpo_loss


def test_dpo_loss_matches_the_closed_form_by_hand():
    # pair 1: margins (−1 − −2) − (−3 − −2.5) = 1 − (−0.5) = 1.5; pair 2: (−4 − −4) − (−1 − −2) = −1
    out = dpo_loss(torch.tensor([-1.0, -4.0]), torch.tensor([-3.0, -1.0]), torch.tensor([-2.0, -4.0]),
                   torch.tensor([-2.5, -2.0]), beta=0.5)
    expected = 0.5 * (math.log(1 + math.exp(-0.5 * 1.5)) + math.log(1 + math.exp(-0.5 * -1.0)))
    assert out.loss.item() == pytest.approx(expected, rel=1e-6)
    assert out.chosen_reward.tolist() == pytest.approx([0.5, 0.0])
    assert out.rejected_reward.tolist() == pytest.approx([-0.25, 0.5])
    assert out.accuracy == 0.5


def test_equal_policy_and_reference_give_log_two_and_the_gradient_favours_the_chosen_response():
    chosen = torch.tensor([-2.0], requires_grad=True)
    rejected = torch.tensor([-3.0], requires_grad=True)
    out = dpo_loss(chosen, rejected, chosen.detach().clone(), rejected.detach().clone(), beta=0.1)
    assert out.loss.item() == pytest.approx(math.log(2.0))
    out.loss.backward()
    assert chosen.grad.item() == pytest.approx(-0.05) and rejected.grad.item() == pytest.approx(0.05)   # −β/2, +β/2


def test_bad_arguments_are_refused():
    t = torch.zeros(2)
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(t, t, t, t, beta=0.0)
    with pytest.raises(ValueError, match="one shape"):
        dpo_loss(t, t, t, torch.zeros(3))
