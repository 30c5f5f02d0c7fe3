"""``dataset.name: image_folder``: one sub-folder of images per class, read as
``keras.utils.image_dataset_from_directory`` reads it (class names sorted = labels 0, 1, ...;
.bmp .gif .jpeg .jpg .png files, sub-folders included), but with Pillow and numpy only:
this runs in the Ray worker that loads data, which need not import TensorFlow.

Channels come from the data: grey when every image is grey, else RGB (alpha dropped; the
first frame of a GIF). Images are resized to ``dataset.image_size`` (bilinear, Keras'
default) or, without it, must all have one size. ``dataset.test`` is held out as test, then
validation, each class in proportion to its size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.config import DatasetConfig
from orchestrator.data_identity import IMAGE_EXTENSIONS, image_files
from trainers.data._arrays import DatasetArrays, DatasetError, proportional_order, split_test_pool

__all__ = ["load_image_folder"]

_GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def load_image_folder(config: DatasetConfig) -> DatasetArrays:
    """Read ``config.path`` (see the module docstring). Raises :class:`DatasetError` naming
    the folder or the file: no class folders, one class, a class without images, a file
    that is not an image, sizes that differ without ``image_size``."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as e:  # matplotlib, a dependency, brings Pillow; this is a broken install
        raise DatasetError("dataset image_folder needs Pillow to read images; pip install pillow") from e
    root = Path(config.path or "")
    if not root.is_dir():
        raise DatasetError(f"{root}: no such directory; dataset.path names a folder with one sub-folder of images per class")
    by_class = image_files(root)
    _check_classes(root, by_class)
    files = [(label, path) for label, paths in enumerate(by_class.values()) for path in paths]
    # First pass, headers only (Image.open does not decode), each file closed at once:
    # thousands of open images would run out of file handles.
    headers = [_header(Image, UnidentifiedImageError, path) for _, path in files]
    grey = all(mode in _GREY_MODES for mode, _ in headers)
    size = _target_size(config, files, [hw for _, hw in headers])
    x = np.empty((len(files), size[0], size[1], 1 if grey else 3), dtype=np.uint8)
    for i, (_, path) in enumerate(files):
        try:
            with Image.open(path) as img:
                pixels = img.convert("L" if grey else "RGB")
                if pixels.size != (size[1], size[0]):
                    pixels = pixels.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                x[i] = np.asarray(pixels).reshape(x.shape[1:])
        except (OSError, ValueError) as e:  # a truncated or corrupt image fails when decoded
            raise DatasetError(f"{path}: not a readable image ({e}); delete or replace it") from e
    y = np.array([label for label, _ in files], dtype=np.int64)
    # Classes may differ in size: hold-outs take each in proportion (interleaving would fill
    # the tail with the largest class alone).
    return split_test_pool(config, x, y, str(root), len(by_class), arrange=proportional_order)


def _check_classes(root: Path, by_class: dict[str, list[Path]]) -> None:
    kinds = "/".join(IMAGE_EXTENSIONS)
    if not by_class:
        raise DatasetError(
            f"{root}: no class sub-folders; put each class's images ({kinds}) in a sub-folder named after it, "
            f"e.g. {root}/cat/1.png and {root}/dog/1.png"
        )
    if len(by_class) < 2:
        raise DatasetError(
            f"{root}: only one class sub-folder ({next(iter(by_class))}); a classifier needs at least 2: "
            "add a sub-folder of images per class"
        )
    empty = [name for name, paths in by_class.items() if not paths]
    if empty:
        raise DatasetError(
            f"{root}: class folder{'s' if len(empty) > 1 else ''} {', '.join(empty)} hold{'' if len(empty) > 1 else 's'} "
            f"no {kinds} images; add images or remove the folder"
        )


def _header(image: Any, unidentified: type[Exception], path: Path) -> tuple[str, tuple[int, int]]:
    """(mode, (height, width)) of one image file, read from its header."""
    try:
        with image.open(path) as img:
            return img.mode, (img.height, img.width)
    except (unidentified, OSError) as e:
        raise DatasetError(f"{path}: not a readable image ({e}); delete or replace it") from e


def _target_size(config: DatasetConfig, files: list[tuple[int, Path]], sizes_hw: list[tuple[int, int]]) -> tuple[int, int]:
    """(height, width) every image becomes: ``image_size``, else the one size they all have."""
    if config.image_size is not None:
        height, width = config.image_size
        return int(height), int(width)
    sizes: dict[tuple[int, int], Path] = {}
    for (_, path), hw in zip(files, sizes_hw):
        sizes.setdefault(hw, path)
    if len(sizes) > 1:
        shown = ", ".join(f"{p.name} {h}x{w}" for (h, w), p in list(sizes.items())[:3])
        raise DatasetError(
            f"{config.path}: images have different sizes ({shown}); set dataset.image_size: [height, width] to resize them"
        )
    return next(iter(sizes))
