"""Reading photos and drawings for ``softgrad predict``: grey, right size, scaled like training.

The training images of every built-in data set (MNIST, Fashion-MNIST, the 8x8 digits) are
light-on-dark: the object is bright on a black background. A picture taken of a digit written on
paper is the opposite. With ``invert="auto"`` (the default) an image whose border is brighter than
mid-grey is taken as dark-on-light, inverted and contrast-stretched so its background becomes 0
like the training images; the caller is told so it can print a note;
``"yes"`` and ``"no"`` force the choice. The image is padded to a square with its background colour
(so the object keeps its aspect ratio), resized to the model's ``image_shape`` and mapped from
0..255 to the raw range of the training pixels (0..16 for the 8x8 digits, 0..255 for MNIST).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from softgrad.errors import DataFormatError, MissingDependencyError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
INVERT_CHOICES = ("auto", "yes", "no")


def _pil():
    try:
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError as exc:
        raise MissingDependencyError(
            "reading images needs Pillow: pip install 'softgrad[plots]'"
        ) from exc
    return Image, ImageOps, UnidentifiedImageError


def _grey(path: Path) -> np.ndarray:
    Image, ImageOps, UnidentifiedImageError = _pil()
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                # transparent pixels are the paper: lay the drawing on white
                rgba = img.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(white, rgba)
            return np.asarray(img.convert("L"), dtype=np.float32)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DataFormatError(f"predict: {str(path)!r} is not a readable image ({exc})") from None


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


def load_image(
    path: str | Path, image_shape: tuple[int, int], input_max: float, invert: str = "auto"
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
        Whether to turn dark-on-light into light-on-dark (see the module notes).

    Returns
    -------
    row : ndarray of shape (height * width,), float32
        Pixels in 0..input_max, light object on dark background.
    inverted : bool
        Whether the image was inverted.
    """
    Image, _, _ = _pil()
    pixels = _grey(Path(path))
    if pixels.size == 0:
        raise DataFormatError(f"predict: {str(path)!r} is an empty image")
    background = _border_mean(pixels)
    inverted = invert == "yes" or (invert == "auto" and background > 127.5)
    if inverted:
        # paper is never pure white: stretch so the background becomes 0 like the training images
        pixels = 255.0 - pixels
        background = 255.0 - background
        top = float(pixels.max())
        if top > background:
            pixels = np.clip((pixels - background) * (255.0 / (top - background)), 0.0, 255.0)
        background = 0.0
    square = _square(pixels, background)
    height, width = (int(s) for s in image_shape)
    small = Image.fromarray(square.astype(np.uint8)).resize(
        (width, height), Image.Resampling.LANCZOS
    )
    row = np.asarray(small, dtype=np.float32).reshape(-1) * np.float32(input_max / 255.0)
    return row, inverted
