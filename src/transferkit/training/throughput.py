"""Training speed as nanoGPT reports it: tokens per second and model FLOPs utilisation
(MFU), printed while the loop trains and written to metrics.json's `train`.

MFU = 6 × N × tokens per second ÷ the device's peak dense bf16 FLOP/s, where N is the
model's whole parameter count, trainable and frozen alike (a forward and a backward pass
cost about 6 FLOPs per parameter and token; frozen weights skip their weight gradients, so
with `--freeze-layers` the figure overstates the work done), and the tokens are those of the
padded batches the model saw (padding is computed too). The embedding matrices count
although a lookup multiplies nothing, which overstates the FLOPs of an encoder with a large
vocabulary (bert-base: 24M of its 110M parameters; minilm: 12M of its 23M); attention's own
FLOPs, which nanoGPT's fuller estimate adds, are left out (about 2% of a BERT's at 128
tokens). Compare MFU between runs of one model, not with other programs' figures.

Steps that compiled (`Speed.warmup`) are left out of tokens/s and MFU, as nanoGPT leaves
its first iterations out. The peak comes from `--peak-flops`, else from the table below by
the GPU's name; on a CPU or an unknown GPU there is none, and MFU is null rather than a guess.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field

# Dense (no 2:4 sparsity) bf16 tensor-core FLOP/s; fp16 for the GPUs without bf16 (V100,
# T4), whose runs train in fp16. Matched in order against torch.cuda.get_device_name().
PEAK_FLOPS = (
    # NVIDIA H100 datasheet (nvidia.com/en-us/data-center/h100): BF16 Tensor Core 1,671 / 1,513 /
    # 1,979 TFLOPS for NVL / PCIe / SXM, each "with sparsity": dense is half.
    (r"\bH100\b.*\bNVL\b", "H100 NVL", 835e12),
    (r"\bH100\b.*\bPCIe\b", "H100 PCIe", 756e12),
    (r"\bH100\b", "H100 SXM", 989e12),
    # NVIDIA H200 datasheet (nvidia.com/en-us/data-center/h200): 1,671 (NVL), 1,979 (SXM) with sparsity.
    (r"\bH200\b.*\bNVL\b", "H200 NVL", 835e12),
    (r"\bH200\b", "H200 SXM", 989e12),
    # NVIDIA A100 datasheet: BF16 Tensor Core 312 TFLOPS (624 with sparsity), SXM and PCIe alike.
    (r"\bA100\b", "A100", 312e12),
    # NVIDIA A10 datasheet: BF16 Tensor Core 125 TFLOPS (250 with sparsity). NVIDIA publishes no
    # figure for AWS's A10G: the A10's is used; give --peak-flops where you know better.
    (r"\bA10G?\b", "A10 / A10G", 125e12),
    # NVIDIA L40S datasheet: BF16 Tensor Core 362.05 TFLOPS (733 with sparsity).
    (r"\bL40S\b", "L40S", 362e12),
    # NVIDIA L4 datasheet: BF16 Tensor Core 242 TFLOPS with sparsity.
    (r"\bL4\b", "L4", 121e12),
    # NVIDIA Ada Lovelace architecture whitepaper, RTX 4090: peak BF16 Tensor TFLOPS with FP32
    # accumulate 165.2 (330.4 with sparsity); torch accumulates in FP32.
    (r"\b4090\b", "RTX 4090", 165.2e12),
    # NVIDIA V100 datasheet: Tensor Performance (fp16) 112 TFLOPS PCIe, 125 SXM2.
    (r"\bV100\b.*\bPCIE\b", "V100 PCIe (fp16)", 112e12),
    (r"\bV100", "V100 SXM2 (fp16)", 125e12),
    # NVIDIA T4 datasheet: Mixed Precision (FP16/FP32) 65 TFLOPS.
    (r"\bT4\b", "T4 (fp16)", 65e12),
)


def table_peak(device_name: str) -> tuple[float, str] | None:
    """(peak FLOP/s, the table's name for the GPU) for a `torch.cuda.get_device_name()`,
    or None for a GPU the table does not know."""
    for pattern, name, flops in PEAK_FLOPS:
        if re.search(pattern, device_name, re.IGNORECASE):
            return flops, name
    return None


def peak_flops(device, given: float | None) -> tuple[float | None, str | None]:
    """The peak FLOP/s of one `device` and where it came from: `--peak-flops` when given
    (it overrides the table), else the table's for a GPU it knows, else (None, None)."""
    if given is not None:
        return given, "--peak-flops"
    if device.type != "cuda":
        return None, None
    import torch

    name = torch.cuda.get_device_name(device)
    found = table_peak(name)
    return (None, None) if found is None else (found[0], f"table: {found[1]} ({name})")


def mfu(parameters: int, tokens_per_second: float, peak: float | None) -> float | None:
    """Model FLOPs utilisation: 6 × parameters × tokens/s over the peak; None without a peak."""
    if not peak:
        return None
    return 6 * parameters * tokens_per_second / peak


# A step this many times slower than the median one compiled something: torch.compile traces
# and compiles the model at its first step and again at a new batch shape (a minute for a
# BERT), against milliseconds for a step.
WARMUP_FACTOR = 10


@dataclass
class Speed:
    """The loop's speed: the model's parameter count, the peak of one device, how many
    processes share the work, and the time and tokens of each step this process ran."""

    parameters: int
    peak: float | None
    source: str | None
    processes: int = 1
    step_seconds: list[float] = field(default_factory=list)
    step_tokens: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, model, device, given_peak: float | None, processes: int = 1) -> "Speed":
        peak, source = peak_flops(device, given_peak)
        return cls(sum(p.numel() for p in model.parameters()), peak, source, processes)

    def record(self, seconds: float, tokens: int) -> None:
        self.step_seconds.append(seconds)
        self.step_tokens.append(tokens)

    def warmup(self) -> tuple[int, float, int]:
        """(steps, seconds, tokens) of the steps over `WARMUP_FACTOR` times the median
        step's time: compilation, left out of the rates as nanoGPT leaves its first
        iterations out of MFU (an eager run has none, or a first step or two)."""
        if not self.step_seconds:
            return 0, 0.0, 0
        bar = WARMUP_FACTOR * statistics.median(self.step_seconds)
        slow = [i for i, seconds in enumerate(self.step_seconds) if seconds > bar]
        return len(slow), sum(self.step_seconds[i] for i in slow), sum(self.step_tokens[i] for i in slow)

    def postfix(self, tokens: int, seconds: float) -> dict:
        """The progress bar's speed fields for this process's tokens so far: tok/s, and MFU when known."""
        if seconds <= 0:
            return {}
        rate = tokens / seconds
        shown = {"tok/s": f"{rate:,.0f}"}
        utilisation = mfu(self.parameters, rate, self.peak)
        if utilisation is not None:
            shown["mfu"] = f"{utilisation:.1%}"
        return shown

    def report(self, tokens: int, seconds: float, peak_memory: int | None) -> dict:
        """metrics.json's speed fields: `tokens` of all processes over the loop's `seconds`,
        less the warm-up (this process's share of the tokens, its seconds)."""
        steps, warm_seconds, warm_tokens = self.warmup()
        ran = sum(self.step_tokens)
        steady_tokens = tokens * (1 - warm_tokens / ran) if ran else 0
        rate = steady_tokens / (seconds - warm_seconds) if steady_tokens and seconds > warm_seconds else None
        total_peak = self.peak * self.processes if self.peak else None
        return {
            "tokens": tokens,
            "tokens_per_second": rate,
            "warmup_steps": steps,
            "warmup_seconds": warm_seconds,
            "parameters": self.parameters,
            "mfu": None if rate is None else mfu(self.parameters, rate, total_peak),
            "peak_flops": total_peak,
            "peak_flops_source": self.source,
            "peak_gpu_memory_bytes": peak_memory,
        }
