"""MAPPO helpers and entity attention."""

import numpy as np
import pytest
import torch

from hrlkit.rl import marl
from hrlkit.rl import compute_gae


def test_agent_ids_are_one_hot():
    obs = torch.zeros(5, 3, 2)
    x = marl.with_agent_ids(obs)
    assert x.shape == (5, 3, 5)
    np.testing.assert_array_equal(x[0, :, 2:].numpy(), np.eye(3))


def test_per_agent_gae_equals_gae_of_each_stream():
    g = torch.Generator().manual_seed(0)
    t, n, a = 6, 2, 3
    rewards, values = torch.randn(t, n, a, generator=g), torch.randn(t, n, a, generator=g)
    starts = torch.zeros(t, n)
    starts[3, 1] = 1.0
    last_v, last_s = torch.randn(n, a, generator=g), torch.tensor([0.0, 1.0])
    adv, ret = marl.per_agent_gae(rewards, values, starts, last_v, last_s, 0.9, 0.8)
    for env in range(n):
        for agent in range(a):
            ref_adv, ref_ret = compute_gae(rewards[:, env, agent, None], values[:, env, agent, None],
                                           starts[:, env, None], last_v[env, agent, None], last_s[env, None], 0.9, 0.8)
            torch.testing.assert_close(adv[:, env, agent], ref_adv[:, 0])
            torch.testing.assert_close(ret[:, env, agent], ref_ret[:, 0])
    # hand-computed one-step case: A = r + γ V' − V
    adv1, _ = marl.per_agent_gae(torch.ones(1, 1, 1), torch.zeros(1, 1, 1), torch.zeros(1, 1),
                                 torch.full((1, 1), 2.0), torch.zeros(1), 0.5, 0.9)
    assert adv1.item() == pytest.approx(1.0 + 0.5 * 2.0)


def test_sequence_minibatches_partition_the_streams():
    chunks = marl.sequence_minibatches(4, 3, 5, torch.Generator().manual_seed(1))
    assert len(chunks) == 5
    pairs = [(int(e), int(a)) for env, agent in chunks for e, a in zip(env, agent)]
    assert sorted(pairs) == [(e, a) for e in range(4) for a in range(3)]
    with pytest.raises(ValueError, match="num_minibatches"):
        marl.sequence_minibatches(2, 2, 5, torch.Generator())


def test_shared_actor_and_central_critic_shapes():
    actor = marl.SharedActor(obs_dim=4, n_agents=3, n_actions=5)
    critic = marl.CentralCritic(state_dim=7, n_agents=3, n_outputs=2)
    assert actor(torch.zeros(8, 3, 4)).shape == (8, 3, 5)
    assert critic(torch.zeros(8, 7)).shape == (8, 3, 2)
    # the agent id makes the outputs differ between agents with identical observations
    out = critic(torch.randn(1, 7))
    assert not torch.allclose(out[0, 0], out[0, 1])


def test_entity_attention_is_size_independent_and_respects_masks():
    torch.manual_seed(0)
    block = marl.EntityAttention(d_model=16, n_heads=4)
    n_params = sum(p.numel() for p in block.parameters())
    q, e = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    y, w = block(q, e, return_weights=True)
    assert y.shape == (2, 3, 16) and w.shape == (2, 3, 5)
    assert sum(p.numel() for p in block.parameters()) == n_params      # nothing depends on A or E
    y_big = block(torch.randn(2, 9, 16), torch.randn(2, 40, 16))
    assert y_big.shape == (2, 9, 16)
    # a masked-out entity gets zero weight, and changing it does not change the output
    mask = torch.tensor([[True, True, True, True, False]] * 2)
    y1, w1 = block(q, e, mask, return_weights=True)
    e2 = e.clone()
    e2[:, 4] += 100.0
    y2 = block(q, e2, mask)
    assert torch.all(w1[..., 4] == 0)
    torch.testing.assert_close(y1, y2)
