"""Extractive-QA splits: SQuAD v1.1 / v2.0 JSON, and JSONL / CSV / TSV / Parquet rows with
`question`, `context` and `answers`.

Written by hand because the error contract needs the place of a bad record (the file and
the question id, or the line), which `datasets`' SQuAD loader does not give.

`answers` is a list of `{"text", "answer_start"}` objects (SQuAD) or one
`{"text": [...], "answer_start": [...]}` object (Hugging Face `datasets`); in a CSV/TSV
cell it is that JSON. An empty list (or SQuAD v2's `is_impossible: true`) marks a question
the context does not answer, which makes the split a v2 one.

An answer whose text is not at its `answer_start` is **repaired when the text occurs
exactly once in the context** (the offset is then unambiguous; such off-by-some offsets
come from re-encoded or cleaned text), and an error naming the question id otherwise:
when the text is absent or occurs several times, any repair would be a guess.

Question ids must be unique in a file (predictions are written by id); a repeated id is
an error naming both places.

With `--on-bad-row skip` the unit dropped is a question (with its answers): a SQuAD JSON
file is one document, so its structure (articles, paragraphs) and its bytes must be
sound, while a JSONL/CSV file drops a bad line as the table readers do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from transferkit.data.bad_rows import BadRows
from transferkit.data.files import NOT_UTF8, read_text
from transferkit.data.tables import read_table
from transferkit.data.values import check_unique_ids, describe, missing, record_id
from transferkit.errors import UserError


@dataclass
class Answer:
    text: str
    start: int  # character offset into the context

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass
class QASplit:
    path: str
    ids: list[str]
    questions: list[str]
    contexts: list[str]
    answers: list[list[Answer]] | None  # None for unlabelled input (predict); [] = no answer (v2)
    places: list[str]  # `file:question ID` (SQuAD JSON) or `file:line`
    version: str = "v1"  # "v2" when any question is unanswerable
    language: str = "en"  # how answers are scored (set by the task from --language or the text)
    repaired: list[str] = field(default_factory=list)  # ids whose answer_start was moved

    def __len__(self) -> int:
        return len(self.questions)

    def example_keys(self) -> list[tuple[str, str]]:
        """What makes two questions the same example (the check for dev/test questions also in train): question and context."""
        return list(zip(self.questions, self.contexts))


class _Builder:
    """Collects checked records into a QASplit; `bad_rows` decides what a bad one does."""

    def __init__(self, path: str, labelled: bool, bad_rows: BadRows):
        self.path, self.labelled, self.bad_rows = path, labelled, bad_rows
        self.split = QASplit(path, [], [], [], [] if labelled else None, [])
        self.positions: list[str] = []  # where each question is, even when `where` is its id

    def add(self, where: str, qid: str, question, context, answers, impossible: bool = False, position: str | None = None) -> None:
        with self.bad_rows.row(self.path):  # checked whole before any of it is kept
            question = _text(question, where, "question")
            context = _text(context, where, "context")
            read = [] if impossible or not self.labelled else [_answer(a, context, where, qid) for a in _answer_list(answers, where)]
            self.positions.append(position or where)
            self.split.ids.append(qid)
            self.split.questions.append(question)
            self.split.contexts.append(context)
            self.split.places.append(where)
            if self.labelled:
                if not read:
                    self.split.version = "v2"
                self.split.answers.append([answer for answer, _ in read])
                self.split.repaired.extend(qid for _, moved in read if moved)

    def finish(self) -> QASplit:
        self.bad_rows.check(self.path, len(self.split))
        if not self.split.questions:
            raise UserError(self.path, "no questions in the file")
        check_unique_ids(self.split.ids, self.positions, "question id")
        return self.split


def _answer(answer, context: str, where: str, qid: str) -> tuple[Answer, bool]:
    """The answer, and whether its `answer_start` was moved to where its text is."""
    question = "" if where.endswith(f"question {qid}") else f"question {qid!r}: "  # unless the place names it
    if not isinstance(answer, dict) or "text" not in answer or "answer_start" not in answer:
        raise UserError(where, f"{question}each answer needs \"text\" and \"answer_start\"")
    text, start = answer["text"], answer["answer_start"]
    if not isinstance(text, str) or not text.strip():
        raise UserError(where, f"{question}empty answer text; use an empty answers list for a question without answer")
    if isinstance(start, float) and start.is_integer():
        start = int(start)
    if not isinstance(start, int) or isinstance(start, bool) or start < 0:
        raise UserError(where, f"{question}answer_start must be a character offset (an integer >= 0), not {start!r}")
    if context[start : start + len(text)] == text:
        return Answer(text, start), False
    found = context.count(text)
    if found == 1:
        return Answer(text, context.index(text)), True
    if found == 0:
        raise UserError(where, f"{question}answer {text!r} does not occur in the context")
    raise UserError(
        where,
        f"{question}answer {text!r} is not at answer_start {start} and occurs {found} times in the context; "
        "fix answer_start",
    )


def _text(value, where: str, name: str) -> str:
    if missing(value):
        raise UserError(where, f"missing {name!r}")
    if not isinstance(value, str):
        raise UserError(where, f"expected a string in {name!r}, got {describe(value)}")
    if not value.strip():
        raise UserError(where, f"empty {name}; remove the record or fill it in")
    return value


def _answer_list(answers, where: str) -> list:
    """SQuAD's list of objects, or `datasets`' object of parallel lists, as a list of objects."""
    if missing(answers):
        raise UserError(where, "missing 'answers'; give a list of {\"text\", \"answer_start\"} (empty for no answer)")
    if isinstance(answers, str):
        try:
            answers = json.loads(answers)
        except json.JSONDecodeError:
            raise UserError(where, "'answers' is not valid JSON; write a list of {\"text\", \"answer_start\"} objects") from None
    if isinstance(answers, dict):
        texts, starts = answers.get("text"), answers.get("answer_start")
        if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
            raise UserError(where, "'answers' as an object needs equally long \"text\" and \"answer_start\" lists")
        return [{"text": t, "answer_start": s} for t, s in zip(texts, starts)]
    if not isinstance(answers, list):
        raise UserError(where, "'answers' must be a list of {\"text\", \"answer_start\"} objects")
    return answers


def read_qa_split(path: str, labelled: bool = True, bad_rows: BadRows | None = None) -> QASplit:
    """Read one split; a `.json` file holding a SQuAD object (`{"data": [...]}`) is read as
    SQuAD, anything else as a table of rows. `labelled=False` reads questions and contexts
    only (predict). `bad_rows` decides what a bad question does (default: it is an error)."""
    bad_rows = bad_rows or BadRows()
    if Path(path).suffix.lower() == ".json":
        undecodable: list[int] = []  # read as empty lines: JSON lines with a .json name skip them
        text = read_text(path, bad_lines=undecodable if bad_rows.policy == "skip" else None)
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            document = None  # JSON lines with a .json name
        if isinstance(document, dict):
            if undecodable:  # one document: no line of it can be left out
                raise UserError(f"{path}:{undecodable[0]}", NOT_UTF8)
            return _read_squad(path, document, labelled, bad_rows)
    return _read_rows(path, labelled, bad_rows)


def _read_squad(path: str, document: dict, labelled: bool, bad_rows: BadRows) -> QASplit:
    articles = document.get("data")
    if not isinstance(articles, list):
        raise UserError(path, "a SQuAD file needs a top-level \"data\" list of articles")
    builder = _Builder(path, labelled, bad_rows)
    for a, article in enumerate(articles):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise UserError(f"{path}:data[{a}]", "an article needs a \"paragraphs\" list")
        for p, paragraph in enumerate(paragraphs):
            place = f"{path}:data[{a}].paragraphs[{p}]"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("qas"), list):
                raise UserError(place, "a paragraph needs \"context\" and a \"qas\" list")
            for q, qa in enumerate(paragraph["qas"]):
                position = f"{place}.qas[{q}]"
                with bad_rows.row(path):
                    if not isinstance(qa, dict):
                        raise UserError(position, "expected a question object")
                    qid = record_id(qa.get("id"), f"{a}-{p}-{q}", position)
                    where = f"{path}:question {qid}" if "id" in qa else position
                    impossible = bool(qa.get("is_impossible", False))
                    builder.add(where, qid, qa.get("question"), paragraph.get("context"), qa.get("answers", [] if impossible else None), impossible, position)
    return builder.finish()


def _read_rows(path: str, labelled: bool, bad_rows: BadRows) -> QASplit:
    table = read_table(path, bad_rows)
    for column in ("question", "context") + (("answers",) if labelled else ()):
        if column not in table.columns:
            raise UserError(table.header_place, f"no column {column!r}; QA rows need question, context and answers (text + answer_start)")
    builder = _Builder(path, labelled, bad_rows)
    for n, (row, where) in enumerate(zip(table.rows, table.places)):
        with bad_rows.row(path):
            builder.add(where, record_id(row.get("id"), str(n), where), row.get("question"), row.get("context"), row.get("answers"))
    return builder.finish()
