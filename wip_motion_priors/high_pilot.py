"""High-level pilot: goal reaching on rough terrain with the frozen trot prior (latent + residual) or without prior."""
import sys, time
sys.path.insert(0, ".")
import numpy as np, torch
from hrlkit.rl.onpolicy import StepResult, collect_rollout
from hrlkit.envs.ant.terrain import AntTerrainConfig, AntTerrainCore, SCAN_POINTS
from hrlkit.envs.ant import gaits as G
from hrlkit.rl import core as R

torch.set_num_threads(1)
METHOD, UPDATES, ROUGH = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
W_RES = float(sys.argv[4]) if len(sys.argv) > 4 else -0.1
N, T_ROLL, PRIOR_SCALE, RES_SCALE = 16, 128, 0.3, 0.3
GA = ("trot",)
cfg = AntTerrainConfig(roughness=ROUGH, n_boxes=8, max_steps=500)
core = AntTerrainCore(cfg, N, seed=1)
lat = G.GaitLatent()

ck = torch.load("/tmp/mp/prior.pt", weights_only=False)
prior = R.ActorCritic(ck["obs_dim"], "gaussian", 8, hidden=(128, 128)); prior.load_state_dict(ck["model"])
pnorm = R.RunningMeanStd(shape=(ck["obs_dim"],)); pnorm.load_state_dict(ck["norm"])
phase = np.zeros(N)

def latent_from(a):
    """a (N, 5) in [-1, 1] -> trot latent with the current phase."""
    lo = np.array([lat.frequency[0], lat.hip_amplitude[0], lat.ankle_amplitude[0]])
    hi = np.array([lat.frequency[1], lat.hip_amplitude[1], lat.ankle_amplitude[1]])
    p = lo + (hi - lo) * (a[:, :3] + 1) / 2
    return {"gait": np.zeros(N, int), "frequency": p[:, 0], "hip_amplitude": p[:, 1], "ankle_amplitude": p[:, 2],
            "heading": np.arctan2(a[:, 4], a[:, 3] + 1e-9), "phase": phase.copy()}

def high_obs():
    o = core.observe()
    g = o["goal_body"]
    return np.concatenate([core.proprioception(o), o["height_scan"] - o["height"][:, None], g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-6),
                           np.minimum(o["goal_distance"], 5.0)[:, None], np.cos(phase)[:, None], np.sin(phase)[:, None]], 1)

stats = {"reached": 0, "fell": 0, "eps": 0, "res": []}
def env_step(action):
    global phase
    a = np.clip(action, -1, 1)
    if METHOD == "no-prior":
        target = G.STANDING_POSE + 0.5 * a
        res2 = np.zeros(N)
    else:
        z = latent_from(a[:, :5])
        q_ref = G.reference_pose(z, GA)
        o = core.observe()
        pin = np.concatenate([core.proprioception(o), G.latent_features(z, GA), q_ref, o["joint_pos"] - q_ref], 1)
        with torch.no_grad():
            low = prior.distribution(torch.as_tensor(pnorm.normalize(pin), dtype=torch.float32)).mean.numpy()
        target = q_ref + PRIOR_SCALE * np.clip(low, -1, 1)
        res = RES_SCALE * a[:, 5:] if METHOD != "latent-only" else np.zeros((N, 8))
        target = target + res
        res2 = (res ** 2).sum(1)
        phase = G.advance_phase(z, cfg.control_dt)["phase"]
    info = core.step(target)
    stats["res"].append(np.sqrt(res2 / 8).mean())
    # reward: velocity toward the goal + reach bonus − fall penalty + w_res Σ a_res²
    reward = info["progress"] / cfg.control_dt + 10.0 * info["reached"] - 5.0 * info["fell"] + W_RES * res2
    term = info["reached"] | info["fell"]; trunc = info["truncated"] & ~term
    final = high_obs()
    done = term | trunc
    stats["reached"] += int(info["reached"].sum()); stats["fell"] += int(info["fell"].sum()); stats["eps"] += int(done.sum())
    if done.any():
        core.reset(np.nonzero(done)[0]); phase[done] = 0.0
    return StepResult(obs=high_obs(), reward=reward, terminated=term, truncated=trunc, final_obs=final)

obs = high_obs()
act_dim = 8 if METHOD == "no-prior" else (5 if METHOD == "latent-only" else 13)
model = R.ActorCritic(obs.shape[1], "gaussian", act_dim, hidden=(128, 128))
opt = torch.optim.Adam(model.parameters(), lr=3e-4)
pcfg = R.PPOConfig(update_epochs=5, num_minibatches=4)
norm = R.RunningMeanStd(shape=(obs.shape[1],))
gen = torch.Generator().manual_seed(0)
start = np.ones(N, bool); t0 = time.time()
for u in range(UPDATES):
    ro = collect_rollout(model, env_step, obs, start, T_ROLL, gen, 0.99, 0.95, obs_norm=norm)
    obs, start = ro.next_obs, ro.next_start
    R.ppo_update(model, opt, ro.batch, pcfg, gen)
    if (u + 1) % max(1, UPDATES // 10) == 0:
        print(METHOD, u + 1, "steps", (u + 1) * N * T_ROLL, "reached/fell/eps", stats["reached"], stats["fell"], stats["eps"],
              "res rms", round(float(np.mean(stats["res"][-T_ROLL:])), 3), "t", round(time.time() - t0, 1), flush=True)
        stats.update(reached=0, fell=0, eps=0)
