"""The inference runtimes: every predictor, dev scorer and held-out loss runs its forward
passes through a runtime's `batches`; and the device and precision policy, for inference
and for the training loop (`TrainingPolicy`: the GPU fast path), lives here.

A pass over encoded items sorts them by length (longest first, so padding is minimal and
memory peaks early), pads each batch to its own longest item, and runs the model without
gradients. Two runtimes share that pass (`BatchedRuntime`): `Runtime`, torch on a device
(in eval mode, restoring the mode it was in: a dev scorer is called mid-training), and
`serving.onnx_runtime.OnnxRuntime`, an exported model on onnxruntime, which imports no
torch. Predictors read outputs through `as_array`, so they need not know which ran.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Callable

from transferkit.errors import UserError, warn

MODEL_INPUTS = ("input_ids", "token_type_ids")


def resolve_device(choice: str = "auto"):
    """`auto` is the GPU when there is one, else the CPU; `cuda` without one is an error."""
    import torch

    if choice == "cuda" and not torch.cuda.is_available():
        raise UserError("--device", "cuda: no GPU is visible here (torch.cuda.is_available() is False); use --device cpu or auto")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


def resolve_mixed_precision(choice: str, device=None) -> str:
    """The precision to train in on `device` (default: the `auto` one): `auto` is bf16 or
    fp16 on a GPU and float32 on a CPU; a precision the device lacks falls back, with a
    warning, rather than failing or being ignored silently."""
    import torch

    gpu = (device or resolve_device()).type == "cuda"
    if choice == "auto":
        return ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if gpu else "no"
    if choice in ("fp16", "bf16") and not gpu:
        warn(f"--mixed-precision {choice}", "no GPU here; training in float32")
        return "no"
    if choice == "bf16" and not torch.cuda.is_bf16_supported():
        warn("--mixed-precision bf16", "this GPU has no bfloat16; training in fp16")
        return "fp16"
    return choice


def pad_multiple(choice: int | None, device, compiled: bool) -> int:
    """`--pad-to-multiple-of` resolved: as given, else 16 with `--compile` (each new batch
    shape costs a compiled model a recompilation, and its CUDA graphs one recording each), 8
    on a GPU (tensor cores multiply in tiles of 8), 1 on a CPU (each batch as long as its
    longest item, as before: a CPU run repeats bit for bit)."""
    if choice is not None:
        return choice
    if compiled:
        return 16
    return 8 if device.type == "cuda" else 1


@dataclass(frozen=True)
class TrainingPolicy:
    """How the training loop uses its device. On a GPU, each for speed: TF32 float32
    matmuls while it trains (`fast_matmuls`), bf16 autocast, or fp16 with accelerate's
    gradient scaler where the GPU lacks bf16 (`resolve_mixed_precision`; accelerate applies
    both), a fused AdamW, and with `--compile` CUDA graphs (`reduce-overhead`: a MiniLM step
    is bound by kernel launches, not arithmetic). On a CPU none of these: a CPU run stays
    what it was, bit for bit.

    SDPA attention needs nothing here: transformers 5 loads every model that supports it
    with torch's `scaled_dot_product_attention`, eager attention only for those that do not
    (`PreTrainedModel.get_correct_attn_implementation`); asking for sdpa explicitly would
    fail on the latter. The loop reports which a model got (metrics.json `train.attention`)."""

    device: object  # torch.device
    precision: str  # accelerate's mixed_precision: no, bf16 or fp16
    fused_adamw: bool
    compile_mode: str | None  # torch.compile's mode; None: not compiled

    @classmethod
    def resolve(cls, device: str = "auto", mixed_precision: str = "auto", compiled: bool = False) -> "TrainingPolicy":
        resolved = resolve_device(device)
        gpu = resolved.type == "cuda"
        mode = ("reduce-overhead" if gpu else "default") if compiled else None
        return cls(resolved, resolve_mixed_precision(mixed_precision, resolved), fused_adamw=gpu, compile_mode=mode)

    @contextmanager
    def fast_matmuls(self):
        """TF32 float32 matmuls on a GPU while training (a bf16 run's float32 parts too),
        the process's own setting restored after: a Python caller's other work, or a
        benchmark's `Trainer` in the same process, keeps what it had."""
        import torch

        if self.device.type != "cuda":
            yield
            return
        matmul = torch.backends.cuda.matmul
        before = matmul.fp32_precision  # torch's per-backend setting: the legacy global getter fails once a backend's is set
        matmul.fp32_precision = "tf32"
        try:
            yield
        finally:
            matmul.fp32_precision = before


def as_array(value):
    """A model output as a float32 numpy array, whichever runtime produced it (torch
    tensors are copied off their device), so that predictors read outputs one way."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.astype(np.float32, copy=False)
    return value.detach().float().cpu().numpy()


def softmax(logits):
    """Softmax over the last axis of a numpy array (stable: the row maximum is subtracted)."""
    import numpy as np

    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def sigmoid(logits):
    """The logistic function of each entry of a numpy array (as tanh, which cannot overflow)."""
    import numpy as np

    return 0.5 * (1.0 + np.tanh(0.5 * logits))


class BatchedRuntime:
    """The batched forward pass every runtime shares: items sorted by length, padded per
    batch, `read(outputs, batch)` per batch. A runtime says how a padded batch reaches its
    model (`_to_model`) and what surrounds the passes (`_running`). A runtime's
    `batch_size`, where set (`predict --batch-size`), overrides the caller's."""

    batch_size: int | None = None

    def batches(self, model, items: list[dict], pad_token_id: int, read: Callable, batch_size: int = 64,
                progress: str | None = None, keys: tuple[str, ...] | None = MODEL_INPUTS, sort: bool = True,
                collate: Callable | None = None) -> list[tuple[list[int], object]]:
        """`read(outputs, batch)` for every batch of `items` (each a dict of token lists),
        as `(item indices, what read returned)` pairs; `keys` are the item fields the model
        gets (`labels` too, for a loss; None: all). `sort=False` keeps the input order (a
        collator that draws random masks). With a bar named `progress` when batches are many."""
        from transferkit.progress import batch_progress
        from transferkit.training.batching import pad_batch, sorted_batches

        batch_size = self.batch_size or batch_size
        lengths = [len(item["input_ids"]) for item in items]
        order = sorted_batches(lengths, batch_size) if sort else [list(range(i, min(i + batch_size, len(items)))) for i in range(0, len(items), batch_size)]
        out = []
        with self._running(model):
            for ids in batch_progress(order, progress):
                chosen = [{k: v for k, v in items[i].items() if keys is None or k in keys} for i in ids]
                batch = self._to_model(collate(chosen) if collate else pad_batch(chosen, pad_token_id))
                out.append((ids, read(model(**batch), batch)))
        return out

    def rows(self, model, items: list[dict], pad_token_id: int, read: Callable, **options) -> list:
        """`read(outputs, batch)` returns one row per item of the batch (a float32 array
        on the CPU); the rows come back in input order."""
        rows = [None] * len(items)
        for ids, values in self.batches(model, items, pad_token_id, read, **options):
            for row, i in enumerate(ids):
                rows[i] = values[row]
        return rows

    def _to_model(self, batch: dict):
        return batch

    def _running(self, model):
        return nullcontext()


@dataclass(frozen=True)
class Runtime(BatchedRuntime):
    """Where and how torch models run: a device, and bf16 autocast (asked for, and a GPU that has it)."""

    device: object  # torch.device
    bf16: bool = False
    batch_size: int | None = None

    @classmethod
    def create(cls, device: str = "auto", bf16: bool = False, batch_size: int | None = None) -> "Runtime":
        import torch

        resolved = resolve_device(device)
        if bf16 and not (resolved.type == "cuda" and torch.cuda.is_bf16_supported()):
            warn("--bf16", "needs a GPU with bfloat16; predicting in float32")
            bf16 = False
        return cls(resolved, bf16, batch_size)

    @classmethod
    def of(cls, model) -> "Runtime":
        """The runtime a model already sits on (a dev scorer's, during training)."""
        return cls(next(model.parameters()).device)

    def place(self, model):
        """`model` in eval mode on this runtime's device."""
        return model.to(self.device).eval()

    def load(self, model_dir, auto_class: str):
        """A run's tokenizer and `auto_class` model (float32, in eval mode, on this
        device), with damage reported as one line."""
        import torch
        import transformers
        from transformers import AutoTokenizer

        from transferkit.serving.run_files import check_transformers_dir, load_or_explain

        check_transformers_dir(model_dir)
        tokenizer = load_or_explain(model_dir, lambda: AutoTokenizer.from_pretrained(model_dir))
        model = load_or_explain(model_dir, lambda: getattr(transformers, auto_class).from_pretrained(model_dir, dtype=torch.float32))
        return tokenizer, self.place(model)

    def _to_model(self, batch: dict):
        import torch

        return {k: torch.as_tensor(v).to(self.device) for k, v in batch.items()}

    @contextmanager
    def _running(self, model):
        """Eval mode without gradients (and bf16 autocast), restoring the mode the model
        was in: a dev scorer is called mid-training."""
        import torch

        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.bf16 else nullcontext()
        was_training = model.training
        if was_training:  # switching walks every module: 2 ms a pass on MiniLM, which a server feels
            model.eval()
        try:
            with torch.inference_mode(), autocast:
                yield
        finally:
            if was_training:
                model.train()
