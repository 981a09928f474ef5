"""open_rgb on good and bad files of every kind, and the shared preprocessing."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from engine.core.errors import UnreadableImage, UserError
from engine.data.images import (
    IMAGE_EXTENSIONS,
    is_image_path,
    load_for_model,
    open_rgb,
    open_rgb_with_info,
    resize_center_crop,
    to_chw_float,
)


def reason_of(path, **kw) -> str:
    with pytest.raises(UnreadableImage) as info:
        open_rgb(path, **kw)
    assert info.value.path == str(path)
    assert isinstance(info.value, UserError)
    return info.value.reason


def truncate(path, keep: float = 0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def test_extensions_are_case_insensitive():
    assert {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"} == set(IMAGE_EXTENSIONS)
    assert is_image_path("a/B.JPG") and is_image_path("x.TiFf") and is_image_path("y.webp")
    assert not is_image_path("notes.txt") and not is_image_path("png") and not is_image_path("a.png.bak")


@pytest.mark.parametrize("name,fmt", [("t.png", "PNG"), ("t.jpg", "JPEG"), ("t.gif", "GIF"), ("t.bmp", "BMP")])
def test_truncated_files(tmp_path, noise, name, fmt):
    path = truncate(noise(tmp_path / name, seed=1, size=(64, 64), fmt=fmt))
    assert reason_of(path) == "truncated image data"


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert reason_of(path) == "empty file (0 bytes)"


def test_text_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\n")
    assert reason_of(path) == "not an image (could not identify format)"


def test_missing_file(tmp_path):
    assert reason_of(tmp_path / "nope.png") == "file not found"


def test_bomb_refused_by_max_pixels(tmp_path, png):
    path = png(tmp_path / "big.png", size=(20, 10))
    assert reason_of(path, max_pixels=100) == "larger than the decompression-bomb limit (20×10 = 200 pixels > 100)"
    assert open_rgb(path, max_pixels=200).size == (20, 10)


@pytest.mark.parametrize("limit", [150, 90])  # PIL's warning zone (limit..2*limit) and its hard error (>2*limit)
def test_bomb_refused_by_pil_limit_even_when_warnings_are_errors(tmp_path, png, monkeypatch, limit):
    path = png(tmp_path / "big.png", size=(20, 10))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reason = reason_of(path)
    assert reason.startswith("larger than the decompression-bomb limit (")
    assert "200 pixels" in reason


def test_grayscale_becomes_equal_rgb(tmp_path):
    path = tmp_path / "g.png"
    Image.fromarray(np.array([[0, 100], [200, 255]], dtype=np.uint8), "L").save(path)
    img, info = open_rgb_with_info(path)
    arr = np.asarray(img)
    assert img.mode == "RGB" and info.mode == "L" and info.format == "PNG"
    assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()
    assert arr[1, 0, 0] == 200


def test_one_bit_image(tmp_path):
    path = tmp_path / "b.png"
    Image.fromarray(np.array([[0, 1], [1, 0]], dtype=bool)).save(path)
    arr = np.asarray(open_rgb(path))
    assert arr[0, 0].tolist() == [0, 0, 0] and arr[0, 1].tolist() == [255, 255, 255]


@pytest.mark.parametrize(
    "mode,transparent,opaque", [("RGBA", (255, 0, 0, 0), (0, 0, 255, 255)), ("LA", (0, 0), (50, 255))]
)
def test_alpha_composited_on_white(tmp_path, mode, transparent, opaque):
    img = Image.new(mode, (2, 1))
    img.putpixel((0, 0), transparent)
    img.putpixel((1, 0), opaque)
    path = tmp_path / "a.png"
    img.save(path)
    arr = np.asarray(open_rgb(path))
    assert arr[0, 0].tolist() == [255, 255, 255]
    expected = list(opaque[:3]) if mode == "RGBA" else [opaque[0]] * 3
    assert arr[0, 1].tolist() == expected


def test_half_transparent_pixel_blends(tmp_path):
    path = tmp_path / "h.png"
    Image.new("RGBA", (1, 1), (0, 0, 0, 128)).save(path)
    value = np.asarray(open_rgb(path))[0, 0, 0]
    assert 120 <= value <= 135


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (2, 2), 0)
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.putpixel((1, 1), 1)
    img.info["transparency"] = 0
    path = tmp_path / "p.png"
    img.save(path, transparency=0)
    img2, info = open_rgb_with_info(path)
    arr = np.asarray(img2)
    assert info.mode == "P"
    assert arr[0, 0].tolist() == [255, 255, 255]
    assert arr[1, 1].tolist() == [0, 255, 0]


def test_palette_gif(tmp_path):
    img = Image.new("P", (2, 2), 1)
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    path = tmp_path / "p.gif"
    img.save(path)
    assert np.asarray(open_rgb(path))[0, 0].tolist() == [0, 0, 255]


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "d.png"
    Image.fromarray(np.array([[0, 257 * 128, 65535, 1000]], dtype=np.uint16)).save(path)
    img, info = open_rgb_with_info(path)
    assert info.mode.startswith("I")
    assert np.asarray(img)[0, :, 0].tolist() == [0, 128, 255, 4]


def test_thirty_two_bit_int_and_float_tiff(tmp_path):
    ipath, fpath = tmp_path / "i.tif", tmp_path / "f.tif"
    Image.fromarray(np.array([[0, 30000, 65535]], dtype=np.int32), "I").save(ipath)
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32), "F").save(fpath)
    assert np.asarray(open_rgb(ipath))[0, :, 1].tolist() == [0, 117, 255]
    assert np.asarray(open_rgb(fpath))[0, :, 2].tolist() == [0, 128, 255]


def test_float_outside_unit_range_is_normalised(tmp_path):
    path = tmp_path / "f.tif"
    Image.fromarray(np.array([[-5.0, 0.0, 5.0]], dtype=np.float32), "F").save(path)
    assert np.asarray(open_rgb(path))[0, :, 0].tolist() == [0, 128, 255]


def test_cmyk_jpeg(tmp_path):
    path = tmp_path / "c.jpg"
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(path, quality=95)
    img, info = open_rgb_with_info(path)
    r, g, b = np.asarray(img)[4, 4].tolist()
    assert info.mode == "CMYK" and img.mode == "RGB"
    assert r > 200 and g < 60 and b < 60


def test_exif_rotated_jpeg_swaps_dimensions(tmp_path):
    img = Image.new("RGB", (40, 20), (200, 0, 0))
    img.paste((0, 0, 200), (0, 0, 10, 20))  # blue strip on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "r.jpg"
    img.save(path, exif=exif.tobytes(), quality=95)
    out, info = open_rgb_with_info(path)
    assert out.size == (20, 40) and (info.width, info.height) == (20, 40)
    top = np.asarray(out)[2, 10]
    assert top[2] > 150 and top[0] < 80  # the left strip is now on top


def test_webp_and_tiff_roundtrip(tmp_path, noise):
    for name in ("a.webp", "a.tiff"):
        assert open_rgb(noise(tmp_path / name, seed=3, size=(9, 7))).size == (9, 7)


def test_resize_center_crop_shorter_side_and_centre():
    img = Image.new("RGB", (60, 20), (255, 0, 0))
    img.paste((0, 255, 0), (20, 0, 40, 20))  # green middle third
    out = resize_center_crop(img, 10)
    assert out.size == (10, 10)
    arr = np.asarray(out)
    assert (arr[:, 2:8, 1] > 200).all() and (arr[:, 2:8, 0] < 50).all()
    tall = resize_center_crop(Image.new("RGB", (7, 30)), 14)
    assert tall.size == (14, 14)
    assert resize_center_crop(Image.new("RGB", (5, 5)), 5).size == (5, 5)
    assert resize_center_crop(Image.new("RGB", (3, 4)), 32).size == (32, 32)  # upscales small images
    with pytest.raises(ValueError):
        resize_center_crop(img, 0)


def test_resize_is_antialiased():
    stripes = np.zeros((64, 64, 3), dtype=np.uint8)
    stripes[:, ::2] = 255  # 1-pixel stripes: bilinear without antialiasing would alias to 0 or 255
    arr = np.asarray(resize_center_crop(Image.fromarray(stripes), 8)).astype(int)
    assert 100 < arr.mean() < 155 and arr.std() < 20


def test_to_chw_float_and_load_for_model(tmp_path, png):
    x = to_chw_float(Image.new("RGB", (4, 3), (255, 0, 51)))
    assert x.shape == (3, 3, 4) and x.dtype == np.float32
    assert x[0].min() == 1.0 and x[1].max() == 0.0 and np.allclose(x[2], 0.2)
    y = load_for_model(png(tmp_path / "x.png", size=(30, 10)), 6)
    assert y.shape == (3, 6, 6) and 0.0 <= y.min() <= y.max() <= 1.0
