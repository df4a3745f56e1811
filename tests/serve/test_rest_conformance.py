"""`tfcmgen serve` answers TF Serving's REST API as TF Serving documents it.

Requests and expected JSON follow tensorflow.org/tfx/serving/api_rest: model status, model
metadata, predict in the row ("instances") and columnar ("inputs") formats, b64 values, and the
`{"error": ...}` body with TF Serving's status codes. Each backend is checked against the images the
SavedModel's own `serving_default` gives.
"""

import base64
import json

import cv2
import numpy as np
import pytest

# The tiny models of conftest.py.
from tests.tiny_runs import CAPTIONS, IMAGE_SIZE, MAX_LENGTH, NOISE_DIM

PREDICT = "/v1/models/tiny:predict"


def _images(response, key):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    images = np.array(response.json()[key])
    assert images.dtype.kind == "i"
    return images.astype(np.uint8)


def _close(images, expected):
    """Same images as the SavedModel; the merged batch may round one channel by 1 (oneDNN picks
    kernels by batch size)."""
    assert images.shape == expected.shape
    assert np.abs(images.astype(int) - expected.astype(int)).max() <= 1


def test_model_status(client):
    response = client.get("/v1/models/tiny")
    assert response.status_code == 200
    assert response.json() == {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE",
             "status": {"error_code": "OK", "error_message": ""}}
        ]
    }
    assert client.get("/v1/models/tiny/versions/1").json() == response.json()


def test_model_metadata_lists_the_signatures(client, serve_export):
    response = client.get("/v1/models/tiny/metadata")
    assert response.status_code == 200
    body = response.json()
    assert body["model_spec"] == {"name": "tiny", "signature_name": "", "version": "1"}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    serving = signatures["serving_default"]
    assert serving["method_name"] == "tensorflow/serving/predict"
    assert serving["inputs"]["captions"]["dtype"] == "DT_STRING"
    assert serving["inputs"]["captions"]["tensor_shape"] == {
        "dim": [{"size": "-1", "name": ""}], "unknown_rank": False}
    assert serving["inputs"]["seed"]["dtype"] == "DT_INT64"
    images = serving["outputs"]["images"]
    assert images["dtype"] == "DT_UINT8"
    assert [d["size"] for d in images["tensor_shape"]["dim"]] == ["-1", "32", "32", "3"]
    tokens = signatures["generate_from_tokens"]["inputs"]
    token_dims = tokens["token_ids"]["tensor_shape"]["dim"]
    assert [d["size"] for d in token_dims] == ["-1", str(MAX_LENGTH)]
    assert [d["size"] for d in tokens["noise"]["tensor_shape"]["dim"]] == ["-1", str(NOISE_DIM)]


def test_onnx_metadata_matches_the_savedmodel(apps):
    """The ONNX backend describes the same signatures the SavedModel has (names of tensors
    aside, which TF chooses)."""
    kept_default_fields = {"dtype", "tensor_shape", "int64_val"}

    def strip(value, in_default=False):
        if isinstance(value, dict):
            return {k: strip(v, k == "seed") for k, v in value.items()
                    if k != "name" and (not in_default or k in kept_default_fields)}
        return [strip(v) for v in value] if isinstance(value, list) else value

    real = apps["text2image", "savedmodel"].backend.signature_def_json()
    synthesized = apps["text2image", "onnx"].backend.signature_def_json()
    assert strip(synthesized) == strip(real)


def test_row_format_predict(client, reference):
    response = client.post(PREDICT, json={"instances": [{"captions": c} for c in CAPTIONS]})
    images = _images(response, "predictions")
    _close(images, reference.generate(list(CAPTIONS), seed=0))


def test_columnar_format_predict_with_seed(client, reference):
    body = {"signature_name": "serving_default",
            "inputs": {"captions": list(CAPTIONS), "seed": 7}}
    images = _images(client.post(PREDICT, json=body), "outputs")
    _close(images, reference.generate(list(CAPTIONS), seed=7))
    other = _images(client.post(PREDICT, json={"inputs": {"captions": list(CAPTIONS),
                                                           "seed": 8}}), "outputs")
    _close(other, reference.generate(list(CAPTIONS), seed=8))
    assert not np.array_equal(other, images)  # the seed reaches the noise


def test_version_path_and_plain_instances_list(client, reference):
    response = client.post("/v1/models/tiny/versions/1:predict",
                           json={"instances": ["a red circle"]})
    _close(_images(response, "predictions"), reference.generate(["a red circle"], seed=0))


