"""Users' own captioned-image folders: `captions.csv`, `captions.jsonl` and the CUB-200 layout.

Three formats, auto-detected (or named with `format=`):

- `captions.csv`: header `image,caption` (other columns ignored), image paths relative to the CSV
  file, one row per caption; an image may have several rows. Quoted fields may hold newlines.
- `captions.jsonl`: one object a line, `{"image": "...", "caption": "..."}` or `"captions": [...]`.
- `cub`: the CUB-200 / Oxford-102 layout of the text-to-image literature:
  `images/<class>/<name>.jpg` with `text/<class>/<name>.txt` holding one caption per line.

What happens to bad input:

- a caption file (captions.csv, captions.jsonl, cub's text/*.txt) that resolves outside the dataset
  folder (a symlink out): error, the file is not read;
- image paths that resolve outside the dataset folder (`../`, absolute paths, symlinks out): error
  with their count and the first few, nothing is read;
- image files a caption file names but that do not exist: error with their count and first paths;
- unreadable, corrupt, unsupported or oversized images (see `image_ops.DEFAULT_MAX_PIXELS`):
  skipped, counted and reported in one `DatasetWarning` naming the first few; `strict=True` makes
  them an error;
- empty or whitespace-only captions: skipped, with one warning; duplicate (image, caption) rows are
  kept once;
- a caption file that is not UTF-8 (a BOM is fine), malformed CSV/JSON, missing columns or keys,
  wrong types: error naming the file and line, never echoing the file's content (only image
  references that resolve outside the folder are quoted, to find them);
- nothing left to load: error.

All errors are `DatasetError` (a `ValueError`).

Example:

>>> import os, tempfile, cv2, numpy as np
>>> root = tempfile.mkdtemp()
>>> _ = cv2.imwrite(os.path.join(root, "a.png"), np.zeros((40, 50, 3), np.uint8))
>>> with open(os.path.join(root, "captions.csv"), "w") as f:
...     _ = f.write("image,caption\\na.png,a black square\\na.png,darkness\\n")
>>> data = load_folder(root, image_size=32)
>>> data.images.shape, data.captions
((1, 32, 32, 3), [['a black square', 'darkness']])
"""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import cv2
import numpy as np

from tfcmgen.data.captioned_images import CaptionedImages
from tfcmgen.data.errors import DatasetError, DatasetWarning, ImageError
from tfcmgen.data.image_ops import (
    DEFAULT_MAX_PIXELS,
    SUPPORTED_EXTENSIONS,
    center_square,
    image_header,
    read_image,
)

CAPTION_FILES = {"csv": "captions.csv", "jsonl": "captions.jsonl"}
# How many offending paths an error or warning names before "...".
_SHOWN = 5
# Enough for any PNG/BMP/WebP header and for JPEGs whose EXIF fits; other JPEGs are read whole.
_HEADER_BYTES = 64 * 1024


def _first(items, shown: int = _SHOWN) -> str:
    items = list(items)
    text = "; ".join(str(i) for i in items[:shown])
    return text + (f"; ... ({len(items) - shown} more)" if len(items) > shown else "")


