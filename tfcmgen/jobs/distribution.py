"""The tf.distribute set-up of a training run: devices, strategy, which process writes files."""

from __future__ import annotations

from tfcmgen.config import ConfigError, TrainConfig


def configure_replicas(replicas: int) -> list[str]:
    """Returns `replicas` device names, splitting the CPU into logical devices when needed.

    The split must happen before TensorFlow initialises its devices, so call this first in a process.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) >= replicas:
        return [f"/gpu:{i}" for i in range(replicas)]
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(replicas)]
        )
    except RuntimeError as e:
        existing = len(tf.config.list_logical_devices("CPU"))
        if existing >= replicas:
            return [f"/cpu:{i}" for i in range(replicas)]
        raise ConfigError(
            f"replicas={replicas} needs {replicas} CPU devices, but TensorFlow was already "
            f"initialised with {existing}; start a new process and train before other TF work"
        ) from e
    return [f"/cpu:{i}" for i in range(replicas)]


def make_strategy(config: TrainConfig):
    """The tf.distribute strategy named by the config (see README, "Scaling out")."""
    import tensorflow as tf

    kind = config.resolved_strategy
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(configure_replicas(config.replicas))
    if kind == "multiworker":
        # Configured by the standard TF_CONFIG environment variable.
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy) -> bool:
    """True where this process should write files (always, except non-chief multi-worker tasks)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type in (None, "chief") or (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def shard_for_workers(dataset, config: TrainConfig):
    """`dataset` with DATA auto-sharding under MultiWorkerMirroredStrategy, else unchanged.

    Every worker renders/loads the same in-memory data. Under DATA sharding tf.distribute splits
    every global batch into one slice per replica and gives each worker its own slices: N workers
    take the same steps as one process.
    """
    if config.resolved_strategy != "multiworker":
        return dataset
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)

