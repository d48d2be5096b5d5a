"""The ONNX runtime: an exported model (`transferkit export`) run by onnxruntime, behind
the same batched pass as torch (`inference.BatchedRuntime`), so every predictor works on
it unchanged.

It imports neither torch nor the transformers models: only onnxruntime, numpy and the
fast tokenizer class, which is what makes an exported run start in a fraction of the
time of a torch one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from transferkit.inference import BatchedRuntime
from transferkit.serving.run_files import load_or_explain, read_json, require_file

MODEL_FILE = "model.onnx"


class OnnxModel:
    """An onnxruntime session called like a transformers model: keyword inputs in, an
    object with one numpy array per named output (`logits`, `start_logits`, ...) out, and
    the `config` fields predictors read (`num_labels`, `id2label`, `problem_type`)."""

    def __init__(self, model_dir: Path, threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        path = require_file(model_dir / MODEL_FILE)
        self.session = load_or_explain(path, lambda: onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]))
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        config = read_json(model_dir / "config.json")
        id2label = {int(k): v for k, v in (config.get("id2label") or {}).items()}
        self.config = SimpleNamespace(num_labels=config.get("num_labels", len(id2label)), id2label=id2label, problem_type=config.get("problem_type"))

    def __call__(self, **batch):
        values = self.session.run(self.outputs, {name: batch[name] for name in self.inputs})
        return SimpleNamespace(**dict(zip(self.outputs, values)))


@dataclass(frozen=True)
class OnnxRuntime(BatchedRuntime):
    """Exported models on the CPU through onnxruntime (`threads`: its intra-op threads;
    None lets it use every physical core)."""

    batch_size: int | None = None
    threads: int | None = None

    @classmethod
    def create(cls, batch_size: int | None = None, threads: int | None = None) -> "OnnxRuntime":
        return cls(batch_size, threads)

    def load(self, model_dir: Path, auto_class: str):
        """An exported run's tokenizer and model. `auto_class` is not needed: the graph
        already is that head."""
        from transformers import PreTrainedTokenizerFast

        model_dir = Path(model_dir)
        model = OnnxModel(model_dir, self.threads)
        # the generic fast tokenizer makes the inputs it is told to: those the graph takes
        names = [*model.inputs, "attention_mask"]
        tokenizer = load_or_explain(model_dir, lambda: PreTrainedTokenizerFast.from_pretrained(model_dir, model_input_names=names))
        return tokenizer, model
