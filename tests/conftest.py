"""Shared layer checks: `run_layer_test`, given to every test directory as the `layer_test` fixture.

Usage in any test file (pytest finds the fixture here; no import needed):

    def test_my_layer(layer_test):
        layer_test(MyLayer, {"units": 4}, np.ones((2, 3), "float32"), expected_output_shape=(2, 4))
"""

from __future__ import annotations

import functools
import json
import os
import tempfile

import numpy as np
import pytest


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    expected_output_shape,
    *,
    expected_output_dtype=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    run_training_check=True,
    run_saving_check=True,
    held_constant=(),
    atol=1e-6,
    rtol=1e-6,
    tmp_dir=None,
):
    """Runs the checks every tfcmgen layer must pass; returns the eager outputs as numpy.

    1. Config: `get_config()` is JSON-serialisable, `from_config(get_config())` gives the same
       config, and `keras.saving.deserialize_keras_object` rebuilds the class without
       custom_objects (so it is registered).
    2. Symbolic call on `keras.Input`s: output shapes (batch axis None) and dtypes.
    3. Eager call on `input_data` with a fresh layer: exact shapes, dtypes, finite values.
    4. Graph mode: a `tf.function` call in training mode gives the expected shapes, finite values.
    5. Training (if `run_training_check`): two `fit` steps of a model around a fresh layer with an
       MSE loss on every output; every trainable variable must change, except those the layer
       holds constant on purpose (`held_constant`), which must not.
    6. Saving (if `run_saving_check`): a model around the layer saved as `.keras` and loaded with
       `keras.saving.load_model` without custom_objects gives the same inference outputs.

    Args:
        layer_cls: the layer class.
        init_kwargs: dict. Constructor arguments.
        input_data: np.ndarray, or a list of them for layers called on a list of tensors.
        expected_output_shape: tuple, or a tuple/list of tuples for several outputs (in the
            order the layer returns them, flattened). None in a shape matches any size.
        expected_output_dtype: str or list of str or None. Checked when given.
        expected_num_trainable_weights: int or None. Checked on the built layer when given.
        expected_num_non_trainable_weights: int or None. Checked on the built layer when given.
        run_training_check: bool. Set False for layers without trainable weights.
        run_saving_check: bool. Set False only with a reason.
        held_constant: tuple of str. Endings of variable paths that the layer keeps at their
            value on purpose (e.g. by a constraint); checked unchanged after training.
        atol, rtol: float. Tolerances for the saved-and-loaded outputs.
        tmp_dir: path or None. Where the `.keras` file goes; a temporary directory if None.
    """
    # Imported here, not at module level: this conftest is loaded for every test directory, and
    # some tests check that a module imports without TensorFlow.
    import keras
    import tensorflow as tf

    expected_shapes = _as_shape_list(expected_output_shape)
    expected_dtypes = (
        None
        if expected_output_dtype is None
        else (
            [expected_output_dtype] * len(expected_shapes)
            if isinstance(expected_output_dtype, str)
            else list(expected_output_dtype)
        )
    )

    # 1. Config round trip and registration.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    json.dumps(config)
    assert layer_cls.from_config(config).get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    revived = keras.saving.deserialize_keras_object(json.loads(json.dumps(serialized)))
    assert type(revived) is layer_cls, f"{layer_cls.__name__} is not registered for loading"
    assert revived.get_config() == config

    # 2. Symbolic call.
    inputs = _symbolic_inputs(input_data)
    symbolic_layer = layer_cls(**init_kwargs)
    symbolic_outputs = keras.tree.flatten(symbolic_layer(inputs))
    assert len(symbolic_outputs) == len(expected_shapes), (
        f"expected {len(expected_shapes)} outputs, got {len(symbolic_outputs)}"
    )
    for output, shape in zip(symbolic_outputs, expected_shapes):
        _assert_shape(tuple(output.shape), (None, *shape[1:]), "symbolic")
    if expected_dtypes is not None:
        for output, dtype in zip(symbolic_outputs, expected_dtypes):
            assert keras.backend.standardize_dtype(output.dtype) == dtype
    if expected_num_trainable_weights is not None:
        assert len(symbolic_layer.trainable_weights) == expected_num_trainable_weights
    if expected_num_non_trainable_weights is not None:
        assert len(symbolic_layer.non_trainable_weights) == expected_num_non_trainable_weights

    # 3. Eager call on a fresh layer (built by the call itself).
    eager_layer = layer_cls(**init_kwargs)
    eager_outputs = [
        keras.ops.convert_to_numpy(output)
        for output in keras.tree.flatten(eager_layer(input_data))
    ]
    assert len(eager_outputs) == len(expected_shapes)
    for output, shape in zip(eager_outputs, expected_shapes):
        _assert_shape(output.shape, shape, "eager")
        assert np.all(np.isfinite(output)), "eager output has NaN or infinite values"
    if expected_dtypes is not None:
        for output, dtype in zip(eager_outputs, expected_dtypes):
            assert keras.backend.standardize_dtype(output.dtype) == dtype

    # 4. Graph mode (tf.function), as fit and SavedModel exports run the layer, in training mode.
    graph_layer = layer_cls(**init_kwargs)
    graph_outputs = keras.tree.flatten(
        tf.function(lambda data: graph_layer(data, training=True))(
            keras.tree.map_structure(tf.convert_to_tensor, input_data)
        )
    )
    for output, shape in zip(graph_outputs, expected_shapes):
        _assert_shape(tuple(output.shape), shape, "graph-mode")
        assert np.all(np.isfinite(output.numpy())), "graph-mode output has NaN or infinite values"

    # 5. A short fit: every trainable variable must move. Run eagerly: tracing a train step costs
    # seconds per layer on 2 CPU cores, and graph mode is covered by step 4.
    if run_training_check:
        training_layer = layer_cls(**init_kwargs)
        training_inputs = _symbolic_inputs(input_data)
        model = keras.Model(
            training_inputs, keras.tree.flatten(training_layer(training_inputs))
        )
        assert training_layer.trainable_weights, (
            f"{layer_cls.__name__} has no trainable weights; pass run_training_check=False"
        )
        before = [np.array(v.numpy()) for v in training_layer.trainable_weights]
        rng = np.random.default_rng(0)
        targets = [rng.normal(size=output.shape).astype("float32") for output in eager_outputs]
        model.compile(
            optimizer=keras.optimizers.Adam(0.01),
            loss=["mse"] * len(targets),
            run_eagerly=True,
        )
        batch_size = len(keras.tree.flatten(input_data)[0])
        # Two steps: layers with zero-initialised heads pass no gradient on to earlier weights in
        # the first one.
        history = model.fit(
            input_data, targets, batch_size=batch_size, epochs=2, shuffle=False, verbose=0
        )
        assert np.isfinite(history.history["loss"][-1])
        unchanged = [
            variable.path
            for variable, value in zip(training_layer.trainable_weights, before)
            if np.array_equal(variable.numpy(), value)
        ]
        constant = [p for p in (v.path for v in training_layer.trainable_weights)
                    if p.endswith(tuple(held_constant))] if held_constant else []
        assert sorted(unchanged) == sorted(constant), (
            f"trainable variables that did not change in fit: {unchanged}; held constant on "
            f"purpose: {constant}")

    # 6. Save in a model as .keras and load back without custom_objects.
    if run_saving_check:
        model = keras.Model(inputs, symbolic_outputs)
        expected = [
            keras.ops.convert_to_numpy(output)
            for output in keras.tree.flatten(model(input_data, training=False))
        ]
        with tempfile.TemporaryDirectory() as fallback_dir:
            path = os.path.join(tmp_dir or fallback_dir, f"{layer_cls.__name__}.keras")
            model.save(path)
            loaded = keras.saving.load_model(path)
        loaded_layer = next(
            layer for layer in loaded.layers if isinstance(layer, layer_cls)
        )
        assert loaded_layer.get_config() == symbolic_layer.get_config()
        actual = [
            keras.ops.convert_to_numpy(output)
            for output in keras.tree.flatten(loaded(input_data, training=False))
        ]
        for got, want in zip(actual, expected):
            np.testing.assert_allclose(got, want, atol=atol, rtol=rtol)

    return eager_outputs


