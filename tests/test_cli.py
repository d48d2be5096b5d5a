"""The command-line contract: JSON out, and for every kind of bad input one
`error: <where>: <what>` line on stderr, exit status 2, and no run directory."""

import json
import re

import pytest

from conftest import sentiment_rows, write_csv, write_jsonl, write_squad


def good_rows():
    return sentiment_rows(6, seed=4)


BAD_INPUTS = {
    "missing file": (lambda d: {"train": d / "nope.csv"}, "nope.csv: file not found"),
    "empty file": (lambda d: {"train": _write(d / "e.csv", "")}, "e.csv:1: file is empty"),
    "header only": (lambda d: {"train": _write(d / "h.csv", "text,label\n")}, "h.csv:2: the file has a header but no data rows"),
    "ragged row": (lambda d: {"train": _write(d / "r.csv", "text,label\nok,positive\na,b,c\n")}, "r.csv:3: row has 3 fields"),
    "undecodable": (lambda d: {"train": _write_bytes(d / "u.csv", b"text,label\nok,positive\n\xff\xfeoops,negative\n")}, "u.csv:3: not valid UTF-8"),
    "missing column": (lambda d: {"train": write_csv(d / "c.csv", good_rows(), header=("sentence", "label"))}, "c.csv:1: no column 'text'"),
    "empty text": (lambda d: {"train": _write(d / "t.csv", "text,label\nfine,positive\n  ,negative\n")}, "t.csv:3: empty text"),
    "unknown test label": (
        lambda d: {"train": write_csv(d / "tr.csv", good_rows()), "test": write_csv(d / "te.csv", [("so so", "neutral")])},
        "te.csv:2: label 'neutral' does not occur in the training data",
    ),
    "unknown model": (
        lambda d: {"train": write_csv(d / "m.csv", good_rows()), "model": "nobody/no-such-model"},
        "--model: cannot load 'nobody/no-such-model'",
    ),
    "unknown strategy": (lambda d: {"train": write_csv(d / "s.csv", good_rows()), "strategy": "magic"}, "--strategy: unknown strategy 'magic'"),
    "bad flag value": (lambda d: {"train": write_csv(d / "f.csv", good_rows()), "epochs": "many"}, "'many' is not a valid integer"),
    "bad yaml": (lambda d: {"train": write_csv(d / "y.csv", good_rows()), "config": _write(d / "c.yaml", "epochs: [1,\n")}, "c.yaml:2: not valid YAML"),
    "yaml value of the wrong type": (
        lambda d: {"train": write_csv(d / "y.csv", good_rows()), "config": _write(d / "c.yaml", "seed: 1\nepochs: five\n")},
        "c.yaml:2: epochs: expected an integer, got 'five'",
    ),
    "config is a directory": (lambda d: {"train": write_csv(d / "y.csv", good_rows()), "config": d}, "is a directory; give a YAML file of options"),
    **{
        f"--{flag} {value}": (lambda d, flag=flag, value=value: {"train": write_csv(d / "o.csv", good_rows()), flag: value}, expected)
        for flag, value, expected in [
            ("lr", "inf", "--lr: must be a finite number greater than 0, got inf"),
            ("lr", "nan", "--lr: must be a finite number greater than 0, got nan"),
            ("lr", "0", "--lr: must be greater than 0, got 0.0"),
            ("warmup-ratio", "5", "--warmup-ratio: must be at least 0 and less than 1, got 5.0"),
            ("weight-decay", "-1", "--weight-decay: must be at least 0, got -1.0"),
            ("layer-lr-decay", "1.5", "--layer-lr-decay: must be greater than 0 and at most 1, got 1.5"),
            ("seed", "-1", "--seed: must be at least 0 and at most 4,294,967,295, got -1 (numpy's seed range)"),
            ("labels-per-class", "0", "--labels-per-class: 0 trains on no labels: only --strategy zeroshot (or auto) can"),
            ("labels-per-class", "-1", "--labels-per-class: must be at least 0"),
            ("max-steps", "100000000000000000000", "--max-steps: must be at least 1 and at most 1,000,000,000, got 100000000000000000000"),
            ("epochs", "0", "--epochs: must be at least 1"),
            ("max-length", "600", "--max-length: 600 is more than the model's 512 token positions; give at most 512"),
            ("max-length", "2", "--max-length: 2 leaves no room for the text beside the tokenizer's special tokens; give at least 3"),
        ]
    },
    "data path is a directory": (lambda d: {"train": _mkdir(d / "data.csv")}, "data.csv: is a directory, expected a data file"),
    "data path through a file": (lambda d: {"train": write_csv(d / "f.csv", good_rows()) / "x.csv"}, "f.csv/x.csv: a part of the path is a file, not a folder"),
    "data path is a symlink loop": (lambda d: {"train": _symlink_loop(d / "loop.csv")}, "loop.csv: the path is a loop of symbolic links"),
    "data path is a pipe": (lambda d: {"train": _fifo(d / "pipe.csv")}, "pipe.csv: is not a regular file (a pipe, device or socket)"),
    "number as text": (
        lambda d: {"train": write_jsonl(d / "n.jsonl", [{"text": "fine", "label": "a"}, {"text": 42, "label": "b"}])},
        "n.jsonl:2: expected text in column 'text', got a number (42)",
    ),
    "score as label": (
        lambda d: {"train": write_jsonl(d / "s.jsonl", [{"text": "fine", "label": 0.73}, {"text": "good", "label": 0.1}])},
        "s.jsonl:1: label 0.73 in column 'label' is not a whole number",
    ),
    "label column is the text column": (
        lambda d: {"train": write_csv(d / "l.csv", good_rows()), "label-column": "text"}, "--label-column: 'text' is also a text column",
    ),
    "repeated id": (
        lambda d: {"train": write_csv(d / "i.csv", [("r1", "good", "positive"), ("r2", "bad", "negative"), ("r1", "fine", "positive")], header=("id", "text", "label"))},
        "i.csv:4: id 'r1' is used again (first at",
    ),
    "no word tfidf can use": (
        lambda d: {"train": _write(d / "w.csv", "text,label\na,positive\nb,negative\n"), "strategy": "tfidf"},
        "w.csv: no text has a word of two or more letters or digits",
    ),
    "unclosed csv quote": (lambda d: {"train": _write(d / "q.csv", 'text,label\nok,positive\n"never closed,negative\nx,y\n')}, "q.csv:3: a quoted field starts here and is never closed"),
}


