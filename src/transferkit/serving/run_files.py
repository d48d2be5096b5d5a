"""Reading a run's own files, where any fault means the run directory is damaged, and
the references a run keeps to models outside it.

A run is checked before its weights load: a missing file, JSON that does not parse or a
truncated safetensors file is named in one `UserError` line that says the run is damaged,
instead of the traceback of whichever library tripped over it. A safetensors file is
checked from its header alone (its length and every tensor's byte range), which also
gives the shapes the label list must agree with, without reading the weights.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Callable, TypeVar

from transferkit.errors import UserError

T = TypeVar("T")
DAMAGED = "the run directory is damaged; retrain it, or restore it from a copy"


def damaged(path: str | Path, what: str) -> UserError:
    return UserError(str(path), f"{what}; {DAMAGED}")


def require_file(path: Path) -> Path:
    if not path.is_file():
        raise damaged(path, "missing" if not path.exists() else "not a regular file")
    return path


def read_json(path: Path):
    """A JSON file of the run, parsed."""
    try:
        text = require_file(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise damaged(path, f"cannot be read ({e.__class__.__name__})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise damaged(path, f"not valid JSON (line {e.lineno}: {e.msg})") from None


def safetensors_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor name → shape, from the header of a safetensors file checked to be whole:
    the header parses and every tensor's bytes lie inside the file."""
    require_file(path)
    size = path.stat().st_size
    try:
        with path.open("rb") as f:
            (header_length,) = struct.unpack("<Q", f.read(8))
            if header_length > size - 8:
                raise ValueError("header runs past the end")
            header = json.loads(f.read(header_length))
        data = size - 8 - header_length
        tensors = {name: t for name, t in header.items() if name != "__metadata__"}
        if any(t["data_offsets"][1] > data for t in tensors.values()):
            raise ValueError("tensor data runs past the end")
        return {name: list(t["shape"]) for name, t in tensors.items()}
    except (struct.error, ValueError, KeyError, TypeError, IndexError):
        raise damaged(path, "truncated or not a safetensors file") from None


def check_transformers_dir(model_dir: Path) -> dict:
    """A transformers model directory's `config.json`, once its weights are checked whole
    (one `model.safetensors`, or the shards its index names)."""
    config = read_json(model_dir / "config.json")
    index = model_dir / "model.safetensors.index.json"
    shards = sorted(set(read_json(index).get("weight_map", {}).values())) if index.exists() else ["model.safetensors"]
    for shard in shards:
        safetensors_shapes(model_dir / shard)
    return config


def load_or_explain(path: Path, load: Callable[[], T]) -> T:
    """`load()` (a `from_pretrained` of a run's folder, after the checks above): what it
    still cannot read (a damaged tokenizer file, a config of an unknown architecture) is
    a damaged run, not a bug."""
    try:
        return load()
    except UserError:
        raise
    except Exception as e:  # transformers and tokenizers raise OSError, ValueError, KeyError, or plain Exception
        first_line = (str(e).strip().splitlines() or [""])[0][:200]
        raise damaged(path, f"cannot be loaded ({e.__class__.__name__}: {first_line})") from None


def model_reference(name: str) -> str:
    """How a run refers to a model outside it: an offline name as the name (it resolves
    on any machine where its package is installed), a local directory by its absolute
    path, a hub id as the id."""
    from transferkit.models.zoo import OFFLINE_MODELS

    if name in OFFLINE_MODELS:
        return name
    path = Path(name).expanduser()
    return str(path.resolve()) if path.is_dir() else name


def resolve_reference(reference: str, where: Path) -> str:
    """The loadable path or hub id of a `model_reference` (or of an absolute path, as
    older runs stored); `where` is the run file holding the reference."""
    from transferkit.models.zoo import OFFLINE_MODELS, resolve_model

    if reference not in OFFLINE_MODELS and reference.startswith(("/", "~")) and not Path(reference).expanduser().is_dir():
        raise UserError(str(where), f"refers to the model {reference}, which is not on this machine; restore it there, or retrain the run")
    return resolve_model(reference)
