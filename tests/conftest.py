import pytest
import torch

import hsproto


@pytest.fixture(autouse=True)
def _no_prototype_cache():
    """Tests never read or write the user's prototype cache."""
    with hsproto.config_context(cache_dir=None):
        yield


def pytest_configure(config):
    torch.set_num_threads(2)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
