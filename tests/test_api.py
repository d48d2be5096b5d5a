"""End to end through the public functions, with the real offline MiniLM."""

import json
from dataclasses import replace

import numpy as np
import pytest
import yaml

from transferkit import api
from transferkit.config import TrainConfig
from transferkit.errors import UserError
from transferkit.rundir import MARKER_FILE


def config(sentiment, tmp_path, **kw) -> TrainConfig:
    """The options of a small run; those that do not apply to its strategy (tfidf reads no
    --max-length) are left out, as a sweep leaves them out of each cell."""
    base = dict(train=str(sentiment["train"]), dev=str(sentiment["dev"]), test=str(sentiment["test"]), output=str(tmp_path / "run"), max_length=32)
    return TrainConfig(**{**base, **kw}).only_applicable()


def test_tfidf_run_directory_has_the_documented_layout(sentiment, tmp_path):
    metrics = api.train(config(sentiment, tmp_path, strategy="tfidf"))
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == [MARKER_FILE, "config.yaml", "metrics.json", "mistakes.md", "model", "predictions"]
    on_disk = json.loads((run / "metrics.json").read_text())
    assert on_disk == json.loads(json.dumps(metrics))
    assert {"task", "strategy", "model", "labels", "dev", "test", "train", "versions"} <= set(on_disk)
    assert on_disk["labels"] == ["negative", "positive"]
    assert set(on_disk["train"]) >= {"seconds", "examples", "samples_per_second"}
    assert {"accuracy", "macro_f1", "per_class"} <= set(on_disk["test"])
    lines = [json.loads(l) for l in (run / "predictions" / "test.jsonl").read_text().splitlines()]
    assert len(lines) == 20 and set(lines[0]) == {"id", "prediction", "gold", "score"}
    assert np.mean([l["prediction"] == l["gold"] for l in lines]) == pytest.approx(on_disk["test"]["accuracy"])
    assert not list(tmp_path.glob(".run*"))  # no staging leftovers


