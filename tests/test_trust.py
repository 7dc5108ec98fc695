"""Guarantees against silent garbage (issue 16): each of these returned garbage before."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from skorch.callbacks import Callback

from hsproto import HypersphericalClassifier, HypersphericalRegressor, JointEstimator
from hsproto.losses._base import unit
from hsproto.metrics import expected_calibration_error


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).normal(size=(40, 3))


def test_constant_targets_are_predicted_as_the_constant(X):
    reg = HypersphericalRegressor(max_epochs=3, random_state=0).fit(X, np.full(40, 3.25))
    np.testing.assert_array_equal(reg.predict(X), 3.25)
    one = HypersphericalRegressor(max_epochs=2, random_state=0).fit(X[:1], [7.0])
    np.testing.assert_array_equal(one.predict(X[:5]), 7.0)
    y = np.column_stack([np.arange(40) % 2, np.full(40, -7.5), np.linspace(0, 1, 40)])
    joint = JointEstimator(max_epochs=3, random_state=0).fit(X, y)
    pred = joint.predict(X)
    np.testing.assert_array_equal(pred[:, 1], -7.5)
    assert pred[:, 2].min() >= 0 and pred[:, 2].max() <= 1


def test_targets_whose_span_overflows(X):
    y = np.r_[np.full(20, -1e308), np.full(20, 1e308)]
    with pytest.raises(ValueError, match="span more than float64"):
        HypersphericalRegressor(max_epochs=1).fit(X, y)


def test_x_beyond_float32_is_refused(X):
    y = np.arange(40) % 2
    with pytest.raises(ValueError, match="beyond float32"):
        HypersphericalClassifier(max_epochs=1).fit(X * 1e39, y)
    clf = HypersphericalClassifier(max_epochs=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="beyond float32"):
        clf.predict(X * 1e39)


def test_huge_embeddings_still_have_unit_directions():
    z = torch.tensor([[3e25, 4e25], [0.0, 0.0], [1e-30, 0.0]])
    np.testing.assert_allclose(unit(z).numpy(), [[0.6, 0.8], [0.0, 0.0], [1.0, 0.0]],
                               rtol=1e-6)
    X, y = load_iris(return_X_y=True)
    clf = HypersphericalClassifier(max_epochs=30, lr=1e-2, random_state=0).fit(X, y)
    emb = clf.transform(X * 1e22)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    assert np.ptp(clf.predict_proba(X * 1e22), axis=1).min() > 0      # not uniform


def test_a_list_mixing_strings_and_numbers_is_refused(X):
    with pytest.raises(ValueError, match="mix strings and numbers"):
        HypersphericalClassifier(max_epochs=1).fit(X, [1, "a"] * 20)


def test_calibration_error_needs_probability_rows():
    with pytest.raises(ValueError, match="must sum to 1"):
        expected_calibration_error([0, 1], [[0.5, 0.5], [0.5, 0.0]])


class _PoisonWeights(Callback):
    """Makes the head's weights NaN after the first epoch, as a diverging step does."""

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 1:
            with torch.no_grad():
                net.module_.head.linear.weight.fill_(float("nan"))


@pytest.mark.parametrize("loss", ["hpn", "cosine", "vmf"])
def test_divergence_is_an_error_not_a_model(loss):
    X, y = load_iris(return_X_y=True)
    clf = HypersphericalClassifier(loss=loss, lr=0.5, max_epochs=5,
                                   callbacks=[_PoisonWeights()], random_state=0)
    # the lr in effect then: the default cosine schedule's 0.5 * (1 + cos(pi / 5)) / 2
    with pytest.raises(FloatingPointError, match=r"Training diverged: .* became NaN or "
                                                 r"infinite in epoch 2, batch 1 "
                                                 r"\(lr=\[?0\.4522"):
        clf.fit(X, y)
    assert not hasattr(clf, "net_")


def test_a_last_batch_of_one_is_dropped_for_batchnorm():
    X = np.random.default_rng(0).normal(size=(33, 3)).astype(np.float32)
    y = np.arange(33) % 2
    module = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.BatchNorm1d(8))
    clf = HypersphericalClassifier(module, batch_size=16, max_epochs=2, random_state=0)
    assert clf.fit(X, y).predict(X).shape == (33,)          # 16 + 16 + 1: the 1 dropped
    assert clf.history_[:, "train_batch_count"] == [2, 2]
    with pytest.raises(ValueError, match="single sample, which the backbone's BatchNorm"):
        HypersphericalRegressor(module, max_epochs=1).fit(X[:1], [1.0])


