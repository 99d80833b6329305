"""The MuJoCo Ant of the locomotion papers (motion priors; H2-COMPACT's lower tier), one folder so that a notebook's
DVC stage can depend on all of it as its ``env``.

* :mod:`hrlkit.envs.ant.terrain` -- many Ants per process on procedural rough terrain with boxes and goals
  (:class:`~hrlkit.envs.ant.terrain.AntTerrainCore`; the Gymnasium env ``hrlkit/AntTerrain-v0``).
* :mod:`hrlkit.envs.ant.gaits` -- parametric trot / pace / bound reference gaits with a periodic latent, the
  stand-in for retargeted animal motion capture.
* :mod:`hrlkit.envs.ant.prior` -- the flat-ground motion prior: the imitation task, its PPO training (with
  :mod:`hrlkit.rl`), the frozen policy and its checkpoint (a cached DVC stage).
"""
