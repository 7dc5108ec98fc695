"""``verbose=1`` prints skorch's epoch table, coloured only on a terminal."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

from hsproto import HypersphericalClassifier

ANSI = "\x1b["
TINY = {"max_epochs": 2, "lr": 1e-2, "random_state": 0, "verbose": 1,
        "module_params": {"hidden_layer_sizes": (8,)}}


class _Terminal(io.StringIO):
    """A captured stream that says it is a terminal."""

    def isatty(self):
        return True


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(int)


def test_no_colour_codes_off_a_terminal(data, capsys):
    HypersphericalClassifier(**TINY).fit(*data)
    out = capsys.readouterr().out
    assert ANSI not in out
    lines = out.splitlines()
    assert "epoch" in lines[0] and "train_loss" in lines[0]
    assert lines[2].split()[0] == "1" and lines[3].split()[0] == "2"


def test_colour_codes_on_a_terminal(data, monkeypatch):
    stream = _Terminal()
    monkeypatch.setattr(sys, "stdout", stream)
    monkeypatch.delenv("NO_COLOR", raising=False)
    HypersphericalClassifier(**TINY).fit(*data)
    assert ANSI in stream.getvalue()                   # the first epoch is always a best


def test_no_colour_honoured_on_a_terminal(data, monkeypatch):
    stream = _Terminal()
    monkeypatch.setattr(sys, "stdout", stream)
    monkeypatch.setenv("NO_COLOR", "1")
    HypersphericalClassifier(**TINY).fit(*data)
    assert ANSI not in stream.getvalue() and "train_loss" in stream.getvalue()


def test_quiet_prints_nothing(data, capsys):
    HypersphericalClassifier(**{**TINY, "verbose": 0}).fit(*data)
    assert capsys.readouterr().out == ""
