"""The deep-network benchmarks run end to end (tiny settings; figures come from the
benchmarks themselves, not from here)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args):
    out = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.mark.slow
def test_cifar_smoke_runs_the_recipe_on_a_generated_archive():
    out = _run("benchmarks/cifar.py", "--smoke")
    assert "cifar100: train (300, 3, 32, 32), test (100, 3, 32, 32), 100 classes" in out
    for loss in ("hpn", "softmax"):
        assert f"\n{loss:<8} test accuracy " in out


@pytest.mark.slow
def test_throughput_benchmark_runs():
    out = _run("benchmarks/throughput.py", "--models", "resnet_cifar", "--precision", "32",
               "--n", "32", "--batch-size", "16", "--rounds", "1")
    assert "resnet_cifar   32" in out and ("PASS" in out or "MISS" in out)


@pytest.mark.slow
def test_many_classes_benchmark_runs():
    out = _run("benchmarks/many_classes.py", "--classes", "60", "--dims", "16",
               "--features", "8", "--per-class", "2", "--hidden", "16", "--epochs", "2",
               "--batch-size", "32", "--models", "hpn", "mce", "softmax")
    assert "     60      hpn" in out and "     60      mce" in out and "     60  softmax" in out
    assert "memory hpn/softmax" in out and "memory mce/softmax" in out
    assert "the target is set at K = 100000" in out
    out = _run("benchmarks/many_classes.py", "--loss-cost", "--classes", "50", "--dims",
               "8", "--batch-size", "16", "--steps", "2")
    for loss in ("hpn", "mce", "cosine", "arcface", "softmax"):
        assert f"\n{loss:>8} " in out


def test_suite_pools_the_folds_of_runs_on_different_seeds(tmp_path):
    import json
    first = {"classification": {"iris": {
        "SVC": {"score": [0.9, 1.0], "balanced": [0.9, 1.0], "time": [0.1, 0.1]},
        "hsproto (default)": {"score": [1.0, 1.0], "balanced": [1.0, 1.0],
                              "time": [1, 1]}}}}
    second = {"classification": {"iris": {
        "SVC": {"score": [1.0, 1.0], "balanced": [1.0, 1.0], "time": [0.1, 0.1]},
        "hsproto (default)": {"score": [0.5, 0.5], "balanced": [0.5, 0.5],
                              "time": [1, 1]}}}}
    paths = []
    for i, data in enumerate((first, second)):
        paths.append(tmp_path / f"r{i}.json")
        paths[-1].write_text(json.dumps(data))
    replaced = _run("benchmarks/suite.py", "--from", *map(str, paths))
    pooled = _run("benchmarks/suite.py", "--from", *map(str, paths), "--pool")
    row = next(line for line in pooled.splitlines() if line.startswith("hsproto (default)"))
    assert "0.7500" in row                                   # (1 + 1 + .5 + .5) / 4
    row = next(line for line in replaced.splitlines()
               if line.startswith("hsproto (default)"))
    assert "0.5000" in row                                   # the second file replaced it


@pytest.fixture
def calibration(monkeypatch):
    """benchmarks/calibration.py on a 90-sample "tiny" problem with 3-epoch models."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import calibration
    import suite
    from sklearn.datasets import make_blobs

    from hsproto import HypersphericalClassifier

    monkeypatch.setitem(suite.CLASSIFICATION, "tiny",
                        lambda: make_blobs(90, 4, centers=3, random_state=0))
    monkeypatch.setitem(suite.PROBLEMS_DOC, "tiny", "make_blobs: 90 x 4, 3 classes")
    monkeypatch.setattr(calibration, "_hsproto", lambda image, loss, scale, seed:
                        HypersphericalClassifier(loss=loss, proba_scale=scale,
                                                 max_epochs=3, random_state=seed))
    short = calibration.skorch_classifier
    monkeypatch.setattr(calibration, "skorch_classifier",
                        lambda *a, **k: short(*a, **k).set_params(max_epochs=3))
    return calibration


def test_calibration_benchmark_compares_calibrated_classifier_cv_rows(calibration, capsys):
    calibration.main(["--problems", "tiny", "--losses", "cosine", "--sklearn"])
    out = capsys.readouterr().out
    for row in ("cosine before", "cosine auto", calibration.REFERENCE,
                *calibration.SKLEARN_ROWS):
        assert f"\n{row:<36} " in out, row
    assert "CalibratedClassifierCV(method='temperature', ensemble=False)" in out
    verdict = out.rsplit("ensemble=False)", 1)[1]
    assert "tiny" in verdict and ("PASS" in verdict or "MISS" in verdict)


def test_calibration_benchmark_repeats_and_pools_json(calibration, capsys, tmp_path):
    path = tmp_path / "r.json"
    fitted = calibration.main(["--problems", "tiny", "--losses", "cosine", "--repeats", "2",
                               "--first-repeat", "1", "--auto-only", "--json", str(path)])
    assert set(fitted["tiny"]) == {"cosine auto", calibration.REFERENCE}   # no "before"
    assert len(fitted["tiny"]["cosine auto"]) == 6                         # 2 x 3 folds
    capsys.readouterr()
    pooled = calibration.main(["--from", str(path), str(path)])
    out = capsys.readouterr().out
    assert "(12 folds)" in out
    assert np.allclose(pooled["tiny"]["cosine auto"], fitted["tiny"]["cosine auto"] * 2)
    default = out.split("the default loss (cosine) alone", 1)[1]
    assert "tiny" in default and "paired difference" in default
    assert "1 of 1 pass" in out or "0 of 1 pass" in out


@pytest.mark.parametrize("argv, message", [
    (["--from", "no-such-file.json"], "--from: cannot read"),
    (["--problems", "no_such_problem"], "unknown problems ['no_such_problem']"),
    (["--repeats", "0"], "--repeats must be >= 1"),
])
def test_calibration_benchmark_rejects_bad_arguments(calibration, capsys, argv, message):
    with pytest.raises(SystemExit):
        calibration.main(argv)
    assert message in capsys.readouterr().err