@pytest.fixture
def layer_test(tmp_path):
    """`run_layer_test` with its `.keras` files in the test's `tmp_path`."""
    return functools.partial(run_layer_test, tmp_dir=str(tmp_path))


def _is_shape(value):
    return isinstance(value, (tuple, list)) and all(
        size is None or isinstance(size, (int, np.integer)) for size in value
    )


def _as_shape_list(expected):
    if _is_shape(expected):
        return [tuple(expected)]
    if isinstance(expected, (tuple, list)) and all(_is_shape(shape) for shape in expected):
        return [tuple(shape) for shape in expected]
    raise ValueError(
        "expected_output_shape must be a shape tuple or a list of shape tuples; "
        f"received expected_output_shape={expected!r}"
    )


def _symbolic_inputs(input_data):
    if isinstance(input_data, (list, tuple)):
        return [_symbolic_input(x) for x in input_data]
    return _symbolic_input(input_data)


def _symbolic_input(array):
    import keras

    return keras.Input(shape=np.shape(array)[1:], dtype=str(np.asarray(array).dtype))


def _assert_shape(actual, expected, where):
    assert len(actual) == len(expected) and all(
        want is None or got == want for got, want in zip(actual, expected)
    ), f"{where} output shape {tuple(actual)} does not match expected {tuple(expected)}"
