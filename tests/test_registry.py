"""The registries: one explicit table each (name -> "module:attribute"), resolved on lookup;
nothing registers by being imported; unknown names list the valid ones."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT
from kerasdenoise import losses, models
from kerasdenoise._registry import Registry, resolve
from kerasdenoise.training import configs, trainers


TABLES = {
    "model": (models.NETWORKS, models.get_builder),
    "loss": (losses.LOSSES, lambda name: losses._LOSSES.get(name)),
    "procedure": (trainers.PROCEDURES, trainers.get_procedure),
}


@pytest.mark.parametrize("kind", sorted(TABLES))
def test_every_declared_entry_resolves_to_its_function(kind):
    table, get = TABLES[kind]
    for name, target in table.items():
        entry = get(name)
        assert callable(entry), (kind, name)
        module, attribute = target.split(":")
        assert (entry.__module__, entry.__name__) == (module, attribute), (kind, name)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown model 'dncn'; valid names: dncnn, dnresnet"):
        models.build("dncn")
    with pytest.raises(ValueError, match="unknown loss 'mae'; valid names: .*l1.*mse"):
        losses.get_loss("mae")
    with pytest.raises(ValueError, match=r"unknown training procedure \(config.procedure\) 'gan'; "
                                         "valid names: .*cascade.*idgan.*supervised"):
        trainers.get_procedure("gan")
    with pytest.raises(ValueError, match="unknown config 'dmeo'; valid presets: .*demo"):
        configs.get_preset("dmeo")
    assert trainers.get_driver("supervised") is None  # a single-run trainer, not a driver
    assert trainers.get_driver("cascade") is trainers.get_procedure("cascade")
    assert trainers.STAGED < set(trainers.PROCEDURES)


def test_names_come_from_the_tables_alone():
    assert models.names() == sorted(models.NETWORKS)
    assert losses.loss_names() == sorted(losses.LOSSES)
    assert trainers.procedure_names() == sorted(trainers.PROCEDURES)
    assert trainers.trainer_names() == sorted(set(trainers.PROCEDURES) - trainers.STAGED)


PROBE = """
import json, sys

def loaded():
    return sorted(m for m in sys.modules if m.split(".")[0] in ("kerasdenoise", "tensorflow", "keras"))

steps = {}
from kerasdenoise.training import configs
configs.preset_names()
configs.get_preset("dnresnet-cascade-blind")
steps["presets"] = loaded()
from kerasdenoise import models
models.names()
steps["network names"] = loaded()
models.get_builder("dncnn")
steps["one network"] = loaded()
print(json.dumps(steps))
"""


def test_importing_registers_nothing_and_listing_imports_nothing():
    """In one fresh interpreter (TensorFlow's import is slow): presets are plain data; the
    networks' names import no family; one lookup imports that family only."""
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    steps = json.loads(done.stdout.strip().splitlines()[-1])
    assert not [m for m in steps["presets"] if m.split(".")[0] in ("tensorflow", "keras")]
    assert [m for m in steps["network names"] if m.startswith("kerasdenoise.models.")] == []
    assert [m for m in steps["one network"] if m.startswith("kerasdenoise.models.")] == [
        "kerasdenoise.models._init", "kerasdenoise.models.dncnn"]


def test_presets_name_declared_networks_losses_and_trainers():
    for name in configs.preset_names():
        config = configs.get_preset(name)
        assert config.name == name
        assert config.model in models.NETWORKS, name
        assert config.loss in losses.LOSSES, name
        assert config.procedure in trainers.PROCEDURES, name


def test_get_preset_returns_an_independent_copy():
    first = configs.get_preset("gated-dsc")
    first.model_kwargs["gates"].append(0.5)
    first.model_kwargs["channels"] = 1
    again = configs.get_preset("gated-dsc")
    assert again.model_kwargs["gates"] == [0.1, 0.2, 0.3, 0.4] and again.model_kwargs["channels"] == 3


def test_registry_resolves_lazily_and_checks_its_table():
    registry = Registry("thing", {"join": "os.path:join", "answer": 42,
                                  "missing": "os.path:no_such_function"})
    assert registry.names() == ["answer", "join", "missing"] and "join" in registry
    import os.path

    assert registry.get("join") is os.path.join and registry.get("answer") == 42
    assert registry.get("nope", None) is None
    with pytest.raises(ImportError, match="os.path has no attribute 'no_such_function'"):
        registry.get("missing")
    with pytest.raises(ValueError, match="not of the form 'package.module:attribute'"):
        resolve("os.path.join")
    assert registry.entry("join")(len) is len  # marks, registers nothing
    with pytest.raises(ValueError, match="thing 'other' is not declared in the thing table"):
        registry.entry("other")
    # A table given as "module:attribute" is loaded on first use.
    lazy = Registry("preset", "kerasdenoise.training.presets:PRESETS")
    assert lazy.names() == configs.preset_names()
