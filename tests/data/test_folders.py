"""Folder datasets: csv, jsonl and cub layouts, and every kind of bad input the loaders document."""

import json
import os
import warnings

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfcmgen.data import DatasetError, DatasetWarning, decode_images, load_folder
from tfcmgen.data.folders import detect_format


def image(path, value=0, size=(20, 30)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pixels = np.zeros(size + (3,), np.uint8)
    pixels[..., 2] = value  # BGR: red channel
    assert cv2.imwrite(str(path), pixels)
    return path


def write_csv(root, rows, header="image,caption", name="captions.csv", encoding="utf-8"):
    text = header + "\n" + "".join(row + "\n" for row in rows)
    (root / name).write_bytes(text.encode(encoding))


def write_jsonl(root, items, name="captions.jsonl"):
    lines = [item if isinstance(item, str) else json.dumps(item) for item in items]
    (root / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def csv_root(tmp_path):
    image(tmp_path / "a.png", 10)
    image(tmp_path / "sub" / "b.jpg", 200)
    write_csv(tmp_path, ["a.png,a red thing", "sub/b.jpg,something bright",
                         'a.png,"two, with a comma"', "sub/b.jpg,another one"])
    return tmp_path


def test_csv_groups_rows_by_image(csv_root):
    data = load_folder(str(csv_root))
    assert data.images == [str(csv_root / "a.png"), str(csv_root / "sub" / "b.jpg")]
    assert data.captions == [["a red thing", "two, with a comma"],
                             ["something bright", "another one"]]
    assert data.root == os.path.realpath(csv_root) and data.attributes is None


def test_image_size_decodes_into_memory_as_rgb_squares(csv_root):
    data = load_folder(str(csv_root), image_size=16)
    assert data.images.shape == (2, 16, 16, 3) and data.images.dtype == np.uint8
    assert data.images[0, 8, 8, 0] == 10 and data.images[0, 8, 8, 2] == 0  # BGR -> RGB
    assert abs(int(data.images[1, 8, 8, 0]) - 200) < 6


def test_csv_quoted_newlines_bom_extra_columns_and_header_case(tmp_path):
    image(tmp_path / "a.png")
    text = 'ID,Image,Caption\n1,a.png,"first line\nsecond line"\n2,a.png,plain\n'
    (tmp_path / "captions.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    data = load_folder(str(tmp_path))
    assert data.captions == [["first line second line", "plain"]]


def test_jsonl_caption_and_captions_lists(tmp_path):
    image(tmp_path / "a.png")
    image(tmp_path / "b.bmp")
    write_jsonl(tmp_path, [{"image": "a.png", "caption": "one"}, "",
                           {"image": "b.bmp", "captions": ["two", "three"]},
                           {"image": "a.png", "captions": ["four"], "caption": "five"}])
    data = load_folder(str(tmp_path))
    assert data.captions == [["one", "five", "four"], ["two", "three"]]


def test_cub_layout(tmp_path):
    for cls, names in {"001.Albatross": ["a1", "a2"], "002.Wren": ["w1"]}.items():
        for name in names:
            image(tmp_path / "images" / cls / f"{name}.jpg")
            (tmp_path / "text" / cls).mkdir(parents=True, exist_ok=True)
            (tmp_path / "text" / cls / f"{name}.txt").write_text(
                f"a bird called {name}\nthis bird {name} is small\n", encoding="utf-8")
    image(tmp_path / "images" / "002.Wren" / "undescribed.jpg")
    with pytest.warns(DatasetWarning, match="1 image\\(s\\) under images/ have no text"):
        data = load_folder(str(tmp_path))
    assert len(data) == 3
    assert data.captions[0] == ["a bird called a1", "this bird a1 is small"]
    assert data.images[2].endswith(os.path.join("images", "002.Wren", "w1.jpg"))


def test_cub_text_without_image_is_a_missing_file(tmp_path):
    image(tmp_path / "images" / "c" / "x.png")
    (tmp_path / "text" / "c").mkdir(parents=True)
    (tmp_path / "text" / "c" / "x.txt").write_text("fine\n")
    (tmp_path / "text" / "c" / "gone.txt").write_text("no picture\n")
    with pytest.raises(DatasetError, match="1 image file\\(s\\).*gone.jpg"):
        load_folder(str(tmp_path), format="cub")


def test_format_detection_and_explicit_files(tmp_path, csv_root):
    assert detect_format(str(csv_root))[0] == "csv"
    assert len(load_folder(str(csv_root / "captions.csv"))) == 2
    write_jsonl(csv_root, [{"image": "a.png", "caption": "x"}])
    with pytest.raises(DatasetError, match="several dataset formats"):
        load_folder(str(csv_root))
    assert len(load_folder(str(csv_root), format="jsonl")) == 1
    with pytest.raises(DatasetError, match="found no dataset"):
        load_folder(str(tmp_path / "sub"))
    with pytest.raises(DatasetError, match="no such dataset"):
        load_folder(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="format must be"):
        load_folder(str(csv_root), format="xml")


def test_corrupt_images_are_skipped_counted_and_reported_once(tmp_path):
    image(tmp_path / "good.png")
    (tmp_path / "zero.jpg").write_bytes(b"")
    (tmp_path / "noise.jpg").write_bytes(os.urandom(500))
    ok, encoded = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (50, 50, 3),
                                                                          dtype=np.uint8))
    (tmp_path / "cut.png").write_bytes(encoded.tobytes()[:300])
    write_csv(tmp_path, ["good.png,fine", "zero.jpg,a", "noise.jpg,b", "cut.png,c"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_folder(str(tmp_path), image_size=8)
    reports = [w for w in caught if issubclass(w.category, DatasetWarning)]
    assert len(reports) == 1
    message = str(reports[0].message)
    assert "skipped 3 of 4" in message
    assert "zero.jpg (empty file" in message and "noise.jpg" in message and "cut.png" in message
    assert data.images.shape == (1, 8, 8, 3) and data.captions == [["fine"]]
    # Without decoding, header checks catch what they can (the truncated PNG has a good header).
    with pytest.warns(DatasetWarning, match="skipped 2 of 4"):
        assert len(load_folder(str(tmp_path))) == 2


def test_strict_makes_corrupt_images_an_error(tmp_path):
    image(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nrubbish")
    write_csv(tmp_path, ["good.png,fine", "bad.png,broken"])
    for size in (None, 8):
        with pytest.raises(DatasetError, match="1 of 2 image\\(s\\) cannot be used "
                                               "\\(strict=True\\).*bad.png"):
            load_folder(str(tmp_path), strict=True, image_size=size)


def test_pixel_limit_skips_decompression_bombs(tmp_path):
    image(tmp_path / "small.png", size=(10, 10))
    image(tmp_path / "large.png", size=(200, 200))
    write_csv(tmp_path, ["small.png,ok", "large.png,too big"])
    with pytest.warns(DatasetWarning, match="large.png .*exceeds max_pixels=1000"):
        data = load_folder(str(tmp_path), max_pixels=1000, image_size=8)
    assert data.captions == [["ok"]]
    with pytest.raises(DatasetError, match="large.png"):
        load_folder(str(tmp_path), max_pixels=1000, strict=True)


def test_missing_files_error_names_count_and_first_paths(tmp_path):
    image(tmp_path / "here.png")
    write_csv(tmp_path, ["here.png,ok"] + [f"gone{i}.png,lost" for i in range(8)])
    with pytest.raises(DatasetError, match="8 image file\\(s\\) named in .*captions.csv do not "
                                           "exist: .*gone0.png.*\\(3 more\\)"):
        load_folder(str(tmp_path))


def test_empty_captions_are_skipped_with_a_warning(tmp_path):
    image(tmp_path / "a.png")
    image(tmp_path / "b.png")
    write_csv(tmp_path, ["a.png,real caption", "a.png,   ", 'b.png,""', "b.png,\t"])
    with pytest.warns(DatasetWarning, match="skipped 3 empty or whitespace-only caption\\(s\\): "
                                            ".*captions.csv:3"):
        data = load_folder(str(tmp_path))
    assert data.captions == [["real caption"]]  # b.png had no usable caption: dropped


def test_duplicate_rows_are_kept_once(tmp_path):
    image(tmp_path / "a.png")
    write_csv(tmp_path, ["a.png,same", "a.png,same", "./a.png,same", "a.png,other"])
    with pytest.warns(DatasetWarning, match="ignored 2 duplicate"):
        data = load_folder(str(tmp_path))
    assert data.captions == [["same", "other"]]


def test_non_utf8_caption_file_names_file_and_line(tmp_path):
    image(tmp_path / "a.png")
    write_csv(tmp_path, ["a.png,fine", "a.png,café au lait"], encoding="latin-1")
    with pytest.raises(DatasetError, match="captions.csv: line 3 is not valid UTF-8"):
        load_folder(str(tmp_path))
    (tmp_path / "captions.csv").unlink()
    (tmp_path / "captions.jsonl").write_bytes(b'{"image": "a.png", "caption": "\xff"}\n')
    with pytest.raises(DatasetError, match="captions.jsonl: line 1 is not valid UTF-8"):
        load_folder(str(tmp_path))


def test_cub_non_utf8_text_file_is_named(tmp_path):
    image(tmp_path / "images" / "c" / "x.png")
    (tmp_path / "text" / "c").mkdir(parents=True)
    (tmp_path / "text" / "c" / "x.txt").write_bytes(b"ok\nok too\n\xe9t\xe9\n")
    with pytest.raises(DatasetError, match="x.txt: line 3 is not valid UTF-8"):
        load_folder(str(tmp_path))


def test_empty_dataset_is_an_error(tmp_path):
    write_csv(tmp_path, [])
    with pytest.raises(DatasetError, match="empty"):
        load_folder(str(tmp_path))
    (tmp_path / "only.png").write_bytes(b"")
    write_csv(tmp_path, ["only.png,a caption"])
    with pytest.raises(DatasetError, match="empty.*only.png"):
        load_folder(str(tmp_path), image_size=8)


@pytest.mark.parametrize("reference", ["../outside.png", "sub/../../outside.png"])
def test_relative_paths_out_of_the_folder_are_refused(tmp_path, reference):
    root = tmp_path / "data"
    image(root / "in.png")
    image(tmp_path / "outside.png")
    write_csv(root, ["in.png,fine", f"{reference},sneaky"])
    with pytest.raises(DatasetError, match="1 image path\\(s\\) resolve outside the dataset "
                                           "folder.*outside.png.*captions.csv:3"):
        load_folder(str(root))


def test_absolute_paths_out_of_the_folder_are_refused(tmp_path):
    root = tmp_path / "data"
    image(root / "in.png")
    outside = image(tmp_path / "outside.png")
    write_jsonl(root, [{"image": str(outside), "caption": "absolute"}])
    with pytest.raises(DatasetError, match="resolve outside"):
        load_folder(str(root))
    # An absolute path that stays inside the folder is fine.
    write_jsonl(root, [{"image": str(root / "in.png"), "caption": "inside"}])
    assert len(load_folder(str(root))) == 1


def test_symlinks_out_of_the_folder_are_refused(tmp_path):
    root = tmp_path / "data"
    image(root / "in.png")
    outside = image(tmp_path / "secret" / "outside.png")
    os.symlink(outside, root / "link.png")
    os.symlink(tmp_path / "secret", root / "linkdir")
    os.symlink(root / "in.png", root / "inner_link.png")
    write_csv(root, ["inner_link.png,allowed: stays inside"])
    assert len(load_folder(str(root))) == 1
    for reference in ("link.png", "linkdir/outside.png"):
        write_csv(root, ["in.png,fine", f"{reference},sneaky"])
        with pytest.raises(DatasetError, match="resolve outside"):
            load_folder(str(root))


def test_cub_symlink_out_is_refused(tmp_path):
    root = tmp_path / "cub"
    outside = image(tmp_path / "outside.jpg")
    (root / "images" / "c").mkdir(parents=True)
    os.symlink(outside, root / "images" / "c" / "x.jpg")
    (root / "text" / "c").mkdir(parents=True)
    (root / "text" / "c" / "x.txt").write_text("bird\n")
    with pytest.raises(DatasetError, match="resolve outside"):
        load_folder(str(root))


@pytest.mark.parametrize("header,rows,message", [
    ("image,text", ["a.png,x"], "line 1 must be a header with columns 'image' and 'caption'"),
    ("caption", ["x"], "must be a header"),
    ("image,caption", ["a.png"], "captions.csv:2: row has 1 field"),
    ("image,caption", [",no image"], "captions.csv:2: empty image path"),
    ("image,caption", ['a.png,"unterminated', "more"], "captions.csv:3: malformed CSV"),
    ("image,caption", ['a.png,"quoted"tail'], "captions.csv:2: malformed CSV"),
])
def test_malformed_csv_errors_name_file_and_line(tmp_path, header, rows, message):
    image(tmp_path / "a.png")
    write_csv(tmp_path, rows, header=header)
    with pytest.raises(DatasetError, match=message):
        load_folder(str(tmp_path))


@pytest.mark.parametrize("line,message", [
    ("{not json", "captions.jsonl:2: not valid JSON"),
    ("[1, 2]", "captions.jsonl:2: expected a JSON object, found list"),
    ('{"caption": "no image"}', "captions.jsonl:2: 'image' must be a non-empty string"),
    ('{"image": 7, "caption": "x"}', "'image' must be a non-empty string; found int"),
    ('{"image": "a.png"}', "captions.jsonl:2: needs a 'caption' string or a 'captions' list"),
    ('{"image": "a.png", "caption": 5}', "'caption' must be a string; found int"),
    ('{"image": "a.png", "captions": "x"}', "'captions' must be a list of strings"),
    ('{"image": "a.png", "captions": ["x", null]}', "'captions' must be a list of strings"),
])
def test_malformed_jsonl_errors_name_file_and_line(tmp_path, line, message):
    image(tmp_path / "a.png")
    write_jsonl(tmp_path, [{"image": "a.png", "caption": "good"}, line])
    with pytest.raises(DatasetError, match=message):
        load_folder(str(tmp_path))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=200))
def test_arbitrary_csv_text_gives_data_or_dataset_error(tmp_path, text):
    image(tmp_path / "a.png")
    (tmp_path / "captions.csv").write_text("image,caption\n" + text, encoding="utf-8")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = load_folder(str(tmp_path))
    except DatasetError:
        return
    assert all(caps for caps in data.captions)


def test_parallel_decoding_matches_sequential(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(24):
        cv2.imwrite(str(tmp_path / f"{i}.png"), rng.integers(0, 255, (30 + i, 40, 3),
                                                             dtype=np.uint8))
        rows.append(f"{i}.png,image {i}")
    write_csv(tmp_path, rows)
    data = load_folder(str(tmp_path))
    one = decode_images(data, 16, workers=1)
    many = decode_images(data, 16, workers=4)
    np.testing.assert_array_equal(one.images, many.images)
    assert one.captions == data.captions


def test_bad_numeric_arguments(csv_root):
    with pytest.raises(ValueError, match="max_pixels"):
        load_folder(str(csv_root), max_pixels=0)
    with pytest.raises(ValueError, match="image_size"):
        load_folder(str(csv_root), image_size=-4)
