"""hsproto.datasets.load_cifar on tiny archives written in the official CIFAR format.

No real CIFAR data is used (or downloaded): every test builds small batch files with the
official layout (pickle protocol 2, bytes keys, uint8 (N, 3072) data, list labels), both
as an extracted folder and as a .tar.gz that holds that folder.
"""

import codecs
import io
import os
import pickle
import shlex
import shutil
import struct
import tarfile
from collections import OrderedDict

import numpy as np
import pytest

from hsproto.datasets import load_cifar

URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
LAYOUT = {  # name -> (archive, folder, train files, test files, meta file)
    "cifar10": ("cifar-10-python.tar.gz", "cifar-10-batches-py",
                [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "batches.meta"),
    "cifar100": ("cifar-100-python.tar.gz", "cifar-100-python", ["train"], ["test"], "meta"),
}
N_TRAIN, N_TEST = 4, 3  # images per batch file


# ------------------------------------------------------------------ writing the files

def _py2_dumps(obj):
    """Pickle ``obj`` the way Python 2 + numpy wrote the official files (protocol 2).

    Byte strings become BINSTRING opcodes (read back as bytes with encoding="bytes"),
    and arrays are reduced through ``numpy.core.multiarray._reconstruct``.
    """
    out = io.BytesIO()

    def put(x):
        if x is None:
            out.write(b"N")
        elif isinstance(x, bool):
            out.write(b"\x88" if x else b"\x89")
        elif isinstance(x, int):
            out.write(b"K" + bytes([x]) if 0 <= x < 256 else b"J" + struct.pack("<i", x))
        elif isinstance(x, bytes):
            out.write(b"U" + bytes([len(x)]) if len(x) < 256
                      else b"T" + struct.pack("<I", len(x)))
            out.write(x)
        elif isinstance(x, tuple):
            out.write(b"(")
            for item in x:
                put(item)
            out.write(b"t")
        elif isinstance(x, list):
            out.write(b"](")
            for item in x:
                put(item)
            out.write(b"e")
        elif isinstance(x, dict):
            out.write(b"}(")
            for k, v in x.items():
                put(k)
                put(v)
            out.write(b"u")
        elif isinstance(x, np.ndarray):
            dt = x.dtype
            order = b"|" if dt.itemsize == 1 else b"<"
            out.write(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n")
            put((0,))
            put(b"b")
            out.write(b"\x87R")  # TUPLE3, REDUCE
            out.write(b"(")
            put(1)
            put(tuple(x.shape))
            out.write(b"cnumpy\ndtype\n")
            put((dt.str[1:].encode(), 0, 1))
            out.write(b"R")
            put((3, order, None, None, None, -1, -1, 0))
            out.write(b"b")  # BUILD the dtype
            put(False)
            put(np.ascontiguousarray(x).astype(dt.newbyteorder("<")).tobytes())
            out.write(b"tb")  # the state tuple, BUILD the array
        else:
            raise TypeError(f"Python 2 pickles of {type(x).__name__} not supported here")

    out.write(b"\x80\x02")
    put(obj)
    out.write(b".")
    return out.getvalue()


def _dumps(obj, style):
    return _py2_dumps(obj) if style == "py2" else pickle.dumps(obj, protocol=2)


def _batch(rng, name, n, label):
    batch = {b"batch_label": label.encode(),
             b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
    if name == "cifar10":
        batch[b"labels"] = [int(v) for v in rng.integers(0, 10, n)]
    else:
        batch[b"fine_labels"] = [int(v) for v in rng.integers(0, 100, n)]
        batch[b"coarse_labels"] = [int(v) for v in rng.integers(0, 20, n)]
    return batch


def official_files(name, seed=0):
    """{file name: object} for a tiny data set with the official files and keys."""
    rng = np.random.default_rng(seed)
    _, _, train, test, meta = LAYOUT[name]
    files = {f: _batch(rng, name, N_TRAIN, f"training batch {i + 1} of {len(train)}")
             for i, f in enumerate(train)}
    files.update({f: _batch(rng, name, N_TEST, "testing batch 1 of 1") for f in test})
    if name == "cifar10":
        files[meta] = {b"num_cases_per_batch": N_TRAIN, b"num_vis": 3072,
                       b"label_names": [f"class{k}".encode() for k in range(10)]}
    else:
        files[meta] = {b"fine_label_names": [f"fine{k}".encode() for k in range(100)],
                       b"coarse_label_names": [f"coarse{k}".encode() for k in range(20)]}
    return files


def write_folder(parent, name, files, style="py3"):
    folder = parent / LAYOUT[name][1]
    folder.mkdir(parents=True, exist_ok=True)
    for fname, obj in files.items():
        (folder / fname).write_bytes(obj if isinstance(obj, bytes) else _dumps(obj, style))
    return folder


def write_archive(parent, name, files, style="py3"):
    archive_name, folder, *_ = LAYOUT[name]
    parent.mkdir(parents=True, exist_ok=True)
    path = parent / archive_name
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(folder)
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        for fname, obj in files.items():
            payload = obj if isinstance(obj, bytes) else _dumps(obj, style)
            info = tarfile.TarInfo(f"{folder}/{fname}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def expected(files, name, train=True, labels="fine"):
    _, _, train_files, test_files, _ = LAYOUT[name]
    batches = [files[f] for f in (train_files if train else test_files)]
    key = b"labels" if name == "cifar10" else labels.encode() + b"_labels"
    return (np.concatenate([b[b"data"] for b in batches]),
            np.concatenate([b[key] for b in batches]))


def _root(tmp_path, name, files, where, style="py3"):
    """Write ``files`` and return the ``root`` argument that the case ``where`` passes."""
    if where == "parent_of_folder":
        write_folder(tmp_path, name, files, style)
        return tmp_path
    if where == "folder":
        return write_folder(tmp_path / "elsewhere", name, files, style)
    if where == "folder_as_str":
        return str(write_folder(tmp_path, name, files, style))
    archive = write_archive(tmp_path, name, files, style)
    return tmp_path if where == "parent_of_archive" else archive


def assert_layout(X, data):
    """X[i, c, h, w] == data[i, c*1024 + h*32 + w], for every pixel."""
    i, c, h, w = np.indices(X.shape)
    np.testing.assert_array_equal(X, data[i, c * 1024 + h * 32 + w])


# ------------------------------------------------------------------ reading them back

WHERE = ["parent_of_folder", "folder", "folder_as_str", "parent_of_archive", "archive"]


@pytest.mark.parametrize("style", ["py3", "py2"])
@pytest.mark.parametrize("where", WHERE)
def test_cifar10_train_and_test(tmp_path, where, style):
    files = official_files("cifar10")
    root = _root(tmp_path, "cifar10", files, where, style)
    for train, n in [(True, 5 * N_TRAIN), (False, N_TEST)]:
        X, y = load_cifar(root, train=train)
        data, labels = expected(files, "cifar10", train)
        assert X.shape == (n, 3, 32, 32) and X.dtype == np.uint8
        assert X.flags.c_contiguous and X.flags.writeable
        assert y.shape == (n,) and y.dtype == np.int64
        assert_layout(X, data)
        np.testing.assert_array_equal(y, labels)


@pytest.mark.parametrize("style", ["py3", "py2"])
@pytest.mark.parametrize("where", ["parent_of_folder", "archive"])
def test_cifar100_fine_coarse_and_names(tmp_path, where, style):
    files = official_files("cifar100")
    root = _root(tmp_path, "cifar100", files, where, style)
    for train, n in [(True, N_TRAIN), (False, N_TEST)]:
        for labels, n_classes in [("fine", 100), ("coarse", 20)]:
            X, y, names = load_cifar(root, "cifar100", train=train, labels=labels,
                                     return_names=True)
            data, want = expected(files, "cifar100", train, labels)
            assert X.shape == (n, 3, 32, 32) and X.dtype == np.uint8
            assert y.dtype == np.int64
            assert_layout(X, data)
            np.testing.assert_array_equal(y, want)
            assert names == [f"{labels}{k}" for k in range(n_classes)]
    # fine is the default
    np.testing.assert_array_equal(load_cifar(root, "cifar100")[1],
                                  expected(files, "cifar100")[1])


@pytest.mark.parametrize("where", ["parent_of_folder", "archive"])
def test_cifar10_names(tmp_path, where):
    root = _root(tmp_path, "cifar10", official_files("cifar10"), where)
    X, y, names = load_cifar(root, "cifar10", train=False, return_names=True)
    assert X.shape == (N_TEST, 3, 32, 32) and y.shape == (N_TEST,)
    assert names == [f"class{k}" for k in range(10)]
    assert all(isinstance(n, str) for n in names)


def test_meta_is_only_read_for_names(tmp_path):
    files = official_files("cifar10")
    del files["batches.meta"]
    folder = write_folder(tmp_path, "cifar10", files)
    assert load_cifar(folder)[0].shape == (5 * N_TRAIN, 3, 32, 32)
    with pytest.raises(FileNotFoundError, match="batches.meta"):
        load_cifar(folder, return_names=True)


def test_the_extracted_folder_is_preferred_over_the_archive(tmp_path):
    folder_files, archive_files = official_files("cifar10", 1), official_files("cifar10", 2)
    write_folder(tmp_path, "cifar10", folder_files)
    write_archive(tmp_path, "cifar10", archive_files)
    X, y = load_cifar(tmp_path)
    assert_layout(X, expected(folder_files, "cifar10")[0])
    np.testing.assert_array_equal(y, expected(folder_files, "cifar10")[1])
    # ... and the archive is read when it is passed itself
    X, _ = load_cifar(tmp_path / "cifar-10-python.tar.gz")
    assert_layout(X, expected(archive_files, "cifar10")[0])


def test_archive_members_with_dot_slash_prefix(tmp_path):
    files = official_files("cifar100")
    path = tmp_path / "cifar-100-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for fname, obj in files.items():
            payload = _dumps(obj, "py3")
            info = tarfile.TarInfo(f"./cifar-100-python/{fname}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    np.testing.assert_array_equal(load_cifar(path, "cifar100", train=False)[1],
                                  expected(files, "cifar100", False)[1])


# ------------------------------------------------------------------ argument errors

def test_unknown_name_lists_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match=r"'cifar-10'.*\['cifar10', 'cifar100'\]"):
        load_cifar(tmp_path, "cifar-10")


def test_bad_labels(tmp_path):
    with pytest.raises(ValueError, match="coarse labels exist for 'cifar100' only"):
        load_cifar(tmp_path, "cifar10", labels="coarse")
    with pytest.raises(ValueError, match="'fine' or 'coarse'"):
        load_cifar(tmp_path, "cifar100", labels="superclass")


# ------------------------------------------------------------------ missing files

@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_missing_data_says_what_to_get_and_where(tmp_path, name):
    archive, folder, *_ = LAYOUT[name]
    (tmp_path / "unrelated.txt").write_text("x")
    for root in [tmp_path, tmp_path / "nope", tmp_path / archive]:
        with pytest.raises(FileNotFoundError) as err:
            load_cifar(root, name)
        msg = str(err.value)
        for part in [archive, folder, str(root), URL, "python version"]:
            assert part in msg, (part, msg)


def test_incomplete_folder_names_the_missing_file(tmp_path):
    files = official_files("cifar10")
    del files["data_batch_3"]
    write_folder(tmp_path, "cifar10", files)
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        load_cifar(tmp_path)
    assert load_cifar(tmp_path, train=False)[0].shape == (N_TEST, 3, 32, 32)


def test_incomplete_archive_names_the_missing_member(tmp_path):
    files = official_files("cifar10")
    del files["data_batch_5"]
    path = write_archive(tmp_path, "cifar10", files)
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py/data_batch_5"):
        load_cifar(path)


def test_corrupt_archive(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    path.write_bytes(b"this is not a gzip file" * 10)
    with pytest.raises(ValueError, match=r"cifar-10-python\.tar\.gz"):
        load_cifar(tmp_path)


# ------------------------------------------------------------------ malformed batches

def _with(files, fname, **changes):
    files[fname] = {**files[fname], **{k.encode(): v for k, v in changes.items()}}
    return files


@pytest.mark.parametrize("where", ["parent_of_folder", "archive"])
@pytest.mark.parametrize("change, match", [
    ({"data": np.zeros((4, 3071), np.uint8)}, r"uint8 array of shape \(N, 3072\).*\(4, 3071\)"),
    ({"data": np.zeros((4, 3072), np.int64)}, "int64"),
    ({"data": np.zeros(4 * 3072, np.uint8)}, r"\(12288,\)"),
    ({"data": [[0] * 3072] * 4}, "got list"),
    ({"labels": [0, 1, 2]}, "3 labels .* for 4 images"),
    ({"labels": [0, 1, 2, 10]}, r"outside 0\.\.9"),
    ({"labels": [b"a"] * 4}, "not a list of integers"),
])
def test_malformed_batch_names_the_file(tmp_path, where, change, match):
    files = _with(official_files("cifar10"), "data_batch_2", **change)
    root = _root(tmp_path, "cifar10", files, where)
    with pytest.raises(ValueError, match=match) as err:
        load_cifar(root)
    assert "data_batch_2" in str(err.value)


@pytest.mark.parametrize("payload", [b"garbage", pickle.dumps([1, 2, 3], protocol=2),
                                     pickle.dumps({b"data": 1}, protocol=2)[:-5]])
def test_not_a_batch(tmp_path, payload):
    files = official_files("cifar10")
    files["test_batch"] = payload
    write_folder(tmp_path, "cifar10", files)
    with pytest.raises(ValueError, match="test_batch is not an official CIFAR batch"):
        load_cifar(tmp_path, train=False)


def test_missing_label_key(tmp_path):
    files = official_files("cifar100")
    del files["test"][b"coarse_labels"]
    write_folder(tmp_path, "cifar100", files)
    load_cifar(tmp_path, "cifar100", train=False)  # fine labels are there
    with pytest.raises(ValueError, match="no 'coarse_labels' entry"):
        load_cifar(tmp_path, "cifar100", train=False, labels="coarse")


def test_wrong_number_of_names(tmp_path):
    files = official_files("cifar10")
    files["batches.meta"][b"label_names"] = [b"a", b"b"]
    write_folder(tmp_path, "cifar10", files)
    with pytest.raises(ValueError, match="batches.meta: 2 names .*expected 10"):
        load_cifar(tmp_path, return_names=True)


# ------------------------------------------------------------------ untrusted pickles

class _Call:
    """Pickles as a call to ``func(*args)``: what a malicious batch file would hold."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("where", ["parent_of_folder", "archive"])
@pytest.mark.parametrize("fname", ["data_batch_1", "batches.meta"])
def test_a_malicious_pickle_is_refused_and_does_not_run(tmp_path, where, fname):
    marker = tmp_path / "pwned"
    evil = pickle.dumps({b"data": _Call(os.system, f"touch {shlex.quote(str(marker))}")},
                        protocol=2)
    files = official_files("cifar10")
    files[fname] = evil
    root = _root(tmp_path / "data", "cifar10", files, where)
    with pytest.raises(ValueError, match="not an official CIFAR batch") as err:
        load_cifar(root, return_names=True)
    assert f"{os.system.__module__}.system" in str(err.value)  # names the refused global
    assert isinstance(err.value.__cause__, pickle.UnpicklingError)
    assert fname in str(err.value)
    assert not marker.exists()
    # The payload is live: an ordinary pickle.load would have run it.
    if os.name == "posix" and shutil.which("touch"):
        pickle.loads(evil)
        assert marker.exists()


@pytest.mark.parametrize("call, refused", [
    (_Call(OrderedDict), "collections.OrderedDict"),
    (_Call(codecs.encode, "x", "rot13"), "latin-1"),
    (_Call(eval, "1"), ".eval'"),
])
def test_only_numpy_globals_are_allowed(tmp_path, call, refused):
    files = official_files("cifar10")
    files["test_batch"] = pickle.dumps({b"data": call}, protocol=2)
    write_folder(tmp_path, "cifar10", files)
    with pytest.raises(ValueError, match="not an official CIFAR batch") as err:
        load_cifar(tmp_path, train=False)
    assert refused in str(err.value)
