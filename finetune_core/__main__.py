"""`python -m finetune_core ...` (also what torchrun and accelerate launch run)."""

import sys

from finetune_core.cli import main

sys.exit(main())
