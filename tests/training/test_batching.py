import torch

from transferkit.training.batching import LengthGroupedBatchSampler, PadCollator, sorted_batches


def test_collator_pads_to_longest_and_masks():
    batch = PadCollator(pad_token_id=7)(
        [{"input_ids": [1, 2, 3], "token_type_ids": [0, 0, 1], "labels": 1}, {"input_ids": [4], "token_type_ids": [0], "labels": 0}]
    )
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 7, 7]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["token_type_ids"].tolist() == [[0, 0, 1], [0, 0, 0]]
    assert torch.equal(batch["labels"], torch.tensor([1, 0]))


def test_length_grouped_batches_cover_everything_once_and_group_lengths():
    lengths = [(i * 37) % 100 + 1 for i in range(1000)]
    sampler = LengthGroupedBatchSampler(lengths, batch_size=10, seed=3, group_batches=100)
    first = list(sampler)
    assert sorted(i for b in first for i in b) == list(range(1000))
    assert len(first) == len(sampler) == 100
    # With one group of 1,000 sorted examples, each batch spans a narrow band of lengths.
    assert max(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in first) <= 2
    second = list(sampler)
    assert first != second  # a new order each epoch
    assert first == list(LengthGroupedBatchSampler(lengths, batch_size=10, seed=3, group_batches=100))


def test_sorted_batches_longest_first():
    batches = sorted_batches([3, 9, 1, 5], batch_size=2)
    assert batches == [[1, 3], [0, 2]]
