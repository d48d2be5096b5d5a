"""Word windows: first-sub-word labels, whole-word overlapping windows, every word read once."""

from transformers import AutoTokenizer

from transferkit.models.zoo import resolve_model
from transferkit.tasks.word_windows import IGNORE, encode_words, reading_windows, word_windows


def test_windows_cover_every_word_and_overlap():
    counts = [1, 2, 1, 3, 1, 1, 2, 1]
    windows = word_windows(counts, budget=5, stride=2)
    assert windows[0][0] == 0 and windows[-1][1] == len(counts)
    for (s1, e1), (s2, e2) in zip(windows, windows[1:]):
        assert s1 < s2 < e1 <= e2  # moves forward and overlaps
    assert all(sum(counts[s:e]) <= 5 for s, e in windows)
    assert word_windows([7, 1], budget=5, stride=2) == [(0, 1), (1, 2)]  # an over-long word stands alone


def test_first_sub_word_carries_the_label_and_long_sentences_are_windowed():
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm"))
    words = ["Unbelievably", "Blackburn", "visited", "Paris"] * 10  # 40 words, some several sub-words long
    tags = list(range(len(words)))
    encoded = encode_words(tokenizer, [words, ["Hi"]], max_length=16, stride=4, tag_ids=[tags, [7]])
    assert len(encoded.items) > 3 and all(len(item["input_ids"]) <= 16 for item in encoded.items)
    read = [w for reads in encoded.reads for s, w, _ in reads if s == 0]
    assert sorted(read) == list(range(len(words)))  # each word predicted exactly once
    for item, reads in zip(encoded.items, encoded.reads):
        for sentence, word, position in reads:
            assert item["labels"][position] == [tags, [7]][sentence][word]
    first = encoded.items[0]
    pieces = tokenizer.convert_ids_to_tokens(first["input_ids"])
    labelled = [p for p, label in zip(pieces, first["labels"]) if label != IGNORE]
    assert not any(p.startswith("##") for p in labelled) and labelled[0] == "unbelievably"[: len(labelled[0])]
    assert encoded.items[-1]["labels"] == [IGNORE, 7, IGNORE]  # [CLS] Hi [SEP]


def test_a_word_the_tokenizer_drops_becomes_unknown_and_is_still_predicted():
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm"))
    encoded = encode_words(tokenizer, [["a", "\u200b", "b"]], max_length=16, stride=4)
    assert [w for _, w, _ in encoded.reads[0]] == [0, 1, 2]


def test_sentences_of_a_document_share_windows_and_each_word_is_read_once():
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm"))
    sentences = [["Smith", "scored", "."], ["Leeds", "won", "2-1", "."], ["Rain", "fell"], ["New", "story"]]
    tags = [[i * 10 + w for w in range(len(s))] for i, s in enumerate(sentences)]
    alone = encode_words(tokenizer, sentences, max_length=16, stride=4, tag_ids=tags)
    joined = encode_words(tokenizer, sentences, max_length=16, stride=4, tag_ids=tags, documents=[0, 0, 0, 1])
    assert len(alone.items) == 4
    assert len(joined.items) < 4 and {s for s, _, _ in joined.reads[0]} >= {0, 1}  # a window spans sentences
    assert {s for s, _, _ in joined.reads[-1]} == {3}  # documents never share a window
    read = sorted((s, w) for reads in joined.reads for s, w, _ in reads)
    assert read == [(s, w) for s, sentence in enumerate(sentences) for w in range(len(sentence))]
    for item, reads in zip(joined.items, joined.reads):
        for sentence, word, position in reads:
            assert item["labels"][position] == tags[sentence][word]


def test_reading_windows_pick_the_most_central_window():
    windows = [(0, 5), (3, 8)]
    # word 3 has one word after it in the first window and none before it in the second
    assert reading_windows(8, windows) == [0, 0, 0, 0, 1, 1, 1, 1]
    assert reading_windows(3, [(0, 3), (0, 3)]) == [0, 0, 0]  # a tie goes to the earlier window