def test_b64_string_values(client, reference):
    encoded = base64.b64encode("a red circle".encode()).decode()
    response = client.post(PREDICT, json={"inputs": {"captions": [{"b64": encoded}]}})
    _close(_images(response, "outputs"), reference.generate(["a red circle"], seed=0))


def test_generate_from_tokens_signature(client, reference):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 8, (2, MAX_LENGTH)).tolist()
    noise = rng.normal(size=(2, NOISE_DIM)).astype(np.float32)
    body = {"signature_name": "generate_from_tokens",
            "instances": [{"token_ids": i, "noise": n} for i, n in zip(ids, noise.tolist())]}
    images = _images(client.post(PREDICT, json=body), "predictions")
    _close(images, reference.generate_from_tokens(np.array(ids, np.int32), noise))


def test_edit_with_b64_png_and_nested_lists(edit_client, serve_edit_export):
    from tfcmgen.export import load_savedmodel

    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    png = base64.b64encode(cv2.imencode(".png", photo[:, :, ::-1])[1].tobytes()).decode()
    expected = load_savedmodel(serve_edit_export).edit(photo, ["a red circle"])
    body = {"signature_name": "edit",
            "inputs": {"images": [{"b64": png}], "captions": ["a red circle"]}}
    _close(_images(edit_client.post("/v1/models/tinyedit:predict", json=body), "outputs"),
           expected)
    rows = {"instances": [{"images": photo.tolist(), "captions": "a red circle"}]}
    _close(_images(edit_client.post("/v1/models/tinyedit:predict", json=rows), "predictions"),
           expected)


# (request path, body, HTTP status, expected error text) in TF Serving's wording where it has one.
BAD_REQUESTS = [
    ("/v1/models/half:predict", {"instances": [1.0, 5.0]}, 404,
     "Servable not found for request: Latest(half)"),
    ("/v1/models/tiny/versions/2:predict", {"instances": ["a"]}, 404,
     "Servable not found for request: Specific(tiny, 2)"),
    (PREDICT, b"", 400, "JSON Parse error: The document is empty"),
    (PREDICT, b"{not json", 400, "JSON Parse error"),
    (PREDICT, b"[1, 2]", 400, "Is not object"),
    (PREDICT, {"signature_name": "classify_objects", "instances": ["a"]}, 400,
     'Serving signature name: "classify_objects" not found in signature def'),
    (PREDICT, {"instances": ["a"], "inputs": {"captions": ["a"]}}, 400,
     "expecting only one of 'inputs' or 'instances' keys to exist"),
    (PREDICT, {"signature_name": "serving_default"}, 400, "Missing 'inputs' or 'instances' key"),
    (PREDICT, {"instances": []}, 400, "No values in 'instances' array"),
    (PREDICT, {"instances": {"captions": "a"}}, 400, "to be an list/array"),
    (PREDICT, {"inputs": {"seed": 3}}, 400, "Missing named input: captions in 'inputs' object."),
    (PREDICT, {"inputs": {"captions": [3, 4]}}, 400, "must hold strings"),
    (PREDICT, {"inputs": {"captions": ["a"], "seed": -1}}, 400, "seed must be from 0"),
    (PREDICT, {"inputs": {"captions": ["a"], "seed": 2**64}}, 400, "seed"),
    (PREDICT, {"inputs": {"captions": ["a"], "seed": "3"}}, 400, "must hold numbers"),
    (PREDICT, {"inputs": {"captions": ["a"], "seed": 1.5}}, 400, "integers"),
    (PREDICT, {"instances": [{"captions": "a", "seed": 3}]}, 400, "columnar format"),
    (PREDICT, {"instances": [{"caption": "a"}]}, 400, "must only have keys: captions,seed"),
    (PREDICT, {"inputs": {"captions": ["a"] * 10_000}}, 400, "at most 64 images"),
    (PREDICT, {"inputs": {"captions": ["a " * 5000]}}, 400, "max_caption_chars"),
    (PREDICT, {"inputs": {"captions": ["a red circle"] * 17}}, 400, "max_images_per_caption"),
    (PREDICT, {"inputs": {"captions": [{"b64": "%%%"}]}}, 400, "Unable to base64 decode"),
    (PREDICT, {"signature_name": "generate_from_tokens",
               "inputs": {"token_ids": [[99] * MAX_LENGTH], "noise": [[0.0] * NOISE_DIM]}}, 400,
     "token_ids must be in [0,"),
    (PREDICT, {"signature_name": "generate_from_tokens",
               "inputs": {"token_ids": [[1] * 3], "noise": [[0.0] * NOISE_DIM]}}, 400,
     "must have shape [-1, 6]"),
    (PREDICT, {"signature_name": "generate_from_tokens",
               "inputs": {"token_ids": [[1] * MAX_LENGTH] * 2, "noise": [[0.0] * NOISE_DIM]}},
     400, "same batch size"),
    ("/v1/models/tiny:classify", {"examples": []}, 400, "use :predict"),
    ("/v1/nonsense", {}, 400, "Malformed request: POST /v1/nonsense"),
]


