"""Tests of hsproto.tuning: tune(), search spaces, clone-safe pruning, storages, the CLI.

Tests marked ``postgres`` need a PostgreSQL server: ``eval "$(.ci/postgres.sh start)"``
sets ``HSPROTO_TEST_POSTGRES_URL``. Without it they are skipped, except when ``CI=true``
(``.ci/run``), where they fail so that a broken CI setup cannot hide behind skips.
"""

import os
import pickle
import signal
import subprocess
import sys
import time
import uuid
import warnings

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FixedTrial, TrialState
from sklearn.base import clone
from sklearn.metrics import check_scoring

from hsproto import HypersphericalClassifier, HypersphericalRegressor, JointEstimator
from hsproto.__main__ import main
from hsproto.datasets import load_diabetes_data, load_digits_data, load_rotated_digits
from hsproto.tuning import FOLD_STEP, EpochPruning, default_search_space, tune
from hsproto.tuning._pruning import Fold, reporting
from hsproto.tuning._storage import open_storage

SMALL = {"max_epochs": 2, "module_params": {"hidden_layer_sizes": (32,)}}
LR = {"lr": FloatDistribution(1e-3, 3e-2, log=True)}
NEVER = optuna.pruners.NopPruner()   # reports every epoch, never prunes


@pytest.fixture(autouse=True)
def _quiet_optuna():
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    yield
    optuna.logging.set_verbosity(level)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits_data()
    return X[:120], y[:120]


@pytest.fixture(scope="module")
def problems():
    """(estimator, X, y) for each of the three estimators, small."""
    X, y = load_digits_data()
    Xr, yr = load_diabetes_data()
    Xj, yj = load_rotated_digits(as_images=False)
    return {"classifier": (HypersphericalClassifier(**SMALL), X[:120], y[:120]),
            "regressor": (HypersphericalRegressor(**SMALL), Xr[:100], yr[:100]),
            "joint": (JointEstimator(**SMALL), Xj[:120], yj[:120])}


@pytest.fixture
def no_fit(monkeypatch):
    """Make any estimator fit fail loudly: bad input must be caught before work starts."""
    def fit(self, *args, **kwargs):
        raise AssertionError("an estimator was fitted before the input was checked")
    for cls in (HypersphericalClassifier, HypersphericalRegressor, JointEstimator):
        monkeypatch.setattr(cls, "fit", fit)


def _states(study):
    return [t.state for t in study.trials]


# ---------------------------------------------------------------------- search spaces
@pytest.mark.parametrize("kind", ["classifier", "regressor", "joint"])
def test_default_search_space_names_are_parameters(problems, kind):
    estimator, X, y = problems[kind]
    space = default_search_space(estimator, X, y)
    params = estimator.get_params()
    assert {"lr", "weight_decay", "batch_size", "max_epochs", "n_dims"} <= set(space)
    assert set(space) <= set(params)
    low, high = space["n_dims"].low, space["n_dims"].high
    expected = {"classifier": (5, 20), "regressor": (2, 9), "joint": (1 + 3, 1 + 10)}
    assert (low, high) == expected[kind]
    assert ("loss" in space) == (kind == "classifier")


def test_default_search_space_adds_cutmix_for_images():
    X, y = load_digits_data(as_images=True)
    space = default_search_space(HypersphericalClassifier("cnn"), X[:50], y[:50])
    assert set(space["mixing"].choices) == {None, "mixup", "cutmix", "both"}
    flat = default_search_space(HypersphericalClassifier(), X[:50].reshape(50, -1), y[:50])
    assert set(flat["mixing"].choices) == {None, "mixup"}


@pytest.mark.parametrize("space", [
    {"learning_rate": FloatDistribution(1e-3, 1e-1)},
    lambda trial: {"lr": trial.suggest_float("lr", 1e-3, 1e-1), "epochs": 3},
])
def test_unknown_parameter_in_search_space_fails_before_fitting(digits, no_fit, space):
    with pytest.raises(ValueError, match=r"Unknown parameter\(s\) \['(learning_rate|epochs)'\]"
                                         r" in search_space for HypersphericalClassifier"):
        tune(HypersphericalClassifier(**SMALL), *digits, search_space=space, cv=2)


