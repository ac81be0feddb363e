"""Training on several devices or hosts: ``tf.distribute`` under every training procedure.

``TrainConfig.strategy`` names one of :data:`STRATEGIES`; ``TrainConfig.devices`` lists the
devices of ``mirrored`` (empty: every GPU, else the CPU).  :func:`kerasdenoise.training.runner.
train` runs the whole procedure (every stage of a cascade or an evolution, both phases of the
GAN) inside the strategy's scope, so every network and optimizer a procedure builds is
mirrored; there is no second code path.

What stays the same whatever the number of replicas N:

- ``batch_size`` is the *global* batch: each replica trains on ``batch_size / N`` patches
  (it must divide; checked before anything is written), so the learning rate keeps its meaning.
- The patch stream is the single-device one: global step s sees the same ``batch_size``
  patches, split in order between the replicas (:func:`distribute_stream`; every worker cuts
  the same stateless stream and keeps its own slice, so no two replicas train on one patch and a
  resumed run sees what it would have seen).
- Losses are averaged over the global batch: Keras' compiled losses are scaled by ``1 / N``,
  and so are the custom ``train_step`` losses (:func:`scale_for_replicas`, after
  :func:`per_replica_mean` has undone the scaling Keras puts inside its loss objects); gradients are summed
  over the replicas *before* global-norm clipping (:class:`ReduceThenClip`; Keras would clip
  each replica's part), and batch normalisation uses the global batch's statistics
  (``synchronized=True``).  Metrics aggregate over the replicas.
- Only the chief writes: checkpoints, history, snapshots and ``final.keras``.  Other workers
  write into a temporary copy of the run folder that is deleted at the end (a resumed worker
  starts from a copy of the chief's folder, as ``keras.callbacks.BackupAndRestore`` does).

``multi-worker`` reads ``TF_CONFIG`` (TensorFlow's JSON: ``{"cluster": {"worker": [...]},
"task": {"type": "worker", "index": i}}``); the run folder must be on a file system every
worker sees.  See ``docs/DISTRIBUTED.md``.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

#: Every strategy ``TrainConfig.strategy`` may name, with what it is for.
STRATEGIES = {
    "none": "one device (TensorFlow's default placement)",
    "mirrored": "several devices of one host (MirroredStrategy; --devices, default every GPU)",
    "multi-worker": "several hosts or processes (MultiWorkerMirroredStrategy; reads TF_CONFIG)",
    "tpu": "a Cloud TPU (TPUStrategy; TPU_NAME or the local TPU)",
}

_STRATEGY_CACHE: dict = {}  # one strategy object per (name, devices): MWMS may be made only once


def check_strategy_name(name: str) -> str:
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; valid strategies: {', '.join(STRATEGIES)}")
    return name


def split_cpu(count: int) -> None:
    """Split the host CPU into ``count`` logical devices (``/CPU:0`` ... ``/CPU:{count-1}``), e.g.
    to try ``mirrored`` without GPUs.  Must run before TensorFlow initialises its devices."""
    import tensorflow as tf

    count = int(count)
    if count < 1:
        raise ValueError(f"logical CPU count must be >= 1, got {count}")
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        if have != count:
            raise RuntimeError(
                f"cannot split the CPU into {count} logical devices: TensorFlow has already "
                f"initialised its {have}; split it first thing in the program") from None


def read_tf_config(text: str | None = None) -> dict:
    """``TF_CONFIG`` (default: the environment's) parsed and checked: a JSON object with
    ``cluster`` (task type -> list of "host:port") holding workers, and ``task`` (``type``,
    ``index``) naming one of them.  ValueError saying what is wrong."""
    text = os.environ.get("TF_CONFIG") if text is None else text
    if not text:
        raise ValueError("strategy 'multi-worker' needs TF_CONFIG in the environment, e.g. "
                         '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                         '"task": {"type": "worker", "index": 0}}')
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"TF_CONFIG is not valid JSON ({err}): {text!r}") from None
    if not isinstance(data, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object, got {text!r}")
    cluster, task = data.get("cluster"), data.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError(f"TF_CONFIG needs a 'cluster' object of task lists, got {cluster!r}")
    for kind, addresses in cluster.items():
        if (not isinstance(addresses, list) or not addresses
                or not all(isinstance(a, str) and ":" in a for a in addresses)):
            raise ValueError(f"TF_CONFIG cluster.{kind} must be a list of 'host:port' strings, "
                             f"got {addresses!r}")
    if "worker" not in cluster and "chief" not in cluster:
        raise ValueError(f"TF_CONFIG cluster has no 'worker' (or 'chief') list: {sorted(cluster)}")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ValueError(f"TF_CONFIG needs 'task': {{'type': ..., 'index': ...}}, got {task!r}")
    kind, index = task["type"], task["index"]
    if kind not in cluster:
        raise ValueError(f"TF_CONFIG task type {kind!r} is not in the cluster ({sorted(cluster)})")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise ValueError(f"TF_CONFIG task index {index!r} is not in 0..{len(cluster[kind]) - 1} "
                         f"(cluster.{kind} has {len(cluster[kind])} addresses)")
    return data


def local_tf_configs(count: int) -> list:
    """``TF_CONFIG`` texts of a ``count``-worker cluster on free localhost ports, one per worker
    (index order; worker 0 is the chief): to try ``multi-worker`` on one machine."""
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    cluster = {"worker": [f"localhost:{s.getsockname()[1]}" for s in sockets]}
    for s in sockets:
        s.close()
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
            for i in range(count)]


def _mirrored(devices):
    import tensorflow as tf

    devices = [str(d) for d in devices]
    if devices:
        known = {d.name.replace("/device:", "").upper(): d.name
                 for d in tf.config.list_logical_devices()}
        names = []
        for device in devices:
            key = device.replace("/device:", "").lstrip("/").upper()
            if key not in known:
                raise ValueError(
                    f"--devices: no device {device!r} here; devices: {', '.join(sorted(known))}"
                    + (" (to split the CPU into logical devices, pass --logical-cpus N)"
                       if key.startswith("CPU:") else ""))
            names.append(known[key])
        if len(set(names)) != len(names):
            raise ValueError(f"--devices lists a device twice: {devices}")
        return tf.distribute.MirroredStrategy(names)
    return tf.distribute.MirroredStrategy()


def _tpu():
    import tensorflow as tf

    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
            tpu=os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as err:
        raise RuntimeError(f"strategy 'tpu': no TPU reachable ({err}); set TPU_NAME or run on "
                           "a TPU VM") from None
    return tf.distribute.TPUStrategy(resolver)


def make_strategy(name: str, devices=()):
    """The ``tf.distribute.Strategy`` called ``name`` (one object per name and devices in a
    process).  Errors before anything trains: unknown names, devices that do not exist,
    ``devices`` with another strategy than ``mirrored``, a missing or malformed ``TF_CONFIG``."""
    import tensorflow as tf

    check_strategy_name(name)
    devices = tuple(devices or ())
    if devices and name != "mirrored":
        raise ValueError(f"devices {list(devices)} apply to strategy 'mirrored' only, not {name!r}")
    key = (name, devices)
    if key in _STRATEGY_CACHE:
        return _STRATEGY_CACHE[key]
    if name == "none":
        strategy = tf.distribute.get_strategy()
    elif name == "mirrored":
        strategy = _mirrored(devices)
    elif name == "multi-worker":
        read_tf_config()
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        strategy = _tpu()
    _STRATEGY_CACHE[key] = strategy
    return strategy


def check_batch(config, strategy) -> None:
    """ValueError unless ``config.batch_size`` (the global batch) divides by the replicas."""
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise ValueError(
            f"batch_size {config.batch_size} (the global batch) does not divide by the "
            f"{replicas} replicas of strategy {config.strategy!r}; use a multiple of {replicas}")


def is_chief(strategy) -> bool:
    """Whether this process writes the run's files: always, except the non-chief workers of a
    multi-worker strategy (the chief is task 'chief', else worker 0)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if task_type is None:
        return True
    return task_type == "chief" or (task_type == "worker" and resolver.task_id == 0
                                    and "chief" not in resolver.cluster_spec().as_dict())


def replicas() -> int:
    """Replicas of the strategy in scope (1 outside any)."""
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def scale_for_replicas(loss):
    """``loss / N`` inside a replica of an N-replica strategy, else ``loss``: a custom
    ``train_step``'s per-replica mean loss, so that the gradients summed over the replicas are
    those of the global batch's mean."""
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    count = context.num_replicas_in_sync if context is not None else 1
    return loss if count == 1 else loss * (1.0 / count)


def per_replica_mean(loss_fn, value):
    """``value = loss_fn(...)`` as the mean over this replica's batch: a Keras loss object that
    reduces to a mean has already divided it by the replica count (Keras 3 scales inside
    ``Loss.__call__``); any other callable's value is returned as it is."""
    import keras

    reducing = ("sum_over_batch_size", "mean", "mean_with_sample_weight")
    if isinstance(loss_fn, keras.losses.Loss) and loss_fn.reduction in reducing:
        count = replicas()
        if count > 1:
            return value * float(count)
    return value


class ReduceThenClip:
    """Optimizer mixin: sum the replicas' gradients, then clip, then update.

    Keras (3.15) clips each replica's gradients before its all-reduce, so global-norm clipping
    under a strategy clips the wrong norm; here the sum comes first (and is not repeated), which
    is what one device computes on the global batch.
    """

    def _clip_gradients(self, grads):
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            present = [i for i, g in enumerate(grads) if g is not None]
            summed = context.all_reduce(tf.distribute.ReduceOp.SUM, [grads[i] for i in present])
            grads = list(grads)
            for i, g in zip(present, summed):
                grads[i] = g
        return super()._clip_gradients(grads)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        return grads_and_vars  # summed in _clip_gradients


def distribute_stream(dataset, batch_size: int):
    """``dataset`` (global batches of ``batch_size``) for ``fit`` under the strategy in scope:
    unchanged with one replica; else a distributed dataset whose step s gives replica r the
    r-th slice of the stream's global batch s."""
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    count = strategy.num_replicas_in_sync
    if count == 1:
        return dataset
    per_replica = batch_size // count

    def dataset_fn(context):
        local = count // context.num_input_pipelines
        first = context.input_pipeline_id * local * per_replica

        def split(*batch):
            parts = tuple(
                tf.reshape(t[first:first + local * per_replica],
                           tf.concat([[local, per_replica], tf.shape(t)[1:]], 0))
                for t in batch)
            return tf.data.Dataset.from_tensor_slices(parts)

        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return dataset.flat_map(split).with_options(options)

    return strategy.distribute_datasets_from_function(dataset_fn)


def validation_for_strategy(dataset):
    """The validation set with element-wise sharding (its batches are split by Keras)."""
    import tensorflow as tf

    if dataset is None or replicas() == 1:
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def prepare_for_fit(trainable) -> None:
    """Work around Keras 3 (3.15) ``fit`` under ``MultiWorkerMirroredStrategy``
    (keras-team/keras#20585), on ``trainable`` only:

    - before the first step Keras reduces a whole input batch with ``strategy.reduce``, which
      that strategy refuses for nested values; the batch is only needed for its shapes, so the
      build takes the first local replica's part;
    - Keras averages each step's logs over the replicas with ``reduce(MEAN, axis=0)``, which
      fails on scalars; the steps return them as 1-element vectors, averaged into scalars.
    """
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    keras_build = trainable._maybe_symbolic_build

    def build(iterator=None, data_batch=None):
        if iterator is not None and data_batch is None:
            for _, _, batches in iterator:
                batch = next(batches)
                break
            data_batch = tf.nest.map_structure(
                lambda v: strategy.experimental_local_results(v)[0]
                if isinstance(v, tf.distribute.DistributedValues) else v, batch)
        return keras_build(data_batch=data_batch)

    def vector_logs(step):
        def run(data):
            return {key: tf.reshape(value, [1]) if getattr(value, "shape", None) == () else value
                    for key, value in step(data).items()}

        return run

    trainable._maybe_symbolic_build = build
    trainable.train_step = vector_logs(trainable.train_step)
    trainable.test_step = vector_logs(trainable.test_step)


def in_scope(network):
    """``network`` with its variables made in the strategy in scope (a copy when it was built
    outside it, e.g. a model passed to ``train``), else ``network`` itself."""
    import keras
    import tensorflow as tf

    if network is None or replicas() == 1:
        return network
    strategy = tf.distribute.get_strategy()
    if all(strategy.extended.variable_created_in_scope(v.value) for v in network.weights):
        return network
    copy = keras.models.clone_model(network)
    copy.set_weights(network.get_weights())
    return copy


def run_under_strategy(config, out_dir, resume: bool, train_fn):
    """``train_fn(out_dir)`` inside ``config.strategy``'s scope; a non-chief worker trains into a
    temporary copy of ``out_dir`` (deleted afterwards) and the result names ``out_dir``."""
    strategy = make_strategy(config.strategy, config.devices)
    check_batch(config, strategy)
    with strategy.scope():
        if is_chief(strategy):
            return train_fn(Path(out_dir))
        scratch = Path(tempfile.mkdtemp(prefix="kerasdenoise-worker-"))
        try:
            target = scratch / "run"
            if resume and Path(out_dir).exists():
                shutil.copytree(out_dir, target, ignore=shutil.ignore_patterns("snapshots", "logs"))
            result = train_fn(target)
            result.out_dir = Path(out_dir)
            return result
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
