"""TPE sampling seeded per trial: reproducible, and resumable without repeats."""

from __future__ import annotations

import numpy as np
import optuna

__all__ = ["TrialSeededTPE"]


class TrialSeededTPE(optuna.samplers.BaseSampler):
    """TPE whose random draws for trial ``n`` come from a generator seeded by
    ``(seed, n)``: a run is reproducible, and a resumed study or a second worker with the
    same seed does not repeat the draws of trials already taken (trial numbers are
    unique in a study). ``seed=None`` draws fresh entropy."""

    def __init__(self, seed=None):
        self.seed = seed
        self._by_trial = {}

    def _tpe(self, trial):
        sampler = self._by_trial.get(trial.number)
        if sampler is None:
            seed = None if self.seed is None else int(
                np.random.SeedSequence([self.seed, trial.number]).generate_state(1)[0])
            sampler = self._by_trial[trial.number] = optuna.samplers.TPESampler(seed=seed)
        return sampler

    def infer_relative_search_space(self, study, trial):
        return self._tpe(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._tpe(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._tpe(trial).sample_independent(study, trial, param_name,
                                                   param_distribution)

    def before_trial(self, study, trial):
        self._tpe(trial).before_trial(study, trial)

    def after_trial(self, study, trial, state, values):
        self._tpe(trial).after_trial(study, trial, state, values)
        self._by_trial.pop(trial.number, None)

    def reseed_rng(self):
        """Nothing to do: each trial's draws are seeded by its number."""
