"""scikit-learn estimators backed by skorch-managed torch networks."""

from .classifier import HypersphericalClassifier
from .regressor import HypersphericalRegressor

__all__ = ["HypersphericalClassifier", "HypersphericalRegressor"]
