"""hrlkit.envs.ant.gaits: the reference-gait formula on hand-computed cases, and that the heading steers the Ant."""

import numpy as np
import pytest

from hrlkit.envs.ant import gaits as G


def latent(**kw):
    base = {"gait": [0], "frequency": [2.0], "hip_amplitude": [0.4], "ankle_amplitude": [0.3], "heading": [0.0],
            "phase": [0.0]}
    base.update({k: [v] for k, v in kw.items()})
    return {k: np.asarray(v) for k, v in base.items()}


def test_reference_pose_hand_computed_trot():
    # φ = 0, trot: legs 1, 3 at phase 0 (ankles lifted by a_k), legs 2, 4 at phase π (ankles at the standing pose)
    q = G.reference_pose(latent(phase=0.0))[0]
    np.testing.assert_allclose(q, [0.0, 0.7, 0.0, -1.0, 0.0, -0.7, 0.0, 1.0], atol=1e-12)
    # φ = π/2: hips at a_h·sin(ψ − α_i)·sin(π/2 + Φ_i); ψ = 0, α = 45°, 135°, 225°, 315°, Φ = 0, π, 0, π:
    # sin(−45°)·1, sin(−135°)·(−1), sin(−225°)·1, sin(−315°)·(−1) = −√½, +√½, +√½, −√½
    q = G.reference_pose(latent(phase=np.pi / 2))[0]
    s = 0.4 * np.sqrt(0.5)
    np.testing.assert_allclose(q[0::2], [-s, s, s, -s], atol=1e-12)
    np.testing.assert_allclose(q[1::2], G.STANDING_POSE[1::2], atol=1e-12)     # sin(π) = 0: no lift


def test_gait_phase_offsets_and_phase_dynamics():
    for name, gait in (("pace", 1), ("bound", 2)):
        q = G.reference_pose(latent(gait=gait, phase=0.0))[0]
        lifted = np.abs(q[1::2] - G.STANDING_POSE[1::2]) > 1e-9
        expected = np.array(G.GAITS[name]) == 0.0      # legs with offset 0 lift at φ = 0
        np.testing.assert_array_equal(lifted, expected)
    nxt = G.advance_phase(latent(phase=6.0, frequency=2.0), dt=0.04)
    assert nxt["phase"][0] == pytest.approx((6.0 + 2 * np.pi * 2.0 * 0.04) % (2 * np.pi))
    feats = G.latent_features(latent(gait=2, heading=np.pi / 2, phase=np.pi))
    np.testing.assert_allclose(feats[0], [0, 0, 1, 2.0, 0.4, 0.3, 0.0, 1.0, -1.0, 0.0], atol=1e-12)
    assert feats.shape == (1, G.N_LATENT_FEATURES)


@pytest.mark.parametrize("heading_deg", [0, 90, -135])
def test_open_loop_trot_walks_towards_the_heading(heading_deg):
    from hrlkit.envs.ant.terrain import AntTerrainConfig, AntTerrainCore

    core = AntTerrainCore(AntTerrainConfig(), 1, seed=0)
    import mujoco

    core.datas[0].qpos[3:7] = [1.0, 0.0, 0.0, 0.0]       # torso frame = world frame
    mujoco.mj_forward(core.models[0], core.datas[0])
    core.qpos[0] = core.datas[0].qpos
    z = latent(heading=np.deg2rad(heading_deg))
    start = core.qpos[0, :2].copy()
    for _ in range(125):                                  # 5 s of the reference gait as joint targets
        info = core.step(G.reference_pose(z))
        z = G.advance_phase(z, core.cfg.control_dt)
    assert not info["fell"][0]
    moved = core.qpos[0, :2] - start
    direction = np.array([np.cos(np.deg2rad(heading_deg)), np.sin(np.deg2rad(heading_deg))])
    assert np.linalg.norm(moved) > 0.5
    assert moved @ direction / np.linalg.norm(moved) > 0.7, moved