def test_search_space_values_must_be_distributions(digits, no_fit):
    with pytest.raises(ValueError, match="must be optuna distributions"):
        tune(HypersphericalClassifier(**SMALL), *digits, search_space={"lr": 0.01}, cv=2)


@pytest.mark.parametrize("n_trials", [0, -3, 2.5, True])
def test_n_trials_must_be_positive_integer(digits, no_fit, n_trials):
    with pytest.raises(ValueError, match="n_trials must be an integer >= 1"):
        tune(HypersphericalClassifier(**SMALL), *digits, n_trials=n_trials, cv=2)


# ---------------------------------------------------------------------- tune
@pytest.mark.parametrize("kind", ["classifier", "regressor", "joint"])
def test_tune_refits_best_parameters(problems, kind):
    estimator, X, y = problems[kind]
    space = {**LR, "batch_size": CategoricalDistribution([16, 32])}
    result = tune(estimator, X, y, search_space=space, n_trials=3, cv=2, random_state=0)
    study, best = result
    assert _states(study) == [TrialState.COMPLETE] * 3
    assert result.best_score == max(t.value for t in study.trials)
    assert best.lr == result.best_params["lr"] and best.batch_size == study.best_params[
        "batch_size"]
    assert best.max_epochs == 2 and best.random_state == 0   # fixed, and seeded by tune
    assert hasattr(best, "net_") and best.n_features_in_ == X.shape[1]
    for trial in study.trials:
        assert trial.value == pytest.approx(np.mean(trial.user_attrs["fold_scores"]))
        assert trial.user_attrs["worker"].endswith(f":{os.getpid()}")


def test_tune_default_space_and_callable_space(digits):
    estimator = HypersphericalClassifier(**SMALL)
    space = default_search_space(estimator, *digits)
    del space["max_epochs"]
    study, best = tune(estimator, *digits, search_space=space, n_trials=2, cv=2,
                       random_state=0)
    assert set(study.best_params) == set(space)

    def width(trial):
        return {"module_params": {"hidden_layer_sizes": (trial.suggest_int("width", 8, 64),)}}
    study, best = tune(estimator, *digits, search_space=width, n_trials=2, cv=2,
                       random_state=0)
    assert best.module_params == {"hidden_layer_sizes": (study.best_params["width"],)}
    assert best.net_.module_.backbone[0].out_features == study.best_params["width"]


def test_tune_is_reproducible_with_random_state(digits):
    def run():
        study, _ = tune(HypersphericalClassifier(**SMALL), *digits, search_space=LR,
                        n_trials=3, cv=2, random_state=7, refit=False)
        return [(t.params, t.value) for t in study.trials]
    first = run()
    assert first == run()
    assert len({p["lr"] for p, _ in first}) == 3


def test_failed_trials_are_recorded_not_fatal(digits):
    def space(trial):   # even trials ask for a simplex that 10 classes cannot fit in 2-d
        return {"prototypes": "simplex" if trial.number % 2 == 0 else "auto", "n_dims": 2}
    result = tune(HypersphericalClassifier(**SMALL), *digits, search_space=space,
                  n_trials=4, cv=2, random_state=0)
    assert _states(result.study) == [TrialState.FAIL, TrialState.COMPLETE] * 2
    assert "simplex" in result.study.trials[0].user_attrs["error"]
    assert result.best_estimator.prototypes == "auto"


def test_nan_scores_fail_the_trial_and_nothing_is_refitted(digits):
    def nan_scorer(estimator, X, y):
        return float("nan")
    with pytest.warns(UserWarning, match="No trial of study .* completed"):
        result = tune(HypersphericalClassifier(**SMALL), *digits, search_space=LR,
                      scoring=nan_scorer, n_trials=2, cv=2, pruning=False, random_state=0)
    assert _states(result.study) == [TrialState.FAIL] * 2
    assert result.study.trials[0].user_attrs["error"] == "fold 0 scored nan"
    assert result.best_estimator is None


