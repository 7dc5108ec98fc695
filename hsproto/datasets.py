"""Real data sets that ship with scikit-learn, shaped for hsproto's estimators."""

from __future__ import annotations

import codecs
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
from scipy import ndimage
from sklearn.datasets import load_diabetes, load_digits

__all__ = ["load_cifar", "load_diabetes_data", "load_digits_data", "load_rotated_digits"]


def load_digits_data(*, as_images=False):
    """8x8 handwritten digits: X (1797, 64) in [0, 1], or (1797, 1, 8, 8); y in 0..9."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return (X.reshape(-1, 1, 8, 8) if as_images else X), y


def load_diabetes_data():
    """The diabetes regression data (442 x 10, target: disease progression)."""
    X, y = load_diabetes(return_X_y=True)
    return X.astype(np.float32), y


def load_rotated_digits(digits=(2, 3, 4, 5, 7), *, n_copies=1, max_angle=180.0,
                        as_images=True, random_state=0):
    """Digits rotated by a uniform random angle: joint classification and regression.

    The HPN rotated-MNIST task (METHODS.md §1) on scikit-learn's 8x8 digits: each image
    of the chosen ``digits`` is rotated ``n_copies`` times by an angle drawn uniformly
    from ``[0, max_angle)`` degrees (bilinear, about the image centre).

    Returns
    -------
    X : ndarray of shape (n, 1, 8, 8) (or (n, 64) with ``as_images=False``), in [0, 1]
    y : ndarray of shape (n, 2), dtype float
        Column 0: the digit; column 1: the rotation angle in degrees. This is the
        ``JointEstimator``'s target format.
    """
    X, labels = load_digits(return_X_y=True)
    keep = np.isin(labels, digits)
    if not keep.any():
        raise ValueError(f"digits must be a subset of 0..9, got {digits!r}.")
    if n_copies < 1:
        raise ValueError(f"n_copies must be >= 1, got {n_copies}.")
    images = np.repeat(X[keep].reshape(-1, 8, 8) / 16.0, n_copies, axis=0)
    labels = np.repeat(labels[keep], n_copies)
    angles = np.random.default_rng(random_state).uniform(0.0, max_angle, len(labels))
    rotated = np.stack([ndimage.rotate(img, a, reshape=False, order=1, mode="constant")
                        for img, a in zip(images, angles, strict=True)])
    rotated = np.clip(rotated, 0.0, 1.0).astype(np.float32)
    X = rotated[:, None] if as_images else rotated.reshape(len(rotated), -1)
    return X, np.column_stack([labels, angles])


# --------------------------------------------------------------------------- CIFAR

_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"

# name -> official file names; labels: kind -> (label key, names key in meta, n classes)
_CIFAR = {
    "cifar10": {
        "archive": "cifar-10-python.tar.gz",
        "folder": "cifar-10-batches-py",
        "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test": ("test_batch",),
        "meta": "batches.meta",
        "labels": {"fine": (b"labels", b"label_names", 10)},
    },
    "cifar100": {
        "archive": "cifar-100-python.tar.gz",
        "folder": "cifar-100-python",
        "train": ("train",),
        "test": ("test",),
        "meta": "meta",
        "labels": {"fine": (b"fine_labels", b"fine_label_names", 100),
                   "coarse": (b"coarse_labels", b"coarse_label_names", 20)},
    },
}


def _resolve_reconstruct():
    try:  # numpy >= 2: the real home; importing numpy.core there is deprecated
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _latin1_encode(obj, encoding="utf-8", errors="strict"):
    """``_codecs.encode`` as Python 3 writes bytes into protocol-2 pickles: latin-1 only."""
    if codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(
            f"global '_codecs.encode' is only allowed with the latin-1 encoding, "
            f"not {encoding!r}")
    return codecs.encode(obj, encoding, errors)


# The only globals a CIFAR pickle may name (module, name) -> resolver; Python 2 numpy
# wrote numpy.core.multiarray, numpy >= 2 writes numpy._core.multiarray.
_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _resolve_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _resolve_reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("_codecs", "encode"): lambda: _latin1_encode,
}


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, bytes, numbers and numpy arrays.

    ``pickle.load`` on an arbitrary file can run arbitrary code (any importable callable
    can be named and called); this one refuses every global except what pickled numpy
    arrays need.
    """

    def find_class(self, module, name):
        resolve = _PICKLE_GLOBALS.get((module, name))
        if resolve is None:
            raise pickle.UnpicklingError(f"refused to load global '{module}.{name}'")
        return resolve()