def _write(path, text):
    path.write_text(text)
    return path


def _write_bytes(path, data):
    path.write_bytes(data)
    return path


def _mkdir(path):
    path.mkdir()
    return path


def _symlink_loop(path):
    path.symlink_to(path)
    return path


def _fifo(path):
    import os

    os.mkfifo(path)
    return path


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_one_line_exit_2_and_no_run_dir(cli, tmp_path, case):
    make, expected = BAD_INPUTS[case]
    options = make(tmp_path)
    args = ["train", "--strategy", options.pop("strategy", "finetune"), "--output", tmp_path / "run"]
    for key, value in options.items():
        args += [f"--{key}", value]
    status, out, err = cli(*args)
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert expected in err
    assert not (tmp_path / "run").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run")]


def test_a_loss_that_overflows_stops_the_run_and_publishes_nothing(cli, tmp_path):
    train = write_csv(tmp_path / "t.csv", good_rows())
    args = ["train", "--train", train, "--output", tmp_path / "run", "--max-length", 16, "--max-steps", 4, "--warmup-ratio", 0]
    status, _, err = cli(*args, "--lr", "1e10")
    assert status == 2, err
    last = err.strip().splitlines()[-1]  # the progress bar's lines come first
    assert re.fullmatch(r"error: training: the loss became (nan|inf) at step [2-4]; the learning rate \(--lr 1e\+10\) is probably too high: lower it", last), err
    assert err.count("error:") == 1
    assert not (tmp_path / "run").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run")]


def test_existing_output_is_kept_unless_overwrite(cli, sentiment, tmp_path):
    (tmp_path / "run").mkdir()
    args = ["train", "--strategy", "tfidf", "--train", sentiment["train"], "--output", tmp_path / "run"]
    status, _, err = cli(*args)
    assert status == 2 and "already exists" in err
    status, out, _ = cli(*args, "--overwrite")
    assert status == 0 and json.loads(out)["strategy"] == "tfidf"


