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
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

from transferkit.data import tag_schemes
from transferkit.data.files import read_text
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


@dataclass
class _Sentence:
    tokens: list[str]
    tags: list[str] | None
    places: list[str]  # one per token
    id: str | None = None
    document: int = 0


def read_token_split(path: str, tag_column: int | None = None, tag_scheme: str = "auto", labelled: bool = True) -> TokenSplit:
    """Read one split; with `labelled=False` tags are not required and not read."""
    if Path(path).suffix.lower() in JSONL_SUFFIXES:
        sentences, marked = _read_jsonl(path, labelled), False
    else:
        sentences, marked = _read_columns(path, read_text(path), tag_column, labelled)
    if not sentences:
        raise UserError(f"{path}:1", "no sentences; write one token per line with a blank line between sentences")
    tokens = [s.tokens for s in sentences]
    ids = [s.id if s.id is not None else str(i) for i, s in enumerate(sentences)]
    starts = [s.places[0] for s in sentences]
    check_unique_ids(ids, starts, "sentence id")
    documents = [s.document for s in sentences] if marked else None
    if not labelled:
        return TokenSplit(path, tokens, None, ids, starts, None, documents)
    scheme = tag_scheme
    if scheme == "auto":
        scheme = tag_schemes.detect_scheme([s.tags for s in sentences], [s.places for s in sentences])
    tags = [
        tag_schemes.iob2_tags(tag_schemes.parse_spans(s.tags, scheme, s.places), len(s.tags)) for s in sentences
    ]
    return TokenSplit(path, tokens, tags, ids, starts, scheme, documents)


def _read_columns(path: str, text: str, tag_column: int | None, labelled: bool) -> tuple[list[_Sentence], bool]:
    """The sentences, and whether the file marks documents (any -DOCSTART- line)."""
    sentences: list[_Sentence] = []
    document, marked = 0, False
    current = _Sentence([], [] if labelled else None, [])
    width = first_line = None
    for number, line in enumerate(split_lines(text), start=1):
        line = line.lstrip("\ufeff")
        fields = line.split("\t") if "\t" in line else line.split()
        fields = [f.strip() for f in fields]
        if _invisible(line) or fields[0] == "-DOCSTART-":
            if current.tokens:
                sentences.append(current)
            if fields and fields[0] == "-DOCSTART-":
                marked = True
                if sentences:
                    document = sentences[-1].document + 1
            current = _Sentence([], [] if labelled else None, [], document=document)
            continue
        where = f"{path}:{number}"
        if width is None:
            width, first_line = len(fields), number
            if labelled and width < 2:
                raise UserError(where, "one column only; a training or test file needs the token and its tag on each line")
            if tag_column is not None and not 1 <= tag_column <= width:
                raise UserError(where, f"--tag-column {tag_column} but the lines have {width} columns")
        elif len(fields) != width:
            raise UserError(where, f"{len(fields)} columns but line {first_line} has {width}; every line needs the same columns")
        if not fields[0]:
            raise UserError(where, "empty token in the first column")
        current.tokens.append(fields[0])
        current.places.append(where)
        if labelled:
            current.tags.append(fields[(tag_column or width) - 1])
    if current.tokens:
        sentences.append(current)
    return sentences, marked


def _invisible(line: str) -> bool:
    """Nothing to see: whitespace (U+00A0 included) and format characters (U+200B, U+FEFF, ...)."""
    return all(c.isspace() or unicodedata.category(c) == "Cf" for c in line)


def _read_jsonl(path: str, labelled: bool) -> list[_Sentence]:
    table = read_table(path)
    sentences = []
    for record, where in zip(table.rows, table.places):
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
        sentence_id = record_id(record.get("id"), str(len(sentences)), where)
        sentences.append(_Sentence(tokens, tags, [where] * len(tokens), sentence_id))
    return sentences


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
