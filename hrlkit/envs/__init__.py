"""Environments of the collection, registered with Gymnasium on import of ``hrlkit.envs``.

| id                   | class                                  | notebook        |
|----------------------|----------------------------------------|-----------------|
| hrlkit/Slice5G-v0    | :class:`hrlkit.envs.slice5g.Slice5GEnv` | teleop_slicing |
| hrlkit/AntTerrain-v0 | :class:`hrlkit.envs.ant.terrain.AntTerrainEnv` | motion_priors (MuJoCo) |
| hrlkit/PorousMaze-v0 | :class:`hrlkit.envs.porous_maze.PorousMazeEnv` | entropy_planner |

Multi-agent environments (PettingZoo ``ParallelEnv``, checked with ``parallel_api_test``), in
:data:`PARALLEL_ENVS`:

| name        | class                                           | notebook        |
|-------------|-------------------------------------------------|-----------------|
| ebfleet_v0  | :class:`hrlkit.envs.ebfleet.EBFleetParallelEnv` | ebus_charging   |
| soccer2d_v0 | :class:`hrlkit.envs.soccer.soccer2d.Soccer2DParallelEnv` | quadruped_soccer |

The vectorised cores (e.g. :class:`~hrlkit.envs.slice5g.Slice5GCore`) are what the notebooks train on;
the Gymnasium classes wrap one instance for the standard API and ``check_env``.
"""

from gymnasium.envs.registration import register, registry

ENV_IDS = ("hrlkit/Slice5G-v0", "hrlkit/AntTerrain-v0", "hrlkit/PorousMaze-v0")
#: name -> "module:class" of the PettingZoo parallel environments
PARALLEL_ENVS = {"ebfleet_v0": "hrlkit.envs.ebfleet:EBFleetParallelEnv",
                 "soccer2d_v0": "hrlkit.envs.soccer.soccer2d:Soccer2DParallelEnv"}

if "hrlkit/Slice5G-v0" not in registry:
    register(id="hrlkit/Slice5G-v0", entry_point="hrlkit.envs.slice5g:Slice5GEnv")
if "hrlkit/AntTerrain-v0" not in registry:
    register(id="hrlkit/AntTerrain-v0", entry_point="hrlkit.envs.ant.terrain:AntTerrainEnv",
             kwargs={"config": None})
if "hrlkit/PorousMaze-v0" not in registry:
    register(id="hrlkit/PorousMaze-v0", entry_point="hrlkit.envs.porous_maze:PorousMazeEnv", kwargs={"config": None})
