"""The same image file gives the same pixels to training (load_image_folder) and to predict
(load_image): one rule, softgrad.datasets.grey.grey_levels, for transparency, EXIF orientation
and every 8-bit mode; and an image of the model's own size is neither padded nor resized."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.cli.images import load_image
from softgrad.datasets import load_image_folder
from softgrad.datasets.images import IMAGE_SEED, IMAGE_TEST_FRACTION
from softgrad.datasets.split import stratified_split

Image = pytest.importorskip("PIL.Image")

HEIGHT, WIDTH = 6, 9  # not square: predict padded every image to a square, then squeezed it
PER_CLASS = 4


def _alpha(rng):
    """A drawing on a transparent canvas: alpha 0 (paper), 255 (ink), one half-covered pixel."""
    alpha = np.zeros((HEIGHT, WIDTH), np.uint8)
    alpha[1:5, rng.integers(1, WIDTH - 2)] = 255
    alpha[0, rng.integers(0, WIDTH)] = 128
    return alpha


def _rgba(alpha):
    rgba = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    rgba[..., 2] = 90  # dark blue everywhere: the transparent paper's hidden colour too
    rgba[..., 3] = alpha
    return Image.fromarray(rgba)


def _la(alpha):
    return Image.merge("LA", [Image.new("L", (WIDTH, HEIGHT), 30), Image.fromarray(alpha)])


def _palette(alpha):
    """Index 0 the transparent paper (hidden colour black), index 1 the ink (dark grey)."""
    image = Image.fromarray((alpha > 0).astype(np.uint8)).convert("P")
    image.putpalette([0, 0, 0, 20, 20, 20])
    image.info["transparency"] = 0
    return image


MAKERS = {"RGBA": _rgba, "LA": _la, "P": _palette}


def _folder(root, images):
    """Two classes of PER_CLASS images each; returns the files in the order training reads them."""
    files = []
    for k, image in enumerate(images):
        path = root / ("a", "b")[k // PER_CLASS] / f"{k % PER_CLASS}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
        files.append(path)
    return files


def _training_rows(root):
    """Every image's row as training read it, in file order (undoing the fixed split)."""
    data = load_image_folder(root)
    y = np.repeat(np.arange(2), PER_CLASS)
    train, test = stratified_split(y, IMAGE_TEST_FRACTION, rng=IMAGE_SEED)
    rows = np.empty((len(y), data.n_features), np.uint8)
    rows[train], rows[test] = data.X_train, data.X_test
    assert data.image_shape == (HEIGHT, WIDTH)
    return rows


def _predict_row(path):
    row, inverted = load_image(path, (HEIGHT, WIDTH), 255.0, invert="no")
    assert not inverted
    return row


@pytest.mark.parametrize("mode", list(MAKERS))
def test_a_transparent_drawing_gives_training_the_pixels_predict_reads(tmp_path, rng, mode):
    # training dropped the alpha: the transparent paper became its hidden colour (as dark as
    # the ink, or darker) while predict laid the drawing on white
    files = _folder(tmp_path, [MAKERS[mode](_alpha(rng)) for _ in range(2 * PER_CLASS)])
    with Image.open(files[0]) as image:
        assert image.mode == mode and (mode != "P" or "transparency" in image.info)
    rows = _training_rows(tmp_path)
    for path, trained in zip(files, rows, strict=True):
        predicted = _predict_row(path)
        np.testing.assert_array_equal(predicted, trained.astype(np.float32), err_msg=str(path))
        assert trained[WIDTH * HEIGHT - 1] == 255, f"{path}: the paper must be white"
        assert trained.min() < 60, f"{path}: the ink must stay dark"


def test_exif_orientation_turns_the_image_upright_in_training_as_in_predict(tmp_path, rng):
    # predict turned a photo upright by its EXIF tag, training read it sideways
    pictures = [rng.integers(0, 256, size=(WIDTH, HEIGHT), dtype=np.uint8) for _ in range(8)]
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view": stored WIDTH x HEIGHT on its side
    files = []
    for k, picture in enumerate(pictures):
        path = tmp_path / ("a", "b")[k // PER_CLASS] / f"{k % PER_CLASS}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture).save(path, exif=exif)
        files.append(path)
    rows = _training_rows(tmp_path)
    for path, picture, trained in zip(files, pictures, rows, strict=True):
        upright = np.rot90(picture, k=-1)  # clockwise
        np.testing.assert_array_equal(trained.reshape(HEIGHT, WIDTH), upright, err_msg=str(path))
        np.testing.assert_array_equal(_predict_row(path), trained.astype(np.float32))


@pytest.mark.parametrize("mode", ["L", "RGB", "P", "1", "RGBA"])
def test_each_8_bit_mode_of_a_non_square_image_reads_alike_in_both(tmp_path, rng, mode):
    images = [
        Image.fromarray(rng.integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)).convert(mode)
        for _ in range(2 * PER_CLASS)
    ]
    files = _folder(tmp_path, images)
    for path, trained in zip(files, _training_rows(tmp_path), strict=True):
        np.testing.assert_array_equal(_predict_row(path), trained.astype(np.float32))


def test_predict_pads_a_smaller_image_to_the_models_shape_not_to_a_square(tmp_path):
    # a 3 x 9 strip for a 6 x 9 model: padded above and below to 6 x 9 and kept unresized
    strip = np.full((3, WIDTH), 200, np.uint8)
    strip[1, 2:7] = 0  # ink inside: the border is all 200
    Image.fromarray(strip).save(tmp_path / "strip.png")
    row = _predict_row(tmp_path / "strip.png").reshape(HEIGHT, WIDTH)
    want = np.full((HEIGHT, WIDTH), 200.0, np.float32)  # the border's colour
    want[1:4] = strip
    np.testing.assert_array_equal(row, want)


def test_a_png_opened_as_mode_i_is_read_as_16_bit_grey():
    from softgrad.datasets.grey import grey_levels

    # Pillow opens some 16-bit PNGs as "I"; the upright copy (EXIF) lost the format, and the
    # image was refused as an "I" image of another format
    image = Image.fromarray(np.array([[0, 65535, 257]], np.int32))
    image.format = "PNG"
    np.testing.assert_array_equal(grey_levels(image, "x.png"), [[0.0, 255.0, 1.0]])