def test_features_second_run_reuses_the_embedding_cache(sentiment, tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERKIT_CACHE", str(tmp_path / "cache"))  # empty: other tests embed these texts too
    first = api.train(config(sentiment, tmp_path, strategy="features"))
    assert first["train"]["feature_cache"] == {"hits": 0, "misses": 2}
    assert first["test"]["accuracy"] >= 0.8  # the adjectives carry the label
    second = api.train(config(sentiment, tmp_path, strategy="features", overwrite=True, seed=5))
    assert second["train"]["feature_cache"] == {"hits": 2, "misses": 0}


def test_finetune_pipeline_agrees_with_predict_and_config_reproduces_the_run(sentiment, tmp_path):
    """The pipeline gives the model's own probabilities; predict the same after the run's
    temperature (fitted on dev, in model/transferkit.json): softmax(log p / T)."""
    import json

    import numpy as np
    from transformers import pipeline

    metrics = api.train(config(sentiment, tmp_path, strategy="finetune", epochs=2))
    run = tmp_path / "run"
    texts = ["a wonderful and moving film", "tedious, dull and lifeless", "i found the plot gripping"]
    ours = api.predict(str(run), texts)
    classifier = pipeline("text-classification", model=str(run / "model"), device="cpu", top_k=None)
    theirs = classifier(texts)
    temperature = json.loads((run / "model" / "transferkit.json").read_text())["temperature"]
    assert temperature == metrics["calibration"]["temperature"] and temperature != 1.0
    for o, t in zip(ours, theirs):
        labels = [s["label"] for s in t]
        logp = np.log([s["score"] for s in t]) / temperature
        scaled = np.exp(logp - logp.max()) / np.exp(logp - logp.max()).sum()
        assert o["prediction"] == labels[int(np.argmax(scaled))] == t[0]["label"]
        assert o["score"] == pytest.approx(float(scaled.max()), abs=1e-4)

    cfg = TrainConfig.from_yaml(str(run / "config.yaml"))
    cfg.output = str(tmp_path / "again")
    again = api.train(cfg)
    assert again["test"] == metrics["test"]  # same seed, same CPU run
    assert yaml.safe_load((run / "config.yaml").read_text())["epochs"] == 2


def test_config_yaml_holds_the_values_a_default_run_used(sentiment, tmp_path, monkeypatch):
    """No null learning rate, epochs or batch size: the run repeats from its config.yaml even
    after a default in the recipe table changes."""
    from transferkit import recipes

    api.train(config(sentiment, tmp_path, strategy="finetune", max_steps=2))
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert (saved["lr"], saved["batch_size"], saved["layer_lr_decay"], saved["warmup_ratio"]) == (1.5e-4, 32, 0.8, 0.06)
    assert saved["epochs"] == 30 and saved["max_length"] == 32  # 48 examples: 2 steps an epoch, the 100-step rule's cap
    assert None not in (saved["lr"], saved["epochs"], saved["batch_size"])
    first = json.loads((tmp_path / "run" / "metrics.json").read_text())
    monkeypatch.setitem(recipes.RECIPES, ("classify", "finetune"), {**recipes.RECIPES[("classify", "finetune")], "lr": 1e-3, "batch_size": 8})
    again = api.train(replace(TrainConfig.from_yaml(str(tmp_path / "run" / "config.yaml")), output=str(tmp_path / "again")))
    assert again["test"] == first["test"] and again["train"]["lr"] == 1.5e-4 and again["train"]["batch_size"] == 32


def test_scratch_trains_from_random_weights(sentiment, tmp_path):
    metrics = api.train(config(sentiment, tmp_path, strategy="scratch", epochs=1))
    assert metrics["strategy"] == "scratch" and metrics["train"]["examples"] == 48
    from safetensors.torch import load_file

    from transferkit.models.zoo import resolve_model

    pretrained = load_file(resolve_model("minilm") + "/model.safetensors")["embeddings.word_embeddings.weight"]
    trained = load_file(str(tmp_path / "run" / "model" / "model.safetensors"))["bert.embeddings.word_embeddings.weight"]
    assert not np.allclose(pretrained.numpy(), trained.numpy(), atol=0.05)


def test_labels_per_class_and_evaluate(sentiment, tmp_path):
    metrics = api.train(config(sentiment, tmp_path, strategy="tfidf", labels_per_class=5))
    assert metrics["train"]["labelled_examples"] == 10
    scores = api.evaluate(str(tmp_path / "run"), str(sentiment["test"]))
    assert scores["accuracy"] == metrics["test"]["accuracy"]


def test_ner_run_learns_entities_and_its_model_works_in_the_transformers_pipeline(ner_run):
    from transformers import pipeline

    metrics = json.loads((ner_run / "metrics.json").read_text())
    assert metrics["labels"] == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert metrics["test"]["f1"] >= 0.7 and set(metrics["test"]["per_type"]) == {"LOC", "ORG", "PER"}
    records = [json.loads(l) for l in (ner_run / "predictions" / "test.jsonl").read_text().splitlines()]
    assert len(records) == 30 and {"id", "tokens", "gold", "prediction"} <= set(records[0])
    assert all(len(r["tokens"]) == len(r["gold"]) == len(r["prediction"]) for r in records)

    text = "John Smith works for Siemens in New York ."
    ours = api.predict(str(ner_run), [text])[0]["entities"]
    tagger = pipeline("token-classification", model=str(ner_run / "model"), aggregation_strategy="simple", device="cpu")
    theirs = tagger(text)
    assert [(e["type"], e["start"], e["end"]) for e in ours] == [(e["entity_group"], e["start"], e["end"]) for e in theirs]
    assert ("PER", "John Smith") in [(e["type"], e["text"]) for e in ours]


def test_ner_words_read_their_documents_neighbouring_sentences(ner_run, ner_files):
    import numpy as np

    from transferkit.data.conll import read_token_split
    from transferkit.serving.predictor import load_predictor

    tagger = load_predictor(ner_run / "model")
    assert tagger.context == "document"  # finetune's default, recorded in model/transferkit.json
    sentences = read_token_split(str(ner_files["test"])).tokens[:6]
    _, alone = tagger.tag(sentences)
    _, joined = tagger.tag(sentences, [0] * 6)
    assert not all(np.allclose(a, j) for a, j in zip(alone, joined))
    tagger.context = "sentence"
    _, ignored = tagger.tag(sentences, [0] * 6)
    assert all(np.array_equal(a, i) for a, i in zip(alone, ignored))


def test_ner_evaluate_reproduces_the_test_metrics_and_config_reproduces_the_run(ner_run, ner_files, tmp_path):
    metrics = json.loads((ner_run / "metrics.json").read_text())
    again = api.evaluate(str(ner_run), str(ner_files["test"]))
    assert again["f1"] == pytest.approx(metrics["test"]["f1"])
    cfg = TrainConfig.from_yaml(str(ner_run / "config.yaml"))
    rerun = api.train(TrainConfig(**{**cfg.__dict__, "output": str(tmp_path / "again")}))
    assert rerun["test"] == metrics["test"]  # same seed, same CPU: the same run


def test_qa_run_finds_answers_and_plain_transformers_reads_its_model(qa_run):
    """transformers 5 removed `pipeline("question-answering")` (4.57's pipeline reads the
    directory and agrees: README); this does what that pipeline did, with transformers only:
    per-window softmax over the context tokens, the best start x end within 30 tokens."""
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    metrics = json.loads((qa_run / "metrics.json").read_text())
    assert metrics["task"] == "qa" and metrics["test"]["f1"] >= 0.7 and metrics["test"]["questions"] == 24
    info = json.loads((qa_run / "model" / "transferkit.json").read_text())
    assert info["max_length"] == 48 and info["stride"] == 8 and info["max_answer_length"] == 30 and info["no_answer_threshold"] is None
    records = [json.loads(l) for l in (qa_run / "predictions" / "test.jsonl").read_text().splitlines()]
    assert len(records) == 24 and {"id", "prediction", "gold", "score", "start", "end"} <= set(records[0])

    questions = ["What is the sport of Mary?", "What is the instrument of Peter?"]
    context = "The sport of Mary is golf. The instrument of Peter is violin."
    ours = api.predict(str(qa_run), questions, context=context)
    tokenizer = AutoTokenizer.from_pretrained(str(qa_run / "model"))
    model = AutoModelForQuestionAnswering.from_pretrained(str(qa_run / "model")).eval()
    theirs = []
    for question in questions:
        enc = tokenizer(question, context, return_offsets_mapping=True, return_tensors="pt")
        offsets = enc.pop("offset_mapping")[0].tolist()
        with torch.no_grad():
            out = model(**enc)
        outside = torch.tensor([s != 1 for s in enc.sequence_ids(0)])
        start = torch.softmax(out.start_logits[0].masked_fill(outside, -1e4), -1)
        end = torch.softmax(out.end_logits[0].masked_fill(outside, -1e4), -1)
        pairs = torch.triu(torch.outer(start, end)) - torch.triu(torch.outer(start, end), diagonal=30)
        s, e = divmod(int(pairs.argmax()), pairs.shape[1])
        theirs.append((context[offsets[s][0] : offsets[e][1]], offsets[s][0], offsets[e][1]))
    assert [(o["answer"], o["start"], o["end"]) for o in ours] == theirs
    assert [o["answer"] for o in ours] == ["golf", "violin"]


def test_qa_answer_is_found_in_the_third_window_of_a_long_context(qa_run):
    import random

    from transformers import AutoTokenizer

    from conftest import qa_context
    from transferkit.data.squad import Answer
    from transferkit.tasks.qa_windows import encode_windows

    context, facts = qa_context(random.Random(7), facts=1, fillers=12, asked="pet", position=8)
    name, value = facts["pet"]
    question = f"What is the pet of {name}?"
    answer = Answer(value, context.index(f"is {value}.") + 3)
    windows = encode_windows(AutoTokenizer.from_pretrained(qa_run / "model"), [question], [context], 48, 8, ["q"], [[answer]])
    assert len(windows.items) >= 4
    assert [w for w, item in enumerate(windows.items) if item["start_positions"]] == [2]  # only the third holds it
    found = api.predict(str(qa_run), [question], context=context)[0]
    assert (found["answer"], found["start"], found["end"]) == (value, answer.start, answer.end)


def test_qa_evaluate_reproduces_the_test_metrics(qa_run, qa_files):
    metrics = json.loads((qa_run / "metrics.json").read_text())
    again = api.evaluate(str(qa_run), str(qa_files["test"]))
    assert again["f1"] == pytest.approx(metrics["test"]["f1"]) and again["exact_match"] == pytest.approx(metrics["test"]["exact_match"])


def test_qa_scratch_on_v2_data_chooses_a_no_answer_threshold_on_dev(qa_files, tmp_path):
    from conftest import qa_records, write_squad

    def with_unanswerable(records):  # every third question asks about a name the passage does not mention
        for k, r in enumerate(records):
            if k % 3 == 0:
                r.update(question="What is the pet of Zoe?", answers=[], is_impossible=True)
        return records

    train = write_squad(tmp_path / "train.json", with_unanswerable(qa_records(60, seed=11)), version="v2.0")
    dev = write_squad(tmp_path / "dev.json", with_unanswerable(qa_records(24, seed=12)), version="v2.0")
    cfg = TrainConfig(task="qa", strategy="scratch", train=str(train), dev=str(dev), test=str(dev), output=str(tmp_path / "run"),
                      epochs=1, batch_size=16, max_length=48, doc_stride=8, evaluations=1)
    metrics = api.train(cfg)
    assert metrics["strategy"] == "scratch" and metrics["test"]["no_answer_questions"] == 8
    assert {"has_answer_f1", "no_answer_f1", "has_answer_exact_match", "no_answer_exact_match"} <= set(metrics["test"])
    threshold = json.loads((tmp_path / "run" / "model" / "transferkit.json").read_text())["no_answer_threshold"]
    assert isinstance(threshold, float) and np.isfinite(threshold)
    assert metrics["dev"]["f1"] == pytest.approx(metrics["train"]["best_dev_f1"], abs=1e-6)  # the threshold was chosen on dev


def test_every_task_draws_a_label_budget(ner_files, tmp_path):
    """--train-examples N for the tasks without classes: N sentences here, drawn with the seed."""
    metrics = api.train(TrainConfig(task="ner", strategy="features", train=str(ner_files["train"]), test=str(ner_files["test"]),
                                    output=str(tmp_path / "run"), train_examples=20, max_length=32))
    assert metrics["train"]["labelled_examples"] == 20 and metrics["test"]["sentences"] == 30
    with pytest.raises(UserError, match="--train-examples: applies to --task ner, qa, lm, not classify"):
        api.train(TrainConfig(train=str(ner_files["train"]), output=str(tmp_path / "other"), train_examples=20))


def test_named_test_sets_are_scored_and_written_one_by_one(sentiment, tmp_path):
    run = tmp_path / "run"
    metrics = api.train(config(sentiment, tmp_path, strategy="tfidf", test=[f"en={sentiment['test']}", f"de-news={sentiment['dev']}"]))
    assert list(metrics["test"]) == ["en", "de-news"]
    assert metrics["test"]["en"]["language"] == "en" and metrics["test"]["de-news"]["language"] == "de"
    for name, path in (("en", sentiment["test"]), ("de-news", sentiment["dev"])):
        again = api.evaluate(str(run), str(path))
        assert metrics["test"][name]["accuracy"] == again["accuracy"]
        assert len((run / "predictions" / f"test-{name}.jsonl").read_text().splitlines()) == len(path.read_text().splitlines()) - 1
    assert sorted(p.name for p in (run / "predictions").iterdir()) == ["test-de-news.jsonl", "test-en.jsonl"]
    saved = yaml.safe_load((run / "config.yaml").read_text())["test"]
    assert saved == [f"en={sentiment['test'].resolve()}", f"de-news={sentiment['dev'].resolve()}"]
    assert TrainConfig.from_yaml(str(run / "config.yaml")).test == saved


def test_evaluate_scores_qa_answers_by_the_language_given(qa_run, qa_files):
    assert api.evaluate(str(qa_run), str(qa_files["test"]))["language"] == "en"  # detected from the contexts
    assert api.evaluate(str(qa_run), str(qa_files["test"]), language="de")["language"] == "de"
    with pytest.raises(UserError, match="expected a language code"):
        api.evaluate(str(qa_run), str(qa_files["test"]), language="German")


def test_a_multilingual_encoder_finetunes_with_its_embeddings_frozen_by_default(e5_cache, sentiment, tmp_path, monkeypatch):
    # --freeze-embeddings auto: multilingual-e5-small's 250k-word matrix stays as pretrained,
    # and config.yaml says so, so the run repeats without the rule
    monkeypatch.setenv("TRANSFERKIT_CACHE", str(e5_cache))
    metrics = api.train(config(sentiment, tmp_path, model="multilingual-e5-small", strategy="finetune", max_steps=1, batch_size=4))
    assert metrics["train"]["trainable_parameters"] < 25_000_000  # of 118M: the embeddings (96M) did not train
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["freeze_embeddings"] == "yes"
    minilm = api.train(config(sentiment, tmp_path / "minilm", strategy="finetune", max_steps=1, batch_size=4))
    assert minilm["train"]["trainable_parameters"] > 22_000_000  # an English vocabulary trains
