"""Exact resume: ``tools/train.py`` stopped by SIGINT, SIGTERM or SIGKILL in the middle of an
epoch, then ``--resume``d, ends with the weights and the ``history.csv`` of an uninterrupted run.

Every run goes through a small driver (written here into the test's folder) that calls
``tools/train.py``'s ``main`` in a subprocess with op determinism and one thread.  For the
interrupted runs the driver slows the training stream down (each batch waits ``SLOW`` seconds
inside the training step, in tf.data, without changing the data), so that a signal sent once
the first epoch's checkpoint exists lands in the middle of a step of the second epoch: the case
where the runner used to count one step fewer than the optimizer had made.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from conftest import ROOT, write_images

STEPS, PER_EPOCH = 20, 10
SLOW = 0.3  # seconds per batch of an interrupted run
SIGNALS = ("SIGINT", "SIGTERM", "SIGKILL")

DRIVER = textwrap.dedent('''
    """Test driver: kerasdenoise-train's main() on each argument list of argv[3] (JSON)."""
    import json, signal, sys, time
    # Ctrl-C semantics even when the parent ignores SIGINT (a background job of a script):
    # the runner keeps an inherited SIG_IGN.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import tensorflow as tf
    tf.config.experimental.enable_op_determinism()
    slow, jobs = float(sys.argv[2]), json.loads(sys.argv[3])  # argv[1]: the repository root
    from kerasdenoise.cli import train as train_cli
    from kerasdenoise.training import runner

    if slow > 0:
        make_datasets = runner.make_datasets

        def slowed(config):
            stream, val = make_datasets(config)

            def wait(*batch):
                done = tf.py_function(lambda: time.sleep(slow) or 0, [], tf.int32)
                with tf.control_dependencies([done]):
                    return tuple(tf.identity(part) for part in batch)

            return (lambda step: stream(step).map(wait)), val

        runner.make_datasets = slowed
    codes = [train_cli.main(argv) for argv in jobs]
    print("EXIT CODES", json.dumps(codes), flush=True)
    sys.exit(max(codes))
