"""`mistakes.md`: a classify run's most confident mistakes on a test set, with the words
that pushed each toward its wrong label in bold, so that a reader sees at a glance what
the model gets wrong and why (a shortcut word, a label error in the data, a negation).

Only the mistakes shown are explained (`LIMIT` of them), so writing it costs a few
seconds whatever the test set's size.
"""

from __future__ import annotations

import re
from pathlib import Path

LIMIT = 20  # mistakes listed
TOP = 3  # words in bold per mistake


def mistakes_path(predictions_file: Path) -> Path:
    """Beside the run's `predictions/`: `mistakes.md` for `test.jsonl`, `mistakes-NAME.md`
    for a named test set's `test-NAME.jsonl`."""
    return predictions_file.parent.parent / f"mistakes{predictions_file.stem.removeprefix('test')}.md"


def write_mistakes(path: Path, predictor, split, predicted: list[str], scores) -> None:
    """The `LIMIT` mistakes of `predictor` on `split` made with the highest probability,
    each with its `TOP` words toward the predicted label in bold."""
    wrong = [i for i, (p, g) in enumerate(zip(predicted, split.labels)) if p != g]
    shown = sorted(wrong, key=lambda i: -float(scores[i]))[:LIMIT]
    texts = [split.texts[i] for i in shown]
    pairs = None if split.pairs is None else [split.pairs[i] for i in shown]
    explained = predictor.explain(texts, pairs, [predictor.labels.index(predicted[i]) for i in shown]) if shown else []
    lines = [f"# The most confident mistakes on {split.path}", "",
             f"{len(wrong)} of the {len(split)} examples are wrong" + (
                 f"; the {len(shown)} predicted with the highest probability follow, each with the {TOP} words that pushed "
                 "most toward its predicted label (in **bold** where they pushed toward it)." if shown else "."), ""]
    for n, (i, explanation) in enumerate(zip(shown, explained), start=1):
        ranked = sorted(explanation, key=lambda ts: -ts[1])[:TOP]
        bold = [token for token, score in ranked if score > 0]
        lines += [f"## {n}. id {split.ids[i]}: gold {split.labels[i]}, predicted {predicted[i]} ({float(scores[i]):.3f})", "",
                  f"> {highlighted(split.texts[i], bold)}"]
        if pairs is not None:
            lines += [">", f"> {highlighted(split.pairs[i], bold)}"]
        lines += ["", f"Toward {predicted[i]}: " + ", ".join(f"{token} ({score:+.3f})" for token, score in ranked), ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def highlighted(text: str, tokens: list[str]) -> str:
    """`text` on one line, Markdown-escaped, with every occurrence of each token (a word,
    or a word pair, matched without regard to case) in bold."""
    text = " ".join(text.split())
    spans = sorted(m.span() for token in tokens for m in re.finditer(_pattern(token), text, re.IGNORECASE))
    out, at = [], 0
    for start, end in spans:
        if start < at:  # overlaps a span already bold
            continue
        out += [_escape(text[at:start]), "**", _escape(text[start:end]), "**"]
        at = end
    return "".join(out + [_escape(text[at:])])


def _pattern(token: str) -> str:
    """The token as a whole word (or words, any spacing between them)."""
    return r"(?<!\w)" + r"\s+".join(re.escape(part) for part in token.split()) + r"(?!\w)"


def _escape(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", text)
