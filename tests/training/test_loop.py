import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, BertForTokenClassification, GPT2Config, GPT2LMHeadModel

from transferkit.errors import UserError
from transferkit.training.batching import PadCollator
from transferkit.inference import resolve_mixed_precision
from transferkit.training.loop import MULTILINGUAL_VOCABULARY, LoopSettings, embeddings_stay, train_loop


def tiny_model(seed=0):
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=20, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=2,
    )
    return BertForSequenceClassification(config)


def items(n=64):
    # the label is the token after [CLS]: learnable in a few steps
    out = []
    for i in range(n):
        ids = [1, 4 + i % 2] + [6 + (i + j) % 10 for j in range(2 + i % 4)]
        out.append({"input_ids": ids, "labels": i % 2})
    return out


def accuracy(model, data):
    batch = PadCollator(0)([{k: v for k, v in it.items()} for it in data])
    with torch.no_grad():
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    return (logits.argmax(-1) == batch["labels"]).float().mean().item()


def settings(**kw):
    defaults = {"epochs": 8, "lr": 3e-3, "batch_size": 8, "seed": 0, "evaluations": 8, "patience": 100,
                "warmup_ratio": 0.06, "weight_decay": 0.01, "mixed_precision": "auto", "layer_lr_decay": 1.0}
    return LoopSettings(**{**defaults, **kw})


def test_loop_learns_and_counts_examples():
    data = items()
    model = tiny_model()
    result = train_loop(model, data, PadCollator(0), settings(), score_dev=lambda m: accuracy(m, data))
    assert result.steps == 8 * 8 and result.examples == 8 * 64
    assert result.best_score == 1.0
    assert accuracy(model, data) == 1.0
    assert result.seconds > 0


def test_best_checkpoint_is_restored_and_patience_stops_early():
    data = items()
    model = tiny_model()
    snapshots = []

    def score(m):  # pretend the second evaluation was the best one
        snapshots.append({k: v.clone() for k, v in m.state_dict().items()})
        return {1: 0.2, 2: 1.0}.get(len(snapshots), 0.5)

    result = train_loop(model, data, PadCollator(0), settings(patience=2), score_dev=score)
    assert result.best_step == 16 and len(snapshots) == 4  # stopped after 2 evaluations without gain
    assert all(torch.equal(v, snapshots[1][k]) for k, v in model.state_dict().items())


def test_patience_waits_while_the_dev_score_has_not_moved_off_its_first_value():
    data = items()
    scores = iter([0.0, 0.0, 0.0, 0.0, 0.4, 0.3, 0.3, 0.3])  # a model from scratch: nothing found at first

    result = train_loop(tiny_model(), data, PadCollator(0), settings(patience=2), score_dev=lambda m: next(scores))
    assert [h["dev"] for h in result.history] == [0.0, 0.0, 0.0, 0.0, 0.4, 0.3, 0.3]
    assert result.best_step == 40


def test_same_seed_same_weights():
    data = items()
    a, b = tiny_model(), tiny_model()
    train_loop(a, data, PadCollator(0), settings(epochs=2))
    train_loop(b, data, PadCollator(0), settings(epochs=2))
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())



