"""The shared decoder: draft-mode pixels against a full decode, one decoder for train and predict."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.data.decode import TOLERANCE_MEAN_ABS, decode_all, decode_batches, decode_square
from engine.data.folders import scan_domain
from engine.data.images import load_for_model, open_rgb, open_rgb_with_info, resize_center_crop
from engine.data.loading import decode_domain
from engine.data.synthetic_photos import photo, write_photo_folder


def _full(path, size: int) -> np.ndarray:
    """The reference: decode every pixel, then resize + centre crop."""
    return np.asarray(resize_center_crop(open_rgb(path), size), dtype=np.int16)


@pytest.mark.parametrize(("wh", "size"), [((400, 300), 32), ((400, 300), 64), ((1600, 1200), 224), ((900, 1200), 112)])
def test_draft_decode_within_tolerance_of_full_decode(tmp_path, wh, size):
    errs = []
    for i in range(3):
        path = tmp_path / f"{i}.jpg"
        photo(i, i % 3, *wh).save(path, quality=90)
        got = decode_square(path, size).astype(np.int16)
        assert got.shape == (size, size, 3) and got.dtype == np.int16
        errs.append(np.abs(got - _full(path, size)).mean())
    assert max(errs) <= TOLERANCE_MEAN_ABS, errs
    # and it is really a different (cheaper) decode, not the full one under another name
    assert max(errs) > 0


def test_draft_decodes_fewer_pixels_and_reports_the_files_size(tmp_path):
    path = tmp_path / "big.jpg"
    photo(0, 1, 1600, 1200).save(path)
    img, info = open_rgb_with_info(path, draft=64)
    assert img.size == (200, 150)  # libjpeg at 1/8: both sides still >= 64
    assert (info.width, info.height) == (1600, 1200)
    small = tmp_path / "small.jpg"
    photo(0, 1, 100, 80).save(small)
    assert open_rgb_with_info(small, draft=64)[0].size == (100, 80)  # under 2x the target: full decode
    png = tmp_path / "big.png"
    photo(0, 1, 1600, 1200).save(png)
    assert open_rgb_with_info(png, draft=64)[0].size == (1600, 1200)  # draft is a JPEG feature


def test_draft_keeps_exif_rotation(tmp_path):
    path = tmp_path / "rot.jpg"
    img = photo(3, 0, 1600, 1200)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    img.save(path, exif=exif, quality=92)
    shown, info = open_rgb_with_info(path, draft=112)
    assert shown.size[1] > shown.size[0] and (info.width, info.height) == (1200, 1600)
    err = np.abs(decode_square(path, 112).astype(np.int16) - _full(path, 112)).mean()
    assert err <= TOLERANCE_MEAN_ABS


def test_training_and_prediction_see_identical_pixels(tmp_path):
    root = write_photo_folder(tmp_path / "f", 12, classes=2, width=640, height=480)
    dom = scan_domain(root)
    dec = decode_domain(dom, 48, use_cache=False)
    for i, path in enumerate(dec.paths):
        want = decode_square(path, 48).transpose(2, 0, 1)
        assert np.array_equal(dec.images[i].numpy(), want)
        as_float = load_for_model(path, 48)  # what embedding and the ONNX parity checks feed
        assert np.allclose(as_float * 255.0, want, atol=1e-3)


def test_decode_batches_order_failures_and_threads(tmp_path):
    root = write_photo_folder(tmp_path / "f", 10, classes=1)
    paths = sorted(str(p) for p in root.rglob("*.jpg"))
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 50)
    (tmp_path / "empty.png").write_bytes(b"")
    paths.insert(3, str(tmp_path / "bad.jpg"))
    paths.append(str(tmp_path / "empty.png"))
    batches = list(decode_batches(paths, 16, threads=3, batch=4))
    assert [b.start for b in batches] == [0, 4, 8] and sum(len(b) for b in batches) == 12
    allb = decode_all(paths, 16, threads=1)
    assert allb.ok.tolist() == [True] * 3 + [False] + [True] * 7 + [False]
    assert "empty" in allb.reasons[-1] and allb.reasons[3]
    assert not allb.images[3].any()  # a failed row is zeros, never stale pixels
    for k, b in enumerate(batches):  # threads and batching do not change a pixel
        assert np.array_equal(b.images, allb.images[4 * k : 4 * k + len(b)])
    assert np.array_equal(allb.images[0], decode_square(paths[0], 16).transpose(2, 0, 1))
