"""TrainConfig / GenerateConfig / ExportConfig: validation, JSON round trip, atomic save."""

import json

import pytest

from tfcmgen.config import ConfigError, ExportConfig, GenerateConfig, TrainConfig


def test_json_round_trip_keeps_every_field(tmp_path):
    config = TrainConfig(data="shapes", out=str(tmp_path / "run"), image_size=32, epochs=3,
                         minutes=1.5, held_out=(("green", "triangle"), ("red", "star")))
    path = tmp_path / "config.json"
    config.save(str(path))
    loaded = TrainConfig.load(str(path))
    assert loaded == config
    assert loaded.held_out == (("green", "triangle"), ("red", "star"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("image_size", 48, "image_size must be one of"),
        ("fusion", "sum", "fusion must be one of"),
        ("loss", "mse", "loss must be one of"),
        ("epochs", 0, "epochs must be between 1"),
        ("epochs", -3, "epochs must be between 1"),
        ("batch_size", 10**9, "batch_size must be between"),
        ("minutes", 0.0, "minutes must be greater than 0"),
        ("minutes", float("nan"), "minutes must be greater than 0"),
        ("g_learning_rate", -1e-4, "g_learning_rate must be greater than 0"),
        ("near_miss", 1.5, "near_miss must be at least 0.0 and at most 1.0"),
        ("replicas", 0, "replicas must be between 1"),
        ("seed", -1, "seed must be between 0"),
        ("epochs", 2.5, "epochs must be an integer"),
        ("precision", "float8", "precision must be one of"),
    ],
)
def test_bad_values_name_the_field_and_the_value(field, value, words):
    with pytest.raises(ConfigError) as info:
        TrainConfig(**{field: value})
    assert words in str(info.value)
    assert f"{field}=" in str(info.value)


def test_batch_smaller_than_replicas_is_refused():
    with pytest.raises(ConfigError, match=r"at least the number of replicas \(4\).*batch_size=2"):
        TrainConfig(batch_size=2, replicas=4)


def test_replicas_imply_mirrored_strategy():
    assert TrainConfig(replicas=2, batch_size=8).resolved_strategy == "mirrored"
    assert TrainConfig().resolved_strategy == "default"


def test_unknown_field_in_json_is_an_error(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"data": "shapes", "learning_rat": 0.1}))
    with pytest.raises(ConfigError, match="learning_rat"):
        TrainConfig.load(str(path))


def test_broken_json_names_file_and_line(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{\n"data": "shapes",\n oops}')
    with pytest.raises(ConfigError, match=r"config.json is not valid JSON \(line 3\)"):
        TrainConfig.load(str(path))


def test_generate_and_export_configs_validate():
    with pytest.raises(ConfigError, match="at least one caption"):
        GenerateConfig(captions=())
    with pytest.raises(ConfigError, match="num_per_caption"):
        GenerateConfig(captions=("a red circle",), num_per_caption=0)
    with pytest.raises(ConfigError, match="format must be one of"):
        ExportConfig(model="run", format="tflite")
    with pytest.raises(ConfigError, match="opset"):
        ExportConfig(model="run", opset=9)
