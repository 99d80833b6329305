"""Speed of hrlkit's AntTerrain against Gymnasium's Ant-v5, on this machine.

    python benchmarks/ant_speed.py [--steps 4000] [--repeats 3] [--out reports/benchmarks/ant_speed.json]

Every variant runs random actions through the full environment loop (physics, observations, episode ends and
resets) and reports the median over ``--repeats`` of

* ``env_steps_per_s``: control steps of one env per wall-clock second (a batch of n envs counts n);
* ``sim_s_per_s``: simulated seconds per wall-clock second (env steps × control period), the fair unit when the
  control periods differ (Ant-v5 0.05 s, AntTerrain 0.04 s).

Variants: Gymnasium ``Ant-v5`` (one env, its defaults); AntTerrain with Ant-v5's physics options (RK4, 0.01 s × 5)
so only the batching differs; AntTerrain's defaults (implicitfast, 0.02 s × 2) on flat ground and on rough ground
with boxes, one thread; and the same with ``mujoco.rollout`` on 2 threads. Ratios are against Ant-v5. Wall-clock
numbers vary ±25 % from run to run on a shared machine; this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def bench_gymnasium_ant(steps: int) -> float:
    import gymnasium as gym

    env = gym.make("Ant-v5")
    env.reset(seed=0)
    env.action_space.seed(0)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def bench_antterrain(steps: int, n_envs: int, threads: int, **config) -> tuple[float, float]:
    from hrlkit.envs.ant.terrain import AntTerrainConfig, AntTerrainCore

    cfg = AntTerrainConfig(**config)
    core = AntTerrainCore(cfg, n_envs, seed=0, threads=threads)
    rng = np.random.default_rng(0)
    low, high = core.joint_range[:, 0], core.joint_range[:, 1]
    control_steps = max(1, steps // n_envs)
    start = time.perf_counter()
    for _ in range(control_steps):
        info = core.step(rng.uniform(low, high, size=(n_envs, len(low))))
        obs = core.observe()
        core.proprioception(obs)
        done = info["fell"] | info["reached"] | info["truncated"]
        if done.any():
            core.reset(np.nonzero(done)[0])
    elapsed = time.perf_counter() - start
    core.close()
    return control_steps * n_envs / elapsed, cfg.control_dt


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000, help="env steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per variant (median reported)")
    parser.add_argument("--envs", type=int, default=16, help="envs per AntTerrain batch")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1 or args.envs < 1:
        parser.error("--steps, --repeats and --envs must be >= 1")

    ant_v5_dt = 0.05   # Ant-v5: timestep 0.01 × frame_skip 5
    variants = {
        "gymnasium Ant-v5 (1 env)": lambda: (bench_gymnasium_ant(args.steps), ant_v5_dt),
        f"AntTerrain, Ant-v5 physics (RK4 0.01 s x 5), flat, {args.envs} envs, 1 thread":
            lambda: bench_antterrain(args.steps, args.envs, 1, integrator="RK4", timestep=0.01, frame_skip=5),
        f"AntTerrain defaults, flat, {args.envs} envs, 1 thread":
            lambda: bench_antterrain(args.steps, args.envs, 1),
        f"AntTerrain defaults, rough 0.1 m + 8 boxes, {args.envs} envs, 1 thread":
            lambda: bench_antterrain(args.steps, args.envs, 1, roughness=0.1, n_boxes=8),
        f"AntTerrain defaults, flat, {args.envs} envs, 2 threads (mujoco.rollout)":
            lambda: bench_antterrain(args.steps, args.envs, 2),
    }
    results = {}
    for name, run in variants.items():
        measured = [run() for _ in range(args.repeats)]
        rate = statistics.median(m[0] for m in measured)
        results[name] = {"env_steps_per_s": round(rate), "sim_s_per_s": round(rate * measured[0][1], 1)}
    reference = results["gymnasium Ant-v5 (1 env)"]
    for r in results.values():
        r["x_ant_v5_steps"] = round(r["env_steps_per_s"] / reference["env_steps_per_s"], 2)
        r["x_ant_v5_sim_time"] = round(r["sim_s_per_s"] / reference["sim_s_per_s"], 2)
    import mujoco

    doc = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "mujoco": mujoco.__version__,
                       "platform": platform.platform()},
           "steps": args.steps, "repeats": args.repeats, "results": results}
    width = max(map(len, results))
    print(f"{'variant':<{width}}  steps/s   sim-s/s  x Ant-v5 (steps, sim time)")
    for name, r in results.items():
        print(f"{name:<{width}}  {r['env_steps_per_s']:>7}  {r['sim_s_per_s']:>8}  "
              f"{r['x_ant_v5_steps']:>5} {r['x_ant_v5_sim_time']:>5}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
