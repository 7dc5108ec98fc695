"""scikit-learn estimators backed by skorch-managed torch networks."""

from .classifier import HypersphericalClassifier
from .joint import JointEstimator, joint_scorers
from .regressor import HypersphericalRegressor

__all__ = ["HypersphericalClassifier", "HypersphericalRegressor", "JointEstimator",
           "joint_scorers"]
