import sys, time
sys.path.insert(0, ".")
import numpy as np, torch
from hrlkit.rl.onpolicy import StepResult, collect_rollout
from hrlkit.envs.ant.terrain import AntTerrainConfig, AntTerrainCore, N_PROPRIO
from hrlkit.envs.ant import gaits as G
from hrlkit.rl import core as R

torch.set_num_threads(1)
N, T_ROLL, UPDATES = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ACT_SCALE = 0.3
cfg = AntTerrainConfig(max_steps=250)
core = AntTerrainCore(cfg, N, seed=0)
rng = np.random.default_rng(0)
lat = G.GaitLatent()
z = lat.sample(rng, N, gaits=("trot",))

def obs_of():
    q_ref = G.reference_pose(z, gaits=("trot",))
    o = core.observe()
    return np.concatenate([core.proprioception(o), G.latent_features(z, gaits=("trot",)), q_ref,
                           o["joint_pos"] - q_ref], axis=1), o

stats = {"track": [], "vpar": [], "fell": 0, "eps": 0}
def env_step(action):
    global z
    q_ref = G.reference_pose(z, gaits=("trot",))
    info = core.step(q_ref + ACT_SCALE * np.clip(action, -1, 1))
    z = G.advance_phase(z, cfg.control_dt)
    o = core.observe()
    q_ref_next = G.reference_pose(z, gaits=("trot",))
    err = ((o["joint_pos"] - q_ref_next) ** 2).sum(1)
    head = np.stack([np.cos(z["heading"]), np.sin(z["heading"])], 1)
    v = o["lin_vel"][:, :2]
    vpar = (v * head).sum(1)
    reward = np.exp(-2 * err) + 0.5 * np.clip(vpar / 0.3, -1, 1) - 1e-3 * (action ** 2).sum(1) - 1.0 * info["fell"]
    stats["track"].append(np.exp(-2 * err).mean()); stats["vpar"].append(vpar.mean())
    term, trunc = info["fell"], info["truncated"] | (core.steps >= cfg.max_steps)
    done = term | trunc
    final = obs_of()[0]
    # resample latents at episode ends and at random moments
    change = done | (rng.random(N) < 0.01)
    if change.any():
        new = lat.sample(rng, int(change.sum()), gaits=("trot",))
        for k in z: z[k] = z[k].copy(); z[k][change] = new[k]
    stats["fell"] += int(term.sum()); stats["eps"] += int(done.sum())
    if done.any(): core.reset(np.nonzero(done)[0])
    return StepResult(obs=obs_of()[0], reward=reward, terminated=term, truncated=trunc & ~term, final_obs=final)

obs = obs_of()[0]
model = R.ActorCritic(obs.shape[1], "gaussian", 8, hidden=(128, 128))
opt = torch.optim.Adam(model.parameters(), lr=3e-4)
pcfg = R.PPOConfig(update_epochs=5, num_minibatches=4, ent_coef=0.0)
norm = R.RunningMeanStd(shape=(obs.shape[1],))
gen = torch.Generator().manual_seed(0)
start = np.ones(N, bool)
t0 = time.time()
for u in range(UPDATES):
    ro = collect_rollout(model, env_step, obs, start, T_ROLL, gen, 0.99, 0.95, obs_norm=norm)
    obs, start = ro.next_obs, ro.next_start
    R.ppo_update(model, opt, ro.batch, pcfg, gen)
    if u % max(1, UPDATES // 10) == 0 or u == UPDATES - 1:
        k = T_ROLL
        print(u, "steps", (u + 1) * N * T_ROLL, "track", round(np.mean(stats["track"][-k:]), 3), "vpar", round(np.mean(stats["vpar"][-k:]), 3),
              "fell/eps", stats["fell"], stats["eps"], "t", round(time.time() - t0, 1), flush=True)
        stats["fell"] = stats["eps"] = 0
torch.save({"model": model.state_dict(), "norm": norm.state_dict(), "obs_dim": obs.shape[1]}, "/tmp/mp/prior.pt")
print("saved")
