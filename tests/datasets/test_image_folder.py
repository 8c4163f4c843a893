"""load_image_folder: a folder of PNGs, one sub-folder per class, read as uint8 grey pixels."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from softgrad.datasets import load_data, load_file, load_image_folder
from softgrad.errors import DataFormatError, DatasetNotFoundError

Image = pytest.importorskip("PIL.Image")


@pytest.fixture
def png_folder(tmp_path, rng):
    """shapes/{circle,square,triangle}/NN.png, 6 grey 5x4 images each; returns the pixels."""
    root = tmp_path / "shapes"
    pixels = {}
    for name in ("triangle", "circle", "square"):  # created out of order: labels are sorted
        (root / name).mkdir(parents=True)
        for k in range(6):
            grey = rng.integers(0, 256, size=(4, 5), dtype=np.uint8)  # height 4, width 5
            Image.fromarray(grey).save(root / name / f"{k:02d}.png")
            pixels[(name, k)] = grey
    return root, pixels


def test_pixels_come_back_as_uint8_rows_with_sorted_class_names(png_folder):
    root, pixels = png_folder
    ds = load_image_folder(root)
    assert ds.class_names == ["circle", "square", "triangle"]
    assert ds.X_train.dtype == np.uint8 and ds.X_test.dtype == np.uint8
    assert ds.image_shape == (4, 5) and ds.n_features == 20
    assert ds.scale == 255.0 and ds.name == "shapes"
    assert len(ds.y_train) + len(ds.y_test) == 18 and len(ds.y_test) == 4  # ceil(0.2 * 18)
    # every image is there once, as its own pixels, under its own class
    expected = {(ds_name, pixels[(ds_name, k)].tobytes()) for ds_name, k in pixels}
    got = {
        (ds.class_names[label], row.tobytes())
        for X, y in ((ds.X_train, ds.y_train), (ds.X_test, ds.y_test))
        for row, label in zip(X, y, strict=True)
    }
    assert got == expected


def test_the_split_is_deterministic(png_folder):
    root, _ = png_folder
    a, b = load_image_folder(root), load_image_folder(root)
    np.testing.assert_array_equal(a.X_test, b.X_test)
    np.testing.assert_array_equal(a.y_train, b.y_train)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "LA", "1"])
def test_colour_and_palette_images_become_grey(tmp_path, rng, mode):
    grey = rng.integers(0, 256, size=(3, 3), dtype=np.uint8)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for k in range(2):
            Image.fromarray(grey).convert(mode).save(tmp_path / name / f"{k}.png")
    ds = load_image_folder(tmp_path)
    expected = np.asarray(Image.fromarray(grey).convert(mode).convert("L")).reshape(-1)
    np.testing.assert_array_equal(ds.X_train[0], expected)


def test_load_file_and_load_data_take_a_png_folder(png_folder):
    root, _ = png_folder
    for loaded in (load_file(root), load_data(str(root))):
        assert loaded.class_names == ["circle", "square", "triangle"]
        assert loaded.X_train.dtype == np.uint8


def test_a_missing_folder_is_not_found(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"load_image_folder: '.*nowhere': no such"):
        load_image_folder(tmp_path / "nowhere")


def test_a_folder_without_class_sub_folders_is_refused(tmp_path):
    Image.new("L", (2, 2)).save(tmp_path / "loose.png")
    (tmp_path / "only").mkdir()
    with pytest.raises(DataFormatError, match=r"one sub-folder of \.png images per class.*got 1"):
        load_image_folder(tmp_path)


def test_a_class_without_images_is_named(png_folder):
    root, _ = png_folder
    (root / "hexagon").mkdir()
    (root / "hexagon" / "notes.txt").write_text("no images here")
    with pytest.raises(DataFormatError, match=r"must hold \.png images; got none in \['hexagon'\]"):
        load_image_folder(root)


def test_an_image_of_another_size_is_named(png_folder):
    root, _ = png_folder
    Image.new("L", (7, 7)).save(root / "square" / "99.png")
    with pytest.raises(DataFormatError, match=r"'.*99\.png': image must be 5x4 .*got 7x7"):
        load_image_folder(root)


def test_a_broken_png_is_named(png_folder):
    root, _ = png_folder
    (root / "circle" / "03.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataFormatError, match=r"'.*03\.png': file must be a readable PNG"):
        load_image_folder(root)


def test_a_16_bit_image_is_refused_not_rescaled(png_folder):
    root, _ = png_folder
    Image.fromarray(np.full((4, 5), 1000, dtype=np.uint16)).save(root / "circle" / "16.png")
    with pytest.raises(DataFormatError, match=r"'.*16\.png': image must be 8-bit.*got mode 'I"):
        load_image_folder(root)


@pytest.mark.parametrize(
    ("pillow_limit", "own_limit"),
    [(10, None), (5, None), (None, 19)],
    ids=["pillow-warning", "pillow-error", "own-bound"],
)
def test_an_image_beyond_the_pixel_bound_is_named_without_a_warning(
    png_folder, monkeypatch, pillow_limit, own_limit
):
    # Pillow warns beyond its MAX_IMAGE_PIXELS and fails beyond twice it: a 24 KB PNG declaring
    # 14000 x 14000 pixels gave a traceback, one of 95 Mpixel two warning lines. The 5 x 4
    # images of the folder play the bomb here, against lowered limits
    import softgrad.datasets.images as images

    if pillow_limit is not None:
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pillow_limit)
    if own_limit is not None:
        monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", own_limit)
    root, _ = png_folder
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DataFormatError, match=r"'.*circle/00\.png': image must have at most"):
            load_image_folder(root)
    assert caught == []


def test_hidden_files_beside_the_images_are_passed_over(png_folder):
    # macOS writes ._NN.png (AppleDouble metadata, not a PNG) beside every file it copies to a
    # FAT disk or zips: it stopped the load; a hidden thumbnail was loaded as a sample
    root, _ = png_folder
    expected = load_image_folder(root)
    (root / "circle" / "._00.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")
    Image.new("L", (5, 4), 255).save(root / "square" / ".thumbnail.png")
    (root / ".cache").mkdir()
    Image.new("L", (5, 4)).save(root / ".cache" / "00.png")
    ds = load_image_folder(root)
    assert ds.class_names == expected.class_names
    np.testing.assert_array_equal(ds.X_train, expected.X_train)
    np.testing.assert_array_equal(ds.X_test, expected.X_test)


@pytest.mark.parametrize("blank", [" ", "\t"])
def test_a_class_sub_folder_of_a_blank_name_is_refused(png_folder, blank):
    # its class was named by white space: predict answered a blank line
    root, pixels = png_folder
    (root / blank).mkdir()
    Image.fromarray(pixels[("circle", 0)]).save(root / blank / "a.png")
    words = f"class sub-folder names must not be blank; got {blank!r} for class 0"
    with pytest.raises(DataFormatError, match=re.escape(words) + "$"):
        load_image_folder(root)


def test_without_hold_out_every_image_is_a_training_image_in_folder_order(png_folder):
    root, pixels = png_folder
    ds = load_image_folder(root, hold_out=False)
    assert ds.X_test.shape == (0, 20) and len(ds.y_test) == 0
    order = [(name, k) for name in ("circle", "square", "triangle") for k in range(6)]
    np.testing.assert_array_equal(ds.X_train, np.stack([pixels[o].reshape(-1) for o in order]))
    assert load_file(root, hold_out=False).X_train.shape == (18, 20)