def _read_text(path: str) -> str:
    """A caption file as text: UTF-8 (an initial BOM is dropped), else an error naming the line."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as error:
        raise DatasetError(f"{path}: cannot read caption file: {error.strerror or error}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise DatasetError(
            f"{path}: line {line} is not valid UTF-8 (at byte offset {error.start}); save the "
            "caption file as UTF-8"
        ) from None


# Each reader returns (root, records) with records as (image reference as written, caption,
# "file:line") in file order; checks common to all formats happen in `load_folder`.

def _read_csv(path: str):
    text = _read_text(path)
    # strict: an unterminated quote is an error, not a caption swallowing the rest of the file.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records = []
    try:
        header = next(reader, None)
        names = [h.strip().lower() for h in header] if header else []
        if "image" not in names or "caption" not in names:
            raise DatasetError(
                f"{path}: line 1 must be a header with columns 'image' and 'caption'; "
                f"found {len(names)} column(s) without them"
            )
        image_col, caption_col = names.index("image"), names.index("caption")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if not any(field.strip() for field in row):
                continue  # blank line
            if len(row) <= max(image_col, caption_col):
                raise DatasetError(
                    f"{where}: row has {len(row)} field(s), the header names {len(names)} "
                    f"(image in column {image_col + 1}, caption in column {caption_col + 1})"
                )
            if not row[image_col].strip():
                raise DatasetError(f"{where}: empty image path")
            records.append((row[image_col].strip(), row[caption_col], where))
    except csv.Error as error:
        raise DatasetError(f"{path}:{reader.line_num}: malformed CSV: {error}") from None
    return os.path.dirname(os.path.abspath(path)), records


def _read_jsonl(path: str):
    records = []
    for number, line in enumerate(_read_text(path).split("\n"), start=1):
        where = f"{path}:{number}"
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise DatasetError(f"{where}: not valid JSON: {error.msg}") from None
        if not isinstance(item, dict):
            raise DatasetError(f"{where}: expected a JSON object, found {type(item).__name__}")
        image = item.get("image")
        if not isinstance(image, str) or not image.strip():
            found = "an empty string" if isinstance(image, str) else type(image).__name__
            raise DatasetError(f"{where}: 'image' must be a non-empty string; found {found}")
        if "caption" not in item and "captions" not in item:
            raise DatasetError(f"{where}: needs a 'caption' string or a 'captions' list")
        captions = []
        if "caption" in item:
            if not isinstance(item["caption"], str):
                raise DatasetError(
                    f"{where}: 'caption' must be a string; found {type(item['caption']).__name__}"
                )
            captions.append(item["caption"])
        if "captions" in item:
            value = item["captions"]
            if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
                raise DatasetError(
                    f"{where}: 'captions' must be a list of strings; found "
                    + (type(value).__name__ if not isinstance(value, list) else
                       "a list holding " + ", ".join(sorted({type(c).__name__ for c in value
                                                            if not isinstance(c, str)})))
                )
            captions.extend(value)
        records.extend((image.strip(), caption, where) for caption in captions)
    return os.path.dirname(os.path.abspath(path)), records


def _read_cub(root: str):
    root = os.path.abspath(root)
    image_root, text_root = os.path.join(root, "images"), os.path.join(root, "text")
    for folder in (image_root, text_root):
        if not os.path.isdir(folder):
            raise DatasetError(f"{root}: the cub format needs folders images/ and text/; "
                               f"{folder} is missing")
    images = {}  # (class folder, stem) -> path relative to root
    for folder, dirs, files in os.walk(image_root):
        dirs.sort()
        for name in sorted(files):
            stem, ext = os.path.splitext(name)
            if ext.lower() in SUPPORTED_EXTENSIONS:
                rel_dir = os.path.relpath(folder, image_root)
                relative = os.path.relpath(os.path.join(folder, name), root)
                images.setdefault((rel_dir, stem), relative)
    records, described = [], set()
    for folder, dirs, files in os.walk(text_root):
        dirs.sort()
        for name in sorted(files):
            stem, ext = os.path.splitext(name)
            if ext.lower() != ".txt":
                continue
            rel_dir = os.path.relpath(folder, text_root)
            text_path = os.path.join(folder, name)
            check_caption_file_inside(root, text_path)
            # A missing image is reported by load_folder under the name a user would look for.
            image = images.get((rel_dir, stem), os.path.join("images", rel_dir, stem + ".jpg"))
            described.add((rel_dir, stem))
            for number, line in enumerate(_read_text(text_path).splitlines(), start=1):
                if line:  # a truly empty line is layout; whitespace-only counts as an empty caption
                    records.append((image, line, f"{text_path}:{number}"))
    undescribed = [path for key, path in images.items() if key not in described]
    if undescribed:
        warnings.warn(
            f"{root}: {len(undescribed)} image(s) under images/ have no text/<class>/<name>.txt "
            f"and are ignored: {_first(undescribed)}", DatasetWarning, stacklevel=3,
        )
    return root, records


# format name -> reader(path) -> (root, records); path is the caption file, or the folder for cub.
FORMATS = {"csv": _read_csv, "jsonl": _read_jsonl, "cub": _read_cub}


def detect_format(path: str) -> tuple[str, str]:
    """Which format a dataset path holds: returns `(format, path to pass to its reader)`."""
    if os.path.isfile(path):
        ext = os.path.splitext(path)[1].lower().lstrip(".")
        if ext in CAPTION_FILES:
            return ext, path
        raise DatasetError(f"{path}: a caption file must end in .csv or .jsonl")
    if not os.path.isdir(path):
        raise DatasetError(f"{path}: no such dataset folder or caption file")
    found = [fmt for fmt, name in CAPTION_FILES.items() if os.path.isfile(os.path.join(path, name))]
    if os.path.isdir(os.path.join(path, "images")) and os.path.isdir(os.path.join(path, "text")):
        found.append("cub")
    if not found:
        raise DatasetError(
            f"{path}: found no dataset: expected captions.csv, captions.jsonl, or folders images/ "
            "and text/ (cub layout)"
        )
    if len(found) > 1:
        raise DatasetError(
            f"{path}: holds several dataset formats {found}; choose one with format="
        )
    return found[0], _reader_path(path, found[0])


def _reader_path(folder: str, fmt: str) -> str:
    return folder if fmt == "cub" else os.path.join(folder, CAPTION_FILES[fmt])


def check_caption_file_inside(folder: str, caption_file: str) -> None:
    """Refuses a caption file that resolves outside the dataset folder (a symlink out), unread.

    A dataset may only make tfcmgen read files inside its folder, like its images; error
    messages about a caption file could otherwise show lines of any file the user can read.
    """
    folder_real = os.path.realpath(folder)
    real = os.path.realpath(caption_file)
    if os.path.commonpath([folder_real, real]) != folder_real:
        raise DatasetError(
            f"{caption_file}: the caption file resolves outside the dataset folder {folder_real} "
            "(a symlink out); refused without reading it: copy the file into the folder"
        )


def _resolve(root_real: str, root: str, reference: str) -> str | None:
    """The real path of an image reference, or None if it resolves outside the dataset folder."""
    try:
        real = os.path.realpath(os.path.join(root, reference))
    except (ValueError, OSError):  # embedded NUL byte, too-long name
        return None
    if os.path.commonpath([root_real, real]) != root_real:
        return None
    return real


def load_folder(
    path: str,
    format: str | None = None,
    strict: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    image_size: int | None = None,
    workers: int | None = None,
) -> CaptionedImages:
    """Loads a captioned-image folder (see the module docstring for the formats and checks).

    Args:
        path: str. The dataset folder, or the caption file itself (.csv / .jsonl).
        format: None, "csv", "jsonl" or "cub". None detects it. Defaults to None.
        strict: bool. Make unusable images an error instead of skipping them. Defaults to False.
        max_pixels: int. Pixel limit per image, checked on the header. Defaults to
            `DEFAULT_MAX_PIXELS`.
        image_size: int or None. When given, every image is decoded now (in parallel), centre
            cropped to a square and resized, and kept in memory; otherwise only headers are checked
            and `images` holds the paths (decoded by `make_dataset`). Defaults to None.
        workers: int or None. Decoding threads. Defaults to None (one per CPU core, at most 8).

    Returns:
        `CaptionedImages` with `root` the dataset folder and no attributes.
    """
    if format is not None and format not in FORMATS:
        raise ValueError(
            f"format must be None or one of {list(FORMATS)}; received format={format!r}"
        )
    _check_positive("max_pixels", max_pixels)
    if image_size is not None:
        _check_positive("image_size", image_size)
    path = os.fspath(path)
    if format is None:
        format, reader_path = detect_format(path)
    elif os.path.isdir(path):
        reader_path = _reader_path(path, format)
    else:
        reader_path = path
    if format == "cub" and not os.path.isdir(reader_path):
        raise DatasetError(f"{path}: the cub format needs a folder with images/ and text/")
    if format != "cub" and not os.path.isfile(reader_path):
        raise DatasetError(f"{reader_path}: caption file not found")
    if format != "cub":
        check_caption_file_inside(path if os.path.isdir(path) else os.path.dirname(
            os.path.abspath(reader_path)), reader_path)
    root, records = FORMATS[format](reader_path)
    root_real = os.path.realpath(root)

    # image -> {caption: None}: an ordered set, so the duplicate check is O(1) per row (a list
    # search made 100,000 captions take 52 s).
    captions: dict[str, dict[str, None]] = {}
    empty, escaping, duplicates = [], [], 0
    for reference, caption, where in records:
        # Runs of whitespace (quoted newlines, tabs) become one space: a caption is one line.
        caption = " ".join(caption.split())
        if not caption:
            empty.append(where)
            continue
        real = _resolve(root_real, root, reference)
        if real is None:
            escaping.append(f"{reference!r} ({where})")
            continue
        existing = captions.setdefault(real, {})
        if caption in existing:
            duplicates += 1
        else:
            existing[caption] = None
    if escaping:
        raise DatasetError(
            f"{len(escaping)} image path(s) resolve outside the dataset folder {root_real} "
            f"(../, absolute paths or symlinks out are refused): {_first(escaping)}"
        )
    if empty:
        warnings.warn(f"skipped {len(empty)} empty or whitespace-only caption(s): {_first(empty)}",
                      DatasetWarning, stacklevel=2)
    if duplicates:
        warnings.warn(f"{reader_path}: ignored {duplicates} duplicate (image, caption) row(s)",
                      DatasetWarning, stacklevel=2)
    missing = [p for p in captions if not os.path.isfile(p)]
    if missing:
        raise DatasetError(
            f"{len(missing)} image file(s) named in {reader_path} do not exist: {_first(missing)}"
        )
    if not captions:
        raise DatasetError(
            f"{reader_path}: the dataset is empty (no image with a non-empty caption)"
        )
    data = CaptionedImages(list(captions), [list(c) for c in captions.values()], None, root_real,
                           os.path.basename(root_real.rstrip(os.sep)) or root_real)
    if image_size is not None:
        return decode_images(data, image_size, strict=strict, max_pixels=max_pixels,
                             workers=workers)
    return _check_headers(data, strict, max_pixels)


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1; received {name}={value!r}")


def _header_problem(path: str, max_pixels: int) -> str | None:
    try:
        with open(path, "rb") as f:
            head = f.read(_HEADER_BYTES)
            header = image_header(head)
            if header is None and head.startswith(b"\xff\xd8") and len(head) == _HEADER_BYTES:
                header = image_header(head + f.read())  # frame header after large EXIF/ICC data
    except OSError as error:
        return f"cannot read file: {error.strerror or error}"
    if not head:
        return "empty file (0 bytes)"
    if header is None:
        return "not a JPEG, PNG, BMP or WebP image (unrecognised header)"
    _, width, height = header
    if width * height > max_pixels or width <= 0 or height <= 0:
        return f"{width}x{height} pixels is empty or exceeds max_pixels={max_pixels}"
    return None


def _drop_failed(data: CaptionedImages, failures: list[tuple[int, str]], names: list[str],
                 strict: bool) -> CaptionedImages:
    """Removes failed images, or raises when strict or when nothing is left; warns once."""
    n = len(data)
    shown = [f"{names[i]} ({reason})" for i, reason in failures]
    if failures and strict:
        raise DatasetError(f"{len(failures)} of {n} image(s) cannot be used (strict=True): "
                           f"{_first(shown)}")
    if failures and len(failures) == n:
        raise DatasetError(f"the dataset is empty: none of its {n} image(s) can be used: "
                           f"{_first(shown)}")
    if not failures:
        return data
    warnings.warn(f"skipped {len(failures)} of {n} image(s) that cannot be used: "
                  f"{_first(shown)}", DatasetWarning, stacklevel=3)
    return data.subset(sorted(set(range(n)) - {i for i, _ in failures}))


def _check_headers(data: CaptionedImages, strict: bool, max_pixels: int) -> CaptionedImages:
    failures = []
    for i, path in enumerate(data.images):
        problem = _header_problem(path, max_pixels)
        if problem:
            failures.append((i, problem))
    return _drop_failed(data, failures, data.images, strict)


@contextmanager
def _quiet_opencv():
    # OpenCV logs its own line for every corrupt file; we report them once, together.
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


def decode_images(
    data: CaptionedImages,
    image_size: int,
    strict: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int | None = None,
) -> CaptionedImages:
    """Decodes the image files of `data` once into memory as `uint8 [N, S, S, 3]` RGB squares.

    Runs on a thread pool (OpenCV releases the GIL while decoding). Unusable images are skipped and
    reported once, or raise when `strict`. Data already in memory is resized when its size differs.

    Args:
        data: `CaptionedImages` with paths (or pixels).
        image_size: int >= 1. Side of the squares.
        strict: bool. Raise instead of skipping unusable images. Defaults to False.
        max_pixels: int. Pixel limit per image. Defaults to `DEFAULT_MAX_PIXELS`.
        workers: int or None. Threads; None means one per core, at most 8. Defaults to None.
    """
    _check_positive("image_size", image_size)
    if data.in_memory:
        if data.images.shape[1:3] == (image_size, image_size):
            return data
        resized = np.stack([center_square(img, image_size) for img in data.images])
        return CaptionedImages(resized, data.captions, data.attributes, data.root, data.name,
                               data.render_seeds)
    workers = workers or min(8, os.cpu_count() or 1)

    def load(path):
        try:
            return center_square(read_image(path, max_pixels, min_side=image_size), image_size)
        except ImageError as error:
            return error.reason

    out = np.empty((len(data), image_size, image_size, 3), np.uint8)
    failures = []
    with _quiet_opencv(), ThreadPoolExecutor(max_workers=workers) as pool:
        for i, result in enumerate(pool.map(load, data.images)):
            if isinstance(result, str):
                failures.append((i, result))
            else:
                out[i] = result
    decoded = CaptionedImages(out, data.captions, data.attributes, data.root, data.name,
                              data.render_seeds)
    return _drop_failed(decoded, failures, data.images, strict)
