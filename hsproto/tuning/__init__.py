"""Hyperparameter tuning with Optuna: search spaces, :func:`tune` and clone-safe pruning.

:func:`tune` cross-validates one estimator per trial, prunes unpromising trials epoch by
epoch on the held-out fold's score (:class:`EpochPruning`), records failed trials instead
of stopping, and refits the best parameters on all the data. The study lives in memory,
in an SQLite file (one machine; a rerun with the same ``study_name`` resumes it) or in a
PostgreSQL/MySQL database shared by workers on several machines, with heartbeats so that
the trial of a worker that died is marked failed and retried once.

See ``docs/tuning.md`` for when to use :func:`tune` and when
``optuna_integration.OptunaSearchCV``.
"""

from ._pruning import FOLD_STEP, EpochPruning
from ._space import default_search_space
from ._tune import TuneResult, tune

__all__ = ["FOLD_STEP", "EpochPruning", "TuneResult", "default_search_space", "tune"]
