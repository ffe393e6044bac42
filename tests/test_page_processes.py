"""The page's multi-process path: Train with 2 processes runs `accelerate launch` (DDP over
gloo on CPU) in a subprocess; the charts read the same run dir; Stop ends the whole tree."""

import time

import psutil
import tiny

from finetune_core import runs
from finetune_core.jobs.manager import MANAGER
from finetune_core.ui import train_tab


def test_two_process_run_from_the_page(tiny_bert, text_csv, tmp_path):
    values = tiny.form(
        model=str(tiny_bert),
        dataset=str(text_csv),
        epochs=50,
        batch_size=4,
        max_length=16,
        logging_steps=1,
        save_steps=1000,
        seed=1,
        output_dir=None,
    )
    owner, job_id, note = train_tab.start(None, values, None, processes=2)
    assert job_id, note
    job = MANAGER.get(job_id, owner)
    assert job.process is not None, "two processes run as an accelerate subprocess"
    deadline = time.monotonic() + 240
    while True:
        p = train_tab.poll(owner, job_id, False, -1)
        points = [r for r in runs.read_metrics(job.run_dir) if "loss" in r]
        if len(points) >= 2:
            break
        assert job.process.poll() is None, (job.run_dir / "launcher.log").read_text()[-2000:]
        assert time.monotonic() < deadline, "no loss points from the subprocess run"
        time.sleep(0.5)
    assert "figures" in p
    tree = [psutil.Process(job.process.pid), *psutil.Process(job.process.pid).children(True)]
    assert sum("finetune_core" in " ".join(c.cmdline()) for c in tree[1:]) >= 2
    assert "Stopping" in train_tab.stop(owner, job_id)
    job.thread.join(180)
    assert job.state == "finished"
    _, alive = psutil.wait_procs(tree, timeout=30)
    assert not alive, [c.cmdline() for c in alive]
    assert runs.read_run(job.run_dir).state == "stopped"
