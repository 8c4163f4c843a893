"""A folder of PNG images, one sub-folder per class, loaded as uint8 grey pixels.

Layout::

    shapes/
        circle/   a.png b.png ...
        square/   c.png ...

Class names are the sub-folders' names in sorted order (label ``k`` is the ``k``-th); files are
read in sorted order; hidden folders and files (a name starting with ``.``, such as macOS's
``._a.png``) are passed over. Every image must have the same size (upright: after its EXIF
orientation); an 8-bit image of any common mode (grey, palette, RGB, with or without alpha,
1-bit) becomes grey by the rule ``softgrad predict`` reads images with,
:func:`softgrad.datasets.grey.grey_levels` (ITU-R 601-2 luma; transparent pixels are the paper,
laid on white). Images of more than 8 bits a channel are
refused by name rather than rescaled silently, and so is an image beyond ``MAX_IMAGE_PIXELS``
(from its header, before it is decoded: :func:`open_image`, which ``softgrad predict`` reads
images with too).
The pixels go straight into one preallocated uint8 array, so the data set takes one byte a pixel
(``scale`` 255: ``Scaler.inputs`` reads it scaled per batch).
The test set is a stratified 20% split with a fixed seed, as for a user's .npz or .csv file.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from softgrad.datasets.dataset import Dataset, check_class_names
from softgrad.datasets.grey import EIGHT_BIT_MODES, grey_levels, pillow
from softgrad.datasets.split import split_off_test
from softgrad.errors import DataFormatError, DatasetNotFoundError

__all__ = [
    "IMAGE_SEED",
    "IMAGE_SUFFIXES",
    "IMAGE_TEST_FRACTION",
    "MAX_IMAGE_PIXELS",
    "load_image_folder",
    "open_image",
]

IMAGE_SUFFIXES = (".png",)
IMAGE_TEST_FRACTION = 0.2
IMAGE_SEED = 0
#: The largest image decoded (width x height): 40 megapixels, more than any camera photo a
#: model of a few hundred input pixels needs, and 160 MB as 32-bit pixels. Checked from the
#: header before decoding; a larger one is refused with one line.
MAX_IMAGE_PIXELS = 40_000_000


def _hidden(path: Path) -> bool:
    """A name starting with ``.``: macOS's ``._a.png`` (AppleDouble metadata beside every file
    copied to a FAT disk or zipped), ``.git``, an editor's or a viewer's thumbnail."""
    return path.name.startswith(".")


def _class_files(folder: Path) -> dict[str, list[Path]]:
    """Class name -> its image files, both sorted; the folder's layout checked."""
    where = f"load_image_folder: {str(folder)!r}"
    if not folder.is_dir():
        raise DatasetNotFoundError(f"{where}: no such folder")
    classes = {
        sub.name: sorted(
            p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not _hidden(p)
        )
        for sub in sorted(folder.iterdir())
        if sub.is_dir() and not _hidden(sub)
    }
    if len(classes) < 2:
        raise DataFormatError(
            f"{where}: folder must hold one sub-folder of .png images per class, at least 2 "
            f"classes; got {len(classes)} sub-folders ({sorted(classes)})"
        )
    # a class is named by its sub-folder: a blank name would print as no answer at all
    check_class_names(list(classes), where, DataFormatError, "class sub-folder names")
    empty = [name for name, files in classes.items() if not files]
    if empty:
        raise DataFormatError(
            f"{where}: every class sub-folder must hold .png images; got none in {empty}"
        )
    return classes


@contextlib.contextmanager
def open_image(path: Path, where: str) -> Iterator[Any]:
    """``path`` opened by Pillow (not yet decoded), refused beyond ``MAX_IMAGE_PIXELS``.

    The size is checked from the header. Pillow's own decompression-bomb warning and error
    (raised by ``Image.open`` or while decoding, for a few-KB file declaring a huge image)
    become the same DataFormatError, so the user sees one line starting with ``where``.
    """
    Image = pillow("load_image_folder").Image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # our own handle: Pillow leaves its file open when open() itself raises
            with open(path, "rb") as fh, Image.open(fh) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise DataFormatError(
                        f"{where}: image must have at most {MAX_IMAGE_PIXELS} pixels; got "
                        f"{width} x {height} (scale it down first)"
                    )
                yield image
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise DataFormatError(
            f"{where}: image must have at most {MAX_IMAGE_PIXELS} pixels; Pillow refused it "
            f"as a decompression bomb ({exc})"
        ) from None


