"""The one rule that turns a decoded image into grey levels, for training and for predict alike.

``load_image_folder`` (``softgrad train --data FOLDER``) and ``softgrad predict`` both call
:func:`grey_levels`, so the same file gives the same pixels in both; before, training dropped
the alpha channel (a transparent pixel became its hidden colour, often black) while predict laid
the drawing on white, and only predict turned a photo upright by its EXIF orientation.

- The image is first turned upright by its EXIF orientation tag (a PNG may carry one, as a
  phone's photo does): what a viewer shows is what is read.
- 8-bit modes (``EIGHT_BIT_MODES``) become grey by Pillow's ITU-R 601-2 luma. Transparent
  pixels (an alpha channel, or a palette or grey image's ``transparency`` entry) are the paper:
  the image is laid on white first, as it shows on a page; a half-transparent pixel is blended
  with white.
- 16-bit grey (and a 16-bit PNG opened as "I") is value * 255 / 65535; "F" (floating point)
  must hold 0..1 and is value * 255; "LAB" gives its lightness band. Any other mode is refused
  by name. Training reads 8-bit modes only (its pixels are stored as uint8) and refuses the
  others by name before calling this.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from softgrad.errors import DataFormatError, MissingDependencyError

__all__ = [
    "ALPHA_MODES",
    "EIGHT_BIT_MODES",
    "MODES",
    "SIXTEEN_BIT_MODES",
    "grey_levels",
    "pillow",
]

ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")
EIGHT_BIT_MODES = ("1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "HSV", *ALPHA_MODES)
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
#: Every Pillow mode read (see the module notes for how each maps to grey 0..255)
MODES = (*EIGHT_BIT_MODES, "LAB", *SIXTEEN_BIT_MODES, "I (PNG)", "F")


def pillow(where: str) -> Any:
    """The ``PIL`` package with its Image, ImageOps and UnidentifiedImageError loaded, or a
    MissingDependencyError starting with ``where``."""
    try:
        import PIL
        from PIL import Image, ImageOps, UnidentifiedImageError  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            f"{where}: reading images needs Pillow: pip install 'softgrad[plots]'"
        ) from exc
    return PIL


def grey_levels(image: Any, where: str) -> np.ndarray:
    """Grey levels 0..255 of an opened image, upright, transparent pixels on white paper.

    Parameters
    ----------
    image : PIL.Image.Image
        Opened (by :func:`softgrad.datasets.images.open_image`), of a mode in ``MODES``.
    where : str
        Prefix of the error message, naming the file.

    Returns
    -------
    ndarray of shape (height, width), float32
        Whole numbers for an 8-bit image (exactly what a uint8 array holds).

    Raises
    ------
    DataFormatError
        A mode outside ``MODES``, or an "F" image with values outside [0, 1].

    Example
    -------
    >>> from PIL import Image
    >>> ink = Image.new("LA", (2, 1), (0, 0))  # black, fully transparent: the paper
    >>> ink.putpixel((1, 0), (0, 255))  # black, opaque: ink
    >>> grey_levels(ink, "x.png")
    array([[255.,   0.]], dtype=float32)
    """
    png = image.format == "PNG"  # the upright copy has no format
    image = pillow(where).ImageOps.exif_transpose(image)
    mode = image.mode
    if mode in SIXTEEN_BIT_MODES or (mode == "I" and png):
        # 16-bit grey (a PNG of bit depth 16 may open as "I"): 0..65535 is 0..255
        return np.asarray(image).astype(np.float32) * np.float32(255.0 / 65535.0)
    if mode == "F":
        return _unit_floats(image, where)
    if mode == "LAB":
        return np.asarray(image, dtype=np.float32)[..., 0].copy()  # the lightness band L*
    if mode not in EIGHT_BIT_MODES:
        raise DataFormatError(
            f"{where}: image mode must be one of {', '.join(MODES)}; got {mode!r} (save it "
            "as an 8- or 16-bit grey or colour image)"
        )
    return np.asarray(_on_paper(image, where).convert("L"), dtype=np.float32)


def _unit_floats(image: Any, where: str) -> np.ndarray:
    pixels = np.asarray(image, dtype=np.float32)
    finite = np.isfinite(pixels).all()
    low, high = (float(pixels.min()), float(pixels.max())) if finite else (np.nan, np.nan)
    if not (finite and low >= 0.0 and high <= 1.0):
        raise DataFormatError(
            f"{where}: a floating-point image (mode 'F') must hold values in [0, 1]; got "
            f"{low!r}..{high!r} (save it as an 8- or 16-bit image)"
        )
    return pixels * np.float32(255.0)


def _on_paper(image: Any, where: str) -> Any:
    """An 8-bit image with its transparent pixels laid on white (HSV as RGB: Pillow cannot
    convert HSV to grey); any other image as it is."""
    Image = pillow(where).Image
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        if image.mode == "La":  # premultiplied: Pillow converts it only to straight LA
            image = image.convert("LA")
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba)
    if image.mode == "HSV":
        return image.convert("RGB")
    return image
