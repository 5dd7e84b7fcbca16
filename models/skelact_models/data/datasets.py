"""Where the real skeleton datasets live: `$SKELACT_DATASETS`, else `../shared/datasets` beside the repository.

The datasets are released for research use only: they are read in place and never copied into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def datasets_root():
    """The folder that holds `nw-ucla/` and `utd-mhad/` (it may not exist)."""
    env = os.environ.get("SKELACT_DATASETS")
    return Path(env) if env else REPO.parent / "shared" / "datasets"


def dataset_dir(name):
    """`nw-ucla` or `utd-mhad` under `datasets_root()`, or None when it is absent."""
    folder = datasets_root() / name
    return folder if folder.is_dir() else None