@pytest.mark.parametrize("path, body, status, message", BAD_REQUESTS,
                         ids=[str(index) for index in range(len(BAD_REQUESTS))])
def test_bad_requests_get_tf_serving_errors_and_the_server_stays_up(client, path, body, status,
                                                                     message):
    if isinstance(body, bytes):
        response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    else:
        response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert list(response.json()) == ["error"]
    assert message in response.json()["error"]
    good = client.post(PREDICT, json={"instances": [{"captions": "a red circle"}]})
    assert good.status_code == 200


def test_body_over_the_limit_is_413(client):
    body = json.dumps({"inputs": {"captions": ["a" * (10 * 1024 * 1024)]}})
    response = client.post(PREDICT, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "max_body_bytes" in response.json()["error"]


def test_unknown_model_status_and_metadata(client):
    response = client.get("/v1/models/half")
    assert response.status_code == 404
    assert response.json() == {"error": "Could not find any versions of model half"}
    response = client.get("/v1/models/tiny/versions/3")
    assert response.json() == {"error": "Could not find version 3 of model tiny"}
    response = client.get("/v1/models/half/metadata")
    assert response.json() == {"error": "Servable not found for request: Latest(half)"}


def test_edit_uploads_are_checked(edit_client):
    def post(images):
        body = {"signature_name": "edit", "inputs": {"images": images, "captions": ["a"]}}
        return edit_client.post("/v1/models/tinyedit:predict", json=body)

    not_an_image = base64.b64encode(b"hello, not an image").decode()
    response = post([{"b64": not_an_image}])
    assert response.status_code == 400 and "not a JPEG, PNG" in response.json()["error"]
    # A PNG header that claims 30000 x 30000 pixels: refused before decoding.
    header = bytearray(cv2.imencode(".png", np.zeros((2, 2, 3), np.uint8))[1].tobytes())
    header[16:24] = (30000).to_bytes(4, "big") * 2
    response = post([{"b64": base64.b64encode(bytes(header)).decode()}])
    assert response.status_code == 400 and "decompression bomb" in response.json()["error"]


def test_health_metrics_and_model_info(client):
    assert client.get("/healthz").json()["status"] == "ok"
    client.post(PREDICT, json={"instances": ["a red circle"]})
    text = client.get("/metrics").text
    assert 'tfcmgen_requests_total{code="200",endpoint="predict"}' in text
    assert "tfcmgen_request_latency_seconds_bucket" in text
    assert "tfcmgen_batch_size_bucket" in text
    assert "tfcmgen_queue_depth_images" in text
    info = client.get("/tfcmgen/model").json()
    assert (info["name"], info["task"], info["image_size"]) == ("tiny", "text2image", IMAGE_SIZE)
    coverage = client.post("/tfcmgen/vocabulary",
                           json={"captions": ["A red CIRCLE, purple"]}).json()["captions"][0]
    assert [(w["word"], w["known"]) for w in coverage["words"]] == [
        ("a", True), ("red", True), ("circle", True), ("purple", False)]
    assert coverage["coverage"] == 0.75


def test_web_page_is_self_contained(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "http://" not in page.text and "https://" not in page.text  # no CDN, works offline
    assert 'name="viewport"' in page.text


@pytest.mark.parametrize("shape", [(1, 1, 1, 3), (2, 3, 4, 3), (3, 5, 7, 1), (0, 2, 2, 3)])
def test_response_json_is_the_images_nested_lists(shape):
    from tfcmgen.serve.json_tensors import encode_images

    images = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    assert json.loads(encode_images(images, True)) == {"predictions": images.tolist()}
    assert json.loads(encode_images(images, False)) == {"outputs": images.tolist()}
