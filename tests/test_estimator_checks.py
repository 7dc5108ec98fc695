"""scikit-learn's own estimator checks over the hyperspherical estimators."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from hsproto import HypersphericalClassifier, HypersphericalRegressor

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
