import torch

from transferkit.training.callbacks import WeightAverage


def test_average_follows_the_weights_and_swaps_back():
    model = torch.nn.Linear(2, 1)
    average = WeightAverage(model, total_steps=100)  # spans about 10 steps
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    for _ in range(3):
        average.on_optimizer_step()
    live = model.weight.detach().clone()
    with average.swapped_in():
        averaged = model.weight.detach().clone()
    assert torch.equal(model.weight, live)  # the live weights are back after the block
    # a point strictly between where the weights started and where they are now
    assert torch.all(averaged > start) and torch.all(averaged < live)
    for _ in range(200):
        average.on_optimizer_step()
    with average.swapped_in():
        assert torch.allclose(model.weight, live)  # weights that stay put are where the average settles


def test_frozen_parameters_are_left_alone():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    model[0].weight.requires_grad_(False)
    average = WeightAverage(model, total_steps=10)
    assert all(p.requires_grad for p in average.params) and len(average.params) == 3


def test_gradual_unfreezing_adds_one_layer_at_a_time_top_first_and_leaves_the_frozen_ones_alone():
    """Three layers and the embeddings below the head, over all of 10 steps: a layer joins
    every 2.5 steps (layer 2 after step 3, layer 1 after step 5, layer 0 after step 8), the
    embeddings only at the end, so they never train."""
    from transformers import BertConfig, BertForSequenceClassification

    from transferkit.training.batching import PadCollator
    from transferkit.training.callbacks import Callback
    from transferkit.training.loop import LoopSettings, TrainingLoop

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=20, hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32, num_labels=2))
    start = {name: p.detach().clone() for name, p in model.named_parameters()}
    items = [{"input_ids": [1, 4 + i % 2, 6 + i % 7], "labels": i % 2} for i in range(40)]
    settings = LoopSettings(epochs=1, lr=1e-2, batch_size=4, seed=0, warmup_ratio=0.0, weight_decay=0.01, evaluations=1,
                            patience=10, mixed_precision="no", layer_lr_decay=1.0, gradual_unfreezing=1.0)
    loop = TrainingLoop(model, items, PadCollator(0), settings)
    training: dict[int, list[bool]] = {}

    class Watch(Callback):
        def on_step_end(self, state):
            training[state.steps] = [model.bert.encoder.layer[i].output.dense.weight.requires_grad for i in range(3)] + [
                model.bert.embeddings.word_embeddings.weight.requires_grad]

    loop.callbacks.append(Watch())
    loop.run()
    assert training[1] == training[2] == [False, False, False, False]
    assert training[3] == training[4] == [False, False, True, False]
    assert training[5] == training[7] == [False, True, True, False]
    assert training[8] == training[9] == [True, True, True, False]
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, start[name])}
    assert "classifier.weight" in changed and "bert.encoder.layer.0.output.dense.weight" in changed
    assert not any("embeddings" in name for name in changed)
    assert all(p.requires_grad for p in model.parameters())  # as it was before training
