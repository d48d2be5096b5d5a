"""publish_built writes a rebuilt model where transformers can load it, readable by others
sharing the cache, leaves no staging directory, and keeps the copy of a process that
published the same build first."""

import stat

from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel

from transferkit.models.built import publish_built
from transferkit.models.zoo import resolve_model


def _tiny_bert():
    return BertModel(BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1,
                                num_attention_heads=2, intermediate_size=16))


def test_publish_built_writes_a_loadable_readable_directory(tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm"))
    target = tmp_path / "cache" / "models" / "tiny"
    assert publish_built(_tiny_bert(), tokenizer, target) == target
    assert AutoModel.from_pretrained(target).config.hidden_size == 8
    assert AutoTokenizer.from_pretrained(target).vocab_size == tokenizer.vocab_size
    weights = target / "model.safetensors"
    assert weights.stat().st_mode & stat.S_IRGRP, "others sharing the cache must read the weights"
    assert [p.name for p in target.parent.iterdir()] == ["tiny"], "no staging directory left"


def test_a_build_another_process_published_first_is_kept(tmp_path):
    # two runs starting on an empty cache both build; the second to finish keeps the first's copy
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm"))
    target = tmp_path / "tiny"
    publish_built(_tiny_bert(), tokenizer, target)
    (target / "first").write_text("published first")
    assert publish_built(_tiny_bert(), tokenizer, target) == target
    assert (target / "first").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"], "the second build's staging directory is removed"