def test_train_evaluate_predict_round_trip(cli, sentiment, tmp_path, monkeypatch):
    run = tmp_path / "run"
    status, out, err = cli("train", "--strategy", "tfidf", "--train", sentiment["train"], "--test", sentiment["test"], "--output", run)
    assert status == 0, err
    summary = json.loads(out)
    status, out, _ = cli("evaluate", run, "--data", sentiment["test"])
    assert status == 0 and json.loads(out)["accuracy"] == summary["test"]["accuracy"]

    status, out, _ = cli("predict", run, "a wonderful film", "a tedious film")
    lines = [json.loads(l) for l in out.splitlines()]
    assert [l["text"] for l in lines] == ["a wonderful film", "a tedious film"]
    assert all(l["prediction"] in ("negative", "positive") and 0.5 <= l["score"] <= 1 for l in lines)

    status, _, _ = cli("predict", run, "--input", sentiment["test"], "--output", tmp_path / "p.jsonl")
    assert status == 0 and len((tmp_path / "p.jsonl").read_text().splitlines()) == 20

    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.StringIO("great\n\nawful\n"))
    status, out, _ = cli("predict", run)
    assert status == 0 and [json.loads(l)["text"] for l in out.splitlines()] == ["great", "awful"]


def test_evaluate_needs_a_run_directory(cli, tmp_path, sentiment):
    status, _, err = cli("evaluate", tmp_path, "--data", sentiment["test"])
    assert status == 2 and "not a transferkit run directory" in err


@pytest.mark.parametrize("args, expected", [
    (["--tag-scheme", "iob2"], "error: --tag-scheme: applies to --task ner, not classify"),
    (["--tag-scheme", "auto"], "error: --tag-scheme: applies to --task ner, not classify"),  # typed, so given
    (["--strategy", "finetune", "--vectors", "glove-50d"], "error: --vectors: applies to --strategy wordvec, not finetune"),
    (["--task", "ner", "--max-answer-length", "10"], "error: --max-answer-length: applies to --task qa, not ner"),
])
def test_an_option_of_another_task_or_strategy_is_one_line_exit_2(cli, sentiment, tmp_path, args, expected):
    status, _, err = cli("train", "--train", sentiment["train"], "--output", tmp_path / "run", *args)
    assert status == 2 and err == expected + "\n" and not (tmp_path / "run").exists()


def test_models_list(cli):
    status, out, _ = cli("models", "list")
    states = {line.split(maxsplit=1)[0]: line.split(maxsplit=1)[1] for line in out.splitlines() if not line.startswith(" ")}
    assert status == 0 and states == {"minilm": "installed", "mpnet": "installed", "smollm2-135m": "installed", "multilingual-e5-small": "installed"}  # all ship with `make test`


def test_verbose_shows_the_traceback(cli, tmp_path):
    with pytest.raises(Exception, match="file not found"):
        cli("train", "--train", tmp_path / "none.csv", "--verbose")


