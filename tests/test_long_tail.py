"""Logit adjustment for imbalanced classes (Menon et al., 2021)."""

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from hsproto import HypersphericalClassifier


def _imbalanced(n_major=950, n_minor=50, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(0.0, 1.0, (n_major, 2)), rng.normal(1.5, 1.0, (n_minor, 2))])
    y = np.r_[np.zeros(n_major, int), np.ones(n_minor, int)]
    return X.astype(np.float32), y


def test_offset_is_tau_times_the_log_training_prior():
    X, y = _imbalanced()
    clf = HypersphericalClassifier(loss="cosine", logit_adjustment=0.5, max_epochs=2,
                                   random_state=0).fit(X, y)
    offset = clf.net_.criterion_.loss.logit_offset.numpy()
    np.testing.assert_allclose(offset, 0.5 * np.log([0.95, 0.05]), rtol=1e-6)


@pytest.mark.parametrize("loss", ["cosine", "mce", "softmax"])
def test_logit_adjustment_raises_balanced_accuracy(loss):
    X, y = _imbalanced()
    Xte, yte = _imbalanced(seed=1)
    plain = HypersphericalClassifier(loss=loss, max_epochs=20, random_state=0).fit(X, y)
    adjusted = HypersphericalClassifier(loss=loss, logit_adjustment=1.0, max_epochs=20,
                                        random_state=0).fit(X, y)
    before = balanced_accuracy_score(yte, plain.predict(Xte))
    after = balanced_accuracy_score(yte, adjusted.predict(Xte))
    assert after > before + 0.05, (before, after)


def test_logit_adjustment_needs_logits():
    X, y = _imbalanced()
    with pytest.raises(ValueError, match="logit_adjustment needs a loss trained by"):
        HypersphericalClassifier(loss="hpn", logit_adjustment=1.0, max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="logit_adjustment"):
        HypersphericalClassifier(logit_adjustment=-1.0, max_epochs=1).fit(X, y)


def test_logit_adjustment_with_mixup_trains_on_soft_targets():
    """The long-tail recipe (docs/defaults.md): the offset also applies to MixUp's mixed
    targets, and balanced accuracy rises as with hard labels."""
    X, y = _imbalanced()
    Xte, yte = _imbalanced(seed=1)
    plain = HypersphericalClassifier(mixing="mixup", max_epochs=20, random_state=0).fit(X, y)
    recipe = HypersphericalClassifier(logit_adjustment=1.0, mixing="mixup", max_epochs=20,
                                      random_state=0).fit(X, y)
    before = balanced_accuracy_score(yte, plain.predict(Xte))
    after = balanced_accuracy_score(yte, recipe.predict(Xte))
    assert after > before + 0.1, (before, after)
