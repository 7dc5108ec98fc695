"""Training through Hugging Face Accelerate (the ``accelerator`` parameter).

One process: an ``Accelerator`` on the CPU trains exactly as no accelerator does, and the
estimator clones, pickles, saves and loads. Two processes: ``accelerate launch`` runs a
script on two CPU processes (DDP over gloo); each writes its model, and the test checks
that the processes end identical and equal to one process with the global batch.
"""

import importlib
import os
import pickle
import socket
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression

import hsproto
from hsproto import HypersphericalClassifier, HypersphericalRegressor, JointEstimator


def _need(name):
    # CI installs the dev extra, which has accelerate: there a missing one fails
    if os.environ.get("CI") == "true":
        return importlib.import_module(name)
    return pytest.importorskip(name)


accelerate = _need("accelerate")


@pytest.fixture
def make_accelerator():
    """``Accelerator(cpu=True, **settings)`` in a fresh accelerate state: accelerate keeps
    one process-wide state, which an accelerator of other settings (mixed precision,
    gradient accumulation) would otherwise refuse or change for later tests."""
    from accelerate.state import AcceleratorState, GradientState

    def reset():
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()

    reset()
    yield lambda **settings: accelerate.Accelerator(cpu=True, **settings)
    reset()


def _data(n=256, seed=0):
    X, y = make_classification(n_samples=n, n_features=10, n_informative=6, n_classes=3,
                               random_state=seed)
    return X.astype(np.float32), y


def _weights(est):
    return {k: v.detach().cpu().clone() for k, v in est.net_.module_.state_dict().items()}


def _max_difference(a, b):
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


FAST = dict(max_epochs=4, batch_size=32, random_state=0,
            module_params={"hidden_layer_sizes": (16,)})


# ---------------------------------------------------------------------- one process
@pytest.mark.parametrize("make", [
    lambda **kw: (HypersphericalClassifier(loss="cosine", lr_schedule="cosine",
                                           warmup_epochs=1, **kw), *_data()),
    lambda **kw: (HypersphericalRegressor(**kw),
                  *make_regression(n_samples=256, n_features=10, random_state=0)),
    lambda **kw: (JointEstimator(**kw), _data()[0],
                  np.column_stack([_data()[1], _data()[0][:, 0]])),
], ids=["classifier", "regressor", "joint"])
def test_one_process_trains_as_without_accelerator(make, make_accelerator):
    accelerator = make_accelerator()
    est, X, y = make(accelerator=accelerator, **FAST)
    plain = make(**FAST)[0]
    est.fit(X, y)
    plain.fit(X, y)
    assert _max_difference(_weights(est), _weights(plain)) == 0.0
    assert est.history_[:, "train_loss"] == plain.history_[:, "train_loss"]
    assert est.history_[:, "lr"] == plain.history_[:, "lr"]        # RecordLR, schedules
    np.testing.assert_array_equal(est.predict(X), plain.predict(X))
    # trained and handed back: no DDP or autocast wrapper, no reference in the accelerator
    assert type(est.net_).__name__ == "AcceleratedNet"
    assert type(est.net_.module_).__name__ == "HypersphereNet"
    assert type(est.net_.optimizer_).__module__.startswith("torch.optim")
    assert accelerator._models == [] and accelerator._optimizers == []


def test_clone_get_params_pickle_save_and_load(make_accelerator, tmp_path):
    accelerator = make_accelerator()
    X, y = _data()
    clf = HypersphericalClassifier(accelerator=accelerator, early_stopping=True,
                                   n_iter_no_change=2, **FAST).fit(X, y)
    assert clf.get_params()["accelerator"] is accelerator
    # an Accelerator deep-copies to itself, so clone keeps the process's accelerator
    twin = clone(clf)
    assert twin.accelerator is accelerator and not hasattr(twin, "net_")
    assert clone(clf).set_params(accelerator=None).accelerator is None

    # pickled without the accelerator (a handle on this launch's processes)
    restored = pickle.loads(pickle.dumps(clf))
    assert restored.accelerator is None and restored.net_.accelerator is None
    assert clf.accelerator is accelerator and clf.net_.accelerator is accelerator
    np.testing.assert_array_equal(restored.predict(X), clf.predict(X))

    # a model file holds accelerator=None: it loads without one and without a warning
    path = clf.save(tmp_path / "model.safetensors")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = hsproto.load(path)
    assert loaded.accelerator is None
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    # loading with an accelerator predicts the same (the loaded net is not prepared)
    again = hsproto.load(path, accelerator=accelerator)
    assert again.accelerator is accelerator and type(again.net_).__name__ == "_Net"
    np.testing.assert_array_equal(again.predict(X), clf.predict(X))


