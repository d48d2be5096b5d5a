"""Tokens per second and MFU: the arithmetic, the peak FLOP/s table, --peak-flops, and what
a CPU finetune run writes to metrics.json (the GPU paths are checked by bench/gpu_speed.py)."""

import json

import pytest
import torch

from transferkit.training.throughput import Speed, mfu, peak_flops, table_peak


def test_mfu_is_six_flops_per_parameter_and_token_over_the_peak():
    # a 110M-parameter model at 40,000 tokens/s on a 989 TFLOP/s GPU: 6 × 1.1e8 × 4e4 = 2.64e13 FLOP/s
    assert mfu(110_000_000, 40_000, 989e12) == pytest.approx(2.64e13 / 989e12)
    assert mfu(110_000_000, 40_000, None) is None


@pytest.mark.parametrize("name, flops", [
    ("NVIDIA H100 80GB HBM3", 989e12),
    ("NVIDIA H100 PCIe", 756e12),
    ("NVIDIA H100 NVL", 835e12),
    ("NVIDIA H200", 989e12),
    ("NVIDIA H200 NVL", 835e12),
    ("NVIDIA A100-SXM4-80GB", 312e12),
    ("NVIDIA A100 80GB PCIe", 312e12),
    ("NVIDIA A10", 125e12),
    ("NVIDIA A10G", 125e12),
    ("NVIDIA L4", 121e12),
    ("NVIDIA L40S", 362e12),
    ("NVIDIA GeForce RTX 4090", 165.2e12),
    ("Tesla V100-SXM2-16GB", 125e12),
    ("Tesla V100-PCIE-32GB", 112e12),
    ("Tesla T4", 65e12),
])
def test_known_gpus_have_their_peak(name, flops):
    assert table_peak(name)[0] == flops


@pytest.mark.parametrize("name", ["NVIDIA L40", "NVIDIA GeForce RTX 3090", "NVIDIA GH200 480GB", "AMD Instinct MI300X", ""])
def test_an_unknown_gpu_has_no_peak(name):
    assert table_peak(name) is None


