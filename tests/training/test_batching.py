import pytest
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


def test_batch_lengths_round_up_to_the_multiple_but_not_past_the_longest_an_item_can_be():
    from transferkit.training.batching import padded_width

    assert [padded_width(n, 8) for n in (1, 8, 9, 13, 16, 17)] == [8, 8, 16, 16, 16, 24]
    assert [padded_width(n, 1) for n in (1, 13)] == [1, 13]
    assert padded_width(97, 16, limit=100) == 100  # not 112: the last bucket is --max-length
    assert padded_width(60, 16, limit=64) == 64 and padded_width(33, 16, limit=64) == 48


def test_a_multiple_of_1_pads_as_before():
    items = [{"input_ids": [1, 2, 3], "token_type_ids": [0, 0, 1], "labels": [5, -100, 6]}, {"input_ids": [4], "token_type_ids": [0], "labels": [7]}]
    plain, bucketed = PadCollator(7)(items), PadCollator(7, pad_to_multiple_of=1, max_length=16)(items)
    assert plain.keys() == bucketed.keys() and all(torch.equal(plain[k], bucketed[k]) for k in plain)
    assert plain["input_ids"].shape == (2, 3)


# The items each task's encoder gives the loop's collator (classify: a class; ner: a tag per
# sub-word, -100 after a word's first; qa: the answer's first and last token; lm: labels = inputs).
CLASSIFY = [{"input_ids": [101, 5, 6, 102], "token_type_ids": [0, 0, 0, 0], "labels": 1}, {"input_ids": [101, 7, 102], "token_type_ids": [0, 0, 0], "labels": 0}]
NER = [{"input_ids": [101, 5, 6, 7, 102], "labels": [-100, 2, -100, 1, -100]}, {"input_ids": [101, 8, 102], "labels": [-100, 0, -100]}]
QA = [{"input_ids": [101, 5, 102, 6, 7, 102], "token_type_ids": [0, 0, 0, 1, 1, 1], "start_positions": 3, "end_positions": 4},
      {"input_ids": [101, 5, 102, 8, 102], "token_type_ids": [0, 0, 0, 1, 1], "start_positions": 0, "end_positions": 0}]
LM = [{"input_ids": [3, 4, 5, 6, 7], "labels": [3, 4, 5, 6, 7]}, {"input_ids": [8, 9], "labels": [8, 9]}]


@pytest.mark.parametrize("items", [CLASSIFY, NER, QA, LM], ids=["classify", "ner", "qa", "lm"])
def test_bucketed_batches_mask_and_label_the_padding(items):
    batch = PadCollator(0, pad_to_multiple_of=8)(items)
    assert batch["input_ids"].shape == (2, 8)
    for row, item in enumerate(items):
        n = len(item["input_ids"])
        assert batch["input_ids"][row].tolist() == item["input_ids"] + [0] * (8 - n)
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * (8 - n)
        for key, value in item.items():
            if key == "labels" and isinstance(value, list):  # per token: the padding is ignored by the loss
                assert batch[key][row].tolist() == value + [-100] * (8 - n)
            elif key == "token_type_ids":
                assert batch[key][row].tolist() == value + [0] * (8 - n)
            elif not isinstance(value, list):  # a class, an answer position: as it was
                assert batch[key][row].item() == value


def tiny(kind):
    from transformers import BertConfig, BertForSequenceClassification, BertForTokenClassification, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    bert = BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=3)
    model = {"classify": lambda: BertForSequenceClassification(bert), "ner": lambda: BertForTokenClassification(bert),
             "lm": lambda: GPT2LMHeadModel(GPT2Config(vocab_size=120, n_embd=32, n_layer=2, n_head=2))}[kind]()
    return model.eval()


@pytest.mark.parametrize("kind, items", [("classify", CLASSIFY), ("ner", NER), ("lm", LM)])
def test_bucketing_leaves_the_models_loss_as_it_was(kind, items):
    model = tiny(kind)
    with torch.no_grad():
        losses = [model(**PadCollator(0, pad_to_multiple_of=m)(items)).loss for m in (1, 8, 16)]
    assert losses[0].isfinite() and all(torch.allclose(loss, losses[0], atol=1e-6) for loss in losses[1:])
