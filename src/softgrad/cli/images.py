"""Reading photos and drawings for ``softgrad predict``: grey, right size, scaled like training.

The training images of every built-in data set (MNIST, Fashion-MNIST, the 8x8 digits) are
light-on-dark: the object is bright on a black background. A picture taken of a digit written on
paper is the opposite. ``softgrad train`` records which the training images are (the
``image_background`` of the model's metadata, :func:`training_background`: "dark", or "light"
for a folder of dark drawings on white; a model file without it was trained on dark). With
``invert="auto"`` (the default) an image whose border is on the other side of mid-grey from the
training images' is inverted to match them, and when they are dark also contrast-stretched so its
background becomes 0 as theirs is; the caller is told so it can print a note; ``"yes"`` and
``"no"`` force the choice. The image is padded with its background colour to the shape of
the model's images (a square for MNIST; so the object keeps its aspect ratio), resized to the
model's ``image_shape`` and mapped from 0..255 to the raw range of the training pixels (0..16 for
the 8x8 digits, 0..255 for MNIST). An image of the training images' own size is neither padded
nor resized, so a model's own training image gives the pixels it was trained on.

The file becomes grey levels 0..255 by the rule ``softgrad train`` reads an image folder with
(:func:`softgrad.datasets.grey.grey_levels`: upright by its EXIF orientation, transparent pixels
laid on white, 16-bit images rescaled, floating-point images in 0..1; other modes refused). An
image larger than ``MAX_IMAGE_PIXELS`` is refused from its header, before it is decoded
(:func:`softgrad.datasets.images.open_image`, the rule of ``softgrad train`` on image folders).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from softgrad.datasets.grey import grey_levels, pillow
from softgrad.datasets.images import open_image
from softgrad.errors import DataFormatError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
INVERT_CHOICES = ("auto", "yes", "no")


def _grey(path: Path) -> np.ndarray:
    """The image at ``path`` as grey levels in 0..255 (float32), read as training reads it."""
    where = f"predict: {str(path)!r}"
    UnidentifiedImageError = pillow("predict").UnidentifiedImageError
    try:
        with open_image(path, where) as img:
            return grey_levels(img, where)
    except DataFormatError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataFormatError(f"predict: {str(path)!r} is not a readable image ({exc})") from None


def _border_mean(pixels: np.ndarray) -> float:
    edges = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    return float(edges.mean())


def _pad_to_shape(pixels: np.ndarray, shape: tuple[int, int], background: float) -> np.ndarray:
    """``pixels`` centred on ``background``, grown along one side to the aspect ratio of
    ``shape`` (height, width), so resizing to ``shape`` keeps the object's proportions."""
    h, w = pixels.shape
    height, width = shape
    # the smallest (h', w') >= (h, w) with h' / w' == height / width, to the nearest pixel
    if h * width >= w * height:
        out_h, out_w = h, max(w, round(h * width / height))
    else:
        out_h, out_w = max(h, round(w * height / width)), w
    out = np.full((out_h, out_w), background, dtype=np.float32)
    top, left = (out_h - h) // 2, (out_w - w) // 2
    out[top : top + h, left : left + w] = pixels
    return out


def training_background(
    X: np.ndarray, image_shape: tuple[int, ...], input_max: float, input_min: float = 0.0
) -> str:
    """ "light" when the border pixels of the training images ``X`` (raw rows of
    input_min..input_max) are brighter than mid-grey on average, else "dark": the polarity
    predict matches.

    At most 1,000 evenly spaced images are read (their borders only).

    Example
    -------
    >>> paper = np.full((3, 4, 4), 250.0)
    >>> paper[:, 1:3, 1:3] = 10.0  # dark ink in the middle
    >>> training_background(paper.reshape(3, 16), (4, 4), 255.0)
    'light'
    """
    images = np.asarray(X)[:: max(1, len(X) // 1000)].reshape(-1, *image_shape)
    border = np.concatenate(
        [images[:, 0], images[:, -1], images[:, 1:-1, 0], images[:, 1:-1, -1]], axis=1
    )
    middle = (input_min + input_max) / 2
    return "light" if float(border.mean(dtype=np.float64)) > middle else "dark"


def load_image(
    path: str | Path,
    image_shape: tuple[int, int],
    input_max: float,
    invert: str = "auto",
    background: str = "dark",
    input_min: float = 0.0,
) -> tuple[np.ndarray, bool]:
    """One image file as a raw feature row for a model trained on ``image_shape`` images.

    Parameters
    ----------
    path : str or Path
        PNG, JPEG or any format Pillow reads; colour is converted to grey.
    image_shape : tuple (height, width)
        The model's input picture size.
    input_max : float
        The brightest raw training pixel value (255 for MNIST, 16 for the 8x8 digits).
    invert : {"auto", "yes", "no"}
        Whether to invert the image to the training images' polarity (see the module notes).
    background : {"dark", "light"}, default "dark"
        The training images' background (:func:`training_background`).
    input_min : float, default 0.0
        The darkest raw training pixel value (-1 for images normalised to -1..1).

    Returns
    -------
    row : ndarray of shape (height * width,), float32
        Pixels in input_min..input_max (0..255 mapped linearly), the object on the training
        images' background.
    inverted : bool
        Whether the image was inverted.
    """
    Image = pillow("predict").Image
    pixels = _grey(Path(path))
    if pixels.size == 0:
        raise DataFormatError(f"predict: {str(path)!r} is an empty image")
    border = _border_mean(pixels)
    inverted = invert == "yes" or (invert == "auto" and (border > 127.5) != (background == "light"))
    if inverted:
        pixels = 255.0 - pixels
        border = 255.0 - border
        if background == "dark":
            # paper is never pure white: stretch so the background becomes 0 as in training
            top = float(pixels.max())
            if top > border:
                pixels = np.clip((pixels - border) * (255.0 / (top - border)), 0.0, 255.0)
            border = 0.0
    height, width = (int(s) for s in image_shape)
    padded = _pad_to_shape(pixels, (height, width), border)
    # round, not truncate: a 16-bit or float twin of an 8-bit image lands on the same levels
    levels = Image.fromarray(np.rint(padded).astype(np.uint8))
    if levels.size != (width, height):
        levels = levels.resize((width, height), Image.Resampling.LANCZOS)
    row = np.asarray(levels, dtype=np.float32).reshape(-1)
    row *= np.float32((input_max - input_min) / 255.0)
    if input_min:
        row += np.float32(input_min)
    return row, inverted
