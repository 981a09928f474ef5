"""decode_domain, augmentation presets and the per-sample dataset (torch side of the data layer)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from engine.core.control import JobControl, Stopped
from engine.core.errors import UserError
from engine.data.folders import scan_domain
from engine.data.images import open_rgb, resize_center_crop
from engine.data.loading import DecodedDomain, TensorImageDataset, decode_domain, make_transform


@pytest.fixture
def domain(tmp_path, labelled):
    root = labelled(tmp_path / "src", {"a": 3, "b": 4})
    Image.new("RGB", (40, 20), (0, 255, 0)).save(root / "a" / "wide.png")
    (root / "b" / "broken.png").write_bytes(b"not a png")
    return scan_domain(root)


@pytest.mark.parametrize("workers", [0, 1])
def test_decode_domain_shapes_labels_skipped(domain, workers):
    seen = []
    dd = decode_domain(domain, 12, workers=workers, progress=lambda d, t: seen.append((d, t)))
    assert isinstance(dd, DecodedDomain) and len(dd) == 8
    assert dd.images.shape == (8, 3, 12, 12) and dd.images.dtype == torch.uint8
    assert dd.labels.dtype == torch.int64 and dd.labels.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert dd.classes == ["a", "b"] and len(dd.paths) == 8
    assert dd.skipped == [(str(domain.root / "b" / "broken.png"), "not an image (could not identify format)")]
    assert seen[-1] == (9, 9)
    i = dd.paths.index(str(domain.root / "a" / "wide.png"))
    assert dd.images[i, 1].min() == 255 and dd.images[i, 0].max() == 0
    # identical pixels to the shared preprocessing used by ONNX prediction
    ref = np.asarray(resize_center_crop(open_rgb(dd.paths[0]), 12)).transpose(2, 0, 1)
    assert np.array_equal(dd.images[0].numpy(), ref)


def test_decode_unlabelled_and_stop(tmp_path, noise):
    for i in range(100):
        noise(tmp_path / "t" / f"{i:03d}.png", seed=i)
    d = scan_domain(tmp_path / "t")
    dd = decode_domain(d, 8)
    assert dd.labels.tolist() == [-1] * 100 and dd.classes == []
    control = JobControl()
    control.stop()
    with pytest.raises(Stopped):
        decode_domain(d, 8, control=control)
    with pytest.raises(UserError):
        decode_domain(d, 0)


@pytest.mark.parametrize("preset", ["none", "light", "strong"])
def test_transform_output_range_dtype(preset):
    x = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    t = make_transform(preset, 16)
    for _ in range(5):
        y = t(x)
        assert y.dtype == torch.float32 and y.shape == (3, 16, 16)
        assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    if preset == "none":
        assert torch.allclose(t(x), x.float() / 255)


def test_bad_preset():
    with pytest.raises(UserError, match="heavy"):
        make_transform("heavy", 16)  # type: ignore[arg-type]


def test_dataset_draws_randomness_per_sample():
    torch.manual_seed(0)
    img = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    images = img.expand(8, 3, 16, 16).contiguous()  # eight identical images
    ds = TensorImageDataset(images, torch.arange(8), make_transform("light", 16))
    batch = torch.stack([ds[i][0] for i in range(8)])
    assert len({tuple(b.flatten()[:50].tolist()) for b in batch}) > 1
    x, y = ds[3]
    assert y.item() == 3 and x.dtype == torch.float32
    plain = TensorImageDataset(images, torch.arange(8))
    assert torch.allclose(plain[0][0], img.float() / 255)
    with pytest.raises(ValueError):
        TensorImageDataset(images.float(), torch.arange(8))
    with pytest.raises(ValueError):
        TensorImageDataset(images, torch.arange(3))


def test_no_torch_in_the_onnx_side_of_the_data_layer():
    code = (
        "import sys; import engine.data, engine.data.images, engine.data.folders, engine.data.health, "
        "engine.data.split, engine.data.demo; "
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'torchvision'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
