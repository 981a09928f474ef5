"""CUT's PatchNCE: the InfoNCE over patches against values computed by hand, negatives only from
the same image, keys detached; a translator trained with it (loss="cut") learns, and the job
writes a CUT run that pixel_da can read."""

from __future__ import annotations

import math

import torch

from engine.gan.patchnce import PatchProjector, nce_loss, patch_nce
from engine.gan.translate import TranslatorTrainer
from engine.gan.translate_nets import NCE_LAYERS, TranslatorG
from engine.jobs.gan_translate import JOB, TranslateConfig, TranslateRequest
from engine.methods.pixel_da import _load_translator
from engine.training.checkpoints import load_checkpoint


def test_patch_nce_matches_the_hand_computed_value():
    eye = torch.eye(2).unsqueeze(0)  # 1 image, 2 patches, 2 dims: each query equals its own key
    assert math.isclose(patch_nce(eye, eye, tau=0.5).item(), math.log(1 + math.exp(-2)), rel_tol=1e-6)

    q = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]])
    k = torch.tensor([[[0.6, 0.8], [1.0, 0.0], [0.0, 1.0]]])
    # row i: -log(exp(q_i.k_i) / sum_j exp(q_i.k_j)) with tau = 1
    rows = [
        -math.log(math.exp(0.6) / (math.exp(0.6) + math.exp(1.0) + math.exp(0.0))),
        -math.log(math.exp(0.0) / (math.exp(0.8) + math.exp(0.0) + math.exp(1.0))),
        -math.log(math.exp(0.8) / (math.exp(1.0) + math.exp(0.6) + math.exp(0.8))),
    ]
    assert math.isclose(patch_nce(q, k, tau=1.0).item(), sum(rows) / 3, rel_tol=1e-6)

    # negatives come from the same image only: two images are the mean of each alone
    both = patch_nce(torch.cat([q, eye[:, :1].expand(1, 3, 2)]), torch.cat([k, k.flip(1)]), tau=1.0)
    alone = patch_nce(eye[:, :1].expand(1, 3, 2), k.flip(1), tau=1.0)
    assert math.isclose(both.item(), (sum(rows) / 3 + alone.item()) / 2, rel_tol=1e-6)


def test_keys_are_detached_and_patches_share_locations():
    q = torch.nn.functional.normalize(torch.randn(2, 5, 4), dim=-1).requires_grad_()
    k = torch.nn.functional.normalize(torch.randn(2, 5, 4), dim=-1).requires_grad_()
    patch_nce(q, k).backward()
    assert q.grad is not None and q.grad.abs().sum() > 0 and k.grad is None

    g = TranslatorG(4)
    proj = PatchProjector(TranslatorG.encoder_channels(4))
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    feats = g.encode(x)
    assert len(feats) == len(NCE_LAYERS) and [f.shape[1] for f in feats] == TranslatorG.encoder_channels(4)
    keys, ids = proj(feats, 8)
    queries, ids2 = proj(g.encode(x), 8, ids)
    assert all(torch.equal(a, b) for a, b in zip(ids, ids2, strict=True)) and keys[0].shape == (2, 8, 64)
    assert all(torch.allclose(a, b) for a, b in zip(keys, queries, strict=True))  # same image: same patches
    assert nce_loss(g, proj, x, x, 8).item() < nce_loss(g, proj, x, x.flip(0), 8).item()


def test_cut_translator_learns_with_few_steps():
    torch.manual_seed(0)
    blobs = torch.nn.functional.interpolate(torch.rand(32, 1, 4, 4), size=16, mode="bilinear", align_corners=False)
    grey = (blobs * 255).to(torch.uint8).expand(32, 3, 16, 16).contiguous()
    red = grey.clone()
    red[:, 1:] = 0
    t = TranslatorTrainer(grey, torch.zeros(32, dtype=torch.long), red[torch.randperm(32)], width=8, batch_size=8,
                          lr=2e-3, loss="cut", nce_patches=32)  # fmt: skip
    assert not hasattr(t, "g_ts") and "projector" in t.state_dict()
    first = t.train_step()
    assert set(first) == {"g_loss", "d_loss", "nce"} and first["nce"] > 0.5 * math.log(32)  # near chance at first
    later = [t.train_step()["nce"] for _ in range(40)]
    assert sum(later[-10:]) / 10 < 0.6 * first["nce"]  # the patches of a translation find their inputs


def test_job_with_the_cut_loss_writes_a_run_pixel_da_reads(tmp_path, tiny_demo):
    cfg = TranslateConfig(source=tiny_demo.source, target=tiny_demo.target_train, out=tmp_path / "t", steps=2,
                          batch_size=4, width=4, device="cpu", runs_dir=tmp_path / "runs", loss="cut", nce_patches=16)  # fmt: skip
    report = JOB.run(TranslateRequest(config=cfg))
    assert report.status == "finished" and report.loss == "cut" and report.written == 120
    state = load_checkpoint(report.run_dir / "checkpoints" / "last.pt")
    assert state["loss"] == "cut" and "projector" in state and "g_ts" not in state
    assert isinstance(_load_translator(report.run_dir, 32), TranslatorG)
