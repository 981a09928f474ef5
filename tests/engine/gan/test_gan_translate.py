"""Translation job on tiny demo data: the translated source keeps its class folders and file
count, semantic consistency uses a source classifier run, the translator learns the cycle, and
bad input (a classifier of other classes, an unlabelled source, a used out folder) is refused."""

from __future__ import annotations

import shutil

import pytest
import torch
from PIL import Image

from engine.core.config import TrainConfig
from engine.core.errors import UserError
from engine.gan.translate import TranslatorTrainer
from engine.jobs.gan_translate import JOB, TranslateConfig, TranslateRequest
from engine.training.trainer import run_train


def _cfg(tmp_path, demo, **kw):
    base = {"source": demo.source, "target": demo.target_train, "out": tmp_path / "translated", "steps": 2,
            "batch_size": 4, "width": 4, "device": "cpu", "runs_dir": tmp_path / "runs", "sample_every": 1}  # fmt: skip
    return TranslateRequest(config=TranslateConfig.model_validate({**base, **kw}))


def test_translate_writes_the_labelled_source_in_target_style(tmp_path, tiny_demo):
    clf = run_train(
        TrainConfig(source=tiny_demo.source, epochs=1, batch_size=32, runs_dir=tmp_path / "clf", device="cpu")
    )
    report = JOB.run(_cfg(tmp_path, tiny_demo, classifier=clf.run_dir, diffaugment="color"))
    assert report.status == "finished" and report.semantic and "semantic" in report.metrics
    out = tmp_path / "translated"
    src_counts = {d.name: len(list(d.iterdir())) for d in tiny_demo.source.iterdir() if d.is_dir()}
    assert {d.name: len(list(d.iterdir())) for d in out.iterdir()} == src_counts
    assert Image.open(next((out / "4").iterdir())).size == (32, 32)
    grid = Image.open(report.run_dir / "samples" / "latest.png")
    assert grid.size == (8 * 34 + 2, 2 * 34 + 2)  # 8 sources above their 8 translations
    assert (report.run_dir / "checkpoints" / "last.pt").is_file()

    with pytest.raises(UserError, match="not an empty folder"):
        JOB.run(_cfg(tmp_path, tiny_demo))
    three = tmp_path / "three"
    for c in "012":
        shutil.copytree(tiny_demo.source / c, three / c)
    with pytest.raises(UserError, match="differ from the source folder"):
        JOB.run(_cfg(tmp_path, tiny_demo, source=three, out=tmp_path / "o2", classifier=clf.run_dir))
    with pytest.raises(UserError, match="class sub-folders"):
        JOB.run(_cfg(tmp_path, tiny_demo, source=tiny_demo.target_train, out=tmp_path / "o3"))


def test_translator_learns_a_colour_shift_and_its_cycle():
    torch.manual_seed(0)
    blobs = torch.nn.functional.interpolate(torch.rand(64, 1, 4, 4), size=32, mode="bilinear", align_corners=False)
    grey = (blobs * 255).to(torch.uint8).expand(64, 3, 32, 32).contiguous()  # smooth grey shapes
    red = grey.clone()
    red[:, 1:] = 0  # the target: the same kind of images, red only
    red = red[torch.randperm(64)]
    t = TranslatorTrainer(grey, torch.zeros(64, dtype=torch.long), red, width=8, batch_size=16, lr=2e-3)
    before = t.translate(grey[:16]).float()
    t.fit(150)
    after = t.translate(grey[:16]).float()
    # green and blue channels fall towards the target's zero; red keeps the image's content
    assert after[:, 1:].mean() < 0.5 * before[:, 1:].mean()
    corr = torch.corrcoef(torch.stack([after[:, 0].flatten(), grey[:16, 0].float().flatten()]))[0, 1]
    # the content survives up to an invertible mapping: the cycle loss alone allows an inversion of
    # intensities (it happens here), which is why the semantic-consistency loss exists
    assert abs(corr) > 0.5