def test_default_output_is_a_new_folder_under_runs(cli, sentiment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, out, _ = cli("train", "--strategy", "tfidf", "--train", sentiment["train"])
    output = json.loads(out)["output"]
    assert status == 0 and output.startswith("runs/classify-tfidf-")
    assert (tmp_path / output / "metrics.json").exists()


NER_BAD_INPUTS = {
    "ragged columns": ("Angela NNP B-PER\nMerkel I-PER\n", "r.txt:2: 2 columns but line 1 has 3"),
    "tag in no scheme": ("Angela NNP PERSON\n", "r.txt:1: tag 'PERSON' is in no known scheme"),
    "no sentences": ("-DOCSTART- -X- O\n\n\n", "r.txt:1: no sentences"),
    "mixed schemes": ("Angela NNP I-PER\n\nParis NNP B-LOC\n", "r.txt:1: the file mixes tag schemes"),
    "only O tags": ("Angela NNP O\n", "r.txt: the training data tags no entities"),
}


@pytest.mark.parametrize("case", NER_BAD_INPUTS)
def test_ner_bad_input_one_line_exit_2_and_no_run_dir(cli, tmp_path, case):
    text, expected = NER_BAD_INPUTS[case]
    status, _, err = cli("train", "--task", "ner", "--train", _write(tmp_path / "r.txt", text), "--output", tmp_path / "run")
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and expected in err, err
    assert not (tmp_path / "run").exists()


def test_max_length_leaves_room_for_both_texts_of_a_pair_and_two_sub_words_of_a_ner_window(cli, tmp_path, ner_files):
    pairs = write_csv(tmp_path / "p.csv", [(t, t, label) for t, label in good_rows()], header=("text", "text2", "label"))
    runs = [
        (["--train", pairs, "--text-pair-column", "text2", "--max-length", 4], "give at least 5"),
        (["--task", "ner", "--train", ner_files["train"], "--max-length", 3], "give at least 4"),
    ]
    for options, expected in runs:
        status, _, err = cli("train", *options, "--output", tmp_path / "run")
        assert status == 2 and err.startswith("error: --max-length: ") and err.count("\n") == 1 and expected in err, err
        assert not (tmp_path / "run").exists()


def test_ner_invalid_sequence_under_a_named_scheme_is_an_error(cli, tmp_path):
    train = _write(tmp_path / "t.txt", "Paris NNP B-LOC\nMerkel NNP I-PER\n")
    status, _, err = cli("train", "--task", "ner", "--tag-scheme", "iob2", "--train", train, "--output", tmp_path / "run")
    assert status == 2 and "t.txt:2: IOB2: 'I-PER' does not continue an entity" in err


def test_ner_predict_prints_entities_with_character_offsets(cli, ner_run, tmp_path):
    text = "Angela Merkel visited Paris."
    status, out, err = cli("predict", ner_run, text)
    assert status == 0, err
    record = json.loads(out)
    assert record["text"] == text
    spans = [(e["type"], e["text"], text[e["start"] : e["end"]]) for e in record["entities"]]
    assert spans == [("PER", "Angela Merkel", "Angela Merkel"), ("LOC", "Paris", "Paris")]
    pretokenised = _write(tmp_path / "p.jsonl", json.dumps({"tokens": ["Tom", "Hanks", "lives", "in", "Rome"]}) + "\n")
    status, out, err = cli("predict", ner_run, "--input", pretokenised)
    record = json.loads(out)
    assert status == 0 and record["text"] == "Tom Hanks lives in Rome"
    assert [(e["type"], e["start"], e["end"]) for e in record["entities"]] == [("PER", 0, 9), ("LOC", 19, 23)]


def _qa_record(**changes):
    record = {"id": "q1", "question": "What is the city of Anna?", "context": "The city of Anna is Paris.", "answers": [{"text": "Paris", "answer_start": 20}]}
    return {k: v for k, v in {**record, **changes}.items() if v is not None}


QA_BAD_INPUTS = {
    "missing question (SQuAD JSON)": (lambda d: write_squad(d / "b.json", [_qa_record(question=None)]), [], "b.json:question q1: missing 'question'"),
    "missing context column": (lambda d: write_jsonl(d / "b.jsonl", [_qa_record(context=None)]), [], "b.jsonl:1: no column 'context'"),
    "missing answers": (lambda d: write_jsonl(d / "b.jsonl", [_qa_record(), _qa_record(id="q2", answers=None)]), [], "b.jsonl:2: missing 'answers'"),
    "answer not in context": (
        lambda d: write_squad(d / "b.json", [_qa_record(answers=[{"text": "Berlin", "answer_start": 20}])]), [],
        "b.json:question q1: answer 'Berlin' does not occur in the context",
    ),
    "empty context": (lambda d: write_jsonl(d / "b.jsonl", [_qa_record(context="  ")]), [], "b.jsonl:1: empty context"),
    "question longer than the window": (
        lambda d: write_jsonl(d / "b.jsonl", [_qa_record(), _qa_record(id="q2", question="why " * 30 + "?")]), ["--max-length", "24", "--doc-stride", "4"],
        "b.jsonl:2: the question is 31 tokens, which leaves no room for the context in a window of --max-length 24",
    ),
    "repeated question id": (
        lambda d: write_squad(d / "b.json", [_qa_record(), _qa_record(question="And again?")]), [],
        "b.json:data[0].paragraphs[1].qas[0]: question id 'q1' is used again (first at",
    ),
}


@pytest.mark.parametrize("case", QA_BAD_INPUTS)
def test_qa_bad_input_one_line_exit_2_and_no_run_dir(cli, tmp_path, case):
    make, options, expected = QA_BAD_INPUTS[case]
    status, _, err = cli("train", "--task", "qa", "--train", make(tmp_path), *options, "--output", tmp_path / "run")
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and expected in err, err
    assert not (tmp_path / "run").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run")]


def test_qa_predict_answers_a_question_about_a_context_with_character_offsets(cli, qa_run, tmp_path):
    context = "Trains ran late on most mornings. The pet of Lucy is parrot. The color of Tom is blue."
    status, out, err = cli("predict", qa_run, "--question", "What is the pet of Lucy?", "--context", context)
    assert status == 0, err
    record = json.loads(out)
    assert record["answer"] == "parrot" and context[record["start"] : record["end"]] == "parrot"
    assert set(record) == {"id", "question", "answer", "start", "end", "score"} and 0 < record["score"] <= 1
    pairs = write_jsonl(tmp_path / "p.jsonl", [{"question": "What is the color of Tom?", "context": context}, {"question": "What is the pet of Lucy?", "context": context}])
    status, out, err = cli("predict", qa_run, "--input", pairs)
    assert status == 0, err
    assert [json.loads(line)["answer"] for line in out.splitlines()] == ["blue", "parrot"]
    status, _, err = cli("predict", qa_run, "--question", "What is the pet of Lucy?")
    assert status == 2 and "error: --context: give the passage" in err


def test_labels_differing_only_in_case_train_with_a_warning(cli, tmp_path):
    rows = good_rows() + [("a Wonderful film", "Positive")]
    status, out, err = cli("train", "--strategy", "tfidf", "--train", write_csv(tmp_path / "c.csv", rows), "--output", tmp_path / "run")
    assert status == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        f"warning: {tmp_path / 'c.csv'}: labels that differ only in case are different classes: 'Positive' (1 row, first at "
        f"{tmp_path / 'c.csv'}:14) and 'positive' (6 rows, first at {tmp_path / 'c.csv'}:{_first_line(rows, 'positive')}); "
        "fix the labels if they mean the same class"
    ]
    assert json.loads(out)["strategy"] == "tfidf"


