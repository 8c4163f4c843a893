"""Reading photos and drawings for ``softgrad predict``: grey, right size, scaled like training.

The training images of every built-in data set (MNIST, Fashion-MNIST, the 8x8 digits) are
light-on-dark: the object is bright on a black background. A picture taken of a digit written on
paper is the opposite. ``softgrad train`` records which the training images are (the
``image_background`` of the model's metadata, :func:`training_background`: "dark", or "light"
for a folder of dark drawings on white; a model file without it was trained on dark). With
``invert="auto"`` (the default) an image whose border is on the other side of mid-grey from the
training images' is inverted to match them, and when they are dark also contrast-stretched so its
background becomes 0 as theirs is; the caller is told so it can print a note; ``"yes"`` and
``"no"`` force the choice. The image is padded to a square with its background colour
(so the object keeps its aspect ratio), resized to the model's ``image_shape`` and mapped from
0..255 to the raw range of the training pixels (0..16 for the 8x8 digits, 0..255 for MNIST).

Every image mode Pillow decodes is either mapped onto grey 0..255 or refused by name (see
``MODES``): 16-bit images are rescaled (not clipped), floating-point images must hold 0..1. An
image larger than ``MAX_IMAGE_PIXELS`` is refused from its header, before it is decoded
(:func:`softgrad.datasets.images.open_image`, the rule of ``softgrad train`` on image folders).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from softgrad.datasets.images import open_image
from softgrad.errors import DataFormatError, MissingDependencyError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
INVERT_CHOICES = ("auto", "yes", "no")

ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")
EIGHT_BIT_MODES = ("1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "HSV", *ALPHA_MODES)
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
#: Every Pillow mode read, and how it maps to grey 0..255: the 8-bit modes through Pillow's
#: ITU-R 601 luma (transparent pixels laid on white); 16-bit grey (and a 16-bit PNG opened as
#: "I") as value * 255 / 65535; "F" (floating point) as value * 255, its values in [0, 1]; "LAB"
#: by its lightness band. Any other mode ("I" from other formats, "I;16S", ...) is refused.
MODES = (*EIGHT_BIT_MODES, "LAB", *SIXTEEN_BIT_MODES, "I (PNG)", "F")


def _pil():
    try:
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError as exc:
        raise MissingDependencyError(
            "reading images needs Pillow: pip install 'softgrad[plots]'"
        ) from exc
    return Image, ImageOps, UnidentifiedImageError


def _grey(path: Path) -> np.ndarray:
    """The image at ``path`` as grey levels in 0..255 (float32), from any mode in MODES."""
    _, ImageOps, UnidentifiedImageError = _pil()
    where = f"predict: {str(path)!r}"
    try:
        with open_image(path, where) as img:
            img = ImageOps.exif_transpose(img)
            return _to_grey(img, where)
    except DataFormatError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataFormatError(f"predict: {str(path)!r} is not a readable image ({exc})") from None


def _to_grey(img, where: str) -> np.ndarray:
    """Grey levels 0..255 from a decoded image of any supported mode (see MODES)."""
    mode = img.mode
    if mode in SIXTEEN_BIT_MODES or (mode == "I" and img.format == "PNG"):
        # 16-bit grey (a PNG of bit depth 16 may open as "I"): 0..65535 is 0..255
        pixels = np.asarray(img).astype(np.float32)
        return pixels * np.float32(255.0 / 65535.0)
    if mode == "F":
        pixels = np.asarray(img, dtype=np.float32)
        finite = np.isfinite(pixels).all()
        low, high = (float(pixels.min()), float(pixels.max())) if finite else (np.nan, np.nan)
        if not (finite and low >= 0.0 and high <= 1.0):
            raise DataFormatError(
                f"{where}: a floating-point image (mode 'F') must hold values in [0, 1]; got "
                f"{low!r}..{high!r} (save it as an 8- or 16-bit image)"
            )
        return pixels * np.float32(255.0)
    if mode == "LAB":
        return np.asarray(img, dtype=np.float32)[..., 0].copy()  # the lightness band L*
    if mode not in EIGHT_BIT_MODES:
        raise DataFormatError(
            f"{where}: image mode must be one of {', '.join(MODES)}; got {mode!r} (save it "
            "as an 8- or 16-bit grey or colour image)"
        )
    if mode in ALPHA_MODES or "transparency" in img.info:
        # transparent pixels are the paper: lay the drawing on white
        Image, _, _ = _pil()
        if mode == "La":  # premultiplied: Pillow converts it only to straight LA
            img = img.convert("LA")
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    elif mode == "HSV":
        img = img.convert("RGB")
    return np.asarray(img.convert("L"), dtype=np.float32)


def _border_mean(pixels: np.ndarray) -> float:
    edges = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    return float(edges.mean())


def _square(pixels: np.ndarray, background: float) -> np.ndarray:
    h, w = pixels.shape
    side = max(h, w)
    out = np.full((side, side), background, dtype=np.float32)
    top, left = (side - h) // 2, (side - w) // 2
    out[top : top + h, left : left + w] = pixels
    return out


def training_background(X: np.ndarray, image_shape: tuple[int, ...], input_max: float) -> str:
    """ "light" when the border pixels of the training images ``X`` (raw rows of 0..input_max)
    are brighter than mid-grey on average, else "dark": the polarity predict matches.

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
    return "light" if float(border.mean(dtype=np.float64)) > input_max / 2 else "dark"


def load_image(
    path: str | Path,
    image_shape: tuple[int, int],
    input_max: float,
    invert: str = "auto",
    background: str = "dark",
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

    Returns
    -------
    row : ndarray of shape (height * width,), float32
        Pixels in 0..input_max, the object on the training images' background.
    inverted : bool
        Whether the image was inverted.
    """
    Image, _, _ = _pil()
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
    square = _square(pixels, border)
    height, width = (int(s) for s in image_shape)
    # round, not truncate: a 16-bit or float twin of an 8-bit image lands on the same levels
    small = Image.fromarray(np.rint(square).astype(np.uint8)).resize(
        (width, height), Image.Resampling.LANCZOS
    )
    row = np.asarray(small, dtype=np.float32).reshape(-1) * np.float32(input_max / 255.0)
    return row, inverted