def test_peak_flops_given_overrides_the_table_and_a_cpu_has_none_without_it(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 PCIe")
    gpu, cpu = torch.device("cuda", 0), torch.device("cpu")
    assert peak_flops(gpu, None) == (756e12, "table: H100 PCIe (NVIDIA H100 PCIe)")
    assert peak_flops(gpu, 5e14) == (5e14, "--peak-flops")
    assert peak_flops(cpu, None) == (None, None)
    assert peak_flops(cpu, 2e11) == (2e11, "--peak-flops")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Some Future GPU")
    assert peak_flops(gpu, None) == (None, None)


def steps(speed, times, tokens=1_000):
    for seconds in times:
        speed.record(seconds, tokens)
    return speed


def test_speed_reports_the_tokens_of_all_processes_against_the_peak_of_all_devices():
    speed = steps(Speed(parameters=1_000_000, peak=1e12, source="--peak-flops", processes=2), [0.1] * 100)
    report = speed.report(tokens=600_000, seconds=10.0, peak_memory=None)
    assert report["tokens_per_second"] == 60_000 and report["warmup_steps"] == 0
    assert report["mfu"] == pytest.approx(6 * 1_000_000 * 60_000 / 2e12)  # 0.18
    assert report["peak_flops"] == 2e12 and report["peak_flops_source"] == "--peak-flops"
    assert steps(Speed(1_000_000, None, None), [0.1] * 100).report(600_000, 10.0, None)["mfu"] is None
    assert Speed(1_000_000, None, None).report(0, 0.0, None)["tokens_per_second"] is None  # no step ran


def test_steps_that_compiled_are_left_out_of_the_rates():
    speed = steps(Speed(1_000_000, 1e12, "--peak-flops"), [30.0, 0.1, 0.1, 0.12, 8.0, 0.1, 0.1, 0.1, 0.1, 0.1])
    assert speed.warmup() == (2, 38.0, 2_000)  # the first step and a new shape's
    report = speed.report(tokens=10_000, seconds=39.5, peak_memory=None)
    assert report["tokens_per_second"] == pytest.approx(8_000 / 1.5) and report["warmup_seconds"] == 38.0
    assert report["mfu"] == pytest.approx(6 * 1_000_000 * (8_000 / 1.5) / 1e12)


def test_the_progress_bar_shows_tokens_per_second_and_mfu_only_when_known():
    assert Speed(1_000_000, 1e12, "--peak-flops").postfix(tokens=300_000, seconds=10.0) == {"tok/s": "30,000", "mfu": "18.0%"}
    assert Speed(1_000_000, None, None).postfix(tokens=300_000, seconds=10.0) == {"tok/s": "30,000"}
    assert Speed(1_000_000, None, None).postfix(tokens=0, seconds=0.0) == {}


SPEED = ("seconds", "samples_per_second", "tokens_per_second", "mfu", "warmup_steps", "warmup_seconds", "peak_flops", "peak_flops_source")


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A random 2-layer BERT (hidden 32) with minilm's tokenizer: a finetune run in seconds."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from transferkit.models.zoo import resolve_model

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm"))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_a_cpu_finetune_run_reports_its_speed_and_bucketing_at_1_changes_nothing(sentiment, tiny_bert, tmp_path):
    from transferkit import api
    from transferkit.config import TrainConfig

    def run(name, **options):
        cfg = TrainConfig(
            strategy="finetune", model=str(tiny_bert), train=str(sentiment["train"]), dev=str(sentiment["dev"]),
            test=str(sentiment["test"]), output=str(tmp_path / name), epochs=2, batch_size=16, max_length=16, device="cpu", **options,
        )
        api.train(cfg)
        return json.loads((tmp_path / name / "metrics.json").read_text())

    default, explicit = run("default"), run("explicit", pad_to_multiple_of=1, peak_flops=1e14)
    train = default["train"]
    assert train["tokens_per_second"] > 0 and train["tokens"] >= train["examples"]
    assert train["mfu"] is None and train["peak_flops"] is None and train["peak_gpu_memory_bytes"] is None
    assert train["pad_to_multiple_of"] == 1 and train["compiled"] is False and train["attention"] == "sdpa"
    assert train["parameters"] == train["trainable_parameters"]  # nothing frozen
    other = explicit["train"]
    assert 0 < other["mfu"] < 1 and other["peak_flops"] == 1e14 and other["peak_flops_source"] == "--peak-flops"
    assert other["mfu"] == pytest.approx(6 * other["parameters"] * other["tokens_per_second"] / 1e14)
    # on a CPU the default pads nothing: the same batches, weights and scores as --pad-to-multiple-of 1
    same = lambda m: {**m, "run": None, "train": {k: v for k, v in m["train"].items() if k not in SPEED}}  # noqa: E731
    assert same(default) == same(explicit)


@pytest.mark.parametrize("args, expected", [
    (["--pad-to-multiple-of", "0"], "error: --pad-to-multiple-of: must be at least 1 and at most 1024, got 0"),
    (["--peak-flops", "989"], "error: --peak-flops: must be at least 1,000,000,000, got 989.0 (in FLOP/s, not TFLOP/s: 989e12 for 989 TFLOP/s)"),
    (["--strategy", "tfidf", "--compile"], "error: --compile: applies to --strategy finetune, scratch, contrastive, lora, not tfidf"),
    (["--strategy", "features", "--pad-to-multiple-of", "8"], "error: --pad-to-multiple-of: applies to --strategy finetune, scratch, contrastive, lora, not features"),
])
def test_the_speed_options_are_checked_before_any_work_in_one_line(cli, sentiment, tmp_path, args, expected):
    status, _, err = cli("train", "--train", sentiment["train"], "--output", tmp_path / "run", *args)
    assert status == 2 and err == expected + "\n" and not (tmp_path / "run").exists()
