"""Near-miss mismatched captions derived from the captions alone, for folders without attributes.

On the built-in shapes, mismatched captions that differ from the image in exactly one attribute
("a red star" for a red circle) are the strongest lever of the ablation (`make_dataset(near_miss)`),
but they need per-image attributes. A user's folder has only captions; this module finds, for each
caption, other images' captions that differ from it in exactly one word at the same place:
"the digit seven written in blue" for "the digit seven written in red".

A one-word difference is not always a different meaning: "a little red circle" says what "a small
red circle" says. Two safeguards, both read from the data:

- a word pair that ever describes the same image (both words among one image's captions, such as
  "small" and "little" when an image has a caption with each) is a pair of compatible words, not a
  contrast;
- the other caption's word must not be among the image's own caption words.

Example:

>>> table = near_miss_table([["a red circle"], ["a blue circle"], ["a red square"]], size=2)
>>> table.tolist()  # caption ids, -1 where there are fewer near misses
[[1, 2], [0, -1], [0, -1]]
"""

from __future__ import annotations

import itertools

import numpy as np

from tfcmgen.text.normalize import split_words


def near_miss_table(captions: list[list[str]], size: int = 8, seed: int = 0) -> np.ndarray:
    """For every caption (in `all_captions` order), up to `size` near-miss caption ids.

    Args:
        captions: list (one entry per image) of lists of captions.
        size: int >= 1. Near misses kept per caption (a seeded random choice when there are more).
        seed: int. Seeds that choice. Defaults to 0.

    Returns:
        int64 array [number of captions, size]: ids into the flattened captions; -1 pads rows with
        fewer near misses.
    """
    words, image_of = [], []
    for image, image_captions in enumerate(captions):
        for caption in image_captions:
            words.append(tuple(split_words(caption)))
            image_of.append(image)
    image_words = [set() for _ in captions]
    for caption_words, image in zip(words, image_of):
        image_words[image].update(caption_words)
    compatible = set()
    for vocabulary in image_words:
        compatible.update(itertools.combinations(sorted(vocabulary), 2))

    buckets: dict[tuple, list[int]] = {}
    for caption, caption_words in enumerate(words):
        for k in range(len(caption_words)):
            key = (len(caption_words), k, caption_words[:k] + caption_words[k + 1:])
            buckets.setdefault(key, []).append(caption)

    found: list[list[int]] = [[] for _ in words]
    for (_, k, _), members in buckets.items():
        if len(members) < 2:
            continue
        for a, b in itertools.permutations(members, 2):
            word_a, word_b = words[a][k], words[b][k]
            if word_a == word_b or image_of[a] == image_of[b]:
                continue
            if tuple(sorted((word_a, word_b))) in compatible or word_b in image_words[image_of[a]]:
                continue
            found[a].append(b)

    rng = np.random.default_rng(seed)
    table = np.full((len(words), size), -1, np.int64)
    for caption, options in enumerate(found):
        if len(options) > size:
            options = rng.choice(options, size=size, replace=False)
        table[caption, :len(options)] = options
    return table
