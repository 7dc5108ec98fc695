"""scikit-learn's own estimator checks over the hyperspherical estimators."""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from hsproto import HypersphericalClassifier, HypersphericalRegressor, JointEstimator

# scikit-learn's own check suite (about 450 checks): in `make test`, not in `make test-fast`
pytestmark = pytest.mark.checks

# Expected failures, each with the reason; everything else must pass (xfail_strict).
_SW = ("zero weights and repeated rows change mini-batch composition and the number of "
       "SGD steps, so weighted and repeated data give different (not equivalent) fits")
_F32 = ("the network computes in float32: outputs on a subset differ from the full "
        "batch by ~1e-6 (BLAS blocking depends on batch size); the check demands 1e-7")
_COMMON = {"check_sample_weight_equivalence_on_dense_data": _SW}
# within 1e-7 or not depending on the trained weights: an expected failure when it fails,
# not a strict xfail (see _run_check)
_TOLERATED = {"check_methods_subset_invariance": _F32}


def _run_check(check):
    name = getattr(check, "func", check).__name__
    if name not in _TOLERATED:
        return check
    def tolerated(estimator):
        try:
            check(estimator)
        except AssertionError:
            pytest.xfail(_TOLERATED[name])
    return tolerated
EXPECTED_FAILURES = {"HypersphericalClassifier": _COMMON, "HypersphericalRegressor": _COMMON}


def expected_failed_checks(estimator):
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


ESTIMATORS = [
    HypersphericalClassifier(),
    HypersphericalClassifier(prototypes="separation", n_dims=3, optimizer="sgd", lr=0.05,
                             class_weight="balanced", module_params={"hidden_layer_sizes":
                                                                     (32, 32)}),
    # early stopping on the held-out loss; without dropout, whose noise on the tiny
    # class-weight check data (weights 1000 : 0.0001) stops it before the bias is learned
    HypersphericalClassifier(early_stopping=True, n_iter_no_change=3, max_epochs=200,
                             module_params={"dropout": 0.0}),
    HypersphericalRegressor(),
    HypersphericalRegressor(n_dims=8, early_stopping=True, weight_decay=1e-4),
]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks,
                         xfail_strict=True)
def test_sklearn_compatible(estimator, check):
    _run_check(check)(estimator)


# JointEstimator's y is (n, 1 + n_targets): [label, targets]. scikit-learn's generic
# checks fabricate 1-d class labels, which that format rejects (a joint model without a
# regression target is a classifier). So the joint estimator meets the checks through
# ``_JointOnCheckLabels``, which changes nothing but the y it receives: each 1-d label
# vector becomes [label, label code as a float target]. Every other code path (X
# validation, fitting, prediction, parameters, pickling, fit idempotence, n_features_in_)
# is JointEstimator's own. The y format itself is tested in tests/test_estimators.py.
class _JointOnCheckLabels(JointEstimator):
    @staticmethod
    def _joint_y(y):
        if y is None or np.asarray(y).ndim != 1:
            return y
        y = np.asarray(y)
        codes = np.unique(y, return_inverse=True)[1]
        return np.column_stack([y.astype(object), codes.astype(np.float64)])

    def fit(self, X, y, sample_weight=None):
        return super().fit(X, self._joint_y(y), sample_weight=sample_weight)

    def score(self, X, y, sample_weight=None):
        return super().score(X, self._joint_y(y), sample_weight=sample_weight)


EXPECTED_FAILURES["_JointOnCheckLabels"] = _COMMON
JOINT_CONFIGS = [
    _JointOnCheckLabels(),
    _JointOnCheckLabels(n_dims=6, prototypes="separation", early_stopping=True,
                        n_iter_no_change=3, module_params={"hidden_layer_sizes": (32,)}),
]


@parametrize_with_checks(JOINT_CONFIGS, expected_failed_checks=expected_failed_checks,
                         xfail_strict=True)
def test_joint_estimator_sklearn_compatible(estimator, check):
    _run_check(check)(estimator)


def test_joint_check_adapter_only_reshapes_y():
    y = np.array(["b", "a", "b"])
    joint = _JointOnCheckLabels._joint_y(y)
    assert joint.shape == (3, 2)
    np.testing.assert_array_equal(joint[:, 0], y)
    np.testing.assert_array_equal(joint[:, 1].astype(float), [1.0, 0.0, 1.0])
    two_d = np.zeros((3, 2))
    assert _JointOnCheckLabels._joint_y(two_d) is two_d
    # the real estimator still refuses 1-d y with a message naming the format
    with pytest.raises(ValueError, match=r"\(n_samples, 1 \+ n_targets\)"):
        JointEstimator(max_epochs=1).fit(np.zeros((3, 2)), y)
