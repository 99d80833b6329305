"""Machinery of competitive multi-agent games, shared by notebooks that train teams against each other.

* :mod:`hrlkit.games.selfplay`: an opponent pool of frozen policy snapshots, sampled for plain self-play, fictitious
  self-play or a mixture, one opponent per game;
* :mod:`hrlkit.games.ratings`: Bradley–Terry / Elo ratings from a cross-play tournament, bootstrapped over seeds.

Kept out of :mod:`hrlkit.rl` on purpose: the stored results of the papers whose training kit is ``hrlkit/rl`` are
keyed on that folder's contents, so a new module there would retrain them.
"""
