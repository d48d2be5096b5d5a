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
