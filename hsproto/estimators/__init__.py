"""scikit-learn estimators backed by skorch-managed torch networks."""

from ._base import HypersphericalBase
from .classifier import HypersphericalClassifier
from .joint import JointEstimator, joint_scorers
from .regressor import HypersphericalRegressor

__all__ = ["HypersphericalBase", "HypersphericalClassifier",
           "HypersphericalRegressor", "JointEstimator",
           "joint_scorers"]
