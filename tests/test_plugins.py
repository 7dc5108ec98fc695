"""Third-party plugins installed for real: the example package under plugins/ is built
and pip-installed into a temporary directory, and broken plugins are installed as
distributions (``*.dist-info`` with ``entry_points.txt``) on ``sys.path``. Discovery goes
through ``importlib.metadata``, never a patched registry."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

import hsproto
from hsproto import HypersphericalClassifier, JointEstimator, make_prototypes, registry
from hsproto.registry import PluginError, PluginWarning

# duplicate names warn on every lookup; the tests that are about the warnings catch them
pytestmark = pytest.mark.filterwarnings("ignore::hsproto.registry.PluginWarning")

PLUGIN_DIR = Path(__file__).resolve().parents[1] / "plugins" / "hsproto-contrib"


def _forget(prefix):
    for name in [m for m in sys.modules if m == prefix or m.startswith(prefix + ".")]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def contrib(tmp_path_factory):
    """hsproto-contrib built from plugins/ and pip-installed into a fresh directory that
    is put first on sys.path (whether or not the environment also has it)."""
    root = tmp_path_factory.mktemp("contrib")
    source = root / "src"
    shutil.copytree(PLUGIN_DIR, source, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    target = root / "site"
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
           "--no-build-isolation", "--target", str(target), str(source)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (target / "hsproto_contrib").is_dir()
    assert list(target.glob("hsproto_contrib-*.dist-info/entry_points.txt"))
    saved = {m: mod for m, mod in sys.modules.items() if m.partition(".")[0]
             == "hsproto_contrib"}              # an installed copy imported by other tests
    sys.path.insert(0, str(target))
    _forget("hsproto_contrib")
    importlib.invalidate_caches()
    registry.refresh()
    yield target
    sys.path.remove(str(target))
    _forget("hsproto_contrib")
    sys.modules.update(saved)
    importlib.invalidate_caches()
    registry.refresh()


def install_distribution(root, dist, entry_points, modules, version="1.0"):
    """Write a distribution as pip leaves it: modules plus ``<dist>-<version>.dist-info``
    with METADATA and entry_points.txt."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = []
    for group, names in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {value}" for name, value in names.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for name, body in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(body))
        _forget(name)


BROKEN_MODULES = {
    "bad_import_plugin": "raise RuntimeError('boom at import')\n",
    "bad_type_plugin": """
        def not_a_class():
            return 1

        class NotALoss:
            tasks = ("classification",)
    """,
    "bad_contract_plugin": """
        import numpy as np
        from hsproto.losses import PrototypeLoss
        from hsproto.prototypes import PrototypeStrategy

        class NoTasks(PrototypeLoss):
            tasks = ()

        class Twins(PrototypeStrategy):
            name = "twins"
            def _generate(self, n_classes, n_dims, seed):
                return np.ones((n_classes, n_dims))
    """,
    "dupe_plugin": """
        import numpy as np
        from hsproto.prototypes import PrototypeStrategy

        class Basis(PrototypeStrategy):
            name = "basis"
            def _unsupported(self, n_classes, n_dims):
                return None if n_classes <= n_dims else "needs n_classes <= n_dims"
            def _generate(self, n_classes, n_dims, seed):
                return np.eye(n_classes, n_dims)
    """,
}


@pytest.fixture
def broken(tmp_path, monkeypatch, contrib):
    """Four more installed distributions: an import error, wrong types, contract
    violations and duplicate names (of a built-in, and between two third parties)."""
    install_distribution(tmp_path, "bad-import", {
        "hsproto.prototypes": {"boom": "bad_import_plugin:Thing"}},
        {"bad_import_plugin": BROKEN_MODULES["bad_import_plugin"]})
    install_distribution(tmp_path, "bad-type", {
        "hsproto.prototypes": {"func": "bad_type_plugin:not_a_class"},
        "hsproto.losses": {"notaloss": "bad_type_plugin:NotALoss"}},
        {"bad_type_plugin": BROKEN_MODULES["bad_type_plugin"]})
    install_distribution(tmp_path, "bad-contract", {
        "hsproto.losses": {"notasks": "bad_contract_plugin:NoTasks"},
        "hsproto.prototypes": {"twins": "bad_contract_plugin:Twins"}},
        {"bad_contract_plugin": BROKEN_MODULES["bad_contract_plugin"]})
    install_distribution(tmp_path, "dupe-a", {
        "hsproto.prototypes": {"simplex": "dupe_plugin:Basis", "basis": "dupe_plugin:Basis"}},
        {"dupe_plugin": BROKEN_MODULES["dupe_plugin"]})
    install_distribution(tmp_path, "dupe-b", {
        "hsproto.prototypes": {"basis": "dupe_plugin:Basis"}}, {})
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    registry.refresh()
    yield tmp_path
    registry.refresh()


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:400] / 16.0).astype(np.float32), y[:400]


