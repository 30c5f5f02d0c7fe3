"""An example data loader for `orch`: 32x32 colour images of three shapes (square, disc,
cross), drawn with numpy, so it runs offline and in a second.

`orch` imports this file only in the Ray worker that loads the data, calls
``load(**dataset.params)`` once per sweep and checks what comes back: a dict with
``x_train, y_train, x_test, y_test`` (optionally ``x_val, y_val``), or Keras'
``((x_train, y_train), (x_test, y_test))``. Images are (N, H, W) or (N, H, W, C) with 0-255
pixels (uint8), labels integers 0..classes-1. Input shape and class count come from the
arrays. A trial's id includes this file's source and the params: edit either and the sweep
runs again; leave both alone and stored results are kept.
"""

from __future__ import annotations

import numpy as np

CLASSES = ("square", "disc", "cross")


def load(n_per_class: int = 500, size: int = 32, noise: float = 20.0, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = n_per_class * len(CLASSES)
    labels = np.arange(n) % len(CLASSES)  # classes interleaved: every split gets all three
    rows, cols = np.mgrid[:size, :size]
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for i, label in enumerate(labels):
        r = rng.uniform(size / 8, size / 4)  # half-size of the shape
        cy, cx = rng.uniform(r, size - r, 2)
        dy, dx = rows - cy, cols - cx
        if label == 0:
            mask = (abs(dy) <= r) & (abs(dx) <= r)
        elif label == 1:
            mask = dy**2 + dx**2 <= r**2
        else:
            mask = ((abs(dy) <= r / 3) & (abs(dx) <= r)) | ((abs(dx) <= r / 3) & (abs(dy) <= r))
        colour = rng.integers(96, 256, 3)
        pixels = mask[..., None] * colour + rng.normal(0, noise, (size, size, 3))
        images[i] = np.clip(pixels, 0, 255).astype(np.uint8)
    cut = n - n // 5  # the last fifth is the test set
    return {"x_train": images[:cut], "y_train": labels[:cut], "x_test": images[cut:], "y_test": labels[cut:]}