''')


def _env():
    return dict(os.environ, TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1",
                TF_CPP_MIN_LOG_LEVEL="2", TF_DETERMINISTIC_OPS="1", PYTHONUNBUFFERED="1")


def _args(data, out, resume=False):
    args = ["--config", "demo", "--data-dir", str(data), "--val-dir", str(data),
            "--out", str(out), "--steps", str(STEPS), "--quiet"]
    for item in (f"steps_per_epoch={PER_EPOCH}", "model_kwargs.depth=3",
                 "model_kwargs.filters=8", "patch_size=16", "batch_size=4", "val_batches=1",
                 "lr_decay_steps=[15]"):
        args += ["--set", item]
    return args + (["--resume"] if resume else [])


def _start(driver, slow, jobs, log):
    return subprocess.Popen(
        [sys.executable, str(driver), str(ROOT), str(slow), json.dumps(jobs)],
        cwd=ROOT, env=_env(), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: only our signals reach it
    )


def _state(out):
    path = out / "checkpoints" / "state.json"
    return json.loads(path.read_text()) if path.exists() else None


def _final_weights(out):
    import keras

    return keras.models.load_model(out / "final.keras", compile=False).get_weights()


def _rows(out):
    return (out / "history.csv").read_text().splitlines()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three runs interrupted in their second epoch (one per signal), then in one process:
    two uninterrupted runs and the resumes, including two checkpoints in the format of
    older versions (``state.json`` with only ``step`` and ``seconds``)."""
    base = tmp_path_factory.mktemp("resume")
    data = write_images(base / "images")
    driver = base / "driver.py"
    driver.write_text(DRIVER)
    info = {"base": base, "cut": {}}

    procs = {}
    try:
        for name in SIGNALS:
            log = open(base / f"{name}.log", "w")
            procs[name] = (_start(driver, SLOW, [_args(data, base / name)], log), log)
        pending = set(SIGNALS)
        deadline = time.monotonic() + 600
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                proc = procs[name][0]
                if proc.poll() is not None:
                    pytest.fail(f"{name} run ended before its first checkpoint:\n"
                                + (base / f"{name}.log").read_text()[-3000:])
                if _state(base / name) is not None:
                    # The first epoch's checkpoint exists: the run is in (slow) step 11.
                    time.sleep(SLOW / 2)
                    os.kill(proc.pid, getattr(signal, name))
                    pending.discard(name)
            time.sleep(0.01)
        assert not pending, f"no checkpoint within the time limit: {pending}"
        for name, (proc, log) in procs.items():
            info["cut"][name] = {"rc": proc.wait(timeout=300),
                                 "log": (base / f"{name}.log").read_text(),
                                 "state": _state(base / name), "rows": _rows(base / name)}
    finally:
        for proc, log in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()

    # Checkpoints as older versions wrote them: at an epoch end (the SIGKILL run's) and the
    # issue's mid-step one (state.json one step behind the optimizer).
    for name, source, shift in (("old-boundary", "SIGKILL", 0), ("old-offbyone", "SIGINT", -1)):
        shutil.copytree(base / source, base / name)
        state = _state(base / source)
        old = {"step": state["step"] + shift, "seconds": state["seconds"]}
        (base / name / "checkpoints" / "state.json").write_text(json.dumps(old))
    # ... and a config.json written before a field with a default existed
    config = json.loads((base / "old-boundary" / "config.json").read_text())
    del config["loss_weighting"]
    (base / "old-boundary" / "config.json").write_text(json.dumps(config))
    info["old-offbyone-step"] = info["cut"]["SIGINT"]["state"]["step"]

    jobs = [_args(data, base / "straight"), _args(data, base / "straight2")]
    jobs += [_args(data, base / name, resume=True)
             for name in (*SIGNALS, "old-boundary", "old-offbyone")]
    with open(base / "resume.log", "w") as log:
        proc = _start(driver, 0, jobs, log)
        try:
            rc = proc.wait(timeout=900)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    info["resume_log"] = (base / "resume.log").read_text()
    assert rc == 0, info["resume_log"][-5000:]
    return info


def test_uninterrupted_runs_are_bit_identical(runs):
    base = runs["base"]
    first, second = _final_weights(base / "straight"), _final_weights(base / "straight2")
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a, b)
    rows = _rows(base / "straight")
    assert rows == _rows(base / "straight2") and len(rows) == 1 + STEPS // PER_EPOCH
    assert _state(base / "straight")["step"] == STEPS


@pytest.mark.parametrize("name", SIGNALS)
def test_interrupted_run_resumes_exactly(runs, name):
    base, cut = runs["base"], runs["cut"][name]
    state = cut["state"]
    if name == "SIGKILL":
        # Killed in the middle of the second epoch: the first epoch's checkpoint is left.
        assert cut["rc"] == -signal.SIGKILL
        assert state["step"] == PER_EPOCH and len(cut["rows"]) == 2, cut["log"][-3000:]
    else:
        # Stopped at the end of the step in progress, in the middle of the epoch (not at a
        # checkpoint boundary), with a checkpoint there; tools/train.py exits 130.
        assert cut["rc"] == 130, cut["log"][-3000:]
        step = state["step"]
        assert PER_EPOCH < step < STEPS, state
        assert f"stopped by {name} at step {step}" in cut["log"] and "--resume" in cut["log"]
        assert state["partial_epoch"]["epoch"] == 1 and len(cut["rows"]) == 2
    assert state["history_rows"] == 1

    straight = base / "straight"
    for a, b in zip(_final_weights(straight), _final_weights(base / name), strict=True):
        assert np.array_equal(a, b)
    assert _rows(base / name) == _rows(straight)
    assert _state(base / name)["step"] == STEPS
    assert json.loads((base / name / "run_info.json").read_text())["steps"] == STEPS


def test_checkpoint_of_an_older_version_resumes(runs):
    base = runs["base"]
    straight = base / "straight"
    # At an epoch end (what older versions wrote every epoch), its config.json without a field
    # added since (loss_weighting): identical in every respect.
    for a, b in zip(_final_weights(straight), _final_weights(base / "old-boundary"), strict=True):
        assert np.array_equal(a, b)
    assert _rows(base / "old-boundary") == _rows(straight)
    # The interrupted checkpoint, state.json one step behind its optimizer: the
    # optimizer's count wins, so the weights are exact; the partial epoch's running sums were
    # never saved, so only that row's training columns differ.
    step = runs["old-offbyone-step"]
    note = f"says step {step - 1} but the checkpoint's optimizer has made {step}"
    assert note in runs["resume_log"]
    for a, b in zip(_final_weights(straight), _final_weights(base / "old-offbyone"), strict=True):
        assert np.array_equal(a, b)
    old, new = _rows(base / "old-offbyone"), _rows(straight)
    assert old[:2] == new[:2] and len(old) == len(new)
    header = new[0].split(",")
    for column in ("epoch", "val_loss", "val_psnr"):
        i = header.index(column)
        assert old[2].split(",")[i] == new[2].split(",")[i]


def test_resume_refuses_a_changed_config_and_a_run_without_resume(runs, tmp_path):
    from kerasdenoise.training.configs import TrainConfig
    from kerasdenoise.training.runner import train

    cut = tmp_path / "cut"
    shutil.copytree(runs["base"] / "SIGKILL", cut)
    before = {p: p.read_bytes() for p in cut.rglob("*") if p.is_file()}
    config = TrainConfig.from_dict(json.loads((cut / "config.json").read_text()))
    with pytest.raises(FileExistsError, match="--resume"):
        train(config, cut, progress=False)
    with pytest.raises(ValueError, match="noise"):
        train(config.replace(noise="gaussian:sigma=50"), cut, resume=True, progress=False)
    assert {p: p.read_bytes() for p in cut.rglob("*") if p.is_file()} == before


def test_stage_loss_monitor_state_resumes_mid_epoch():
    """The cascade's advance rule keeps its window across a resume in the middle of an epoch
    (the runner restores the epoch's running mean, so logs["loss"] goes on as if uninterrupted)."""
    from types import SimpleNamespace

    from kerasdenoise.training.cascade import StageLossMonitor

    batch_losses = [4.0, 3.0, 2.0, 1.0, 1.0, 0.5]
    running = np.cumsum(batch_losses) / np.arange(1, 7)

    def monitor():
        m = StageLossMonitor(window=3, target=1.0)
        m.set_model(SimpleNamespace(stop_training=False))
        return m

    straight = monitor()
    straight.on_epoch_begin(0)
    for batch, mean in enumerate(running):
        straight.on_train_batch_end(batch, {"loss": float(mean)})

    first = monitor()
    first.on_epoch_begin(0)
    for batch, mean in enumerate(running[:4]):
        first.on_train_batch_end(batch, {"loss": float(mean)})
    resumed = monitor()
    resumed.set_resume_state(json.loads(json.dumps(first.get_resume_state())))
    resumed.on_epoch_begin(0)  # the resumed fit starts the interrupted epoch again
    for batch, mean in enumerate(running[4:]):  # batch numbers restart in the new fit call
        resumed.on_train_batch_end(batch, {"loss": float(mean)})
    assert list(resumed.losses) == list(straight.losses) == pytest.approx([1.0, 1.0, 0.5])
    assert resumed.reached_target and resumed.model.stop_training


def test_stateful_callback_and_early_stop_resume_exactly(tmp_path):
    """In process, Ctrl-C (a real SIGINT from a callback) in the middle of an epoch: the
    cascade's advance rule (StageLossMonitor, a stateful callback) gets its window back and
    ends the run at the step where an uninterrupted run ends it."""
    import tensorflow as tf

    from conftest import interrupt_at
    from kerasdenoise.training import configs
    from kerasdenoise.training.cascade import StageLossMonitor
    from kerasdenoise.training.runner import read_state, train

    tf.config.experimental.enable_op_determinism()
    data = write_images(tmp_path / "images")
    config = configs.get_preset("demo").replace(
        model_kwargs={"depth": 3, "filters": 8, "channels": 1}, train_data=str(data),
        val_data=str(data), patch_size=16, batch_size=4, steps=12, steps_per_epoch=4,
        val_batches=1, lr_decay_steps=(),
    )
    # The window fills at step 6 and any loss meets the target: the rule ends the run there.
    straight_monitor = StageLossMonitor(window=6, target=float("inf"))
    straight = train(config, tmp_path / "straight", callbacks=[straight_monitor], progress=False)
    assert straight.steps == 6 and straight_monitor.reached_target

    with pytest.raises(KeyboardInterrupt, match="at step 5"):
        train(config, tmp_path / "cut", callbacks=[StageLossMonitor(window=6, target=float("inf")),
                                                    interrupt_at(5)], progress=False)
    assert read_state(tmp_path / "cut")["callbacks"]["StageLossMonitor"]["batches"] == 1
    monitor = StageLossMonitor(window=6, target=float("inf"))
    resumed = train(config, tmp_path / "cut", resume=True, callbacks=[monitor], progress=False)
    assert resumed.steps == 6 and list(monitor.losses) == list(straight_monitor.losses)
    for a, b in zip(straight.denoiser.get_weights(), resumed.denoiser.get_weights(), strict=True):
        assert np.array_equal(a, b)
    assert _rows(tmp_path / "cut") == _rows(tmp_path / "straight")
    assert read_state(tmp_path / "cut")["stopped"]
    # The rule's end is recorded: a resume of the finished run trains no further.
    again = train(config, tmp_path / "cut", resume=True, progress=False)
    assert again.steps == 6
