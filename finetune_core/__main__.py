"""`python -m finetune_core ...` (also what torchrun and accelerate launch run)."""

import sys

from finetune_core.cli.commands import main

sys.exit(main())
