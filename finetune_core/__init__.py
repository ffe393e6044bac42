"""finetune_core: the engine under the fine-tuning dashboard (no gradio here)."""

import os

# datasets sends a HEAD request to its S3 bucket on every load of a local CSV/JSON file (a
# download counter for its packaged loaders). A local tool has no reason to tell anyone
# that a user opened a file: off unless the user turns it on.
os.environ.setdefault("HF_UPDATE_DOWNLOAD_COUNTS", "0")

__version__ = "0.1.0"