def _read_grey(path: Path) -> np.ndarray:
    """``path`` decoded as grey uint8 levels of shape (height, width), upright."""
    UnidentifiedImageError = pillow("load_image_folder").UnidentifiedImageError
    where = f"load_image_folder: {str(path)!r}"
    try:
        with open_image(path, where) as image:
            if image.mode not in EIGHT_BIT_MODES:
                raise DataFormatError(
                    f"{where}: image must be 8-bit (one of {', '.join(EIGHT_BIT_MODES)}); "
                    f"got mode {image.mode!r} (save it as 8-bit grey or RGB)"
                )
            return grey_levels(image, where).astype(np.uint8)  # whole numbers 0..255
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DataFormatError(f"{where}: file must be a readable PNG image; got {exc}") from exc


def load_image_folder(
    folder: str | os.PathLike, *, name: str | None = None, hold_out: bool = True
) -> Dataset:
    """Load a folder of PNG images, one sub-folder per class, as uint8 grey pixels.

    Parameters
    ----------
    folder : str or PathLike
        Holds one sub-folder per class (at least 2), each with ``.png`` images of one size.
    name : str, optional
        Data set name; default the folder's name.
    hold_out : bool, default True
        Split the test set off; False keeps every image a training image and the test set
        empty (:func:`softgrad.datasets.load_file`).

    Returns
    -------
    Dataset
        X uint8 of shape (N, H * W) (split 80/20 per class), y int64 labels, ``image_shape``
        (H, W), ``scale`` 255, ``class_names`` the sub-folders' names in sorted order.

    Raises
    ------
    DatasetNotFoundError
        ``folder`` does not exist.
    DataFormatError
        Fewer than 2 class sub-folders, a class without images, an unreadable image, an image
        of another size than the first or of more than 8 bits a channel. The message names the
        folder or the file.
    MissingDependencyError
        Pillow is not installed.

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     root = Path(folder)
    ...     for label, grey in (("dark", 10), ("light", 240)):
    ...         (root / label).mkdir()
    ...         for k in range(5):
    ...             Image.new("L", (4, 3), grey + k).save(root / label / f"{k}.png")
    ...     ds = load_image_folder(root, name="shades")
    >>> ds
    Dataset(name='shades', n_train=8, n_test=2, n_features=12, n_classes=2,
            image_shape=(3, 4), scale=255.0)
    >>> ds.X_train.dtype, ds.class_names, sorted(ds.y_test.tolist())
    (dtype('uint8'), ['dark', 'light'], [0, 1])
    """
    folder = Path(folder)
    classes = _class_files(folder)
    files = [path for paths in classes.values() for path in paths]
    y = np.repeat(np.arange(len(classes), dtype=np.int64), [len(p) for p in classes.values()])
    first = _read_grey(files[0])
    height, width = first.shape
    X = np.empty((len(files), height * width), dtype=np.uint8)
    X[0] = first.reshape(-1)
    for row, path in enumerate(files[1:], start=1):
        grey = _read_grey(path)
        if grey.shape != first.shape:
            raise DataFormatError(
                f"load_image_folder: {str(path)!r}: image must be {width}x{height} like the first "
                f"image; got {grey.shape[1]}x{grey.shape[0]} (resize them to one size)"
            )
        X[row] = grey.reshape(-1)
    if not hold_out:
        train, test = np.arange(len(y)), np.arange(0)
    elif np.bincount(y).max() < 2:
        raise DataFormatError(
            f"load_image_folder: {str(folder)!r}: some class must hold at least 2 images to split "
            f"off a test set; got 1 image in each of {len(classes)} classes"
        )
    else:
        where = f"load_image_folder: {str(folder)!r}"
        train, test = split_off_test(y, IMAGE_TEST_FRACTION, IMAGE_SEED, where, list(classes))
    return Dataset(
        X[train],
        y[train],
        X[test],
        y[test],
        list(classes),
        image_shape=(height, width),
        name=folder.name if name is None else name,
        scale=255.0,
    )
