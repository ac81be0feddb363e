"""Training under tf.distribute (kerasdenoise.training.distribute), on this CPU.

The CPU is split into two logical devices, which must happen before TensorFlow starts, so the
runs are made in fresh processes (tests/_distribute_run.py): each procedure's tiny config is
trained for three steps without a strategy and under ``mirrored`` on CPU:0 + CPU:1 at the same
global batch, and the final weights must agree.  The runs use SGD, whose update is proportional
to the gradient, so a wrong loss scale (Keras' loss objects scale by the replica count, the
custom steps must too, once) or a clip applied per replica instead of to the global gradient
changes the weights by far more than the bound.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kerasdenoise.training import configs, distribute

HERE = Path(__file__).resolve().parent
RUN = HERE / "_distribute_run.py"
TOLERANCE = 1e-5


def _python(*args, env=None, timeout=600):
    result = subprocess.run([sys.executable, str(RUN), *map(str, args)], capture_output=True,
                            text=True, env={**os.environ, **(env or {})}, timeout=timeout)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


@pytest.fixture(scope="module")
def mirrored_vs_one_device(tmp_path_factory):
    root = tmp_path_factory.mktemp("mirrored")
    result = _python("compare", root, "plain", "joint", "gan", "cascade", "evolution", "distill")
    return root, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("procedure", ["plain", "joint", "gan", "evolution", "distill"])
def test_mirrored_on_two_devices_gives_the_one_device_weights(procedure, mirrored_vs_one_device):
    _, differences = mirrored_vs_one_device
    assert differences[procedure] < TOLERANCE, differences


def test_cascade_stage_transition_under_mirrored(mirrored_vs_one_device):
    root, differences = mirrored_vs_one_device
    assert differences["cascade"] < TOLERANCE, differences
    run = root / "cascade-mirrored"
    # both stages trained under the strategy: the 3-layer net, then one block inserted
    assert (run / "dnresnet3.keras").exists() and (run / "dnresnet5.keras").exists()
    stages = json.loads((run / "stages.json").read_text())
    assert [s["blocks"] for s in stages] == [0, 1]


def _workers(root, out_dirs, extra=()):
    """Two local workers of one multi-worker run, each with its TF_CONFIG; waits for both."""
    processes = []
    for out, tf_config in zip(out_dirs, distribute.local_tf_configs(2)):
        env = {**os.environ, "TF_CONFIG": tf_config}
        processes.append(subprocess.Popen(
            [sys.executable, str(RUN), "train", str(root), "plain", "multi-worker", str(out),
             *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for process in processes:
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-4000:]


def _weights(path):
    from kerasdenoise.runtime import load_keras_model

    return load_keras_model(path).get_weights()


def _max_difference(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(_weights(a), _weights(b)))


def test_two_worker_processes_match_one_device_and_only_the_chief_writes(tmp_path):
    reference = tmp_path / "one-device"
    _python("train", tmp_path, "plain", "none", reference)
    chief, other = tmp_path / "chief", tmp_path / "worker1"
    _workers(tmp_path, [chief, other])
    assert _max_difference(reference / "final.keras", chief / "final.keras") < TOLERANCE
    assert (chief / "checkpoints" / "last.weights.h5").exists()
    assert not other.exists(), f"worker 1 wrote {sorted(p.name for p in other.iterdir())}"

    # Both workers restarted with --resume continue from the chief's checkpoint (step 3) and
    # end where one device resumed the same way ends.
    _python("train", tmp_path, "plain", "none", reference, "--resume", "--steps", 4)
    _workers(tmp_path, [chief, chief], extra=("--resume", "--steps", "4"))
    info = json.loads((chief / "run_info.json").read_text())
    assert info["steps"] == 4
    assert _max_difference(reference / "final.keras", chief / "final.keras") < TOLERANCE


# ---------------------------------------------------------------------------- bad input


def test_unknown_strategy_is_refused_listing_the_valid_ones():
    with pytest.raises(ValueError, match="unknown strategy 'mirored'.*mirrored, multi-worker"):
        configs.apply_overrides(configs.get_preset("demo"), ["strategy=mirored"])


@pytest.mark.parametrize("text, message", [
    (None, "needs TF_CONFIG"),
    ("{not json", "not valid JSON"),
    ('{"cluster": {"worker": ["localhost:1"]}}', "needs 'task'"),
    ('{"cluster": {"worker": "localhost:1"}, "task": {"type": "worker", "index": 0}}',
     "list of 'host:port'"),
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 2}}',
     "index 2 is not in 0..0"),
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "ps", "index": 0}}',
     "type 'ps' is not in the cluster"),
])
def test_malformed_tf_config_is_refused(text, message, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match=message):
        distribute.read_tf_config(text if text is not None else None)


def test_devices_need_the_mirrored_strategy():
    with pytest.raises(ValueError, match="apply to strategy 'mirrored' only"):
        distribute.make_strategy("none", ("CPU:0",))


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "kerasdenoise.cli.train", *map(str, args)],
                          capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=300)


def test_cli_refuses_a_missing_device_a_bad_tf_config_and_an_indivisible_batch(tmp_path):
    out = tmp_path / "run"
    missing = _cli("--config", "demo", "--out", out, "--strategy", "mirrored",
                   "--devices", "CPU:0,GPU:7")
    assert missing.returncode == 2 and "no device 'GPU:7'" in missing.stderr, missing.stderr
    bad = _cli("--config", "demo", "--out", out, "--strategy", "multi-worker",
               env={"TF_CONFIG": "{oops"})
    assert bad.returncode == 2 and "TF_CONFIG is not valid JSON" in bad.stderr, bad.stderr
    odd = _cli("--config", "demo", "--out", out, "--strategy", "mirrored", "--logical-cpus", 2,
               "--devices", "CPU:0,CPU:1", "--set", "batch_size=3")
    assert odd.returncode == 2 and "batch_size 3" in odd.stderr and "2 replicas" in odd.stderr, \
        odd.stderr
    assert not out.exists()  # nothing written before the errors
