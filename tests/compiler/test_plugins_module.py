"""compiler.plugins: the mechanics the pass, target and executor registries share.

Plugins are real distributions (a dist-info directory on ``sys.path``) found through
``importlib.metadata``; the registry under test is a small subclass with its own error type,
as the three real registries are.
"""

from __future__ import annotations

import os.path
import sys
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace

import pytest

from compiler.errors import InferccError
from compiler.plugins import (
    Cached,
    Entry,
    Registry,
    did_you_mean,
    distribution_name,
    entry_points,
    load_object,
)

from tests.support.plugin_dists import write_dist

GROUP = "infercc.test-probes"


class ProbeError(InferccError):
    pass


class Probes(Registry[Entry]):
    noun = "probe"
    group = GROUP
    error = ProbeError

    def unknown_message(self, name: str) -> str:
        return f"unknown probe '{name}'; {did_you_mean(name, self.names())}that's all"


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    """A directory on sys.path where tests install distributions and modules."""
    monkeypatch.syspath_prepend(str(tmp_path))
    for mod in ("probe_plugin", "probe_builtin", "probe_broken"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    return tmp_path


# -- plain functions ------------------------------------------------------------------------
def test_load_object_follows_module_and_dotted_attributes():
    assert load_object("os.path:join") is os.path.join
    assert load_object("collections:OrderedDict.fromkeys") == OrderedDict.fromkeys
    assert load_object("os.path") is os.path  # no colon: the module itself


def test_load_object_lets_import_and_attribute_errors_through():
    with pytest.raises(ModuleNotFoundError):
        load_object("no_such_module_anywhere:Thing")
    with pytest.raises(AttributeError):
        load_object("os.path:no_such_function")


def test_did_you_mean_offers_close_names_only():
    assert did_you_mean("tflit", ["onnx", "tflite"]) == "did you mean 'tflite'? "
    assert did_you_mean("dce2", ["dce", "dse", "cse"]).startswith("did you mean 'dce'")
    assert did_you_mean("zzz", ["onnx", "tflite"]) == ""
    many = did_you_mean("pass", ["pass1", "pass2", "pass3", "pass4"])
    assert many.count("'pass") == 3 and many.count(" or ") == 2


def test_entry_points_and_distribution_name_read_installed_metadata(site):
    write_dist(site, "infercc-probe-dist", {"alpha": "probe_plugin:Alpha"}, {}, group=GROUP)
    (ep,) = entry_points(GROUP)
    assert (ep.name, ep.value) == ("alpha", "probe_plugin:Alpha")
    assert distribution_name(ep) == "infercc-probe-dist"
    assert entry_points("infercc.no-such-group") == []


def test_distribution_name_falls_back_to_the_module_path():
    no_dist = SimpleNamespace(value="pkg.mod:Cls", dist=None)
    assert distribution_name(no_dist) == "pkg.mod"

    class BrokenMetadata:
        @property
        def metadata(self):
            raise ValueError("malformed METADATA")

    assert distribution_name(SimpleNamespace(value="pkg.mod:Cls", dist=BrokenMetadata())) == (
        "pkg.mod")


def test_entry_origin_phrases():
    assert Entry("a", "m:A", "builtin").origin == "builtin (m:A)"
    assert Entry("a", "m:A", "plugin", "dist-a").origin == "plugin distribution 'dist-a' (m:A)"
    assert Entry("a", "m:A", "api").origin == "registered in code (m:A)"


# -- Registry -------------------------------------------------------------------------------
def test_builtins_are_imported_on_load_not_before(site):
    (site / "probe_builtin.py").write_text("class Beta:\n    name = 'beta'\n")
    reg = Probes({"beta": "probe_builtin:Beta"})
    assert reg.names() == ["beta"] and "beta" in reg
    assert "probe_builtin" not in sys.modules
    obj = reg.load(reg.info("beta"))
    assert obj.__name__ == "Beta" and obj.__module__ == "probe_builtin"


def test_plugins_come_after_builtins_and_load_through_their_entry_point(site):
    (site / "probe_plugin.py").write_text("class Alpha:\n    name = 'alpha'\n")
    write_dist(site, "infercc-probe-dist", {"alpha": "probe_plugin:Alpha"}, {}, group=GROUP)
    reg = Probes({"zeta": "probe_builtin:Zeta"})
    assert reg.names() == ["zeta", "alpha"]
    entry = reg.info("alpha")
    assert (entry.kind, entry.distribution) == ("plugin", "infercc-probe-dist")
    assert reg.load(entry).__name__ == "Alpha"
    assert Probes({}, plugins=False).names() == []


def test_a_plugin_shadowing_a_builtin_names_both(site):
    write_dist(site, "infercc-probe-dist", {"beta": "probe_plugin:Beta"}, {}, group=GROUP)
    with pytest.raises(ProbeError) as e:
        Probes({"beta": "probe_builtin:Beta"})
    assert str(e.value) == (
        "probe name 'beta' is defined twice: by builtin (probe_builtin:Beta) and by plugin "
        "distribution 'infercc-probe-dist' (probe_plugin:Beta). Uninstall one of them or "
        f"rename its entry point in the '{GROUP}' group.")


def test_the_same_plugin_seen_twice_is_one_entry():
    reg = Probes({}, plugins=False)
    reg.add(Entry("a", "m:A", "plugin", "dist-a"))
    reg.add(Entry("a", "m:A", "plugin", "dist-a"))
    assert reg.names() == ["a"]
    with pytest.raises(ProbeError, match="by plugin distribution 'dist-a' .* and by plugin "
                                         "distribution 'dist-b'"):
        reg.add(Entry("a", "m:A", "plugin", "dist-b"))


def test_unknown_name_raises_the_registrys_error_and_message():
    reg = Probes({"alpha": "m:A", "beta": "m:B"}, plugins=False)
    with pytest.raises(ProbeError) as e:
        reg.info("alpah")
    assert str(e.value) == "unknown probe 'alpah'; did you mean 'alpha'? that's all"


def test_a_load_failure_names_the_entry_and_its_origin(site):
    (site / "probe_broken.py").write_text("raise ImportError('no npu')\n")
    reg = Probes({"broken": "probe_broken:X", "missing": "probe_builtin_gone:X"})
    with pytest.raises(ProbeError) as e:
        reg.load(reg.info("broken"))
    assert str(e.value) == ("probe 'broken' from builtin (probe_broken:X) cannot be loaded: "
                            "ImportError: no npu")
    assert isinstance(e.value.__cause__, ImportError)
    with pytest.raises(ProbeError, match="cannot be loaded: ModuleNotFoundError"):
        reg.load(reg.info("missing"))


def test_check_name_attribute():
    class Gamma:
        name = "gamma"

    reg = Probes({}, plugins=False)
    reg.check_name_attribute(Gamma, "gamma", "here")
    with pytest.raises(ProbeError) as e:
        reg.check_name_attribute(Gamma, "delta", "here")
    assert str(e.value) == (
        "probe 'delta' from here: the class' name attribute is 'gamma'; the entry-point name "
        "and `test_check_name_attribute.<locals>.Gamma.name` must be the same")


# -- Cached ---------------------------------------------------------------------------------
def test_cached_builds_once_until_reset():
    built = []
    cache = Cached(lambda: built.append(len(built)) or len(built))
    assert cache.get() == 1 and cache.get() == 1 and built == [0]
    cache.reset()
    assert cache.get() == 2 and built == [0, 1]