def _unpickle(fileobj, where):
    """Safely unpickle one CIFAR file; ``where`` names it in error messages."""
    try:
        obj = _CifarUnpickler(fileobj, encoding="bytes").load()
    except Exception as exc:  # untrusted input: any failure means "not a CIFAR file"
        raise ValueError(
            f"{where} is not an official CIFAR batch ({type(exc).__name__}: {exc}).") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"{where} is not an official CIFAR batch: it holds a "
                         f"{type(obj).__name__}, not a dict.")
    return obj


def _missing_message(spec, name, searched):
    return (
        f"No {name} data found in {searched}. Expected the extracted folder "
        f"'{spec['folder']}/' or the archive '{spec['archive']}' there (or pass the "
        f"folder or the archive itself as root). Download the \"python version\" of "
        f"{name.upper().replace('CIFAR', 'CIFAR-')} from {_CIFAR_URL}; hsproto never "
        f"downloads it.")


def _read_folder(folder, files):
    out = {}
    for fname in files:
        path = folder / fname
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} does not exist: the CIFAR folder {folder} is incomplete. "
                f"Re-extract the official archive from {_CIFAR_URL} (\"python version\").")
        with open(path, "rb") as f:
            out[fname] = _unpickle(f, str(path))
    return out


def _read_archive(archive, folder_name, files):
    """Read the wanted members of the archive in one streaming pass (no extraction)."""
    wanted = {f"{folder_name}/{fname}": fname for fname in files}
    out = {}
    try:
        with tarfile.open(archive, "r|*") as tar:
            for member in tar:
                key = wanted.get(member.name.removeprefix("./"))
                if key is None or key in out or not member.isfile():
                    continue
                f = tar.extractfile(member)
                out[key] = _unpickle(f, f"{archive}:{member.name}")
                if len(out) == len(wanted):
                    break
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ValueError(f"Cannot read {archive} as a .tar.gz archive ({exc}); re-download "
                         f"the \"python version\" from {_CIFAR_URL}.") from exc
    missing = [f"{folder_name}/{fname}" for fname in files if fname not in out]
    if missing:
        raise FileNotFoundError(
            f"{archive} lacks {', '.join(missing)}: it is not the official archive. "
            f"Download the \"python version\" from {_CIFAR_URL}.")
    return out


def _labels_of(batch, key, n_classes, where, n_rows):
    if key not in batch:
        raise ValueError(f"{where} is not an official CIFAR batch: it has no "
                         f"{key.decode()!r} entry.")
    try:
        y = np.asarray(batch[key], dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{where}: the {key.decode()!r} entry is not a list of "
                         f"integers.") from exc
    if y.shape != (n_rows,):
        raise ValueError(f"{where}: {y.size} labels ({key.decode()!r}) for {n_rows} "
                         f"images.")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{where}: labels ({key.decode()!r}) outside 0..{n_classes - 1}.")
    return y


