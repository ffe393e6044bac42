"""One action in its own process, for a hosted visitor (jobs/actions.py starts it):

    python -m finetune_core.jobs.worker WORK_DIR

It reads WORK_DIR/request.json and writes WORK_DIR/result.json; its environment is the
visitor's (visitor_env.py), so the only token in reach is theirs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python -m finetune_core.jobs.worker WORK_DIR", file=sys.stderr)
        return 2
    from finetune_core.jobs.actions import execute
    from finetune_core.train import device

    device.configure_threads()  # FINETUNE_NUM_THREADS: the web server keeps a core
    execute(Path(argv[0]), os.environ.get("HF_TOKEN") or None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
