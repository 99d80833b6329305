"""hrlkit.envs.ant.prior: the imitation task's reward terms, and that training, saving and loading reproduce."""

import numpy as np
import pytest

from hrlkit.envs.ant import gaits as G
from hrlkit.envs.ant.prior import ImitationTask, PriorConfig, load_prior, save_prior, train_prior

TINY = PriorConfig(n_envs=2, rollout_steps=8, updates=2, hidden=16, ppo_minibatches=2)


def test_imitation_reward_is_the_documented_sum():
    task = ImitationTask(TINY)
    latent_before = {k: v.copy() for k, v in task.latent.items()}
    action = np.full((2, 8), 0.5)
    result = task.step(action)
    core, cfg = task.core, TINY
    after = G.advance_phase(latent_before, core.cfg.control_dt)
    obs = core.observe()
    # the envs did not end, so the next reference and the heading are those of the advanced latent
    assert not (result.terminated | result.truncated).any()
    error = ((obs["joint_pos"] - G.reference_pose(after, cfg.gaits)) ** 2).sum(1)
    heading = np.stack([np.cos(after["heading"]), np.sin(after["heading"])], 1)
    speed = (obs["lin_vel"][:, :2] * heading).sum(1)
    expected = np.exp(-2.0 * error) + 0.5 * np.clip(speed / 0.3, -1, 1) - 0.001 * 8 * 0.25
    np.testing.assert_allclose(result.reward, expected)


def test_training_saving_and_loading_reproduce(tmp_path):
    model, norm, log = train_prior(TINY)
    assert len(log["track"]) == TINY.updates
    save_prior(tmp_path / "a.pt", model, norm, TINY, log)
    model2, norm2, log2 = train_prior(TINY)
    save_prior(tmp_path / "b.pt", model2, norm2, TINY, log2)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    prior, stored_log = load_prior(tmp_path / "a.pt")
    assert stored_log == log and prior.cfg == TINY
    task = ImitationTask(TINY)
    targets = prior.targets(task.core, task.latent)
    q_ref = G.reference_pose(task.latent, TINY.gaits)
    assert targets.shape == (2, 8) and np.abs(targets - q_ref).max() <= TINY.action_scale + 1e-12


def test_config_validation():
    with pytest.raises(ValueError, match="gaits"):
        PriorConfig(gaits=("gallop",))
    with pytest.raises(ValueError, match="unknown PriorConfig field"):
        PriorConfig.from_dict({"steps": 3})
