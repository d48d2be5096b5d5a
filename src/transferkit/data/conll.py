"""Token-tagging splits (NER): CoNLL column files and JSONL `tokens`/`tags` records.

CoNLL files: one token per line, columns separated by tabs (or, in a line without a tab,
by spaces), the token in the first column and its tag in the last (or `--tag-column N`),
a blank line between sentences, a `-DOCSTART-` line opening each document. A file without
one, and a JSONL file, has no documents: its sentences may be unrelated (WikiANN's are),
and reading them as one document cost 16 points of dev F1 there, so each is read alone.
A line of invisible characters only (spaces, no-break spaces, zero-width spaces,
byte-order marks: Unicode whitespace and format characters) is blank, and a byte-order
mark at the start of a line (left where files were concatenated) is dropped. Read by hand
because no library reader keeps the line numbers the error contract needs. Tags are converted from
the file's scheme (detected, or `--tag-scheme`) to IOB2; see `tag_schemes`.

With `--on-bad-row skip` the unit dropped is a sentence: one with a bad line (undecodable
bytes, a ragged line, an empty token, a tag of no scheme or a sequence its scheme forbids)
is left out whole, since its other tokens alone would be tagged wrongly.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

from transferkit.data import tag_schemes
from transferkit.data.bad_rows import BadRows
from transferkit.data.files import NOT_UTF8, read_text
from transferkit.data.tables import read_table, split_lines
from transferkit.data.values import check_unique_ids, record_id
from transferkit.errors import UserError

JSONL_SUFFIXES = (".jsonl", ".json")


@dataclass
class TokenSplit:
    path: str
    tokens: list[list[str]]
    tags: list[list[str]] | None  # IOB2; None for unlabelled input
    ids: list[str]
    places: list[str]  # where each sentence starts
    scheme: str | None  # the scheme the file was written in
    documents: list[int] | None  # the document each sentence belongs to, numbered from 0; None: no -DOCSTART- lines

    def __len__(self) -> int:
        return len(self.tokens)

    def example_keys(self) -> list[tuple[str, ...]]:
        """What makes two sentences the same example (the check for dev/test sentences also in train): their tokens."""
        return [tuple(tokens) for tokens in self.tokens]


@dataclass
class _Sentence:
    tokens: list[str]
    tags: list[str] | None
    places: list[str]  # one per token
    id: str | None = None
    document: int = 0
    problem: UserError | None = None  # its first bad line


def _tags_checked(sentence: _Sentence) -> None:
    """A tag in no scheme is the sentence's problem, found before the file's scheme is detected."""
    for tag, where in zip(sentence.tags, sentence.places):
        tag_schemes.split_tag(tag, where)


def read_token_split(path: str, tag_column: int | None = None, tag_scheme: str = "auto", labelled: bool = True,
                     bad_rows: BadRows | None = None) -> TokenSplit:
    """Read one split; with `labelled=False` tags are not required and not read. `bad_rows`
    decides what a sentence with a bad line does (default: it is an error)."""
    bad_rows = bad_rows or BadRows()
    if Path(path).suffix.lower() in JSONL_SUFFIXES:
        sentences, marked = _read_jsonl(path, labelled, bad_rows), False
    else:
        undecodable: list[int] = []
        text = read_text(path, bad_lines=undecodable if bad_rows.policy == "skip" else None)
        sentences, marked = _read_columns(path, text, tag_column, labelled, set(undecodable))
    if labelled:
        for s in sentences:
            s.problem = s.problem or _problem(_tags_checked, s)
    sentences = _usable(sentences, path, bad_rows)
    scheme = None
    if labelled:
        scheme = tag_scheme
        if scheme == "auto":
            scheme = tag_schemes.detect_scheme([s.tags for s in sentences], [s.places for s in sentences])
        for s in sentences:
            s.problem = _problem(_to_iob2, s, scheme)
        sentences = _usable(sentences, path, bad_rows)
    bad_rows.check(path, len(sentences))
    if not sentences:
        raise UserError(f"{path}:1", "no sentences; write one token per line with a blank line between sentences")
    ids = [s.id if s.id is not None else str(i) for i, s in enumerate(sentences)]
    starts = [s.places[0] for s in sentences]
    check_unique_ids(ids, starts, "sentence id")
    documents = [s.document for s in sentences] if marked else None
    tags = [s.tags for s in sentences] if labelled else None
    return TokenSplit(path, [s.tokens for s in sentences], tags, ids, starts, scheme, documents)


def _problem(check, *args) -> UserError | None:
    try:
        check(*args)
    except UserError as e:
        return e
    return None


def _to_iob2(sentence: _Sentence, scheme: str) -> None:
    sentence.tags = tag_schemes.iob2_tags(tag_schemes.parse_spans(sentence.tags, scheme, sentence.places), len(sentence.tags))


def _usable(sentences: list[_Sentence], path: str, bad_rows: BadRows) -> list[_Sentence]:
    """The sentences without a problem; each problem is raised or skipped, as `bad_rows` says."""
    for s in sentences:
        if s.problem:
            bad_rows.skip(s.problem, path)
    return [s for s in sentences if not s.problem]


def _read_columns(path: str, text: str, tag_column: int | None, labelled: bool, undecodable: set[int]) -> tuple[list[_Sentence], bool]:
    """The sentences, and whether the file marks documents (any -DOCSTART- line). A bad
    line is its sentence's `problem` (the first one); the lines `undecodable` (read as
    empty) are problems too."""
    sentences: list[_Sentence] = []
    document, marked = 0, False
    current = _Sentence([], [] if labelled else None, [])
    width = first_line = None
    for number, line in enumerate(split_lines(text), start=1):
        where = f"{path}:{number}"
        if number in undecodable:
            current.problem = current.problem or UserError(where, NOT_UTF8)
            continue
        line = line.lstrip("\ufeff")
        fields = line.split("\t") if "\t" in line else line.split()
        fields = [f.strip() for f in fields]
        if _invisible(line) or fields[0] == "-DOCSTART-":
            if current.tokens or current.problem:
                sentences.append(current)
            if fields and fields[0] == "-DOCSTART-":
                marked = True
                if sentences:
                    document = sentences[-1].document + 1
            current = _Sentence([], [] if labelled else None, [], document=document)
            continue
        if width is None:
            width, first_line = len(fields), number
            if labelled and width < 2:
                raise UserError(where, "one column only; a training or test file needs the token and its tag on each line")
            if tag_column is not None and not 1 <= tag_column <= width:
                raise UserError(where, f"--tag-column {tag_column} but the lines have {width} columns")
        elif len(fields) != width:
            current.problem = current.problem or UserError(where, f"{len(fields)} columns but line {first_line} has {width}; every line needs the same columns")
            continue
        if not fields[0]:
            current.problem = current.problem or UserError(where, "empty token in the first column")
            continue
        current.tokens.append(fields[0])
        current.places.append(where)
        if labelled:
            current.tags.append(fields[(tag_column or width) - 1])
    if current.tokens or current.problem:
        sentences.append(current)
    return sentences, marked


def _invisible(line: str) -> bool:
    """Nothing to see: whitespace (U+00A0 included) and format characters (U+200B, U+FEFF, ...)."""
    return all(c.isspace() or unicodedata.category(c) == "Cf" for c in line)


def _read_jsonl(path: str, labelled: bool, bad_rows: BadRows) -> list[_Sentence]:
    table = read_table(path, bad_rows)
    sentences = []
    for record, where in zip(table.rows, table.places):
        with bad_rows.row(path):
            sentences.append(_json_sentence(record, where, labelled, str(len(sentences))))
    return sentences


def _json_sentence(record: dict, where: str, labelled: bool, default_id: str) -> _Sentence:
    if "tokens" not in record:
        raise UserError(where, "expected a JSON object with a `tokens` list (and `tags` for labelled data)")
    tokens = _string_list(record["tokens"], where, "tokens")
    if not tokens:
        raise UserError(where, "empty `tokens` list; every sentence needs at least one token")
    tags = None
    if labelled:
        if "tags" not in record:
            raise UserError(where, "no `tags` list; labelled data needs one tag per token")
        tags = _string_list(record["tags"], where, "tags")
        if len(tags) != len(tokens):
            raise UserError(where, f"{len(tokens)} tokens but {len(tags)} tags; give one tag per token")
    return _Sentence(tokens, tags, [where] * len(tokens), record_id(record.get("id"), default_id, where))


def _string_list(value, where: str, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise UserError(where, f"`{key}` must be a list of non-empty strings")
    return value


def entity_types(split: TokenSplit) -> list[str]:
    """The sorted entity types tagged in a split."""
    return sorted({tag[2:] for tags in split.tags for tag in tags if tag != "O"})


def iob2_labels(types: list[str]) -> list[str]:
    """A model's label list: `O`, then `B-` and `I-` of each type."""
    return ["O"] + [f"{prefix}-{kind}" for kind in types for prefix in ("B", "I")]


def check_types_known(split: TokenSplit, types: list[str]) -> None:
    known = set(types)
    for tags, tokens_where in zip(split.tags, split.places):
        unknown = sorted({tag[2:] for tag in tags if tag != "O"} - known)
        if unknown:
            raise UserError(
                tokens_where,
                f"entity type {unknown[0]!r} does not occur in the training data (types: {', '.join(types)}); "
                "fix the tag or add training examples for it",
            )
