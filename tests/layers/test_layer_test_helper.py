"""The shared `layer_test` fixture (tests/conftest.py) must catch the mistakes it exists for."""

import keras
import numpy as np
import pytest

INPUT = np.ones((2, 3), "float32")


@keras.saving.register_keras_serializable(package="tfcmgen_tests")
class GoodDense(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = keras.layers.Dense(units)

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, inputs):
        return self.dense(inputs)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="tfcmgen_tests")
class ForgetfulDense(GoodDense):
    def get_config(self):
        return keras.layers.Layer.get_config(self)  # "units" missing


class UnregisteredDense(GoodDense):
    pass


@keras.saving.register_keras_serializable(package="tfcmgen_tests")
class DeadWeight(GoodDense):
    def build(self, input_shape):
        super().build(input_shape)
        self.unused = self.add_weight(shape=(1,), initializer="zeros", name="unused")


@keras.saving.register_keras_serializable(package="tfcmgen_tests")
class UnsavedState(GoodDense):
    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        # Neither a weight nor in the config: a reloaded layer draws another one.
        self.scale = np.random.default_rng().uniform(1.0, 2.0)

    def call(self, inputs):
        return self.scale * self.dense(inputs)


def test_a_correct_layer_passes_and_returns_eager_outputs(layer_test):
    outputs = layer_test(GoodDense, {"units": 4}, INPUT, expected_output_shape=(2, 4))
    assert len(outputs) == 1 and outputs[0].shape == (2, 4)


def test_wrong_expected_shape_fails(layer_test):
    with pytest.raises(AssertionError, match="shape"):
        layer_test(GoodDense, {"units": 4}, INPUT, expected_output_shape=(2, 5))


def test_missing_config_entry_fails(layer_test):
    with pytest.raises(TypeError, match="units"):
        layer_test(ForgetfulDense, {"units": 4}, INPUT, expected_output_shape=(2, 4))


def test_unregistered_layer_fails(layer_test):
    with pytest.raises((AssertionError, TypeError), match="register"):
        layer_test(UnregisteredDense, {"units": 4}, INPUT, expected_output_shape=(2, 4))


@pytest.mark.filterwarnings("ignore:Gradients do not exist")
def test_trainable_weight_that_never_trains_fails(layer_test):
    with pytest.raises(AssertionError, match="did not change"):
        layer_test(DeadWeight, {"units": 4}, INPUT, expected_output_shape=(2, 4))


def test_state_lost_on_save_and_load_fails(layer_test):
    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        layer_test(
            UnsavedState,
            {"units": 4},
            INPUT,
            expected_output_shape=(2, 4),
            run_training_check=False,
        )
