"""scikit-learn's own estimator checks over the hyperspherical estimators."""

import pytest
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from hsproto import HypersphericalClassifier, HypersphericalRegressor, JointEstimator

# Expected failures, each with the reason; everything else must pass (xfail_strict).
_SW = ("zero weights and repeated rows change mini-batch composition and the number of "
       "SGD steps, so weighted and repeated data give different (not equivalent) fits")
_F32 = ("the network computes in float32: outputs on a subset differ from the full "
        "batch by ~1e-6 (BLAS blocking depends on batch size); the check demands 1e-7")
_COMMON = {"check_sample_weight_equivalence_on_dense_data": _SW,
           "check_methods_subset_invariance": _F32}
EXPECTED_FAILURES = {"HypersphericalClassifier": _COMMON, "HypersphericalRegressor": _COMMON}


def expected_failed_checks(estimator):
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


ESTIMATORS = [
    HypersphericalClassifier(),
    HypersphericalClassifier(prototypes="separation", n_dims=3, optimizer="sgd", lr=0.05,
                             class_weight="balanced", module_params={"hidden_layer_sizes":
                                                                     (32, 32)}),
    HypersphericalClassifier(early_stopping=True, n_iter_no_change=3, max_epochs=200),
    HypersphericalRegressor(),
    HypersphericalRegressor(n_dims=8, early_stopping=True, weight_decay=1e-4),
]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks,
                         xfail_strict=True)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# JointEstimator's y is (n, 1 + n_targets): [label, targets]. scikit-learn's generic
# checks fabricate 1-d targets, which the joint format must reject, so the joint estimator
# runs the API checks that do not invent a y; fitting, cloning, pickling and CV are in
# tests/test_estimators.py.
JOINT_API_CHECKS = [
    "check_no_attributes_set_in_init", "check_parameters_default_constructible",
    "check_get_params_invariance", "check_set_params", "check_estimator_repr",
    "check_estimator_cloneable", "check_estimator_tags_renamed", "check_valid_tag_types",
    "check_mixin_order", "check_do_not_raise_errors_in_init_or_set_params",
]


@pytest.mark.parametrize("name", JOINT_API_CHECKS)
def test_joint_estimator_api_checks(name):
    check = getattr(estimator_checks, name)
    check(type(JointEstimator()).__name__, JointEstimator())
