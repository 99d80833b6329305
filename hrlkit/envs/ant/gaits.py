"""Parametric quadruped gaits for Gymnasium's Ant: the stand-in for retargeted animal motion capture.

The motion-prior paper (arXiv 2505.16084) imitates animal walk, pace and canter clips retargeted to ANYmal-D. With
no motion data to download, a central-pattern generator produces reference joint trajectories for the Ant of
:mod:`hrlkit.envs.ant.terrain` (legs 1..4 at 45°, 135°, 225°, 315° in the torso frame; joints hip_i (yaw) and
ankle_i (lift)). A gait is

* a **gait type** g (trot: diagonal pairs in phase; pace: lateral pairs; bound: front and back pairs), i.e. the
  phase offsets Φ_{g,i} of the four legs;
* a **periodic latent** in the spirit of Fourier Latent Dynamics (Li et al., ICLR 2024): frequency f (Hz), hip
  amplitude a_h, ankle (lift) amplitude a_k, heading ψ (the direction of travel in the torso frame), and the phase
  φ, which advances as φ_{t+1} = φ_t + 2π f Δt.

Reference angles (Ant's standing pose q⁰ = (0, 1, 0, −1, 0, −1, 0, 1)):

    hip_i(φ)   = q⁰_hip_i + a_h · sin(ψ − α_i) · sin(φ + Φ_{g,i})
    ankle_i(φ) = q⁰_ank_i − σ_i · a_k · max(0, sin(φ + Φ_{g,i} + π/2))

where α_i is leg i's direction and σ_i = sign(q⁰_ank_i), so the lift term bends the ankle up during the swing half
of the cycle. The hip weight sin(ψ − α_i) is the component of the heading along leg i's tangential (hip-swing)
direction: each stance stroke pushes the torso towards ψ, so one formula covers every direction of travel. The
latent is the generator's own parameters (the brief's "shortcut"), not a learned FLD encoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GAITS", "LEG_ANGLES", "STANDING_POSE", "GaitLatent", "reference_pose", "advance_phase",
           "latent_features", "N_LATENT_FEATURES"]

#: Phase offsets Φ_{g,i} of legs 1..4 (front-left +x+y, front-right −x+y, back −x−y, right-back +x−y).
GAITS: dict[str, tuple[float, float, float, float]] = {
    "trot": (0.0, np.pi, 0.0, np.pi),      # diagonal pairs (1, 3) and (2, 4) in phase
    "pace": (0.0, 0.0, np.pi, np.pi),      # pairs (1, 2) and (3, 4) in phase
    "bound": (0.0, np.pi, np.pi, 0.0),     # pairs (1, 4) and (2, 3) in phase
}
#: Direction α_i of each leg in the torso frame (radians).
LEG_ANGLES: np.ndarray = np.deg2rad([45.0, 135.0, 225.0, 315.0])
#: Ant's standing pose (hip_1, ankle_1, …, hip_4, ankle_4), as in Gymnasium's init_qpos.
STANDING_POSE: np.ndarray = np.array([0.0, 1.0, 0.0, -1.0, 0.0, -1.0, 0.0, 1.0])
_ANKLE_SIGN = np.sign(STANDING_POSE[1::2])


@dataclass(frozen=True)
class GaitLatent:
    """Ranges of the periodic latent (sampled uniformly for imitation training)."""

    frequency: tuple[float, float] = (1.5, 3.0)        # Hz
    hip_amplitude: tuple[float, float] = (0.2, 0.45)   # rad
    ankle_amplitude: tuple[float, float] = (0.15, 0.4)  # rad

    def sample(self, rng: np.random.Generator, n: int, gaits: tuple[str, ...] = tuple(GAITS)) -> dict:
        """``n`` random latents: gait index, f, a_h, a_k, heading ψ ∈ [−π, π), phase φ ∈ [0, 2π)."""
        return {"gait": rng.integers(0, len(gaits), size=n), "frequency": rng.uniform(*self.frequency, size=n),
                "hip_amplitude": rng.uniform(*self.hip_amplitude, size=n),
                "ankle_amplitude": rng.uniform(*self.ankle_amplitude, size=n),
                "heading": rng.uniform(-np.pi, np.pi, size=n), "phase": rng.uniform(0, 2 * np.pi, size=n)}


def _offsets(gait: np.ndarray, gaits: tuple[str, ...]) -> np.ndarray:
    table = np.array([GAITS[g] for g in gaits])
    return table[np.asarray(gait, dtype=int)]                                 # (N, 4)


def reference_pose(latent: dict, gaits: tuple[str, ...] = tuple(GAITS)) -> np.ndarray:
    """(N, 8) reference joint angles q_ref(φ; g, f, a_h, a_k, ψ) of the formula in the module docstring."""
    phase = np.asarray(latent["phase"], dtype=float)[:, None] + _offsets(latent["gait"], gaits)   # φ + Φ_{g,i}
    # hip_i = q⁰ + a_h · sin(ψ − α_i) · sin(φ + Φ_i)
    hip = (STANDING_POSE[0::2] + np.asarray(latent["hip_amplitude"])[:, None]
           * np.sin(np.asarray(latent["heading"])[:, None] - LEG_ANGLES) * np.sin(phase))
    # ankle_i = q⁰ − σ_i · a_k · max(0, sin(φ + Φ_i + π/2))
    ankle = (STANDING_POSE[1::2] - _ANKLE_SIGN * np.asarray(latent["ankle_amplitude"])[:, None]
             * np.maximum(0.0, np.sin(phase + np.pi / 2)))
    out = np.empty((phase.shape[0], 8))
    out[:, 0::2], out[:, 1::2] = hip, ankle
    return out


def advance_phase(latent: dict, dt: float) -> dict:
    """φ_{t+1} = (φ_t + 2π f Δt) mod 2π (FLD's phase dynamics); the other latent entries are unchanged."""
    return {**latent, "phase": np.mod(np.asarray(latent["phase"]) + 2 * np.pi * np.asarray(latent["frequency"]) * dt,
                                      2 * np.pi)}


#: Length of :func:`latent_features`: gait one-hot (3), f, a_h, a_k, cos ψ, sin ψ, cos φ, sin φ.
N_LATENT_FEATURES: int = len(GAITS) + 7


def latent_features(latent: dict, gaits: tuple[str, ...] = tuple(GAITS)) -> np.ndarray:
    """(N, N_LATENT_FEATURES) policy input: gait one-hot, f, a_h, a_k, (cos ψ, sin ψ), (cos φ, sin φ)."""
    gait = np.asarray(latent["gait"], dtype=int)
    onehot = np.eye(len(gaits))[gait]
    heading, phase = np.asarray(latent["heading"]), np.asarray(latent["phase"])
    return np.concatenate([onehot, np.stack([latent["frequency"], latent["hip_amplitude"], latent["ankle_amplitude"],
                                             np.cos(heading), np.sin(heading), np.cos(phase), np.sin(phase)], -1)],
                          axis=1)
