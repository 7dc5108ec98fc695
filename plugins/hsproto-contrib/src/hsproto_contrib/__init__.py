"""Example third-party plugins for hsproto.

- ``hadamard`` (prototype strategy): the rows of a Sylvester Hadamard matrix, the fixed
  classifier of Hoffer et al. (2018), "Fix your classifier".
- ``cosface`` (loss): additive cosine margin, Wang et al. (2018), "CosFace".
- ``resnet`` (backbone): torchvision's ResNet-18/34 with a stem for small images.

hsproto finds them through the entry points in this package's ``pyproject.toml``; nothing
here is imported until a name is used.
"""

__version__ = "0.2.0"