# ---------------------------------------------------------------------- pruning
def test_pruning_stops_trials_at_the_epoch_the_pruner_says(digits):
    always = optuna.pruners.ThresholdPruner(lower=2.0, n_warmup_steps=1)  # accuracy < 2
    estimator = HypersphericalClassifier(**{**SMALL, "max_epochs": 5})
    with pytest.warns(UserWarning, match="nothing to refit"):
        study, best = tune(estimator, *digits, search_space=LR, n_trials=2, cv=2,
                           pruning=always, random_state=0)
    assert _states(study) == [TrialState.PRUNED] * 2 and best is None
    assert all(sorted(t.intermediate_values) == [0, 1] for t in study.trials)
    study, _ = tune(estimator, *digits, search_space=LR, n_trials=1, cv=2, pruning=False,
                    random_state=0, refit=False)
    assert _states(study) == [TrialState.COMPLETE] and study.trials[0].intermediate_values == {}


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_each_fold_reports_its_held_out_score_every_epoch(digits, n_jobs):
    study, _ = tune(HypersphericalClassifier(**SMALL), *digits, search_space=LR, n_trials=4,
                    cv=2, pruning=NEVER, n_jobs=n_jobs, random_state=0, refit=False)
    for trial in study.trials:   # with threads too, each trial gets its own folds' scores
        values, folds = trial.intermediate_values, trial.user_attrs["fold_scores"]
        assert sorted(values) == [0, 1, FOLD_STEP, FOLD_STEP + 1]
        assert [values[1], values[FOLD_STEP + 1]] == pytest.approx(folds)


@pytest.mark.parametrize("kind", ["classifier", "regressor", "joint"])
def test_epoch_pruning_survives_clone_and_does_not_change_training(problems, kind):
    estimator, X, y = problems[kind]
    estimator = clone(estimator).set_params(random_state=0, callbacks=[EpochPruning()])
    estimator = pickle.loads(pickle.dumps(clone(estimator)))
    train, valid = (X[:80], y[:80]), (X[80:], y[80:])
    fold = Fold(FixedTrial({}), estimator, valid, check_scoring(estimator), 0)
    with reporting(fold):
        estimator.fit(*train)
    plain = clone(estimator).set_params(callbacks=None).fit(*train)
    np.testing.assert_array_equal(estimator.transform(valid[0]), plain.transform(valid[0]))
    scores = estimator.history_[:, "fold_score"]
    assert len(scores) == 2 and scores[-1] == pytest.approx(estimator.score(*valid))
    pickle.loads(pickle.dumps(estimator)).predict(valid[0])
    outside = clone(estimator).fit(*train)    # no trial: the callback does nothing
    assert "fold_score" not in outside.history_[-1]


def test_skorch_pruning_callback_breaks_clone_epoch_pruning_does_not():
    # the reason EpochPruning exists: a callback holding the trial breaks clone
    from optuna_integration import SkorchPruningCallback

    trial = optuna.create_study().ask()
    broken = HypersphericalClassifier(callbacks=[SkorchPruningCallback(trial, "valid_loss")])
    with pytest.raises(TypeError, match="unexpected keyword argument '_trial'"):
        clone(broken)
    cloned = clone(HypersphericalClassifier(callbacks=[EpochPruning()]))
    assert isinstance(pickle.loads(pickle.dumps(cloned)).callbacks[0], EpochPruning)


