"""Ctrl-C stops fit (the estimator stays unfitted) and tune (the running trial FAILs)."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Callback

from hsproto import HypersphericalClassifier


class _SigintAt(Callback):
    """Sends this process a real SIGINT at the end of an epoch."""

    def __init__(self, epoch=2):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            os.kill(os.getpid(), signal.SIGINT)


class _StopAt(Callback):
    """Stops training the skorch way (as EarlyStopping does)."""

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 2:
            raise KeyboardInterrupt


@pytest.fixture(autouse=True)
def _default_sigint():
    """Python's own SIGINT handler for each test (and, inherited, its subprocesses):
    a shell that starts the test run in the background without job control makes it
    ignore SIGINT, and an ignored signal cannot interrupt anything."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(60, 4)).astype(np.float32), np.arange(60) % 3


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_propagates_and_leaves_the_estimator_unfitted(data):
    X, y = data
    clf = HypersphericalClassifier(max_epochs=50, callbacks=[_SigintAt(2)], random_state=0)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # restored
    # a refit of an interrupted estimator runs normally
    clf.set_params(callbacks=None, max_epochs=2).fit(X, y)
    assert len(clf.history_) == 2


def test_callbacks_still_stop_training_the_skorch_way(data):
    X, y = data
    clf = HypersphericalClassifier(max_epochs=50, callbacks=[_StopAt()], random_state=0)
    assert len(clf.fit(X, y).history_) == 2
    stopped = HypersphericalClassifier(max_epochs=500, early_stopping=True, loss="hpn",
                                       n_iter_no_change=2, lr=0.5, random_state=0)
    assert len(stopped.fit(X, y).history_) < 500


_FIT_SCRIPT = textwrap.dedent("""
    import os, signal
    import numpy as np
    from skorch.callbacks import Callback
    from hsproto import HypersphericalClassifier

    class SigintAt(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 2:
                os.kill(os.getpid(), signal.SIGINT)

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)).astype(np.float32), np.arange(60) % 3
    clf = HypersphericalClassifier(max_epochs=1000, callbacks=[SigintAt()])
    try:
        clf.fit(X, y)
        print("returned normally")
    except KeyboardInterrupt:
        print("interrupted; fitted:", hasattr(clf, "net_"))
""")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_real_sigint_stops_fit_in_a_subprocess():
    out = subprocess.run([sys.executable, "-c", _FIT_SCRIPT], capture_output=True,
                         text=True, timeout=300, check=True)
    assert out.stdout.strip() == "interrupted; fitted: False", out.stderr[-2000:]


_TUNE_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import optuna
    from skorch.callbacks import Callback
    from hsproto import HypersphericalClassifier
    from hsproto.tuning import tune

    class SigintInSecondTrial(Callback):
        def on_epoch_end(self, net, **kwargs):
            if os.environ.get("HSPROTO_TEST_SIGINT") and os.path.exists(sys.argv[2]):
                os.kill(os.getpid(), signal.SIGINT)

        def on_train_end(self, net, **kwargs):
            open(sys.argv[2], "a").close()          # one fit done: the next one stops

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(90, 4)).astype(np.float32), np.arange(90) % 3
    est = HypersphericalClassifier(max_epochs=3, callbacks=[SigintInSecondTrial()])
    space = {"lr": optuna.distributions.FloatDistribution(1e-3, 1e-2, log=True)}
    try:
        tune(est, X, y, n_trials=3, cv=2, search_space=space, storage=sys.argv[1],
             study_name="s", random_state=0, pruning=False)
        print("finished")
    except KeyboardInterrupt:
        print("interrupted")
""")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.slow
def test_real_sigint_stops_tune_and_the_rerun_resumes(tmp_path):
    import optuna

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    marker = tmp_path / "one_fit_done"
    env = {**os.environ, "HSPROTO_TEST_SIGINT": "1"}
    out = subprocess.run([sys.executable, "-c", _TUNE_SCRIPT, storage, str(marker)],
                         capture_output=True, text=True, timeout=300, env=env, check=True)
    assert out.stdout.strip() == "interrupted", out.stderr[-2000:]
    study = optuna.load_study(study_name="s", storage=storage)
    states = [t.state for t in study.trials]
    assert optuna.trial.TrialState.COMPLETE not in states       # the cut-short fold
    assert states == [optuna.trial.TrialState.FAIL]
    env.pop("HSPROTO_TEST_SIGINT")
    marker.unlink()
    out = subprocess.run([sys.executable, "-c", _TUNE_SCRIPT, storage, str(marker)],
                         capture_output=True, text=True, timeout=300, env=env, check=True)
    assert out.stdout.strip() == "finished", out.stderr[-2000:]
    study = optuna.load_study(study_name="s", storage=storage)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 3 and study.trials[0].state == optuna.trial.TrialState.FAIL
