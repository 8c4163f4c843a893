"""Every image mode is mapped onto the model's input range or refused by name, and an image
larger than MAX_IMAGE_PIXELS is refused from its header with one line (no Pillow warning)."""

from __future__ import annotations

import struct
import warnings
import zlib

import numpy as np
import pytest

from softgrad.cli.images import load_image
from softgrad.datasets import load_data
from softgrad.datasets.images import MAX_IMAGE_PIXELS
from softgrad.errors import DataFormatError

Image = pytest.importorskip("PIL.Image")


@pytest.fixture(scope="module")
def digits8():
    """Twenty 8-bit digit pictures (light on dark, 0..255), 16 x 16."""
    X = load_data("digits").X_test[:20].reshape(-1, 8, 8)
    pixels = np.rint(X * (255 / 16)).astype(np.uint8)
    return np.kron(pixels, np.ones((2, 2), np.uint8))


# mode -> (how to write the twin of an 8-bit grey picture, suffix)
TWINS = {
    "L": (lambda a: Image.fromarray(a), ".png"),
    "I;16 (x257)": (lambda a: Image.fromarray(a.astype(np.uint16) * 257), ".png"),
    "I;16 tiff": (lambda a: Image.fromarray(a.astype(np.uint16) * 257), ".tiff"),
    "F (0..1)": (lambda a: Image.fromarray(a.astype(np.float32) / 255), ".tiff"),
    "RGB": (lambda a: Image.fromarray(a).convert("RGB"), ".png"),
    "RGBA opaque": (lambda a: Image.fromarray(a).convert("RGBA"), ".png"),
    "LA opaque": (lambda a: Image.fromarray(a).convert("LA"), ".png"),
    "P": (lambda a: Image.fromarray(a).convert("P"), ".png"),
    "RGB jpeg-free bmp": (lambda a: Image.fromarray(a).convert("RGB"), ".bmp"),
    "CMYK": (lambda a: Image.fromarray(a).convert("RGB").convert("CMYK"), ".tiff"),
}


@pytest.mark.parametrize("mode", list(TWINS))
def test_each_mode_gives_the_same_input_as_its_8_bit_twin(tmp_path, digits8, mode):
    write, suffix = TWINS[mode]
    for k, picture in enumerate(digits8):
        write(picture).save(tmp_path / f"{k}{suffix}")
        Image.fromarray(picture).save(tmp_path / f"{k}-8bit.png")
        got, _ = load_image(tmp_path / f"{k}{suffix}", (8, 8), 16.0, invert="no")
        want, _ = load_image(tmp_path / f"{k}-8bit.png", (8, 8), 16.0, invert="no")
        # P and CMYK round through a palette / colour space: within one grey level
        tolerance = 16 / 255 * 1.01 if mode in ("P", "CMYK") else 0.0
        np.testing.assert_allclose(got, want, rtol=0, atol=tolerance, err_msg=f"{mode} #{k}")


def test_16_bit_and_float_twins_predict_like_the_8_bit_ones(cli, digits_model, tmp_path, digits8):
    # the issue: 16-bit PNGs were clipped (3 of 20 predictions changed), float TIFFs blank
    for k, picture in enumerate(digits8):
        Image.fromarray(picture).save(tmp_path / f"{k}.png")
        Image.fromarray(picture.astype(np.uint16) * 257).save(tmp_path / f"{k}-16.png")
        Image.fromarray(picture.astype(np.float32) / 255).save(tmp_path / f"{k}-f.tiff")
    runs = {}
    for tail in (".png", "-16.png", "-f.tiff"):
        files = [tmp_path / f"{k}{tail}" for k in range(len(digits8))]
        result = cli("predict", "--model", digits_model, "--invert", "no", "--json", *files)
        assert result.code == 0 and result.err == "", result.err
        runs[tail] = [(p["class"], p["probability"]) for p in result.json()["predictions"]]
    assert runs["-16.png"] == runs[".png"]
    assert runs["-f.tiff"] == runs[".png"]
    assert len({c for c, _ in runs[".png"]}) > 3  # not one blank answer for all


@pytest.mark.parametrize(
    ("make", "suffix", "message"),
    [
        (lambda: Image.fromarray(np.full((8, 8), 2.0, np.float32)), ".tiff", r"mode 'F'.*\[0, 1\]"),
        (lambda: Image.fromarray(np.full((8, 8), -0.5, np.float32)), ".tiff", r"mode 'F'"),
        (lambda: Image.fromarray(np.full((8, 8), np.nan, np.float32)), ".tiff", r"mode 'F'"),
        (lambda: Image.fromarray(np.full((8, 8), 70000, np.int32)), ".tiff", r"got 'I'"),
    ],
    ids=["float-above-1", "float-negative", "float-nan", "int32-tiff"],
)
def test_modes_without_a_known_range_are_refused_by_name(tmp_path, make, suffix, message):
    make().save(tmp_path / f"x{suffix}")
    with pytest.raises(DataFormatError, match=message) as info:
        load_image(tmp_path / f"x{suffix}", (8, 8), 16.0)
    assert f"x{suffix}" in str(info.value)


def _png_header_only(width, height):
    """A PNG of a few bytes whose header declares width x height."""

    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "size", [(30000, 30000), (10000, 10000), (8000, 6000), (MAX_IMAGE_PIXELS + 1, 1)]
)
def test_image_bombs_get_one_line_and_no_warning(usage_error, digits_model, tmp_path, size):
    (tmp_path / "bomb.png").write_bytes(_png_header_only(*size))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = usage_error("predict", "--model", digits_model, tmp_path / "bomb.png")
    assert caught == []
    assert f"image must have at most {MAX_IMAGE_PIXELS} pixels" in line and "bomb.png" in line


def test_an_image_at_the_bound_is_not_refused_for_its_size(tmp_path):
    (tmp_path / "ok.png").write_bytes(_png_header_only(MAX_IMAGE_PIXELS // 8000, 8000))
    # header-only: passes the size check, then fails to decode (no data), named as such
    with pytest.raises(DataFormatError, match="not a readable image"):
        load_image(tmp_path / "ok.png", (8, 8), 16.0)


@pytest.mark.parametrize("size", [(14000, 14000), (10000, 9500), (MAX_IMAGE_PIXELS + 1, 1)])
@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_an_image_bomb_in_a_class_folder_gets_one_line(
    usage_error, digits_model, tmp_path, monkeypatch, size, command
):
    # predict refused these; the folder loader gave a traceback (196 Mpixel) or Pillow's
    # warning lines (95 Mpixel) for train and evaluate
    monkeypatch.chdir(tmp_path)
    for name in ("a", "b"):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for k in range(1, 4):
            Image.new("L", (8, 8), 40 * k if name == "a" else 200).save(f"imgs/{name}/{k}.png")
    (tmp_path / "imgs" / "a" / "0.png").write_bytes(_png_header_only(*size))
    argv = {"train": ["train", "--epochs", "1"], "evaluate": ["evaluate", "--model", digits_model]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = usage_error(*argv[command], "--data", "imgs")
    assert caught == []
    assert f"image must have at most {MAX_IMAGE_PIXELS} pixels" in line
    assert "imgs/a/0.png" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs"]