def test_installed_plugin_is_found_by_name(contrib):
    infos = {(i.group, i.name): i for i in hsproto.list_plugins()}
    for group, name in (("hsproto.prototypes", "hadamard"), ("hsproto.losses", "cosface"),
                        ("hsproto.backbones", "resnet")):
        info = infos[(group, name)]
        assert (info.distribution, info.version, info.status) == (
            "hsproto-contrib", "0.2.0", "ok")
    strategy = registry.get("prototypes", "hadamard")
    assert Path(sys.modules[strategy.__module__].__file__).is_relative_to(contrib)
    P = make_prototypes("hadamard", 7, 8)
    np.testing.assert_allclose(P @ P.T, np.eye(7), atol=1e-12)


def test_fit_predict_with_plugins_by_name(contrib, digits):
    X, y = digits
    clf = HypersphericalClassifier(n_dims=16, prototypes="hadamard", loss="cosface",
                                   max_epochs=15, random_state=0).fit(X[:300], y[:300])
    assert clf.score(X[300:], y[300:]) > 0.7            # chance 0.1
    assert [(p["param"], p["name"], p["distribution"]) for p in clf.plugins_] == [
        ("loss", "cosface", "hsproto-contrib"), ("prototypes", "hadamard", "hsproto-contrib")]
    assert HypersphericalClassifier(max_epochs=1).fit(X[:50], y[:50]).plugins_ == []


def test_grid_search_over_strategies_including_the_plugin(contrib, digits):
    X, y = digits
    search = GridSearchCV(HypersphericalClassifier(n_dims=16, max_epochs=8, random_state=0),
                          {"prototypes": ["simplex", "hadamard"],
                           "loss": ["hpn", "cosface"]}, cv=2)
    search.fit(X[:240], y[:240])
    tried = [(p["prototypes"], p["loss"]) for p in search.cv_results_["params"]]
    assert ("hadamard", "cosface") in tried
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.score(X[240:], y[240:]) > 0.5


