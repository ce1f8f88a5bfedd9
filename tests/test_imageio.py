"""Image decoding: every kind of bad file gets a message naming it; odd modes become RGB."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from bench.api import BenchError
from bench.data.imageio import MAX_PIXELS, load_rgb, save_png


@pytest.fixture
def face(lfw_root):
    return lfw_root / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"


def test_grayscale_jpeg_becomes_three_equal_channels(face):
    image = load_rgb(face)
    assert image.shape == (160, 160, 3) and image.dtype == np.uint8
    assert np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2])
    assert np.array_equal(image[..., 0], np.asarray(Image.open(face)))


def test_png_with_alpha_is_composited_on_black(tmp_path):
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = load_rgb(tmp_path / "a.png")
    assert out.shape == (16, 16, 3)
    assert abs(int(out[0, 0, 0]) - 100) <= 1 and out[0, 0, 1] == 0


def test_16bit_png_is_scaled(tmp_path):
    data = np.full((16, 16), 65535, np.uint16)
    data[0, 0] = 0
    Image.fromarray(data).save(tmp_path / "deep.png")
    out = load_rgb(tmp_path / "deep.png")
    assert out.dtype == np.uint8 and out[1, 1, 0] == 255 and out[0, 0, 0] == 0


def test_cmyk_jpeg_is_converted(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    out = load_rgb(tmp_path / "cmyk.jpg")
    assert out.shape == (16, 16, 3) and out[8, 8, 0] > 200 and out[8, 8, 1] < 60


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(BenchError, match=r"empty.jpg: empty file"):
        load_rgb(tmp_path / "empty.jpg")


def test_truncated_jpeg(tmp_path, face):
    (tmp_path / "cut.jpg").write_bytes(face.read_bytes()[:600])
    with pytest.raises(BenchError, match=r"cut.jpg: cannot decode"):
        load_rgb(tmp_path / "cut.jpg")


def test_text_named_jpg(tmp_path):
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(BenchError, match=r"notes.jpg: not a readable image"):
        load_rgb(tmp_path / "notes.jpg")


def test_one_pixel_image(tmp_path):
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    with pytest.raises(BenchError, match=r"dot.png: 1x1 image is too small"):
        load_rgb(tmp_path / "dot.png")


def test_missing_file(tmp_path):
    with pytest.raises(BenchError, match=r"nothere.png: file not found"):
        load_rgb(tmp_path / "nothere.png")


def _png_header_only(path, width, height):
    """A PNG whose header announces width x height; its pixel data is never reached."""
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))


def test_huge_image_refused_before_decoding(tmp_path):
    _png_header_only(tmp_path / "huge.png", 20000, 20000)
    assert 20000 * 20000 > MAX_PIXELS
    with pytest.raises(BenchError, match=r"huge.png: .*exceeds the limit of 40,000,000 pixels"):
        load_rgb(tmp_path / "huge.png")


def test_save_png_round_trip_and_leaves_no_temp(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    save_png(tmp_path / "x" / "a.png", image)
    assert np.array_equal(load_rgb(tmp_path / "x" / "a.png"), image)
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["a.png"]