def test_layer_wise_learning_rates_decay_from_head_to_embeddings():
    from transferkit.training.loop import layer_depth, parameter_groups

    assert layer_depth("bert.embeddings.word_embeddings.weight", 6) == 7
    assert layer_depth("bert.encoder.layer.5.output.dense.weight", 6) == 1
    assert layer_depth("bert.encoder.layer.0.attention.self.query.weight", 6) == 6
    assert layer_depth("classifier.weight", 6) == 0
    model = tiny_model()  # one layer
    groups = parameter_groups(model, settings(lr=1.0, layer_lr_decay=0.5, weight_decay=0.1))
    by_name = {id(p): g for g in groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert by_name[id(named["classifier.weight"])]["lr"] == 1.0
    assert by_name[id(named["bert.encoder.layer.0.output.dense.weight"])]["lr"] == 0.5
    assert by_name[id(named["bert.embeddings.word_embeddings.weight"])]["lr"] == 0.25
    assert by_name[id(named["bert.encoder.layer.0.output.dense.bias"])]["weight_decay"] == 0.0
    assert sum(len(g["params"]) for g in groups) == len(named)


def test_weight_average_is_scored_beside_the_live_weights_and_kept_when_it_wins():
    data = items()
    model = tiny_model()
    seen = []

    def score(m):  # each evaluation scores the live weights, then the average
        seen.append({k: v.clone() for k, v in m.state_dict().items()})
        return 0.9 if len(seen) == 4 else 0.1  # the average at the second evaluation

    result = train_loop(model, data, PadCollator(0), settings(weight_average=True), score_dev=score)
    assert len(result.history) == 8 and len(seen) == 16
    assert result.history[1]["dev_average"] == 0.9 and result.history[1]["dev_live"] == 0.1
    assert result.best_step == 16 and result.best_weights == "average"
    assert all(torch.equal(v, seen[3][k]) for k, v in model.state_dict().items())
    assert not all(torch.equal(v, seen[2][k]) for k, v in seen[3].items())  # the average is not the live weights


def test_weight_average_leaves_training_itself_unchanged():
    data = items()
    plain, averaged = tiny_model(), tiny_model()
    train_loop(plain, data, PadCollator(0), settings(epochs=2), score_dev=lambda m: 0.5)
    result = train_loop(averaged, data, PadCollator(0), settings(epochs=2, weight_average=True), score_dev=lambda m: 0.5)
    assert result.best_weights == "live"  # a tie keeps the live weights
    assert all(torch.equal(v, averaged.state_dict()[k]) for k, v in plain.state_dict().items())


def test_a_loss_that_overflows_stops_training_naming_the_step_and_the_learning_rate():
    with pytest.raises(UserError, match=r"^training: the loss became (nan|inf) at step \d+; the learning rate \(--lr 1e\+30\) is probably too high"):
        train_loop(tiny_model(), items(), PadCollator(0), settings(lr=1e30, warmup_ratio=0.0, max_grad_norm=0.0))


def test_a_precision_the_device_lacks_falls_back_with_a_warning(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on this CPU, wherever the suite runs
    assert [resolve_mixed_precision(c) for c in ("auto", "no")] == ["no", "no"]
    assert capsys.readouterr().err == ""
    assert resolve_mixed_precision("fp16") == "no"
    assert capsys.readouterr().err == "warning: --mixed-precision fp16: no GPU here; training in float32\n"
    result = train_loop(tiny_model(), items(16), PadCollator(0), settings(epochs=1, mixed_precision="bf16"))
    assert result.mixed_precision == "no" and "--mixed-precision bf16: no GPU here" in capsys.readouterr().err


def test_frozen_embeddings_and_lower_layers_stay_as_they_were_and_have_no_optimiser_state():
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(
        vocab_size=20, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=2,
    ))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = train_loop(model, items(), PadCollator(0), settings(epochs=2, freeze_embeddings="yes", freeze_layers=1))
    after = model.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert not any(k.startswith(("bert.embeddings.", "bert.encoder.layer.0.")) for k in moved)
    assert any(k.startswith("bert.encoder.layer.1.") for k in moved) and "classifier.weight" in moved
    frozen = sum(p.numel() for n, p in model.named_parameters() if n.startswith(("bert.embeddings.", "bert.encoder.layer.0.")))
    assert result.trainable_parameters == sum(p.numel() for p in model.parameters()) - frozen


def test_freezing_more_layers_than_the_model_has_is_an_error():
    with pytest.raises(UserError, match="more than the model's 1 layers"):
        train_loop(tiny_model(), items(), PadCollator(0), settings(epochs=1, freeze_layers=2))


def test_auto_keeps_a_multilingual_vocabulary_as_pretrained_unless_it_is_the_output_layer():
    small = dict(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    multilingual = BertForTokenClassification(BertConfig(vocab_size=MULTILINGUAL_VOCABULARY, num_labels=3, **small))
    english = BertForTokenClassification(BertConfig(vocab_size=30522, num_labels=3, **small))
    tied_lm = GPT2LMHeadModel(GPT2Config(vocab_size=MULTILINGUAL_VOCABULARY, n_embd=8, n_layer=1, n_head=2))
    assert embeddings_stay(multilingual, "auto") and not embeddings_stay(english, "auto") and not embeddings_stay(tied_lm, "auto")
    assert embeddings_stay(english, "yes") and not embeddings_stay(multilingual, "no")
    result = train_loop(multilingual, [{"input_ids": [1, 5, 2], "labels": [0, 1, 0]}] * 8, PadCollator(0), settings(epochs=1, freeze_embeddings="auto"))
    assert result.frozen_embeddings
    assert result.trainable_parameters == sum(p.numel() for n, p in multilingual.named_parameters() if not n.startswith("bert.embeddings."))


def test_on_a_cpu_the_policy_changes_nothing_and_on_a_gpu_it_takes_the_fast_path(monkeypatch):
    from transferkit.inference import TrainingPolicy, pad_multiple

    cpu = TrainingPolicy.resolve("cpu")
    assert (cpu.precision, cpu.fused_adamw, cpu.compile_mode) == ("no", False, None)
    assert TrainingPolicy.resolve("cpu", compiled=True).compile_mode == "default"
    assert [pad_multiple(None, torch.device("cpu"), False), pad_multiple(None, torch.device("cuda"), False)] == [1, 8]
    assert pad_multiple(None, torch.device("cpu"), True) == pad_multiple(None, torch.device("cuda"), True) == 16
    assert pad_multiple(4, torch.device("cuda"), True) == 4
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for bf16, precision in ((True, "bf16"), (False, "fp16")):  # fp16: accelerate adds the gradient scaler
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: bf16)
        gpu = TrainingPolicy.resolve("auto", compiled=True)
        assert (gpu.device.type, gpu.precision, gpu.fused_adamw, gpu.compile_mode) == ("cuda", precision, True, "reduce-overhead")


def test_tf32_matmuls_hold_while_a_gpu_trains_and_the_setting_before_comes_back():
    from transferkit.inference import TrainingPolicy

    matmul = torch.backends.cuda.matmul
    before = matmul.fp32_precision
    with TrainingPolicy(torch.device("cpu"), "no", False, None).fast_matmuls():
        assert matmul.fp32_precision == before
    with TrainingPolicy(torch.device("cuda"), "bf16", True, None).fast_matmuls():
        assert matmul.fp32_precision == "tf32"
    assert matmul.fp32_precision == before


def test_the_optimiser_is_fused_where_the_policy_says_and_torchs_default_on_a_cpu(monkeypatch):
    from transferkit.inference import TrainingPolicy
    from transferkit.training.loop import TrainingLoop

    plain = TrainingLoop(tiny_model(), items(16), PadCollator(0), settings(epochs=1))
    assert plain.optimizer.optimizer.defaults["fused"] is None
    fused = TrainingPolicy(torch.device("cpu"), "no", True, None)  # as on a GPU; torch fuses AdamW on a CPU too
    monkeypatch.setattr(TrainingPolicy, "resolve", classmethod(lambda cls, *args: fused))
    loop = TrainingLoop(tiny_model(), items(16), PadCollator(0), settings(epochs=1))
    assert loop.optimizer.optimizer.defaults["fused"] is True
    assert loop.run().steps == 2


def test_compile_runs_the_steps_through_torch_compile_and_saves_the_plain_weights(monkeypatch):
    calls, modes = [], []

    class Compiled(torch.nn.Module):  # what torch.compile returns: a module that runs the model
        def __init__(self, model, mode):
            super().__init__()
            self.model = model
            modes.append(mode)

        def forward(self, **batch):
            calls.append(batch["input_ids"].shape)
            return self.model(**batch)

    monkeypatch.setattr(torch, "compile", Compiled)
    model = tiny_model()
    result = train_loop(model, items(), PadCollator(0, pad_to_multiple_of=16), settings(epochs=2, compile=True))
    assert modes == ["default"]  # on a CPU; on a GPU reduce-overhead (CUDA graphs)
    assert len(calls) == result.steps == 16 and set(calls) == {(8, 16)}  # one shape: every item is shorter than 16
    assert result.speed["compiled"] is True and result.speed["tokens"] == 16 * 8 * 16
    assert not any("_orig_mod" in k for k in model.state_dict())


def test_a_tiny_bert_trains_compiled_for_real():
    """About 40 s on 2 CPU cores, most of it the compiler's."""
    data = items()
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(
        vocab_size=20, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=2,
    ))
    result = train_loop(model, data, PadCollator(0, pad_to_multiple_of=16), settings(compile=True), score_dev=lambda m: accuracy(m, data))
    assert result.speed["compiled"] and result.best_score == 1.0 and accuracy(model, data) == 1.0


def test_the_loop_counts_the_tokens_of_the_padded_batches():
    data = items()  # 2 to 7 tokens each, batches of 8
    plain = train_loop(tiny_model(), data, PadCollator(0), settings(epochs=1))
    bucketed = train_loop(tiny_model(), data, PadCollator(0, pad_to_multiple_of=8), settings(epochs=1, pad_to_multiple_of=8))
    assert bucketed.speed["tokens"] == 8 * 8 * 8 and plain.speed["tokens"] < bucketed.speed["tokens"]
    assert bucketed.speed["pad_to_multiple_of"] == 8 and plain.speed["pad_to_multiple_of"] == 1
    assert plain.speed["tokens_per_second"] >= plain.speed["tokens"] / plain.seconds  # a slow first step may count as warm-up
    assert plain.speed["mfu"] is None and plain.speed["peak_gpu_memory_bytes"] is None
