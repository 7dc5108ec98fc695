import sys
import textwrap
from importlib.metadata import EntryPoint

import pytest

import hsproto
from hsproto import registry
from hsproto.prototypes import PrototypeStrategy, make_prototypes
from hsproto.registry import PluginError, PluginWarning

GROUP = "hsproto.prototypes"


@pytest.fixture
def fake_plugins(monkeypatch, tmp_path):
    """Replace discovery with hsproto's real entry points plus the ones a test adds."""
    real = registry._entry_points
    extra = []

    def entry_points(group):
        found = real(group)
        return found + [(EntryPoint(n, v, group), d, "1.0") for g, n, v, d in extra
                        if g == group]

    monkeypatch.setattr(registry, "_entry_points", entry_points)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.refresh()

    def add(name, value, distribution="thirdparty", group=GROUP):
        extra.append((group, name, value, distribution))
        registry.refresh()

    yield add, tmp_path
    registry.refresh()


def write_module(tmp_path, name, body):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    sys.modules.pop(name, None)


GOOD = """
    import numpy as np
    from hsproto.prototypes import PrototypeStrategy

    class Diagonal(PrototypeStrategy):
        name = "diagonal"
        def _generate(self, n_classes, n_dims, seed):
            out = np.ones((n_classes, n_dims))
            out[np.arange(n_classes), np.arange(n_classes) % n_dims] += n_classes
            return out
"""


def test_builtins_are_listed_through_entry_points():
    infos = {i.name: i for i in hsproto.list_plugins("prototypes")}
    for name in ("auto", "separation", "uniformity", "privileged", "embedding",
                 "simplex", "orthoplex", "cube", "one_hot", "random"):
        assert infos[name].distribution == "hsproto"
        assert infos[name].group == GROUP
        assert infos[name].status == "ok", infos[name]


def test_unknown_name_lists_available():
    with pytest.raises(ValueError, match=r"Unknown prototype strategy 'nope'.*separation.*simplex"):
        make_prototypes("nope", 3, 2)


def test_unknown_group():
    with pytest.raises(ValueError, match="Unknown plugin group"):
        hsproto.list_plugins("widgets")


def test_third_party_plugin_is_lazy_and_usable(fake_plugins):
    add, tmp = fake_plugins
    write_module(tmp, "hs_diag_plugin", GOOD)
    add("diagonal", "hs_diag_plugin:Diagonal")
    assert "diagonal" in registry.available("prototypes")
    assert "hs_diag_plugin" not in sys.modules          # discovery imports nothing
    P = make_prototypes("diagonal", 4, 3)
    assert "hs_diag_plugin" in sys.modules
    assert P.shape == (4, 3)


def test_broken_plugin_is_reported_and_isolated(fake_plugins):
    add, tmp = fake_plugins
    write_module(tmp, "hs_broken_plugin", "raise RuntimeError('boom at import')\n")
    add("broken", "hs_broken_plugin:Thing", distribution="brokenpkg")
    with pytest.warns(PluginWarning, match="broken.*boom at import"):
        infos = {i.name: i for i in hsproto.list_plugins("prototypes")}
    assert infos["broken"].status == "broken"
    assert "RuntimeError: boom at import" in infos["broken"].error
    assert infos["simplex"].status == "ok"
    with pytest.raises(PluginError, match=r"'broken' from distribution 'brokenpkg'.*boom"):
        make_prototypes("broken", 3, 2)
    assert make_prototypes("simplex", 3, 2).shape == (3, 2)  # others unaffected


def test_missing_module_plugin(fake_plugins):
    add, _ = fake_plugins
    add("ghost", "no_such_module_hsproto:Ghost", distribution="ghostpkg")
    with pytest.raises(PluginError, match="ghostpkg.*ModuleNotFoundError"):
        registry.get("prototypes", "ghost")


def test_duplicate_of_builtin_warns_and_builtin_keeps_name(fake_plugins):
    add, tmp = fake_plugins
    write_module(tmp, "hs_dup_plugin", GOOD)
    add("simplex", "hs_dup_plugin:Diagonal", distribution="dupepkg")
    with pytest.warns(PluginWarning, match="'simplex' is registered by hsproto, dupepkg"):
        obj = registry.get("prototypes", "simplex")
    assert obj.__module__ == "hsproto.prototypes.polytopes"
    assert registry.get("prototypes", "dupepkg:simplex").__name__ == "Diagonal"
    statuses = {(i.distribution, i.status) for i in hsproto.list_plugins("prototypes")
                if i.name == "simplex"}
    assert statuses == {("hsproto", "ok"), ("dupepkg", "shadowed")}


def test_duplicate_between_third_parties_is_ambiguous(fake_plugins):
    add, tmp = fake_plugins
    write_module(tmp, "hs_dup_a", GOOD)
    add("diag", "hs_dup_a:Diagonal", distribution="pkg-a")
    add("diag", "hs_dup_a:Diagonal", distribution="pkg-b")
    with pytest.warns(PluginWarning), pytest.raises(ValueError, match="ambiguous"):
        registry.get("prototypes", "diag")
    assert issubclass(registry.get("prototypes", "pkg-b:diag"), PrototypeStrategy)


