"""Sampling, scoring and export of a GAN run: labelled sample folders, scores that rank a real
set above noise, ONNX parity with PyTorch, and sampling the export with torch blocked."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from engine.core.errors import UserError
from engine.data.folders import scan_domain
from engine.data.loading import decode_domain
from engine.gan.evaluate import score_images
from engine.gan.features import make_extractor
from engine.jobs import gan_export, gan_sample, gan_score


def test_sample_per_class_writes_a_labelled_folder(gan_run, tmp_path):
    out = tmp_path / "samples"
    report = gan_sample.JOB.run(gan_sample.GanSampleConfig(run_dir=gan_run, n=3, out=out, per_class=True))
    assert report.written == 30 and sorted(p.name for p in out.iterdir()) == [str(d) for d in range(10)]
    assert all(len(list((out / c).glob("*.png"))) == 3 for c in report.classes)
    assert Image.open(next((out / "7").glob("*.png"))).size == (32, 32)
    with pytest.raises(UserError, match="not an empty folder"):
        gan_sample.JOB.run(gan_sample.GanSampleConfig(run_dir=gan_run, n=3, out=out))
    with pytest.raises(UserError, match="not a GAN run"):
        gan_sample.JOB.run(gan_sample.GanSampleConfig(run_dir=tmp_path, n=3, out=tmp_path / "x"))


def test_score_ranks_real_images_above_a_weak_generator(gan_run, tiny_demo, tmp_path):
    report = gan_score.JOB.run(gan_score.GanScoreConfig(run_dir=gan_run, real=tiny_demo.source, n_fake=120))
    assert report.n_real == 120 and report.n_fake == 120
    assert report.kid > 0.05 and report.fid > 0 and "not with published Inception" in report.note
    assert 0 <= report.precision <= 1 and 0 <= report.coverage <= 1

    src = decode_domain(scan_domain(tiny_demo.source), 32).images.float() / 255
    tst = decode_domain(scan_domain(tiny_demo.target_test), 32).images.float() / 255
    near = score_images(src[:60], src[60:])  # two halves of one domain
    far = score_images(src[:60], tst)  # grey digits against textured digits
    assert near["kid"] < 0.2 * far["kid"] and near["fid"] < far["fid"]
    assert make_extractor(None)[0](torch.rand(2, 3, 32, 32)).shape == (2, 960)


def test_export_parity_and_sampling_without_torch(gan_run, tmp_path):
    onnx_path = tmp_path / "G.onnx"
    report = gan_export.JOB.run(gan_export.GanExportConfig(run_dir=gan_run, out=onnx_path))
    assert report.passed and report.max_abs_diff < 1e-4 and report.num_classes == 10 and report.image_size == 32
    # the exported file samples in a process where importing torch fails
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np\n"
        "from engine.gan.onnx_sampler import open_generator, onnx_sample, sample_noise\n"
        f"s, info = open_generator({str(onnx_path)!r})\n"
        "out = onnx_sample(s, info, sample_noise(4, info['z_dim'], 0), np.arange(4))\n"
        "print(out.shape, float(out.min()) >= 0, float(out.max()) <= 1)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "(4, 3, 32, 32) True True"
    # the sample job on the ONNX file gives the same images as on the run
    a, b = tmp_path / "from_run", tmp_path / "from_onnx"
    gan_sample.JOB.run(gan_sample.GanSampleConfig(run_dir=gan_run, n=6, out=a, seed=5))
    gan_sample.JOB.run(gan_sample.GanSampleConfig(run_dir=onnx_path, n=6, out=b, seed=5))
    for p in sorted(a.glob("*.png")):
        diff = np.abs(np.asarray(Image.open(p), int) - np.asarray(Image.open(b / p.name), int))
        assert diff.max() <= 1, p.name
    with pytest.raises(UserError, match=r"\.onnx file"):
        gan_export.JOB.run(gan_export.GanExportConfig(run_dir=gan_run, out=tmp_path / "G.pt"))
    assert json.loads(report.model_dump_json())["classes"][0] == "0"
