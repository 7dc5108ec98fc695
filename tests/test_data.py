"""Inputs beyond arrays: tensors, torch Datasets, uint8 images, augment/preprocess."""

import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits
from torch.utils.data import Dataset, Subset, TensorDataset
from torchvision.datasets import ImageFolder
from torchvision.transforms import v2

from hsproto import HypersphericalClassifier, HypersphericalRegressor, JointEstimator
from hsproto.data import collect_labels


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:400] / 16.0).astype(np.float32), y[:400]


@pytest.fixture(scope="module")
def digit_images(digits):
    X, y = digits
    return X.reshape(-1, 1, 8, 8), y


def _clf(**kw):
    return HypersphericalClassifier(max_epochs=kw.pop("max_epochs", 5), random_state=0,
                                    **kw)


class _Pairs(Dataset):
    """A Dataset without ``targets``: labels are read from the items."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], self.y[i]


# ---------------------------------------------------------------------- tensors
def test_tensor_input_trains_exactly_like_the_array(digits):
    X, y = digits
    a = _clf().fit(X, y)
    t = _clf().fit(torch.from_numpy(X), torch.from_numpy(y))
    np.testing.assert_array_equal(t.decision_function(torch.from_numpy(X)),
                                  a.decision_function(X))
    assert t.n_features_in_ == 64 and t.score(torch.from_numpy(X), y) == a.score(X, y)


def test_tensor_input_regressor_and_joint(digits):
    X, y = digits
    values = X[:, :8].sum(1)
    reg = HypersphericalRegressor(max_epochs=3, random_state=0)
    ref = reg.fit(X, values).predict(X)
    got = reg.fit(torch.from_numpy(X), torch.from_numpy(values)).predict(torch.from_numpy(X))
    np.testing.assert_array_equal(got, ref)
    yj = np.column_stack([y, values])
    joint = JointEstimator(max_epochs=3, random_state=0)
    ref = joint.fit(X, yj).predict(X)
    np.testing.assert_array_equal(joint.fit(torch.from_numpy(X), yj).predict(X), ref)


def test_tensor_errors(digits):
    X, y = digits
    bad = torch.from_numpy(X.copy())
    bad[3, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinity"):
        _clf().fit(bad, y)
    with pytest.raises(ValueError, match="2-d or higher"):
        _clf().fit(torch.zeros(10), np.arange(10) % 2)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        _clf().fit(torch.from_numpy(X), y[:-1])
    clf = _clf(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="64 features"):
        clf.predict(torch.zeros(3, 10))


# ---------------------------------------------------------------------- uint8 images
def test_uint8_images_are_scaled_per_batch(digit_images):
    X, y = digit_images
    X8 = np.round(X * 255).astype(np.uint8)
    ref = _clf(module="cnn", max_epochs=2).fit(X8.astype(np.float32) / 255, y)
    got = _clf(module="cnn", max_epochs=2).fit(X8, y)
    np.testing.assert_allclose(got.decision_function(X8),
                               ref.decision_function(X8.astype(np.float32) / 255), atol=1e-4)
    assert (got.predict(torch.from_numpy(X8)) == got.predict(X8)).all()


def test_uint8_validate_keeps_dtype(digit_images):
    X, y = digit_images
    X8 = np.round(X * 255).astype(np.uint8)
    clf = _clf(module="cnn", max_epochs=1)
    Xv, _ = clf._fit_inputs(X8, y)
    assert Xv.dtype == np.uint8 and np.shares_memory(Xv, X8)


# ---------------------------------------------------------------------- datasets
def test_dataset_inference_matches_arrays(digits):
    X, y = digits
    clf = _clf().fit(X, y)
    ds = TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    np.testing.assert_array_equal(clf.predict_proba(ds), clf.predict_proba(X))
    np.testing.assert_array_equal(clf.transform(_Pairs(X, y)), clf.transform(X))
    assert clf.score(ds) == clf.score(X, y)


def test_dataset_fit_all_three_estimators(digits):
    X, y = digits
    clf = _clf(max_epochs=15).fit(TensorDataset(torch.from_numpy(X), torch.from_numpy(y)))
    assert clf.score(X, y) > 0.9 and list(clf.classes_) == list(range(10))
    values = X[:, :8].sum(1)
    reg = HypersphericalRegressor(max_epochs=30, random_state=0).fit(_Pairs(X, values))
    assert reg.score(X, values) > 0.5
    rows = [[int(c), float(v)] for c, v in zip(y, values, strict=True)]
    joint = JointEstimator(max_epochs=15, random_state=0).fit(_Pairs(X, rows))
    assert joint.predict(X).shape == (len(X), 2)
    assert joint.score(X, np.column_stack([y, values])) > 0.6


def test_dataset_labels_are_read_without_decoding(digits):
    X, y = digits

    class Counting(_Pairs):
        reads = 0

        @property
        def targets(self):
            return list(self.y)

        def __getitem__(self, i):
            type(self).reads += 1
            return super().__getitem__(i)

    labels = collect_labels(Counting(X, y))
    np.testing.assert_array_equal(labels, y)
    assert Counting.reads == 1                      # the first item, to check it is a pair
    np.testing.assert_array_equal(collect_labels(Subset(Counting(X, y), [5, 2])), y[[5, 2]])


def test_dataset_string_labels_and_sample_weight(digits):
    X, y = digits
    names = np.array(["even", "odd"])[y % 2]
    clf = _clf(max_epochs=3, class_weight="balanced").fit(_Pairs(X, list(names)))
    assert list(clf.classes_) == ["even", "odd"]
    assert set(clf.predict(X)) <= {"even", "odd"}
    w = np.ones(len(X))
    _clf(max_epochs=1).fit(_Pairs(X, y), sample_weight=w)


def test_dataset_errors(digits):
    X, y = digits

    class Triples(_Pairs):
        def __getitem__(self, i):
            return self.X[i], self.y[i], 0

    with pytest.raises(ValueError, match=r"\(x, y\) pairs; item 0 is a tuple of length 3"):
        _clf().fit(Triples(X, y))
    labels = list(y)
    labels[7] = None
    with pytest.raises(ValueError, match="item 7 has no label"):
        _clf().fit(_Pairs(X, labels))
    labels = list(y)
    labels[9] = "nine"
    with pytest.raises(ValueError, match="mixed types: item 0 has a number label, item 9 a "
                                         "str label"):
        _clf().fit(_Pairs(X, labels))
    with pytest.raises(ValueError, match="y must be None when X is a torch Dataset"):
        _clf().fit(_Pairs(X, y), y)
    with pytest.raises(ValueError, match="empty"):
        _clf().fit(_Pairs(X[:0], y[:0]))

    class Ragged(_Pairs):
        def __getitem__(self, i):
            x = torch.from_numpy(self.X[i]).reshape(1, 8, 8)
            return (x if i % 3 else x[:, :6, :6]), self.y[i]

    with pytest.raises(ValueError, match="differ in shape"):
        _clf(module="cnn", max_epochs=1).fit(Ragged(X, y))


def test_dataset_with_workers_and_early_stopping(digits):
    X, y = digits
    clf = _clf(max_epochs=3, num_workers=1, early_stopping=True)
    clf.fit(_Pairs(X, y))
    assert "valid_loss" in clf.history_[-1]
    assert clf.predict(_Pairs(X, y)).shape == (len(X),)


def test_array_workers_make_the_same_batches(digits):
    X, y = digits
    # one epoch: the same shuffled batches in a worker as in process (later epochs
    # differ, as the workers' seeds come from the same generator); no dropout, whose
    # masks come from the global generator that starting a worker draws from
    no_dropout = {"module_params": {"dropout": 0.0}}
    a = _clf(max_epochs=1, **no_dropout).fit(X, y)
    b = _clf(max_epochs=1, num_workers=1, **no_dropout).fit(X, y)
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))
    c = _clf(max_epochs=5, num_workers=1, augment=lambda x: x).fit(X, y)
    assert c.score(X, y) > 0.8


# ---------------------------------------------------------------------- images on disk
@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """A tiny ImageFolder of PNG files: bright and dark 12x12 RGB squares."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for label, base in (("bright", 200), ("dark", 40)):
        (root / label).mkdir()
        for i in range(16):
            pixels = np.clip(base + rng.normal(0, 20, (12, 12, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    return root


def test_image_folder_with_augment_and_preprocess(image_folder):
    ds = ImageFolder(str(image_folder))
    augment = v2.Compose([v2.RandomCrop(12, padding=2), v2.RandomHorizontalFlip()])
    preprocess = v2.Normalize([0.5] * 3, [0.25] * 3)
    clf = HypersphericalClassifier("cnn", module_params={"channels": (8,), "hidden": 16},
                                   augment=augment, preprocess=preprocess, max_epochs=8,
                                   batch_size=8, lr=1e-2, random_state=0).fit(ds)
    assert list(clf.classes_) == [0, 1] and clf.n_features_in_ == 3
    assert clf.score(ds) == 1.0
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(loaded.decision_function(ds), clf.decision_function(ds),
                               atol=1e-6)


def test_augment_that_returns_no_tensor(image_folder):
    ds = ImageFolder(str(image_folder))
    with pytest.raises(ValueError, match="augment gave a str"):
        _clf(module="cnn", augment=lambda x: "not an image").fit(ds)
    with pytest.raises(ValueError, match="augment changes the sample shape"):
        _clf(module="cnn", augment=v2.RandomCrop(8)).fit(ds)


def test_augment_applies_per_sample_at_training_only(digit_images):
    X, y = digit_images
    seen = []

    def augment(x):
        seen.append(tuple(x.shape))
        return torch.flip(x, dims=[-1])

    clf = _clf(module="cnn", max_epochs=1, augment=augment, batch_size=100).fit(X, y)
    assert set(seen) == {(1, 8, 8)}
    n = len(seen)
    assert n >= len(X)                            # every training sample, one by one
    clf.predict(X)
    assert len(seen) == n                         # never at inference


def test_augment_composes_with_mixing(digit_images):
    X, y = digit_images
    clf = _clf(module="cnn", max_epochs=2, mixing="both",
               augment=v2.RandomHorizontalFlip()).fit(X, y)
    assert clf.predict(X).shape == (len(X),)


def test_auto_predict_batch_size_shrinks_with_the_sample():
    clf = HypersphericalClassifier()
    assert clf._predict_batch_size((64,)) == 4096
    assert clf._predict_batch_size((3, 32, 32)) == 1024
    assert clf._predict_batch_size((3, 224, 224)) == 128          # batch_size
    assert clf.set_params(batch_size=256)._predict_batch_size((3, 224, 224)) == 256
    assert clf.set_params(predict_batch_size=10)._predict_batch_size((3, 224, 224)) == 10


def test_randaugment_on_uint8_images_and_y_none_errors():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (32, 3, 16, 16), dtype=np.uint8)
    y = np.arange(32) % 2
    clf = HypersphericalClassifier("cnn", module_params={"channels": (8,), "hidden": 16},
                                   augment=v2.RandAugment(), max_epochs=1, batch_size=16,
                                   random_state=0).fit(X, y)
    assert clf.predict(X).shape == (32,)
    with pytest.raises(ValueError, match="requires y to be passed"):
        HypersphericalClassifier().fit(X.reshape(32, -1))


@pytest.mark.parametrize("dataset", [False, True], ids=["arrays", "Dataset"])
@pytest.mark.parametrize("n", [64, 70, 69, 67])
def test_sharded_batches_split_the_global_batches(n, dataset):
    # data-parallel training: 2 processes with batch 8 take equal halves of each batch of
    # 16 of one order; a last batch is cut to an even size, dropped below 2 per process
    from skorch.dataset import Dataset as SkorchDataset

    from hsproto.data import Batches, training_steps

    X = np.arange(n, dtype=np.float32)[:, None]
    data = TensorDataset(torch.from_numpy(X), torch.zeros(n)) if dataset else \
        SkorchDataset(X, np.zeros(n))

    def epoch(batches):
        torch.manual_seed(0)                   # the same order in every "process"
        return [xb.flatten().long().tolist() for xb, _ in batches]

    whole = epoch(Batches(data, 16, shuffle=True))
    parts = [epoch(Batches(data, 8, shuffle=True).shard(i, 2)) for i in (0, 1)]
    assert len(parts[0]) == len(parts[1]) == len(Batches(data, 8, shuffle=True).shard(0, 2))
    assert len(parts[0]) == training_steps(n, 8, processes=2)
    for full, first, second in zip(whole, *parts, strict=False):
        assert len(first) == len(second) >= 2
        assert first + second == full[:len(first) + len(second)]
    kept = sum(len(b) for b in parts[0] + parts[1])
    assert kept == {64: 64, 70: 70, 69: 68, 67: 64}[n]
    assert training_steps(n, 8) == len(Batches(data, 8, shuffle=True))