def test_verbose_prints_the_epoch_table(make_accelerator, capsys):
    X, y = _data(64)
    HypersphericalClassifier(accelerator=make_accelerator(), verbose=1, **FAST).fit(X, y)
    out = capsys.readouterr().out
    assert "train_loss" in out and len(out.strip().splitlines()) == 2 + FAST["max_epochs"]


def test_mixed_precision_comes_from_the_accelerator(make_accelerator):
    # the accelerator's bfloat16 autocast trains as hsproto's own precision="bf16" does
    X, y = _data()
    clf = HypersphericalClassifier(accelerator=make_accelerator(mixed_precision="bf16"),
                                   **FAST).fit(X, y)
    own = HypersphericalClassifier(precision="bf16", **FAST).fit(X, y)
    full = HypersphericalClassifier(**FAST).fit(X, y)
    assert clf.accelerator.mixed_precision == "bf16" and clf.precision == "32"
    np.testing.assert_allclose(clf.history_[:, "train_loss"], own.history_[:, "train_loss"],
                               rtol=1e-6)
    assert clf.history_[:, "train_loss"] != full.history_[:, "train_loss"]
    # unwrapped after training: the forward is the module's own again, and it pickles
    assert "_original_forward" not in vars(clf.net_.module_)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict(X), clf.predict(X))


def test_gradient_accumulation_equals_the_larger_batch(make_accelerator):
    # two accumulated batches of 32 (mean losses, averaged by accelerate) step as one of 64
    X, y = _data()
    params = dict(FAST, module_params={"hidden_layer_sizes": (16,), "dropout": 0.0})
    accumulated = HypersphericalClassifier(
        accelerator=make_accelerator(gradient_accumulation_steps=2), **params).fit(X, y)
    plain = HypersphericalClassifier(**dict(params, batch_size=64)).fit(X, y)
    assert _max_difference(_weights(accumulated), _weights(plain)) < 1e-5


def test_settings_that_conflict_with_the_accelerator(make_accelerator):
    accelerator = make_accelerator()
    X, y = _data(64)
    with pytest.raises(ValueError, match=r"precision='bf16' conflicts with the accelerator"):
        HypersphericalClassifier(accelerator=accelerator, precision="bf16").fit(X, y)
    with pytest.raises(ValueError, match=r"device='cuda' conflicts with the accelerator"):
        HypersphericalClassifier(accelerator=accelerator, device="cuda").fit(X, y)
    with pytest.raises(ValueError, match="'accelerator' parameter .* accelerate.Accelerator"):
        HypersphericalClassifier(accelerator="cpu").fit(X, y)
    # the default device and "auto" give way to the accelerator's
    clf = HypersphericalClassifier(accelerator=accelerator, device="auto", **FAST).fit(X, y)
    assert torch.device(clf.net_.device).type == accelerator.device.type


def test_accelerator_without_accelerate_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "accelerate", None)      # import accelerate fails
    with pytest.raises(ImportError, match=r"hsproto\[accelerate\]"):
        HypersphericalClassifier(accelerator=object()).fit(*_data(64))


