"""Questions and contexts → windows of at most `max_length` tokens for span prediction.

Each window is `[CLS] question [SEP] part of the context [SEP]`: the question is never
truncated, and a context longer than one window is cut into parts that overlap by
`stride` tokens, so an answer near a cut is whole in at least one window. Each window
keeps its tokens' character offsets into the context (None outside the context), which
is how a predicted token span becomes a character span. With answers given, a window's
`start_positions` / `end_positions` are the answer's first and last token, or the `[CLS]`
token when the window does not hold the whole answer (or the question has none).
"""

from __future__ import annotations

from dataclasses import dataclass

from transferkit.errors import UserError


@dataclass
class QAWindows:
    items: list[dict]  # model inputs per window (with start/end positions when answers were given)
    example: list[int]  # the question each window belongs to, in order
    offsets: list[list[tuple[int, int] | None]]  # per window and token: characters of the context


def encode_windows(tokenizer, questions: list[str], contexts: list[str], max_length: int, stride: int,
                   places: list[str], answers: list[list] | None = None) -> QAWindows:
    """Windows of every question in input order; `answers[i][0]` (an `Answer`) labels them."""
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    question_lengths = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
    by_stride: dict[int, list[int]] = {}
    for i, n in enumerate(question_lengths):
        room = max_length - specials - n  # context tokens per window
        if room < 1:
            raise UserError(
                places[i],
                f"the question is {n} tokens, which leaves no room for the context in a window of --max-length "
                f"{max_length}; shorten the question or raise --max-length",
            )
        by_stride.setdefault(min(stride, room // 2), []).append(i)  # overlap must leave the window room to move on
    windows = []  # (question, window's model inputs, offsets)
    for overlap, chosen in by_stride.items():
        enc = tokenizer(
            [questions[i] for i in chosen], [contexts[i] for i in chosen], truncation="only_second", max_length=max_length,
            stride=overlap, return_overflowing_tokens=True, return_offsets_mapping=True,
        )
        keys = [k for k in ("input_ids", "token_type_ids") if k in enc]
        for w, source in enumerate(enc["overflow_to_sample_mapping"]):
            in_context = [s == 1 for s in enc.sequence_ids(w)]
            offsets = [tuple(o) if inside else None for o, inside in zip(enc["offset_mapping"][w], in_context)]
            windows.append((chosen[source], {k: enc[k][w] for k in keys}, offsets))
    windows.sort(key=lambda w: w[0])  # stable: a question's windows keep their order
    encoded = QAWindows([], [], [])
    for i, item, offsets in windows:
        if answers is not None:
            item["start_positions"], item["end_positions"] = answer_tokens(item["input_ids"], offsets, answers[i], tokenizer.cls_token_id)
        encoded.items.append(item)
        encoded.example.append(i)
        encoded.offsets.append(offsets)
    return encoded


def answer_tokens(input_ids: list[int], offsets: list, answers: list, cls_token_id: int | None) -> tuple[int, int]:
    """Token positions of the first gold answer in this window, or of `[CLS]` (the
    no-answer position) when the window does not contain all of it."""
    no_answer = input_ids.index(cls_token_id) if cls_token_id in input_ids else 0
    if not answers:
        return no_answer, no_answer
    start_char, end_char = answers[0].start, answers[0].end
    context = [k for k, o in enumerate(offsets) if o is not None]
    if not context or offsets[context[0]][0] > start_char or offsets[context[-1]][1] < end_char:
        return no_answer, no_answer
    start = max(k for k in context if offsets[k][0] <= start_char)
    end = min(k for k in context if k >= start and offsets[k][1] >= end_char)
    return start, end