def test_a_budget_above_a_class_size_draws_all_of_that_class_with_a_warning(cli, tmp_path):
    rows = good_rows() + [("another fine film", "positive")]  # 7 positive, 6 negative
    status, out, err = cli("train", "--strategy", "tfidf", "--train", write_csv(tmp_path / "k.csv", rows), "--labels-per-class", "7",
                           "--output", tmp_path / "run")
    assert status == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert warnings == [f"warning: {tmp_path / 'k.csv'}: fewer training examples than --labels-per-class 7 in 1 class(es) "
                        "('negative' has 6): all of theirs are drawn, the others get 7"]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["train"]["examples"] == 13


def _first_line(rows, label):
    return 2 + [row[1] for row in rows].index(label)


def test_help_is_instant_it_imports_no_machine_learning_library():
    import subprocess
    import sys
    from pathlib import Path

    import transferkit

    code = (
        "import sys, transferkit.cli\n"
        "try:\n    transferkit.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', sorted(m for m in ('torch', 'transformers', 'sklearn', 'tqdm') if m in sys.modules))"
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(Path(transferkit.__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert "Usage: transferkit" in out and "HEAVY []" in out


@pytest.mark.parametrize("args", [[], ["pretrain"]])
def test_no_command_prints_the_help_and_exits_0(cli, args):
    status, out, err = cli(*args)
    assert status == 0 and err == ""
    assert out.startswith(f"Usage: transferkit {' '.join(args)}".rstrip() + " [OPTIONS] COMMAND")


def test_stdin_that_is_not_utf8_is_one_line_naming_the_line(cli, tmp_path, monkeypatch):
    import io
    import sys

    stdin = io.TextIOWrapper(io.BytesIO(b"a fine film\nan \xff film\n"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    status, _, err = cli("predict", tmp_path / "run", "--input", "-")
    assert status == 2 and err == "error: <stdin>:2: not valid UTF-8; save the file as UTF-8\n"


def test_short_flags_stdin_input_and_quiet(cli, sentiment, tmp_path, monkeypatch):
    import io
    import sys

    status, out, err = cli("train", "--strategy", "tfidf", "--train", sentiment["train"], "-o", tmp_path / "run")
    assert status == 0 and json.loads(out)["output"] == str(tmp_path / "run"), err
    monkeypatch.setattr(sys, "stdin", io.StringIO("a wonderful film\n\na dull film\n"))
    status, out, err = cli("predict", tmp_path / "run", "--input", "-", "-o", tmp_path / "p.jsonl")
    assert status == 0 and out == "", err
    assert [json.loads(l)["text"] for l in (tmp_path / "p.jsonl").read_text().splitlines()] == ["a wonderful film", "a dull film"]
    # on a terminal a status line says what is happening; -q (anywhere on the line) silences it
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    status, _, err = cli("predict", tmp_path / "run", "a wonderful film")
    assert status == 0 and err.startswith("loading the classify model of"), err
    status, _, err = cli("predict", tmp_path / "run", "-q", "a wonderful film")
    assert status == 0 and err == ""
    with pytest.raises(Exception, match="file not found"):
        cli("train", "--train", tmp_path / "none.csv", "-v")


def test_question_applies_to_qa_runs_only(cli, sentiment, tmp_path):
    assert cli("train", "--strategy", "tfidf", "--train", sentiment["train"], "-o", tmp_path / "run")[0] == 0
    status, out, err = cli("predict", tmp_path / "run", "--question", "is it good?")
    assert status == 2 and out == ""
    assert err == f"error: --question: applies to qa runs; {tmp_path / 'run'} is a classify run\n"


@pytest.mark.parametrize("tests, expected", [
    (["test", "dev"], "several test sets need a name each"),
    (["en=test", "en=dev"], "the test set name 'en' is given twice"),
])
def test_test_sets_without_names_or_with_one_name_twice_are_one_line_exit_2(cli, sentiment, tmp_path, tests, expected):
    flags = []
    for t in tests:
        name, _, split = t.rpartition("=")
        flags += ["--test", (f"{name}=" if name else "") + str(sentiment[split])]
    status, _, err = cli("train", "--strategy", "tfidf", "--train", sentiment["train"], "--output", tmp_path / "run", *flags)
    assert status == 2 and err.startswith("error: --test: ") and expected in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def _messy_csv(path):
    """48 good rows, then a row with a blank text, a ragged row and a line in latin-1."""
    write_csv(path, sentiment_rows(24, seed=5))
    with path.open("ab") as f:
        f.write(b"   ,positive\nwell, well, well,negative\n" + "a caf\xe9 film,positive\n".encode("latin-1") + b"a dull film,negative\n")
    return path


def test_on_bad_row_skip_trains_on_a_messy_file_and_lists_what_it_skipped(cli, tmp_path):
    train, run = _messy_csv(tmp_path / "messy.csv"), tmp_path / "run"
    args = ("train", "--strategy", "tfidf", "--train", train, "--dev", train, "--output", run)
    status, _, err = cli(*args)
    assert status == 2 and err == f"error: {train}:52: not valid UTF-8; save the file as UTF-8\n" and not run.exists()
    status, _, err = cli(*args, "--on-bad-row", "skip")  # 3 of 52 rows: more than the default 1%
    assert status == 2 and err.count("\n") == 1 and err.startswith(f"error: {train}: 3 of its 52 rows cannot be used") and "--max-bad-rows 0.01" in err
    status, out, err = cli(*args, "--on-bad-row", "skip", "--max-bad-rows", "0.1")
    assert status == 0, err
    assert f"note: --on-bad-row skip: skipped 6 unusable rows of {train}; listed in {run / 'skipped_rows.jsonl'}" in err
    listed = [json.loads(line) for line in (run / "skipped_rows.jsonl").read_text().splitlines()]
    assert [(row["file"], row["line"], row["reason"][:20]) for row in listed] == [
        (str(train), 50, "empty text in column"), (str(train), 51, "row has 4 fields but"), (str(train), 52, "not valid UTF-8; sav"),
    ] * 2  # train, then dev
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data"] == {"skipped_rows": {"train": 3, "dev": 3}, "overlap_with_train": {"dev": 49}}
    assert metrics["train"]["labelled_examples"] == 49 and metrics["dev"]["examples"] == 49
    assert "on_bad_row: skip" in (run / "config.yaml").read_text()


@pytest.mark.parametrize("args, expected", [
    (["--max-new-tokens", "-1"], "'--max-new-tokens': -1 is not in the range x>=1"),
    (["--max-new-tokens", "0"], "'--max-new-tokens': 0 is not in the range x>=1"),
    (["--temperature", "0"], "'--temperature': 0.0 is not in the range x>0"),
    (["--temperature", "-1"], "'--temperature': -1.0 is not in the range x>0"),
    (["--temperature", "nan"], "'--temperature': nan is not a finite number"),
    (["--temperature", "inf"], "'--temperature': inf is not a finite number"),
    (["--top-p", "2"], "'--top-p': 2.0 is not in the range 0<x<=1"),
    (["--top-p", "0"], "'--top-p': 0.0 is not in the range 0<x<=1"),
    (["--top-p", "nan"], "'--top-p': nan is not a finite number"),
    (["--top-k", "-5"], "'--top-k': -5 is not in the range x>=1"),
    (["--seed", "-1"], "'--seed': -1 is not in the range 0<=x<=4294967295"),
])
def test_generate_options_out_of_range_are_refused_as_they_are_parsed(cli, tmp_path, args, expected):
    status, out, err = cli("generate", tmp_path / "no-run", "the film is", *args)  # refused before the run is read
    assert status == 2 and out == "" and err == f"error: Invalid value for {expected}. (see --help)\n"


@pytest.mark.parametrize("args", [["predict", "RUN", "a film", "--abstain-below", "nan"], ["export", "RUN", "--format", "onnx", "-o", "OUT", "--min-agreement", "nan"]])
def test_fractions_that_are_not_numbers_are_refused(cli, tmp_path, args):
    """click.FloatRange(0, 1) lets nan through: every prediction would abstain, every export pass."""
    status, _, err = cli(*[{"RUN": tmp_path / "run", "OUT": tmp_path / "out"}.get(a, a) for a in args])
    assert status == 2 and err == f"error: Invalid value for '{args[-2]}': nan is not a finite number. (see --help)\n"


@pytest.fixture(scope="module")
def tfidf_run(sentiment, tmp_path_factory):
    from transferkit import api
    from transferkit.config import TrainConfig

    run = tmp_path_factory.mktemp("tfidf") / "run"
    api.train(TrainConfig(strategy="tfidf", train=str(sentiment["train"]), output=str(run)))
    return run


@pytest.mark.parametrize("args, where", [
    (["predict", "RUN", "a fine film", "caf\udce9 great"], "argument 2"),
    (["predict", "RUN", "caf\udce9", "--output", "OUT"], "argument 1"),
    (["predict", "RUN", "--question", "who?", "--question", "caf\udce9?", "--context", "x"], "--question"),
    (["predict", "RUN", "--question", "who?", "--context", "caf\udce9"], "--context"),
    (["generate", "RUN", "caf\udce9 great"], "argument 1"),
])
def test_text_arguments_that_are_not_utf8_are_one_line_naming_the_argument(cli, tfidf_run, tmp_path, args, where):
    """Python decodes command-line bytes that are not UTF-8 into lone surrogates ('\\xe9' → '\\udce9')."""
    args = [{"RUN": tfidf_run, "OUT": tmp_path / "p.jsonl"}.get(a, a) for a in args]
    status, out, err = cli(*args)
    assert status == 2 and out == "" and err.startswith(f"error: {where}: not valid UTF-8 at character ") and err.count("\n") == 1, err
    assert not (tmp_path / "p.jsonl").exists() and list(tmp_path.iterdir()) == []


def test_text_arguments_that_are_not_utf8_are_refused_in_a_real_process(tfidf_run, tmp_path):
    import subprocess
    import sys

    args = [sys.executable, "-m", "transferkit", "predict", str(tfidf_run), b"caf\xe9 great", "--output", str(tmp_path / "p.jsonl")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "error: argument 1: not valid UTF-8 at character 4; give the text in UTF-8 (is the terminal set to UTF-8?)\n"
    assert list(tmp_path.iterdir()) == []


def test_every_row_bad_with_the_whole_file_allowed_shows_the_first_problem(cli, tmp_path):
    train = _write(tmp_path / "bad.csv", "text,label\n  ,positive\n\t,negative\n")
    status, _, err = cli("train", "--strategy", "tfidf", "--train", train, "--output", tmp_path / "run", "--on-bad-row", "skip", "--max-bad-rows", "1")
    assert status == 2 and err == f"error: {train}: all 2 of its rows are unusable (the first: 2: empty text in column 'text'; remove the row or fill it in); fix the file, or the options that read it\n"
    assert not (tmp_path / "run").exists()