# ---------------------------------------------------------------------- two processes
SCRIPT = textwrap.dedent('''
    import sys

    import numpy as np
    import torch
    from accelerate import Accelerator
    from sklearn.datasets import make_classification

    from hsproto import HypersphericalClassifier

    torch.set_num_threads(1)
    out, batch_size = sys.argv[1], int(sys.argv[2])
    accelerator = Accelerator()
    rank = accelerator.process_index
    X, y = make_classification(n_samples=256, n_features=10, n_informative=6, n_classes=3,
                               random_state=0)
    clf = HypersphericalClassifier(accelerator=accelerator, batch_size=batch_size,
                                   **{PARAMS})
    clf.fit(X, y)
    clf.save(f"{out}/model-{rank}.safetensors")     # written by the main process only
    # random_state=None: the main process's seed; early stopping restores a best epoch
    second = HypersphericalClassifier(accelerator=accelerator, batch_size=batch_size,
                                      verbose=1, early_stopping=True, n_iter_no_change=2,
                                      max_epochs=40, lr=0.05)
    second.fit(X, y)

    def history(est):
        return [{k: v for k, v in row.items() if k not in ("batches", "dur")}
                for row in est.history_]

    torch.save({"processes": accelerator.num_processes,
                "kind": accelerator.distributed_type.name,
                "module": clf.net_.module_.state_dict(),
                "criterion": clf.net_.criterion_.state_dict(),
                "history": history(clf), "predict": clf.predict(X),
                "second": second.net_.module_.state_dict(),
                "second_history": history(second),
                "second_proba": second.predict_proba(X)}, f"{out}/rank{rank}.pt")
''')
#: no dropout (each process would draw its own masks); cosine: a learned loss parameter
#: whose gradient is averaged by hand; onecycle: steps per batch, counted per process
PARAMS = dict(module_params={"hidden_layer_sizes": (32,), "dropout": 0.0}, loss="cosine",
              lr=0.01, lr_schedule="onecycle", max_epochs=8, random_state=0)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_as_one_with_the_global_batch(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT.replace("{PARAMS}", repr(PARAMS)))
    env = {**os.environ, "HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf"),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           # DDP on CPU processes: torchrun (the --multi_gpu launcher) with gloo
           "ACCELERATE_USE_CPU": "true"}
    # --cpu alone launches a single process; --multi_gpu is the torchrun launcher
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
               "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
               "--dynamo_backend", "no", "--main_process_ip", "127.0.0.1",
               "--main_process_port", str(_free_port()), str(script), str(tmp_path), "32"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=240, check=False)
    took = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-4000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert [(r["processes"], r["kind"]) for r in ranks] == [(2, "MULTI_CPU")] * 2

    # (a) the processes end with the same model, history and predictions
    for part in ("module", "criterion", "second"):
        assert _max_difference(ranks[0][part], ranks[1][part]) == 0.0, part
    for part in ("history", "second_history"):
        assert ranks[0][part] == ranks[1][part]
    assert len(ranks[0]["predict"]) == 256                       # each process: all rows
    np.testing.assert_array_equal(ranks[0]["predict"], ranks[1]["predict"])
    np.testing.assert_array_equal(ranks[0]["second_proba"], ranks[1]["second_proba"])
    assert len(ranks[0]["second_history"]) < 40                   # stopped, best restored

    # (b) 2 processes x batch 32 == 1 process x batch 64 (the gradient mean of the same
    # 64 samples), far from 1 process x batch 32
    X, y = _data()
    same = HypersphericalClassifier(batch_size=64, **PARAMS).fit(X, y)
    other = HypersphericalClassifier(batch_size=32, **PARAMS).fit(X, y)
    difference = _max_difference(ranks[0]["module"], _weights(same))
    criterion = {k: v.detach() for k, v in same.net_.criterion_.state_dict().items()}
    print(f"two processes: {took:.1f} s; max |w_2x32 - w_1x64| = {difference:.2e}; vs "
          f"1x32: {_max_difference(ranks[0]['module'], _weights(other)):.2e}")
    assert difference < 1e-5
    assert _max_difference(ranks[0]["criterion"], criterion) < 1e-5
    assert _max_difference(ranks[0]["module"], _weights(other)) > 1e-2
    assert np.allclose([h["train_loss"] for h in ranks[0]["history"]],
                       same.history_[:, "train_loss"], rtol=1e-5)
    np.testing.assert_array_equal(ranks[0]["predict"], same.predict(X))

    # only the main process printed and saved
    assert done.stdout.count("train_loss") == 1
    assert done.stdout.count("Restoring best model") == 1
    assert (tmp_path / "model-0.safetensors").exists()
    assert not (tmp_path / "model-1.safetensors").exists()
    np.testing.assert_array_equal(hsproto.load(tmp_path / "model-0.safetensors").predict(X),
                                  ranks[0]["predict"])