def test_a_tampered_cache_entry_is_recomputed(tmp_path):
    import glob

    import joblib

    import hsproto

    with hsproto.config_context(cache_dir=str(tmp_path)):
        P = hsproto.make_prototypes("separation", 10, 3, random_state=0)
        (entry,) = glob.glob(str(tmp_path / "**" / "output.pkl"), recursive=True)
        joblib.dump(np.tile(P[:1], (10, 1)), entry)          # ten copies of one vector
        with pytest.warns(UserWarning, match="not a valid placement.*recomputing"):
            again = hsproto.make_prototypes("separation", 10, 3, random_state=0)
        np.testing.assert_allclose(again, P)
        np.testing.assert_allclose(hsproto.make_prototypes("separation", 10, 3,
                                                           random_state=0), P)


def test_an_unusable_cache_directory_falls_back_with_one_warning(tmp_path):
    import warnings

    import hsproto

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with hsproto.config_context(cache_dir=str(blocker / "cache")):
        with pytest.warns(UserWarning, match="HSPROTO_CACHE_DIR.*cache_dir=None"):
            P = hsproto.make_prototypes("separation", 10, 3, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("error")                   # warned once only
            Q = hsproto.make_prototypes("separation", 12, 3, random_state=0)
            X, y = load_iris(return_X_y=True)
            HypersphericalClassifier(prototypes="separation", n_dims=3, max_epochs=1,
                                     random_state=0).fit(X, y)
    assert P.shape == (10, 3) and Q.shape == (12, 3)


def test_class_weight_keys_that_are_not_labels_warn(X):
    y = np.arange(40) % 2
    with pytest.warns(UserWarning, match=r"class_weight has keys \[5\] that are not labels"):
        HypersphericalClassifier(max_epochs=1, class_weight={0: 1.0, 1: 2.0, 5: 3.0}).fit(X, y)


def test_seeded_fits_in_threads_equal_the_fit_alone():
    import threading

    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = (X[:300] / 16).astype(np.float32), y[:300]

    def make():
        return HypersphericalClassifier(module_params={"dropout": 0.3}, max_epochs=4,
                                        random_state=0)

    alone = make().fit(X, y).decision_function(X)
    out = [None] * 3

    def run(i):
        out[i] = make().fit(X, y).decision_function(X)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got in out:
        np.testing.assert_array_equal(got, alone)


@pytest.mark.slow
def test_auto_in_3d_is_never_worse_than_the_fibonacci_lattice():
    import hsproto
    from hsproto.prototypes.auto import fibonacci_sphere

    with hsproto.config_context(cache_dir=None):
        P = hsproto.make_prototypes("auto", 5000, 3, random_state=0)
    worst = hsproto.pairwise_cosine_stats(P)["max"]
    assert worst <= hsproto.pairwise_cosine_stats(fibonacci_sphere(5000))["max"] + 1e-12
    assert np.degrees(np.arccos(worst)) > 2.4                    # was 0.043 degrees


def test_prototypes_too_close_to_classify_by_warn(monkeypatch):
    import hsproto
    from hsproto.prototypes import auto

    monkeypatch.setattr(auto, "_TOO_CLOSE_DEGREES", 35.0)       # 50 in 3-D: about 30°
    with hsproto.config_context(cache_dir=None), \
            pytest.warns(UserWarning, match="closest of 50 prototypes in 3 dimensions"):
        hsproto.make_prototypes("auto", 50, 3, random_state=0)


def test_a_read_only_sqlite_study_is_named_as_such(tmp_path):
    import sqlite3

    from hsproto.tuning import tune

    path = tmp_path / "study.db"
    sqlite3.connect(path).execute("create table t(x)").connection.commit()
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="is read-only; tune records every trial"):
        tune(HypersphericalClassifier(max_epochs=1), X, y, n_trials=1, cv=2,
             storage=f"sqlite:///file:{path}?mode=ro&uri=true", study_name="s")


def test_a_collapsed_temperature_is_a_divergence_not_a_model():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    # min_scale=0 lifts the loss's lower bound on the learned temperature.
    clf = HypersphericalClassifier(loss="cosine", loss_params={"min_scale": 0}, lr=1e3,
                                   max_epochs=10, random_state=0)
    with pytest.raises(FloatingPointError, match="inverse temperature collapsed.*lr="):
        clf.fit(X / 16, y)
    assert not hasattr(clf, "net_")
