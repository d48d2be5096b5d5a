import csv

from transferkit.experiments.demo import rotten_tomatoes_splits


def test_demo_data_is_the_rotten_tomatoes_sentences_split_without_overlap(tmp_path):
    paths = rotten_tomatoes_splits(tmp_path)
    splits = {}
    for name, path in paths.items():
        with path.open(newline="") as f:
            splits[name] = list(csv.DictReader(f))
    sizes = {name: len(rows) for name, rows in splits.items()}
    assert 8000 < sum(sizes.values()) <= 8530 and sizes["dev"] < sizes["test"] < sizes["train"]
    texts = [set(r["text"] for r in rows) for rows in splits.values()]
    assert not (texts[0] & texts[1]) and not (texts[0] & texts[2]) and not (texts[1] & texts[2])
    assert {r["label"] for r in splits["train"]} == {"negative", "positive"}
    again = rotten_tomatoes_splits(tmp_path / "again")
    assert again["test"].read_text() == paths["test"].read_text()  # fixed seed
