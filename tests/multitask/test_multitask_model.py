"""The pieces the loop trains a multi-task model with: the shared encoder, the wrapper the
loop reads, the one-head-at-a-time batch sampler and the mean dev score."""

import torch
from transformers import BertConfig, BertForSequenceClassification, BertForTokenClassification

from transferkit.multitask.model import HeadBatchSampler, MeanDevScore, MultiTaskModel, batch_loss, head_shares, share_encoder
from transferkit.training.batching import LengthGroupedBatchSampler
from transferkit.training.loop import parameter_groups

TINY = dict(vocab_size=50, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=16)


def heads():
    torch.manual_seed(0)
    classifier = BertForSequenceClassification(BertConfig(**TINY, num_labels=2))
    tagger = BertForTokenClassification(BertConfig(**TINY, num_labels=3))
    return {"sentiment": classifier, "entities": tagger}


def test_the_heads_share_the_encoder_but_not_the_pooler_only_the_classifier_has():
    models = heads()
    assert share_encoder(list(models.values())) == ["embeddings", "encoder"]
    classifier, tagger = models.values()
    assert tagger.bert.encoder is classifier.bert.encoder and tagger.bert.embeddings is classifier.bert.embeddings
    assert classifier.bert.pooler is not None and tagger.bert.pooler is None


def test_the_wrapper_holds_each_shared_weight_once_and_dispatches_by_head():
    models = heads()
    share_encoder(list(models.values()))
    model = MultiTaskModel(models, {"sentiment": None, "entities": None})
    own = sum(p.numel() for m in models.values() for p in m.parameters())
    encoder = sum(p.numel() for p in models["sentiment"].bert.embeddings.parameters()) + sum(p.numel() for p in models["sentiment"].bert.encoder.parameters())
    assert sum(p.numel() for p in model.parameters()) == own - encoder
    assert model.config.num_hidden_layers == 2 and model.get_input_embeddings() is models["entities"].get_input_embeddings()
    depths = {group["lr"] for group in parameter_groups(model, type("S", (), {"lr": 1.0, "layer_lr_decay": 0.5, "weight_decay": 0.0})())}
    assert depths == {1.0, 0.5, 0.25, 0.125}  # head, two layers, embeddings: layer-wise rates as for one model
    ids = torch.tensor([[1, 5, 6, 2], [1, 7, 2, 0]])
    mask = (ids != 0).long()
    tagged = batch_loss(model, {"head": torch.tensor([1, 1]), "input_ids": ids, "attention_mask": mask, "labels": torch.tensor([[0, 1, 2, -100], [0, 2, 0, -100]])})
    classified = batch_loss(model, {"head": torch.tensor([0, 0]), "input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1])})
    assert tagged.ndim == classified.ndim == 0
    tagged.backward()
    assert models["entities"].classifier.weight.grad is not None and models["sentiment"].classifier.weight.grad is None


def test_a_pass_is_every_item_once_in_batches_of_one_head_each_in_its_single_task_order():
    lengths = [[3, 5, 2, 8, 4, 4, 6], [10, 12, 11, 9]]
    sampler = HeadBatchSampler(lengths, [2, 3], seed=1)
    assert len(sampler) == 4 + 2
    for epoch in range(3):
        sampler.epoch = epoch
        batches = list(sampler)
        assert sorted(i for batch in batches for i in batch) == list(range(11))
        heads_of = [{sampler.head_of(i) for i in batch} for batch in batches]
        assert all(len(h) == 1 for h in heads_of) and sum(h == {0} for h in heads_of) == 4
        for head, offset in ((0, 0), (1, 7)):  # each head's batches: its single-task run's, in its order
            alone = LengthGroupedBatchSampler(lengths[head], [2, 3][head], 1)
            alone.epoch = epoch
            assert [[i - offset for i in batch] for batch, h in zip(batches, heads_of) if h == {head}] == list(alone)
    sampler.epoch = 0
    first = list(sampler)
    sampler.epoch = 0
    assert list(sampler) == first  # fixed by the seed and the pass: a resumed run draws the same


def test_head_shares_count_the_steps_the_run_took_with_padded_tokens():
    lengths = [[3, 5], [10, 12, 11]]
    sampler = HeadBatchSampler(lengths, [2, 3], seed=0)
    shares = head_shares(sampler, [3, 5, 10, 12, 11], steps=3, pad_to_multiple_of=4, max_lengths=[128, 128])
    assert [s["steps"] for s in shares] in ([2, 1], [1, 2])  # three steps over passes of two batches
    assert sum(s["steps"] for s in shares) == 3
    by_head = [{"steps": 1, "examples": 2, "tokens": 2 * 8}, {"steps": 1, "examples": 3, "tokens": 3 * 12}]
    for share, one in zip(shares, by_head):
        assert share == {k: v * share["steps"] for k, v in one.items()}


def test_the_mean_dev_score_remembers_the_heads_at_its_first_best():
    answers = [(0.5, 0.75), (1.0, 0.5), (0.25, 1.25), (0.125, 0.125)]  # exact in binary
    current = {}

    def scorer(head):
        return lambda model: current[head]

    score = MeanDevScore({"a": scorer(0), "b": scorer(1)})
    model = type("M", (), {"heads": {"a": None, "b": None}})()
    means = []
    for pair in answers:
        current.update(enumerate(pair))
        means.append(score(model))
    assert means == [0.625, 0.75, 0.75, 0.125]
    assert score.at_best(model, 0.75) == {"a": 1.0, "b": 0.5}  # the loop keeps the first of equal bests
    assert score.at_best(model, 0.9) == {"a": 0.125, "b": 0.125}  # not seen (resumed): scored again