def test_plugin_returning_garbage_is_caught(fake_plugins):
    add, tmp = fake_plugins
    write_module(tmp, "hs_bad_shape", """
        import numpy as np
        from hsproto.prototypes import PrototypeStrategy

        class BadShape(PrototypeStrategy):
            name = "bad_shape"
            def _generate(self, n_classes, n_dims, seed):
                return np.ones((n_classes + 1, n_dims))

        class NaNs(PrototypeStrategy):
            name = "nans"
            def _generate(self, n_classes, n_dims, seed):
                return np.full((n_classes, n_dims), np.nan)
    """)
    add("bad_shape", "hs_bad_shape:BadShape")
    add("nans", "hs_bad_shape:NaNs")
    with pytest.raises(ValueError, match=r"'bad_shape' returned shape \(4, 2\)"):
        make_prototypes("bad_shape", 3, 2)
    with pytest.raises(ValueError, match="'nans' returned non-finite"):
        make_prototypes("nans", 3, 2)


def test_non_strategy_object_is_rejected(fake_plugins):
    add, tmp = fake_plugins
    write_module(tmp, "hs_wrong_type", "class NotAStrategy:\n    pass\n")
    add("wrong", "hs_wrong_type:NotAStrategy")
    with pytest.raises(PluginError, match=r"'wrong' from distribution 'thirdparty'.*is "
                       r"broken.*not a hsproto.prototypes.PrototypeStrategy subclass"):
        make_prototypes("wrong", 3, 2)
    with pytest.warns(PluginWarning, match="wrong"):
        infos = {i.name: i for i in hsproto.list_plugins("prototypes")}
    assert infos["wrong"].status == "broken"
    assert "PluginContractError" in infos["wrong"].error
    # a class handed over directly (not through the registry) still gets a TypeError
    from hs_wrong_type import NotAStrategy
    with pytest.raises(TypeError, match="not a PrototypeStrategy subclass"):
        make_prototypes(NotAStrategy, 3, 2)


class _Halves(PrototypeStrategy):
    """Two antipodal prototypes (a notebook experiment)."""

    def _unsupported(self, n_classes, n_dims):
        return None if n_classes == 2 else "two classes only."

    def _generate(self, n_classes, n_dims, seed):
        out = [[0.0] * n_dims, [0.0] * n_dims]
        out[0][0], out[1][0] = 1.0, -1.0
        return out


@pytest.fixture
def runtime_cleanup():
    yield
    for group in registry.GROUPS:
        for name in list(registry._runtime[group]):
            registry.unregister(group, name)


def test_register_at_runtime_selects_lists_and_fits(runtime_cleanup):
    import numpy as np

    hsproto.register("prototypes", "halves", _Halves)
    assert make_prototypes("halves", 2, 3).tolist() == [[1, 0, 0], [-1, 0, 0]]
    info = {i.name: i for i in hsproto.list_plugins("prototypes")}["halves"]
    assert (info.distribution, info.status) == (registry.RUNTIME, "ok")
    assert info.value.endswith(":_Halves")
    X = np.r_[np.ones((10, 2)), -np.ones((10, 2))]
    clf = hsproto.HypersphericalClassifier(prototypes="halves", n_dims=3, max_epochs=30,
                                           lr=1e-2, random_state=0).fit(X, [0] * 10 + [1] * 10)
    assert clf.layout_.strategy == "halves"          # named as the user selected it
    assert clf.score(X, [0] * 10 + [1] * 10) == 1.0
    registry.refresh()                  # survives re-reading the entry points
    assert "halves" in registry.available("prototypes")
    registry.unregister("prototypes", "halves")
    with pytest.raises(ValueError, match="Unknown prototype strategy 'halves'"):
        make_prototypes("halves", 2, 3)


def test_plugin_warning_and_error_are_importable_from_hsproto():
    assert hsproto.PluginWarning is PluginWarning and hsproto.PluginError is PluginError
    assert hsproto.register is registry.register


def test_register_checks_the_contract_and_never_overwrites(runtime_cleanup):
    with pytest.raises(registry.PluginContractError, match="not a hsproto.losses.PrototypeLoss"):
        hsproto.register("losses", "bad", object)
    with pytest.raises(ValueError, match="taken by distribution 'hsproto'"):
        hsproto.register("prototypes", "simplex", _Halves)
    hsproto.register("prototypes", "halves", _Halves)
    with pytest.raises(ValueError, match="registered already; pass replace=True"):
        hsproto.register("prototypes", "halves", _Halves)
    hsproto.register("prototypes", "halves", _Halves(), replace=True)
    for bad in ("", "a:b", " x", 3):
        with pytest.raises(ValueError, match="plugin name must be"):
            hsproto.register("prototypes", bad, _Halves)
    with pytest.raises(ValueError, match="no plugin 'nope' added by register"):
        hsproto.unregister("prototypes", "nope")
