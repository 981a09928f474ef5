"""A translation is a run like any other: stopped (JobControl) or killed mid-way, it continues
from its last checkpoint (`resume`) and ends with the same translator, metrics rows and
translated images as a run that was never interrupted; a finished run resumed changes nothing."""

from __future__ import annotations

import pytest
import torch

from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Event, Progress
from engine.core.runs import Run, run_kind
from engine.jobs.gan_translate import JOB, TranslateConfig, TranslateRequest
from engine.training.checkpoints import load_checkpoint


def _request(tmp_path, demo, name: str, **kw) -> TranslateRequest:
    cfg = {"source": demo.source, "target": demo.target_train, "out": tmp_path / f"out-{name}", "steps": 5,
           "batch_size": 4, "width": 4, "device": "cpu", "runs_dir": tmp_path / "runs", "sample_every": 1,
           "checkpoint_every": 2, "diffaugment": "color,translation", "name": name, **kw}  # fmt: skip
    return TranslateRequest(config=TranslateConfig.model_validate(cfg))


def _same_translator(a, b) -> None:
    sa, sb = load_checkpoint(a / "checkpoints" / "last.pt"), load_checkpoint(b / "checkpoints" / "last.pt")
    assert sa["step"] == sb["step"] == 5
    for net in ("g_st", "g_ts", "d_t", "d_s"):
        for key, value in sa[net].items():
            assert torch.equal(value, sb[net][key]), f"{net}.{key} differs after the resume"


def _pngs(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.png"))}


@pytest.mark.parametrize("how", ["stopped", "killed"])
def test_interrupted_translation_resumes_to_the_uninterrupted_result(tmp_path, tiny_demo, how):
    torch.set_num_threads(1)
    whole = JOB.run(_request(tmp_path, tiny_demo, "whole"))
    assert whole.status == "finished" and whole.steps_done == 5 and run_kind(whole.run_dir) == "translate"

    control = JobControl()

    def interrupt(event: Event) -> None:
        if isinstance(event, Progress) and event.step == 3:
            if how == "stopped":
                control.stop()  # honoured before step 4: the checkpoint is written at step 3
            else:
                raise KeyboardInterrupt  # as good as a kill: the last checkpoint (step 2) is all there is

    request = _request(tmp_path, tiny_demo, "cut-short")
    if how == "stopped":
        first = JOB.run(request, interrupt, control)
        assert first.status == "stopped" and first.steps_done == 3 and first.out is None
        run_dir = first.run_dir
    else:
        with pytest.raises(KeyboardInterrupt):
            JOB.run(request, interrupt, control)
        (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.name == "cut-short"]
        assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["step"] == 2
    assert not (tmp_path / "out-cut-short").exists()

    resumed = JOB.run(TranslateRequest(resume=run_dir))
    assert resumed.status == "finished" and resumed.steps_done == 5 and resumed.written == 120
    _same_translator(whole.run_dir, run_dir)
    assert _pngs(tmp_path / "out-whole") == _pngs(tmp_path / "out-cut-short")
    steps = [row["step"] for row in Run(run_dir).metrics()]
    assert steps == [1, 2, 3, 4, 5]  # one row per check, none twice after the resume

    again = JOB.run(TranslateRequest(resume=run_dir))  # finished: nothing to do, nothing rewritten
    assert again.status == "finished" and again.written == 120 and again.steps_done == 5
    with pytest.raises(UserError, match=r"a translation run .* has no classifier.*--resume"):
        Run(run_dir).config()  # picked where a classifier run is expected: what it is and what to do


def test_pause_holds_the_translation_between_steps(tmp_path, tiny_demo):
    import threading
    import time

    control, steps, done = JobControl(), [], []

    def on(event: Event) -> None:
        if isinstance(event, Progress):
            steps.append(event.step)
            if event.step == 1:
                control.pause()  # honoured before step 2

    request = _request(tmp_path, tiny_demo, "paused", steps=2)
    worker = threading.Thread(target=lambda: done.append(JOB.run(request, on, control)))
    worker.start()
    deadline = time.monotonic() + 120
    while not steps and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    assert steps == [1] and not done  # held between the two steps
    control.resume()
    worker.join(120)
    assert steps == [1, 2] and done and done[0].status == "finished"