@pytest.mark.slow
def test_pickle_round_trip_and_clear_error_without_the_plugin(contrib, digits, tmp_path):
    X, y = digits
    clf = HypersphericalClassifier(n_dims=16, prototypes="hadamard", loss="cosface",
                                   max_epochs=3, random_state=0).fit(X[:200], y[:200])
    path = tmp_path / "model.joblib"
    joblib.dump(clf, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    assert loaded.plugins_ == clf.plugins_
    assert loaded.history_ is loaded.net_.history

    # a Python where the plugin's package cannot be imported: the error names it
    script = ("import sys, joblib\n"
              "sys.modules['hsproto_contrib'] = None\n"
              f"joblib.load({str(path)!r})\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    assert "hsproto.registry.PluginError: This HypersphericalClassifier was fitted with " \
           "the loss 'cosface' (loss=) from distribution 'hsproto-contrib' version 0.2.0, " \
           "which cannot be imported here" in done.stderr
    assert "Install hsproto-contrib==0.2.0 to load it." in done.stderr

    clf.plugins_[0]["version"] = "0.0.1"
    with pytest.warns(PluginWarning, match="version 0.2.0 is installed here"):
        joblib.load(_dump(clf, tmp_path / "old.joblib"))


def _dump(obj, path):
    joblib.dump(obj, path)
    return path


def test_joint_estimator_pickles_with_a_plugin_loss_class(contrib, tmp_path):
    from hsproto_contrib.cosface import CosFaceLoss

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = np.column_stack([np.arange(60) % 3, X[:, 0]])
    # a class handed over directly, not a name: recorded by its module and distribution
    est = JointEstimator(loss="hpn", prototypes="hadamard", n_dims=5, max_epochs=2,
                         random_state=0)
    est.fit(X, y)
    assert est.plugins_[0]["distribution"] == "hsproto-contrib"
    clf = HypersphericalClassifier(loss=CosFaceLoss, max_epochs=2, random_state=0)
    clf.fit(X, y[:, 0].astype(int))
    assert clf.plugins_ == [{"param": "loss", "group": "hsproto.losses", "name": "CosFaceLoss",
                             "distribution": "hsproto-contrib", "version": "0.2.0",
                             "module": "hsproto_contrib.cosface"}]
    again = joblib.load(_dump(clf, tmp_path / "clf.joblib"))
    np.testing.assert_array_equal(again.predict(X), clf.predict(X))


def test_broken_plugins_are_listed_and_isolated(broken):
    with pytest.warns(PluginWarning) as record:
        infos = {(i.group, i.name, i.distribution): i for i in hsproto.list_plugins()}
    messages = " ".join(str(w.message) for w in record)
    assert "boom at import" in messages
    assert "'simplex' is registered by hsproto, dupe-a" in messages
    assert "'basis' is registered by dupe-a, dupe-b" in messages

    def status(group, name, dist):
        info = infos[(f"hsproto.{group}", name, dist)]
        return info.status, info.error or ""

    assert status("prototypes", "boom", "bad-import") == (
        "broken", "RuntimeError: boom at import")
    state, error = status("prototypes", "func", "bad-type")
    assert state == "broken" and "not a hsproto.prototypes.PrototypeStrategy" in error
    state, error = status("losses", "notaloss", "bad-type")
    assert state == "broken" and "not a hsproto.losses.PrototypeLoss subclass" in error
    state, error = status("losses", "notasks", "bad-contract")
    assert state == "broken" and "NoTasks.tasks must be a non-empty tuple" in error
    assert status("prototypes", "simplex", "dupe-a")[0] == "shadowed"
    assert status("prototypes", "basis", "dupe-a")[0] == "ambiguous"
    # the others are untouched
    assert status("prototypes", "hadamard", "hsproto-contrib") == ("ok", "")
    assert status("prototypes", "simplex", "hsproto") == ("ok", "")
    np.testing.assert_allclose(np.ones(4) @ make_prototypes("simplex", 4, 3), 0, atol=1e-12)


@pytest.mark.parametrize(("group", "name", "match"), [
    ("prototypes", "boom", r"'boom' from distribution 'bad-import' \(version 1.0\) is broken "
                           r".*RuntimeError: boom at import"),
    ("prototypes", "func", "'func' from distribution 'bad-type'.*PluginContractError: "
                           "bad_type_plugin.not_a_class is not"),
    ("losses", "notaloss", "'notaloss' from distribution 'bad-type'.*not a hsproto.losses"),
    ("losses", "notasks", "'notasks' from distribution 'bad-contract'.*tasks must be"),
])
def test_selecting_a_broken_plugin_names_its_distribution(broken, group, name, match):
    with pytest.raises(PluginError, match=match):
        registry.get(group, name)


def test_broken_plugin_in_an_estimator_fails_before_training(broken, digits):
    X, y = digits
    with pytest.raises(PluginError, match="'notasks' from distribution 'bad-contract'"):
        HypersphericalClassifier(loss="notasks", max_epochs=1).fit(X[:50], y[:50])


def test_duplicates_need_the_distribution(broken):
    with pytest.warns(PluginWarning), pytest.raises(ValueError, match=(
            "'basis' is ambiguous; use one of 'dupe-a:basis', 'dupe-b:basis'")):
        make_prototypes("basis", 3, 4)
    np.testing.assert_array_equal(make_prototypes("dupe-b:basis", 3, 4), np.eye(3, 4))
    # hsproto's built-in keeps its name; the shadowing plugin stays reachable
    assert registry.describe("prototypes", "simplex").distribution == "hsproto"
    np.testing.assert_array_equal(make_prototypes("dupe-a:simplex", 3, 4), np.eye(3, 4))


def test_contract_violation_that_only_behaviour_shows(broken):
    from hsproto.testing import ContractError, check_prototype_strategy

    assert registry.describe("prototypes", "twins").status == "not loaded"
    with pytest.raises(ContractError, match="two classes share a prototype"):
        check_prototype_strategy("twins")


def test_estimator_refuses_a_degenerate_placement_before_training(broken):
    # 0.1 trained on two identical prototypes without a word (0.60 training accuracy)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 4)).astype(np.float32), np.arange(40) % 3
    clf = HypersphericalClassifier(prototypes="twins", n_dims=3, max_epochs=1)
    with pytest.raises(ValueError, match=r"prototype strategy 'twins' from distribution "
                       r"'bad-contract' \(version 1.0\) returned near-duplicate prototypes: "
                       r"rows 0 and 1 have cosine 1.0"):
        clf.fit(X, y)
    assert not hasattr(clf, "net_")
    joint = JointEstimator(prototypes="twins", n_dims=4, max_epochs=1)
    with pytest.raises(ValueError, match="'twins' from distribution 'bad-contract'"):
        joint.fit(X, np.column_stack([y, X[:, 0]]))


@pytest.mark.slow
def test_cli_lists_every_plugin_with_its_status(broken):
    done = subprocess.run([sys.executable, "-m", "hsproto", "plugins"], capture_output=True,
                          text=True, timeout=120, env=_env_with(broken))
    assert done.returncode == 1                 # some plugin is broken
    lines = done.stdout.splitlines()
    rows = {tuple(line.split()[:3]): line for line in lines[1:]}
    start = lines[0].index("status")        # columns aligned whatever the name lengths
    assert all(line[start - 1] == " " and line[start] != " " for line in lines[1:])
    assert "ok" in rows[("hsproto.prototypes", "hadamard", "hsproto-contrib")]
    assert "0.2.0" in rows[("hsproto.prototypes", "hadamard", "hsproto-contrib")]
    assert "broken (RuntimeError: boom at import)" in rows[
        ("hsproto.prototypes", "boom", "bad-import")]
    assert "shadowed" in rows[("hsproto.prototypes", "simplex", "dupe-a")]
    assert "ok" in rows[("hsproto.prototypes", "simplex", "hsproto")]

    done = subprocess.run([sys.executable, "-m", "hsproto", "plugins", "prototypes",
                           "twins", "hadamard", "--check"], capture_output=True, text=True,
                          timeout=300, env=_env_with(broken))
    rows = {tuple(line.split()[:3]): line for line in done.stdout.splitlines()[1:]}
    assert "broken (contract: prototype strategy Twins: generate(2, 2, random_state=0): " \
           "two classes share a prototype" in rows[("hsproto.prototypes", "twins",
                                                    "bad-contract")]
    assert "ok (contract checked, " in rows[("hsproto.prototypes", "hadamard",
                                             "hsproto-contrib")]
    assert "[1/2] checking hsproto.prototypes hsproto-contrib:hadamard" in done.stderr


@pytest.mark.slow
def test_cli_checks_several_groups_and_names_in_one_call(broken):
    done = subprocess.run([sys.executable, "-m", "hsproto", "plugins", "prototypes", "losses",
                           "hpn", "simplex", "cosface", "--check"], capture_output=True,
                          text=True, timeout=300, env=_env_with(broken))
    rows = {tuple(line.split()[:3]): line for line in done.stdout.splitlines()[1:]}
    assert sorted(rows) == [("hsproto.losses", "cosface", "hsproto-contrib"),
                            ("hsproto.losses", "hpn", "hsproto"),
                            ("hsproto.prototypes", "simplex", "dupe-a"),
                            ("hsproto.prototypes", "simplex", "hsproto")]
    assert "shadowed" in rows[("hsproto.prototypes", "simplex", "dupe-a")]
    assert done.returncode == 0 and done.stdout.count("ok (contract checked") == 3


def _env_with(path):
    import os

    extra = [str(path), *[p for p in sys.path if "contrib" in p and p.endswith("site")]]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*extra, env.get("PYTHONPATH", "")])
    return env
