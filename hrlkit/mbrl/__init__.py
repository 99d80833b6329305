"""Model-based RL cores (Dreamer-style), shared by the model-based notebooks.

* :mod:`hrlkit.mbrl.returns` -- λ-returns over imagined trajectories and DreamerV3's percentile return scale.
* :mod:`hrlkit.mbrl.rssm` -- the recurrent state-space model (deterministic GRU state h, Gaussian stochastic state z),
  the diagonal-Gaussian KL and prior entropy, and KL balancing with free bits.
* :mod:`hrlkit.mbrl.world_model` -- encoder, RSSM, decoder, reward and continue heads, and their joint loss.
* :mod:`hrlkit.mbrl.behavior` -- Dreamer's actor-critic learned in imagination (discrete actions, REINFORCE actor,
  λ-return critic with a slow target, DreamerV3's return scale).
* :mod:`hrlkit.mbrl.replay` -- sequence replay per environment stream (terminal observations kept as rows of their
  own), windows sampled uniformly.
* :mod:`hrlkit.mbrl.agent` -- a mini-Dreamer for vectorised environments: the latent tracker (filtering per running
  episode), acting, replay and the update schedule (one update per ``train_every`` steps after a random prefill).

``returns`` imports :mod:`hrlkit.rl.core` (GAE); ``world_model`` imports ``rssm``; ``behavior`` imports ``returns``,
``rssm`` and ``world_model`` (its MLP); ``agent`` imports ``behavior``, ``replay``, ``rssm`` and ``world_model``.
"""
