"""Contract checkers for plugin authors, in the spirit of scikit-learn's ``check_estimator``.

Each checker runs the tests hsproto runs on its own built-ins and raises
:class:`ContractError` (an ``AssertionError``) whose message names the plugin, the step
that failed and what to fix::

    from hsproto.testing import check_backbone, check_loss, check_prototype_strategy

    def test_my_plugins():
        check_prototype_strategy(MyStrategy)
        check_loss(MyLoss, loss_params={"margin": 0.2})
        check_backbone(MyBackbone, input_shape=(3, 16, 16))

Every checker accepts a registered name (``"simplex"``), a class or, where the estimators
accept one, an instance. :func:`validate_plugin` is the cheap structural part that the
registry applies to every plugin it loads.
"""

from ._backbones import check_backbone
from ._checker import ContractError, validate_plugin
from ._losses import check_loss
from ._prototypes import check_prototype_strategy

__all__ = ["ContractError", "check_backbone", "check_loss", "check_prototype_strategy",
           "validate_plugin"]
