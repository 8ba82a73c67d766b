"""A writer killed with SIGKILL mid-run, then resumed: every counted sample readable, no
duplicate, no gap."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from intersyn.data.dataset import open_dataset
from intersyn.data.parquet import finalize
from intersyn.data.store import RunStore
from tests.data.helpers import png

TOTAL = 40
KILL_AFTER = 12

WRITER = r"""
import sys
from pathlib import Path
from intersyn.data.store import RunStore
from tests.data.helpers import make_sample

root, total = Path(sys.argv[1]), int(sys.argv[2])
store = RunStore(root)
done = store.done_ids()                      # --resume: skip what is already durable
for i in range(total):
    sid = f"s{i:05d}"
    if sid in done:
        continue
    store.commit(make_sample(store, i, turns=2))
    print(f"counted {sid}", flush=True)      # counted only after commit() returned
store.close()
"""


def _writer(root: Path) -> subprocess.Popen[str]:
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(repo)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), str(TOTAL)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=repo,
        env=env,
    )


def test_sigkill_mid_run_then_resume_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    proc = _writer(tmp_path)
    assert proc.stdout is not None
    counted = []
    for line in proc.stdout:
        counted.append(line.split()[1])
        if len(counted) == KILL_AFTER:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    # Every counted sample is durable and readable, with its images.
    ds = open_dataset(tmp_path)
    first = {s.id: s for s in ds.samples()}
    assert set(counted) <= set(first)
    for sid in counted:
        assert ds.image_bytes(first[sid], 1) == png(int(sid[1:]) * 10 + 1)

    # Resume: the same writer skips done ids and finishes the run.
    resumed = _writer(tmp_path)
    out, _ = resumed.communicate(timeout=120)
    assert resumed.returncode == 0
    assert not set(line.split()[1] for line in out.splitlines()) & set(first)

    records = [r["id"] for r in RunStore(tmp_path)._samples.read()]
    assert len(records) == len(set(records)) == TOTAL  # no duplicate
    assert set(records) == {f"s{i:05d}" for i in range(TOTAL)}  # no gap

    finalize(tmp_path)
    final = open_dataset(tmp_path / "data")
    assert [s.id for s in final.samples()] == [f"s{i:05d}" for i in range(TOTAL)]
