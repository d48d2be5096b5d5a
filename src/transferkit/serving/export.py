"""`transferkit export RUN --format onnx [--quantize int8]`: a run's transformers model as
an ONNX graph that `predict`, `evaluate` and `serve` run on onnxruntime, checked against
the PyTorch model before it is published.

The export is a run directory of its own (`config.yaml`, `metrics.json`, `model/` with
`model.onnx`, the tokenizer, `config.json` and `transferkit.json`), so every command that
reads a run reads it; `export.json` says how it was made and how faithful it is.

How: torch's TorchScript-based exporter (one self-contained file, and the graph shape
onnxruntime's transformer optimizer recognises: attention is exported from the eager
implementation, which the optimizer fuses into one `Attention` node per layer), then
that optimizer, then, with `--quantize int8`, onnxruntime's dynamic quantisation (int8
weights, activations quantised per batch at run time). The check runs the run's own
predictor on both runtimes over a sample of the run's data: the largest difference of any
output logit (at real tokens) and how often the predictions agree. An agreement below
`MIN_AGREEMENT` fails the export, and nothing is written.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from pathlib import Path

from transferkit.errors import UserError
from transferkit.progress import status
from transferkit.rundir import staged_run_dir
from transferkit.serving.onnx_runtime import MODEL_FILE
from transferkit.serving.predictor import EXPORT_FILE, INFO_FILE, is_export, read_info

OUTPUTS = {"classify": ("logits",), "ner": ("logits",), "qa": ("start_logits", "end_logits")}
# what the check compares per task, on the first SAMPLE examples of a split: (predictions, what one counts)
SAMPLE_PREDICTIONS = {
    "classify": (lambda p, s: list(p.predict_proba(s.texts[:SAMPLE], s.pairs[:SAMPLE] if s.pairs else None).argmax(1)), "examples"),
    "ner": (lambda p, s: [t for tags in p.tag(s.tokens[:SAMPLE], s.documents[:SAMPLE] if s.documents else None)[0] for t in tags], "words"),
    "qa": (lambda p, s: [(r.start, r.end) for r in p.read(s.questions[:SAMPLE], s.contexts[:SAMPLE], s.places[:SAMPLE])], "answers"),
}
MIN_AGREEMENT = 0.9  # the default: below this on the sample, the export is refused
SAMPLE = 256  # examples of the run's data the export is checked on
OPSET = 17


def export_onnx(run_dir: str, output: str, quantize: str = "none", overwrite: bool = False, data: str | None = None,
                min_agreement: float = MIN_AGREEMENT) -> dict:
    """Export `run_dir` to `output`; returns what `export.json` holds. `data`: a file to
    check on (default: the run's test file, else its dev or training file); an agreement
    with the PyTorch model below `min_agreement` there refuses the export."""
    from transferkit.api import run_config
    from transferkit.serving.run_files import check_transformers_dir
    from transferkit.tasks import get_task

    info = read_info(run_dir)
    source = Path(run_dir)
    if is_export(source / "model"):
        raise UserError(str(run_dir), f"is already an ONNX export; export the run it was exported from (its {EXPORT_FILE} names it as \"source\")")
    if why := not_exportable(info):
        raise UserError(str(run_dir), f"{why}; ONNX export takes classify, ner and qa runs of finetune or scratch (and ner features)")
    check_transformers_dir(source / "model")  # damaged or foreign weights: the one line `predict` gives
    task, cfg = get_task(info["task"]), run_config(run_dir)
    sample = _sample(task, cfg, data, run_dir)
    started = time.perf_counter()
    with staged_run_dir(Path(output), overwrite, inputs=[run_dir, data]) as staging:
        model_dir = staging / "model"
        model_dir.mkdir()
        status(f"exporting {source / 'model'} to ONNX ...")
        fused = _export_graph(source / "model", model_dir / MODEL_FILE, task.auto_class, OUTPUTS[info["task"]])
        if quantize == "int8":
            status("quantising to int8 ...")
            _quantize(model_dir / MODEL_FILE)
        for name in ("config.json", INFO_FILE):
            shutil.copy2(source / "model" / name, model_dir / name)
        for name in ("config.yaml", "metrics.json"):
            if (source / name).is_file():
                shutil.copy2(source / name, staging / name)
        status(f"checking the export against the PyTorch model on {len(sample)} examples ...")
        check = compare(info["task"], source / "model", model_dir, sample)
        report = {
            "format": "onnx",
            "quantize": quantize,
            "source": str(source.resolve()),
            "task": info["task"],
            "strategy": info["strategy"],
            "onnx_bytes": (model_dir / MODEL_FILE).stat().st_size,
            "fused_operators": fused,
            "opset": OPSET,
            "check": {"data": sample.path, **check},
            "seconds": round(time.perf_counter() - started, 1),
            "versions": _versions(),
        }
        if check["agreement"] < min_agreement:
            raise UserError(str(run_dir), f"the ONNX export agrees with the PyTorch model on only {check['agreement']:.1%} of {check['unit']} (largest logit difference {check['max_logit_difference']:.3g}); nothing was written" + ("; try without --quantize, or lower --min-agreement" if quantize != "none" else ""))
        (staging / EXPORT_FILE).write_text(json.dumps(report, indent=2))
    return {**report, "output": str(output)}


def not_exportable(info: dict) -> str | None:
    """Why a run (its transferkit.json) has no ONNX export, or None when it can have one:
    only a transformers model with a classify, ner or qa head is a graph to export."""
    from transferkit.strategies import get_strategy

    if info["task"] not in OUTPUTS or (info["task"] == "classify" and get_strategy(info["strategy"]).linear_head):
        return f"a {info['task']} {info['strategy']} run has no transformers head to export"
    return None


def _sample(task, cfg, data: str | None, run_dir: str):
    """The first `SAMPLE` examples of `data` (read as given: a missing one is named), or
    of the run's own test, dev or training file (whichever is still there)."""
    from transferkit.config import test_sets

    if data:
        return task.read_test(data, cfg, None)
    for path in [path for _, path in test_sets(cfg.test or [])] + [cfg.dev, cfg.train]:
        if path and Path(path).is_file():
            return task.read_test(path, cfg, None)
    raise UserError(str(run_dir), "none of the run's data files is here to check the export on; give one with --data FILE")


def _export_graph(model_dir: Path, target: Path, auto_class: str, outputs: tuple[str, ...]) -> dict:
    """The model as an ONNX graph with dynamic batch and sequence axes, fused by
    onnxruntime's transformer optimizer where it knows the architecture. Returns how
    many nodes of each kind the optimizer fused."""
    import torch
    import transformers
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = getattr(transformers, auto_class).from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    example = tokenizer(["an example text to trace", "and a second, longer one to trace the padding"], padding=True, return_tensors="pt")
    inputs = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in example]
    axes = {name: {0: "batch", 1: "sequence"} for name in inputs} | {name: {0: "batch", 1: "sequence"} for name in outputs}
    if outputs == ("logits",) and auto_class.endswith("SequenceClassification"):
        axes["logits"] = {0: "batch"}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on code paths these inputs do not take
        torch.onnx.export(model, tuple(example[name] for name in inputs), str(target), input_names=inputs, output_names=list(outputs),
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    tokenizer.save_pretrained(target.parent)
    config = model.config
    if config.model_type not in ("bert", "roberta", "xlm-roberta", "distilbert", "electra"):
        return {}
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(str(target), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size)
    optimized.save_model_to_file(str(target))
    return {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}


def _quantize(path: Path) -> None:
    """Dynamic int8 quantisation of the graph's weights, in place: one scale per output
    channel, which on the SST-2 finetune run kept 98.5% of the predictions against 96.9%
    with one scale per matrix, at the same speed (bench/results/inference.md)."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = path.with_suffix(".int8.onnx")
    logging.getLogger().setLevel(logging.ERROR)  # its advice to pre-process: the graph is already optimised
    # fused nodes (Attention, SkipLayerNormalization) defeat shape inference; their outputs are float
    quantize_dynamic(str(path), str(quantized), weight_type=QuantType.QInt8, per_channel=True,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    quantized.replace(path)


class Recorder:
    """A model that keeps what it returned: each batch's named outputs as arrays, with
    the batch's attention mask, so that two runtimes' outputs can be compared."""

    def __init__(self, model, outputs: tuple[str, ...]):
        self.model, self.outputs, self.calls = model, outputs, []

    def __call__(self, **batch):
        from transferkit.inference import as_array

        out = self.model(**batch)
        self.calls.append(({name: as_array(getattr(out, name)) for name in self.outputs}, as_array(batch["attention_mask"]) > 0))
        return out

    def __getattr__(self, name):  # config, eval(), training: the model's
        return getattr(self.model, name)


def compare(task: str, torch_dir: Path, onnx_dir: Path, sample) -> dict:
    """The run's predictor on torch and on the export, over `sample`: the largest
    difference of any output logit (sequence outputs at real tokens only) and the share
    of predictions that agree (`unit` says what is counted)."""
    import numpy as np

    from transferkit.serving.predictor import load_predictor

    outputs, (predict, unit) = OUTPUTS[task], SAMPLE_PREDICTIONS[task]
    recorded, predictions = [], []
    for model_dir, runtime in ((torch_dir, "torch"), (onnx_dir, "onnx")):
        predictor = load_predictor(model_dir, runtime=runtime, device="cpu")
        inner = getattr(predictor, "uncalibrated", predictor)  # the model of a temperature-scaled classifier
        inner.model = Recorder(inner.model, outputs)
        predictions.append(predict(predictor, sample))
        recorded.append(inner.model.calls)
    largest = 0.0
    for (a, mask), (b, _) in zip(*recorded):
        for name in outputs:
            difference = np.abs(a[name] - b[name])
            if task != "classify":  # one logit per token: padding's are no output
                difference = difference[mask]
            largest = max(largest, float(difference.max(initial=0.0)))
    ours, theirs = predictions
    agree = [x == y for x, y in zip(ours, theirs)]
    return {"max_logit_difference": largest, "agreement": float(np.mean(agree)) if agree else 1.0,
            "unit": unit, "compared": len(agree)}


def _versions() -> dict:
    import onnxruntime
    import torch

    return {"onnxruntime": onnxruntime.__version__, "torch": torch.__version__}
