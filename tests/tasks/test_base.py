"""Building the model a transformer strategy trains (`Task.build_model`)."""

import pytest
import torch
from transformers import AutoModel, AutoModelForSequenceClassification, AutoModelForTokenClassification

from transferkit.models.zoo import resolve_model
from transferkit.tasks import get_task
from transferkit.tasks.base import trained_labels


@pytest.mark.parametrize("from_scratch", [False, True])
def test_a_half_precision_directory_still_trains_in_float32(tmp_path, from_scratch):
    # A directory saved in fp16 records that dtype in its config; scratch used to build
    # its random model in fp16, where most AdamW updates round to nothing.
    AutoModel.from_pretrained(resolve_model("minilm"), dtype=torch.float16).save_pretrained(tmp_path)
    for task, auto_class in (("classify", AutoModelForSequenceClassification), ("ner", AutoModelForTokenClassification)):
        model = get_task(task).build_model(str(tmp_path), ["O", "B-PER", "I-PER"], from_scratch)
        assert isinstance(model, auto_class._model_mapping[type(model.config)])
        assert {p.dtype for p in model.parameters()} == {torch.float32}
        assert model.config.id2label == {0: "O", 1: "B-PER", 2: "I-PER"}


def test_a_run_continued_on_other_data_keeps_its_labels_and_head(ner_run, tmp_path):
    # English NER continued on a few sentences of another language: the sentences need not
    # carry every type; the run keeps the model's tags, in its order, and its trained head.
    from transferkit import api
    from transferkit.config import TrainConfig

    from conftest import ner_sentences, write_conll

    people_only = [(tokens, [t if t.endswith("PER") else "O" for t in tags]) for tokens, tags in ner_sentences(8, seed=7)]
    before = AutoModelForTokenClassification.from_pretrained(ner_run / "model")
    cfg = TrainConfig(task="ner", train=str(write_conll(tmp_path / "few.txt", people_only)), output=str(tmp_path / "run"),
                      model=str(ner_run / "model"), max_steps=1, lr=1e-12, batch_size=8, max_length=32)
    api.train(cfg)
    after = AutoModelForTokenClassification.from_pretrained(tmp_path / "run" / "model")
    assert after.config.id2label == before.config.id2label
    assert torch.allclose(after.classifier.weight, before.classifier.weight, atol=1e-6)


def test_a_trained_model_given_other_labels_gets_a_new_head(ner_run):
    model = get_task("ner").build_model(str(ner_run / "model"), ["O", "B-DATE", "I-DATE"], from_scratch=False)
    assert model.classifier.out_features == 3 and model.config.id2label == {0: "O", 1: "B-DATE", 2: "I-DATE"}


def test_only_a_trained_directory_has_trained_labels(ner_run, tmp_path):
    assert trained_labels(str(ner_run / "model"))[0] == "O"
    assert trained_labels(resolve_model("minilm")) is None  # an encoder: LABEL_0, LABEL_1 or none
    assert trained_labels("minilm") is None and trained_labels(str(tmp_path)) is None


def _lines(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_load_data_reports_skipped_rows_and_dev_and_test_examples_also_in_train(tmp_path, capsys):
    from transferkit.config import TrainConfig

    train = _lines(tmp_path / "train.csv", ["text,label", "a good film,pos", "a bad film,neg", "  ,pos", "fine film,pos"])
    dev = _lines(tmp_path / "dev.csv", ["text,label", "a  good film ,pos", "new film,neg"])  # the same text, other spacing
    news = _lines(tmp_path / "news.csv", ["text,label", "fine film,pos", "a bad film,neg", "too,many,fields", "other,neg"])
    cfg = TrainConfig(task="classify", train=train, dev=dev, test=[f"news={news}", f"web={dev}"], on_bad_row="skip", max_bad_rows=0.5)
    data = get_task("classify").load_data(cfg)
    assert data.report == {
        "skipped_rows": {"train": 1, "dev": 0, "test": {"news": 1, "web": 0}},
        "overlap_with_train": {"dev": 1, "test": {"news": 2, "web": 1}},
    }
    assert [(row["file"], row["line"]) for row in data.skipped] == [(train, 4), (news, 4)]
    err = capsys.readouterr().err
    assert f"warning: {news}: 2 of its 3 examples also occur in the training data ({train})" in err
    one_test = get_task("classify").load_data(TrainConfig(task="classify", train=train, test=[news], on_bad_row="skip", max_bad_rows=0.5))
    assert one_test.report["overlap_with_train"] == {"test": 2} and one_test.report["skipped_rows"] == {"train": 1, "test": 1}


@pytest.mark.parametrize(
    "task, suffix, train, test, keys",
    [
        ("ner", "txt", "John B-PER\nruns O\n\nMary B-PER\n", "Mary B-PER\n\nJohn B-PER\n", 1),  # the tokens, not a prefix
        ("qa", "jsonl", [("Who?", "Lucy runs."), ("Who?", "Tom runs.")], [("Who?", "Lucy runs."), ("Who runs?", "Tom runs.")], 1),
        ("lm", "txt", "one doc\ntwo doc\n", "two doc\nthree doc\n", 1),
    ],
)
def test_every_task_says_when_a_test_example_is_a_training_example(tmp_path, task, suffix, train, test, keys):
    import json

    from transferkit.config import TrainConfig

    def write(name, content):
        if isinstance(content, list):  # qa rows: question, context; the answer is the context's first word
            content = "".join(json.dumps({"question": q, "context": c, "answers": [{"text": c.split()[0], "answer_start": 0}]}) + "\n" for q, c in content)
        (tmp_path / name).write_text(content)
        return str(tmp_path / name)

    cfg = TrainConfig(task=task, train=write(f"train.{suffix}", train), test=[write(f"test.{suffix}", test)])
    assert get_task(task).load_data(cfg).report == {"skipped_rows": {"train": 0, "test": 0}, "overlap_with_train": {"test": keys}}
