"""Entity tag schemes, and the one scheme used inside transferkit: IOB2.

Files come in IOB1 (CoNLL-2003's original: `I-` may open an entity; `B-` only separates
two adjacent entities of one type), IOB2/BIO (every entity opens with `B-`), IOBES/BIOES
(`S-` a one-word entity, `E-` the last word; BILOU's `U-`/`L-` are read as `S-`/`E-`) and
IO (no `B-` at all). A file is parsed into entity spans under its scheme *strictly*: a
sequence the scheme forbids is an error naming the line, never silently repaired, since
a repair guesses at what the annotator meant. The spans are written back as IOB2, which
is what a model's `id2label` holds, so `transformers.pipeline(...,
aggregation_strategy="simple")` groups its entities.

A model's predictions are decoded leniently instead, by conlleval's rules (an `I-X` after
`O` or after another type opens an entity): a model may emit any sequence, and its scores
must equal conlleval's and seqeval's.
"""

from __future__ import annotations

import re

from transferkit.errors import UserError

SCHEMES = ("iob1", "iob2", "iobes", "io")
NAMES = {"iob1": "IOB1", "iob2": "IOB2", "iobes": "IOBES", "io": "IO"}
_TAG = re.compile(r"([BIESLU])-(\S+)")

Span = tuple[str, int, int]  # (type, first word, one past the last word)


def split_tag(tag: str, where: str) -> tuple[str, str | None]:
    """`("O", None)` or `(prefix, type)` with the prefix one of B, I, E, S."""
    if tag == "O":
        return "O", None
    match = _TAG.fullmatch(tag)
    if not match:
        raise UserError(
            where,
            f"tag {tag!r} is in no known scheme; use O or a prefix B-, I-, E-, S- (or L-, U-) "
            "followed by the entity type, e.g. B-PER",
        )
    return {"L": "E", "U": "S"}.get(match[1], match[1]), match[2]


def detect_scheme(sentences: list[list[str]], places: list[list[str]]) -> str:
    """The scheme a file is written in, from the prefixes it uses and how its entities open.
    A file without `B-` is reported as IOB1, which reads it exactly as IO would."""
    prefixes: set[str] = set()
    i_opens = b_opens = None  # first place where an entity opens with I- / with B- after O or another type
    for tags, where in zip(sentences, places):
        previous = None
        for tag, place in zip(tags, where):
            prefix, kind = split_tag(tag, place)
            prefixes.add(prefix)
            if prefix == "I" and previous != kind and i_opens is None:
                i_opens = place
            if prefix == "B" and previous != kind and b_opens is None:
                b_opens = place
            previous = kind
    if prefixes & {"E", "S"}:
        return "iobes"
    if i_opens is None and "B" in prefixes:
        return "iob2"
    if b_opens is None:
        return "iob1"
    raise UserError(
        i_opens,
        f"the file mixes tag schemes: an entity opens with I- here (IOB1) and with B- at {b_opens} (IOB2); "
        "fix the tags or name the scheme with --tag-scheme",
    )


def parse_spans(tags: list[str], scheme: str, places: list[str]) -> list[Span]:
    """The entity spans of one sentence's tags under `scheme`; any sequence the scheme
    forbids raises `UserError` at that tag's line."""
    spans: list[Span] = []
    kind = start = None  # the entity being read
    closed = True  # IOBES: the open entity has seen its E- (or was an S-)
    for i, (tag, where) in enumerate(zip(tags, places)):
        prefix, tag_kind = split_tag(tag, where)
        if prefix in "ES" and scheme != "iobes" or prefix == "B" and scheme == "io":
            raise UserError(where, f"tag {tag!r} does not belong in {NAMES[scheme]}; fix it or set --tag-scheme")
        continues = prefix in "IE" and kind == tag_kind and (scheme != "iobes" or not closed)
        if scheme == "iobes" and not closed and not continues:
            raise UserError(where, f"{NAMES[scheme]}: the {kind} entity before {tag!r} does not end with E-{kind}")
        if prefix in "IE" and not continues and scheme in ("iob2", "iobes"):
            raise UserError(
                where, f"{NAMES[scheme]}: {tag!r} does not continue an entity; an entity opens with B-{tag_kind}"
            )
        if continues:
            closed = prefix == "E"
            continue
        if kind is not None:
            spans.append((kind, start, i))
        kind, start, closed = tag_kind, i, prefix in ("S", "O") if scheme == "iobes" else True
    if scheme == "iobes" and not closed:
        raise UserError(places[-1], f"{NAMES[scheme]}: the sentence ends inside a {kind} entity; close it with E-{kind}")
    if kind is not None:
        spans.append((kind, start, len(tags)))
    return spans


def decode_spans(tags: list[str]) -> list[Span]:
    """Entity spans of predicted IOB2 tags, by conlleval's lenient rules."""
    spans: list[Span] = []
    kind = start = None
    for i, tag in enumerate(tags):
        prefix, tag_kind = ("O", None) if tag == "O" else tag.split("-", 1)
        if prefix == "I" and tag_kind == kind:
            continue
        if kind is not None:
            spans.append((kind, start, i))
        kind, start = tag_kind, i
    if kind is not None:
        spans.append((kind, start, len(tags)))
    return spans


def iob2_tags(spans: list[Span], length: int) -> list[str]:
    tags = ["O"] * length
    for kind, start, end in spans:
        tags[start] = f"B-{kind}"
        tags[start + 1 : end] = [f"I-{kind}"] * (end - start - 1)
    return tags
