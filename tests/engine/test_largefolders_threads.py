"""The CPU threads setting: its default leaves a core, the CLI and config carry it, the log shows it."""

from __future__ import annotations

import os

import pytest
import torch

from engine.cli import main
from engine.core.config import TrainConfig, read_toml
from engine.data import decode
from engine.training.devices import apply_threads


@pytest.fixture
def keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(("cores", "want"), [(1, 1), (2, 1), (8, 7), (64, 63)])
def test_default_leaves_the_window_a_core(monkeypatch, keep_threads, cores, want):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)), raising=False)
    assert decode.default_threads() == want
    assert apply_threads(None) == (want, cores) and torch.get_num_threads() == want
    assert apply_threads(3) == (3, cores) and torch.get_num_threads() == 3  # as set, even above the default


def test_threads_and_cache_memory_validated_in_the_config(tiny_demo):
    cfg = TrainConfig(source=tiny_demo.source)
    assert cfg.threads is None and cfg.cache_memory_mb is None  # defaults: all cores but one, 1/4 of free RAM
    with pytest.raises(ValueError, match="threads"):
        TrainConfig(source=tiny_demo.source, threads=0)
    with pytest.raises(ValueError, match="cache_memory_mb"):
        TrainConfig(source=tiny_demo.source, cache_memory_mb=-5)


def test_cli_flags_reach_the_run_config_and_the_log(tiny_demo, tmp_path, capsys, keep_threads):
    rc = main(
        [
            "train",
            "--source",
            str(tiny_demo.source),
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--threads",
            "1",
            "--cache-memory",
            "0",
            "--runs-dir",
            str(tmp_path / "runs"),
            "--quiet",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "CPU threads: 1 of" in out and "as set" in out
    assert "reading them from the disk cache batch by batch" in out  # a budget of 0 MB: all on disk
    (run,) = (tmp_path / "runs").iterdir()
    saved = read_toml(run / "config.toml")
    assert saved["threads"] == 1 and saved["cache_memory_mb"] == 0  # a repeat of the run keeps them
    assert torch.get_num_threads() == 1


def test_cache_command_reports_and_clears(tiny_demo, tmp_path, capsys, monkeypatch):
    from engine.data import image_cache
    from engine.data.folders import scan_domain
    from engine.data.loading import decode_domain

    monkeypatch.setattr(image_cache, "cache_dir_override", tmp_path / "c")
    decode_domain(scan_domain(tiny_demo.source), 16)
    assert main(["cache"]) == 0 and "in 1 folder(s)" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0 and "MB freed" in capsys.readouterr().out
    assert image_cache.bundles() == []