# ---------------------------------------------------------------------- OptunaSearchCV
@pytest.mark.parametrize("kind", ["classifier", "regressor", "joint"])
def test_optuna_search_cv_works_with_the_estimators(problems, kind):
    from optuna_integration import OptunaSearchCV

    estimator, X, y = problems[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        search = OptunaSearchCV(clone(estimator).set_params(random_state=0),
                                {"n_dims": IntDistribution(4, 6), **LR}, cv=2, n_trials=2,
                                random_state=0).fit(X, y)
    assert 4 <= search.best_params_["n_dims"] <= 6
    assert search.best_estimator_.n_dims_ == search.best_params_["n_dims"]
    assert np.shape(search.predict(X[:5])) == np.shape(y[:5])
    assert len(search.study_.trials) == 2


# ---------------------------------------------------------------------- storage
@pytest.mark.parametrize("url", ["not a url", "postgresql://u:secret@host:port/db",
                                 "postgres://u:secret@127.0.0.1/db", "oracle://u:secret@h/db",
                                 "postgresql://u:secret@/db"])
def test_malformed_storage_url_fails_before_fitting(digits, no_fit, url):
    with pytest.raises(ValueError, match="storage '") as info:
        tune(HypersphericalClassifier(**SMALL), *digits, storage=url, cv=2)
    assert "secret" not in str(info.value)


def test_unreachable_database_fails_fast_before_fitting(digits, no_fit):
    start = time.perf_counter()
    with pytest.raises(ConnectionError) as info:
        tune(HypersphericalClassifier(**SMALL), *digits, cv=2,
             storage="postgresql://u:secret@127.0.0.1:1/db")
    message = str(info.value)
    assert "postgresql://u:***@127.0.0.1:1/db" in message and "secret" not in message
    assert "refused" in message.lower()
    assert time.perf_counter() - start < 15


def test_sqlite_study_resumes_to_the_requested_count(digits, tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    kwargs = {"search_space": LR, "cv": 2, "storage": url, "study_name": "s",
              "random_state": 0, "refit": False}
    tune(HypersphericalClassifier(**SMALL), *digits, n_trials=2, **kwargs)
    study, _ = tune(HypersphericalClassifier(**SMALL), *digits, n_trials=3, **kwargs)
    assert len(study.trials) == 3   # resumed: one more trial, not three
    study, _ = tune(HypersphericalClassifier(**SMALL), *digits, n_trials=3, **kwargs)
    assert len(study.trials) == 3   # already complete
    assert len({t.params["lr"] for t in study.trials}) == 3   # no draw repeated on resume
    loaded = optuna.load_study(study_name="s", storage=url)
    assert [t.value for t in loaded.trials] == [t.value for t in study.trials]


# ---------------------------------------------------------------------- CLI
def test_cli_tune_prints_best_parameters(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    args = ["tune", "--dataset", "digits", "--n-samples", "120", "--max-epochs", "2",
            "--cv", "2", "--n-trials", "2", "--storage", url]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "study 'hsproto-digits' on digits (120 samples): 2 complete" in out
    assert "best 2-fold accuracy: " in out and "best parameters:" in out and "  lr " in out
    study = optuna.load_study(study_name="hsproto-digits", storage=url)
    assert f"{study.best_value:.4f}" in out and len(study.trials) == 2
    assert main(["tune", "--storage", "postgresql://u:pw@127.0.0.1:1/db"]) == 2
    assert "error: Cannot connect" in capsys.readouterr().err


# ---------------------------------------------------------------------- PostgreSQL
@pytest.fixture
def postgres_url():
    url = os.environ.get("HSPROTO_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but HSPROTO_TEST_POSTGRES_URL is not set: .ci/run starts "
                        "PostgreSQL with .ci/postgres.sh")
        pytest.skip("needs PostgreSQL: eval \"$(.ci/postgres.sh start)\"")
    return url


def _load(url, name):
    return optuna.load_study(study_name=name, storage=open_storage(url, 60))


def _trials(storage, name):
    """The study's trials, or [] while it does not exist."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return []
    return storage.get_all_trials(study_id)


def _worker(url, name, n_trials, *extra):
    """``python -m hsproto tune`` in a subprocess, one torch thread (2 CPU cores)."""
    args = [sys.executable, "-m", "hsproto", "tune", "--dataset", "digits", "--n-samples",
            "300", "--cv", "2", "--n-trials", str(n_trials), "--storage", url,
            "--study-name", name, *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


@pytest.mark.postgres
def test_postgres_storage_in_process_and_bad_password(digits, postgres_url):
    name = f"inproc-{uuid.uuid4().hex[:8]}"
    study, best = tune(HypersphericalClassifier(**SMALL), *digits, search_space=LR,
                       n_trials=2, cv=2, storage=postgres_url, study_name=name,
                       random_state=0)
    assert _states(_load(postgres_url, name)) == [TrialState.COMPLETE] * 2
    assert best.lr == study.best_params["lr"]
    user, rest = postgres_url.split("://", 1)[1].split(":", 1)
    wrong = postgres_url.replace(f"{user}:{rest.split('@')[0]}@", f"{user}:wrong-pw@")
    with pytest.raises(ConnectionError, match="password authentication failed") as info:
        tune(HypersphericalClassifier(**SMALL), *digits, storage=wrong, study_name=name)
    assert "wrong-pw" not in str(info.value) and f"{user}:***@" in str(info.value)


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_share_a_postgres_study(postgres_url):
    name, n_trials = f"two-{uuid.uuid4().hex[:8]}", 8
    workers = [_worker(postgres_url, name, n_trials, "--max-epochs", "8") for _ in range(2)]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    trials = _load(postgres_url, name).trials
    numbers = [t.number for t in trials]
    assert numbers == list(range(len(trials)))          # no duplicate, no gap
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    # together exactly the requested count (one more only if both started a trial in
    # the same instant, see tune's n_trials)
    assert n_trials <= len(trials) <= n_trials + 1
    pids = {w.pid for w in workers}
    ran = {int(t.user_attrs["worker"].rsplit(":", 1)[1]) for t in trials}
    assert ran == pids                                   # both workers took trials
    assert len({t.params["lr"] for t in trials}) == len(trials)   # same seed, no repeats
    for output in outputs:
        assert f"study '{name}'" in output and "best parameters:" in output


@pytest.mark.postgres
@pytest.mark.slow
def test_killed_worker_trial_fails_and_a_restarted_worker_finishes(postgres_url):
    name, n_trials = f"kill-{uuid.uuid4().hex[:8]}", 5
    extra = ("--max-epochs", "80", "--no-pruning", "--heartbeat-interval", "1")
    X, y = load_digits_data()
    n_params = len(default_search_space(HypersphericalClassifier(), X, y)) - 1  # no epochs
    worker = _worker(postgres_url, name, n_trials, *extra)
    storage, deadline = open_storage(postgres_url, 60), time.monotonic() + 240
    while True:
        assert time.monotonic() < deadline and worker.poll() is None, "no trial to kill"
        trials = _trials(storage, name)
        done = {t.number: t.value for t in trials if t.state == TrialState.COMPLETE}
        running = [t.number for t in trials if t.state == TrialState.RUNNING
                   and len(t.params) == n_params]    # sampled: fitting now
        if len(done) >= 2 and running:
            break
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.communicate()
    killed = running[0]
    assert _load(postgres_url, name).trials[killed].state == TrialState.RUNNING
    time.sleep(3)           # past the grace period (2 x 1 s heartbeat)
    restarted = _worker(postgres_url, name, n_trials, *extra)
    output = restarted.communicate(timeout=300)[0]
    assert restarted.returncode == 0, output
    trials = _load(postgres_url, name).trials
    assert trials[killed].state == TrialState.FAIL                  # heartbeat
    assert {n: trials[n].value for n in done} == done               # nothing finished lost
    finished = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(finished) == n_trials                                 # study finished
    retried = [t for t in finished if t.system_attrs.get("failed_trial") == killed]
    assert len(retried) == 1 and retried[0].params == trials[killed].params
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
