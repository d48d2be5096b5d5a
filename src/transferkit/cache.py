"""The one home of transferkit's cache folder: `$TRANSFERKIT_CACHE`, else
`~/.cache/transferkit`. Frozen-encoder embeddings (`features/`) and models built once from
a packaged file (`models/`) live under it."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("TRANSFERKIT_CACHE") or Path.home() / ".cache" / "transferkit")
