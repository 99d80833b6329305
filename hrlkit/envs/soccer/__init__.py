"""Soccer2D and its hierarchy, for the quadruped-soccer notebook (arXiv 2505.13834).

* :mod:`hrlkit.envs.soccer.soccer2d`: the vectorised planar game (robots as discs, a ball, walls, goals) and its
  PettingZoo ``ParallelEnv``;
* :mod:`hrlkit.envs.soccer.skills`: the learned low-level skills (Walk, Dribble, Kick), trained once by PPO and frozen
  (a DVC stage writes the library);
* :mod:`hrlkit.envs.soccer.team`: team games between controllers acting at their own rates over the skills, the
  scripted team, and the match statistics (passes, interceptions, shots, ball-path jerk, roles).

One folder, so that the notebook's stored results are keyed on all of it (params.yaml ``papers.quadruped_soccer.env``).
"""