def load_cifar(root, name="cifar10", *, train=True, labels="fine", return_names=False):
    """Load CIFAR-10 or CIFAR-100 from the official "python version" files on disk.

    Nothing is downloaded: get ``cifar-10-python.tar.gz`` or ``cifar-100-python.tar.gz``
    from https://www.cs.toronto.edu/~kriz/cifar.html ("python version") yourself. The
    archive can be read directly (no extraction needed), or extracted.

    The batch files are pickles; they are read with a restricted unpickler that builds
    only plain containers and numpy arrays, so a tampered file cannot run code.

    Parameters
    ----------
    root : str or path-like
        One of: the directory holding the extracted folder (``cifar-10-batches-py/`` or
        ``cifar-100-python/``) and/or the archive; the extracted folder itself; or the
        ``.tar.gz`` archive itself. If a directory holds both the folder and the
        archive, the folder is read.
    name : {"cifar10", "cifar100"}, default="cifar10"
    train : bool, default=True
        The training set (50000 images) if True, else the test set (10000 images).
    labels : {"fine", "coarse"}, default="fine"
        For CIFAR-100: the 100 classes ("fine") or the 20 superclasses ("coarse").
        CIFAR-10 has only "fine" labels.
    return_names : bool, default=False
        Also return the class names from the meta file.

    Returns
    -------
    X : ndarray of shape (n, 3, 32, 32), dtype uint8
        The images, channels first (R, G, B), C-contiguous; pixel values 0..255.
    y : ndarray of shape (n,), dtype int64
        The class index of each image.
    names : list of str
        Only with ``return_names=True``: ``names[k]`` is the name of class ``k``.

    Raises
    ------
    FileNotFoundError
        If neither the folder nor the archive is found, or a batch file is missing.
    ValueError
        For an unknown ``name`` or ``labels``, or a file that is not an official CIFAR
        batch (unreadable, refused by the restricted unpickler, wrong data shape or
        dtype, or as many labels as images).

    Examples
    --------
    >>> from hsproto.datasets import load_cifar
    >>> X, y = load_cifar("~/data", "cifar10")  # doctest: +SKIP
    >>> X.shape, X.dtype, y.shape  # doctest: +SKIP
    ((50000, 3, 32, 32), dtype('uint8'), (50000,))
    >>> X, y, names = load_cifar("~/data/cifar-100-python.tar.gz", "cifar100", train=False,
    ...                          labels="coarse", return_names=True)  # doctest: +SKIP
    >>> len(names)  # doctest: +SKIP
    20

    The estimators take the uint8 images as they are (scaled to [0, 1] per batch):

    >>> from hsproto import HypersphericalClassifier
    >>> clf = HypersphericalClassifier("resnet_cifar").fit(X, y)  # doctest: +SKIP
    """
    spec = _CIFAR.get(name)
    if spec is None:
        raise ValueError(f"Unknown CIFAR data set {name!r}; choose one of "
                         f"{sorted(_CIFAR)}.")
    if labels not in ("fine", "coarse"):
        raise ValueError(f"labels must be 'fine' or 'coarse', got {labels!r}.")
    if labels not in spec["labels"]:
        raise ValueError(f"{name} has only {sorted(spec['labels'])} labels, got "
                         f"{labels!r}; coarse labels exist for 'cifar100' only.")
    label_key, names_key, n_classes = spec["labels"][labels]
    batches = spec["train"] if train else spec["test"]
    files = (*batches, spec["meta"]) if return_names else batches

    root = Path(os.path.expanduser(os.fspath(root)))
    folder = archive = None
    if root.is_file():
        archive = root
    elif root.is_dir():
        if (root / spec["folder"]).is_dir():
            folder = root / spec["folder"]
        elif root.name == spec["folder"] or (root / batches[0]).is_file():
            folder = root
        elif (root / spec["archive"]).is_file():
            archive = root / spec["archive"]
        else:
            raise FileNotFoundError(_missing_message(spec, name, f"directory {root}"))
    else:
        raise FileNotFoundError(_missing_message(spec, name, f"{root} (no such file or "
                                                 f"directory)"))

    if folder is not None:
        contents, where = _read_folder(folder, files), folder
    else:
        contents, where = _read_archive(archive, spec["folder"], files), archive

    Xs, ys = [], []
    for fname in batches:
        batch, loc = contents[fname], f"{where}{os.sep if folder else ':'}{fname}"
        data = batch.get(b"data")
        if not (isinstance(data, np.ndarray) and data.dtype == np.uint8
                and data.ndim == 2 and data.shape[1] == 3 * 32 * 32):
            got = (f"{data.dtype} array of shape {data.shape}"
                   if isinstance(data, np.ndarray) else type(data).__name__)
            raise ValueError(f"{loc} is not an official CIFAR batch: 'data' must be a "
                             f"uint8 array of shape (N, 3072), got {got}.")
        ys.append(_labels_of(batch, label_key, n_classes, loc, len(data)))
        Xs.append(data)
    X = np.concatenate(Xs).reshape(-1, 3, 32, 32)  # a fresh, C-contiguous copy
    y = np.concatenate(ys)
    if not return_names:
        return X, y

    meta, loc = contents[spec["meta"]], f"{where}{os.sep if folder else ':'}{spec['meta']}"
    raw = meta.get(names_key)
    try:
        names = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in raw]
    except (TypeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{loc}: {names_key.decode()!r} is not a list of names.") from exc
    if len(names) != n_classes:
        raise ValueError(f"{loc}: {len(names)} names in {names_key.decode()!r}, expected "
                         f"{n_classes}.")
    return X, y, names
