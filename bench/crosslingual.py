"""Language transfer: train on English, score English and other languages in the same run
(`--test en=... --test de=...`), beside the English-only `minilm` (what a monolingual model
carries over) and the in-language upper bound, then the target-label curve: the chosen
English run continued on K target-language labels (`--model RUN/model`) against training
on the same K target labels alone. Writes bench/results/crosslingual.{md,json} (rows
merge, so parts and rows can run one at a time).

    .venv/bin/python bench/crosslingual.py --part ner          # WikiANN en -> de, ~54 minutes on 2 cores
    .venv/bin/python bench/crosslingual.py --part qa           # XQuAD en -> de, zh: ~37 minutes
    .venv/bin/python bench/crosslingual.py --part sentiment    # SST-2 -> ChnSentiCorp, ~33 minutes

How choices are made: the loop's checkpoint and the head's C on the training language's
dev split; the recipe of the multilingual model (embedding matrix frozen or not) on one
target language's dev split, WikiANN German dev (scored as the test set `de-dev` of the
English runs and read only for that choice); every other target split is only scored.
Training sets are cut (`--train-examples`, `--labels-per-class`) so a part fits in an hour
here; long dev splits are cut to their first `DEV_SENTENCES` sentences (written by the
bench, named `*-first1000.tsv` in the commands). The curve's runs have no dev split (a user
with ten German labels has no German dev set either): they train the recipe's epochs and
keep the last weights.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, REPO, machine, saved, option_flags, shown, timing, write_runs  # noqa: E402

from transferkit import api  # noqa: E402
from transferkit.config import TrainConfig  # noqa: E402

SST2, CHN, WIKIANN = DATASETS / "sst2", DATASETS / "chnsenticorp", DATASETS / "wikiann"
WORK = REPO / "runs" / "bench-crosslingual"  # run directories kept, so the curve can continue a row's model
DEV_SENTENCES = 1000
E5 = "multilingual-e5-small"
CHOSEN = "the English e5 run chosen on de-dev"  # a row's `continues`: resolved when it runs
CURVE = (10, 100, 1000)


@dataclass
class Row:
    train: Path
    dev: Path | None
    options: dict
    tests: tuple[str, ...]  # which of the part's test sets the row scores
    language: str = "en"  # of the training data
    continues: str | None = None  # `--model` is this row's model directory
    chosen_recipe: bool = False  # trains with the tuning options of the English e5 row chosen on de-dev


@dataclass
class Part:
    task: str
    metric: str  # the test metric compared across languages
    source: str  # the language the English rows train on
    tests: dict[str, Path]
    rows: dict[str, Row] = field(default_factory=dict)
    options: dict = field(default_factory=dict)  # every row's


def first_sentences(path: Path, n: int) -> Path:
    """The first `n` blank-line-separated sentences of a CoNLL file, written under WORK."""
    out = WORK / "data" / f"{path.parent.name}-{path.stem}-first{n}{path.suffix}"
    if not out.is_file():
        sentences = path.read_text(encoding="utf-8").split("\n\n")[:n]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n\n".join(s.strip("\n") for s in sentences) + "\n", encoding="utf-8")
    return out


def ner_part() -> Part:
    en, de = WIKIANN / "en", WIKIANN / "de"
    en_dev, de_dev = first_sentences(en / "dev.tsv", DEV_SENTENCES), first_sentences(de / "dev.tsv", DEV_SENTENCES)
    zero_shot = ("en", "de", "de-dev")
    part = Part("ner", "f1", "en", {"en": en / "test.tsv", "de": de / "test.tsv", "de-dev": de_dev},
                options={"task": "ner", "strategy": "finetune", "context": "sentence"})  # WikiANN's sentences are unrelated: no document context
    english = {"train_examples": 2000, "epochs": 4}
    part.rows = {
        "minilm finetune (English only)": Row(en / "train.tsv", en_dev, {"model": "minilm", **english}, zero_shot),
        "e5 finetune": Row(en / "train.tsv", en_dev, {"model": E5, "freeze_embeddings": "no", **english}, zero_shot),
        "e5 finetune, frozen embeddings": Row(en / "train.tsv", en_dev, {"model": E5, "freeze_embeddings": "yes", **english}, zero_shot),
        "e5 finetune on WikiANN de (in-language bound)": Row(de / "train.tsv", de_dev, {"model": E5, "freeze_embeddings": "no", **english}, ("en", "de"), "de"),
    }
    for k in CURVE:
        budget = {"train_examples": k, **({"epochs": 4} if k >= 1000 else {})}  # past 1,000 sentences the English runs' 4 epochs
        part.rows[f"e5 English run + {k} German labels"] = Row(de / "train.tsv", None, budget, ("de",), "de", CHOSEN, chosen_recipe=True)
        part.rows[f"e5 {k} German labels alone"] = Row(de / "train.tsv", None, {"model": E5, **budget}, ("de",), "de", chosen_recipe=True)
    return part


def qa_part() -> Part:
    """XQuAD: the same questions in every language, articles 1-36 to train, 37-48 to test;
    no dev split (as bench/qa.py), so each run trains its epochs and keeps the last weights.
    No in-language bound: de.train.json is a translation of the English training questions,
    and a third run of e5 at 384 tokens (~27 minutes) would take the part past an hour."""
    xquad = DATASETS / "xquad"
    tests = ("en", "de", "zh")
    part = Part("qa", "f1", "en", {lang: xquad / f"{lang}.test.json" for lang in tests},
                options={"task": "qa", "strategy": "finetune", "epochs": 5})  # the recipe's 10 do not fit an hour with e5
    part.rows = {
        "minilm finetune (English only)": Row(xquad / "en.train.json", None, {"model": "minilm"}, tests),
        "e5 finetune, the recipe chosen on de-dev": Row(xquad / "en.train.json", None, {"model": E5}, tests, chosen_recipe=True),
    }
    return part


def sentiment_part() -> Part:
    tests = ("en", "zh")
    part = Part("classify", "accuracy", "en", {"en": SST2 / "test.csv", "zh": CHN / "test.csv"}, options={"labels_per_class": 1000})
    part.rows = {
        "minilm finetune (English only)": Row(SST2 / "train.csv", SST2 / "dev.csv", {"model": "minilm", "strategy": "finetune"}, tests),
        "multilingual-e5-small features": Row(SST2 / "train.csv", SST2 / "dev.csv", {"model": E5, "strategy": "features"}, tests),
        "multilingual-e5-small finetune": Row(SST2 / "train.csv", SST2 / "dev.csv", {"model": E5, "strategy": "finetune", "freeze_embeddings": "no"}, tests),
        "multilingual-e5-small finetune, frozen embeddings": Row(SST2 / "train.csv", SST2 / "dev.csv", {"model": E5, "strategy": "finetune", "freeze_embeddings": "yes"}, tests),
        "multilingual-e5-small finetune on ChnSentiCorp (in-language bound)": Row(CHN / "train.csv", CHN / "dev.csv", {"model": E5, "strategy": "finetune", "freeze_embeddings": "no"}, tests, "zh"),
    }
    return part


PARTS = {"ner": ner_part, "qa": qa_part, "sentiment": sentiment_part}


def run_dir(part: str, name: str) -> Path:
    return WORK / part / "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


RECIPE_OPTIONS = ("freeze_embeddings", "freeze_layers", "lr")  # what the de-dev choice is between


def chosen_row(rows: dict) -> str:
    """The English e5 NER row with the best German dev score (`de-dev`), among those run."""
    candidates = {r["row"]: r for r in rows.values() if r["part"] == "ner" and r["row"].startswith("e5 finetune") and "de-dev" in r["scores"]}
    if not candidates:
        raise SystemExit("run the English e5 rows first: the curve continues the one chosen on de-dev")
    return max(candidates, key=lambda name: candidates[name]["scores"]["de-dev"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=sorted(PARTS), default="ner")
    parser.add_argument("--rows", help="only these rows (comma-separated substrings of their names)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    part = PARTS[args.part]()
    rows = {(r["part"], r["row"]): r for r in saved("crosslingual", "runs", [])}  # parts share row names
    for name, row in part.rows.items():
        if args.rows and not any(s in name for s in args.rows.split(",")):
            continue
        options = {**part.options, **row.options, "seed": args.seed}
        extra = {}
        if row.chosen_recipe:
            chosen = ner_part().rows[chosen_row(rows)].options
            options.update({k: chosen[k] for k in RECIPE_OPTIONS if k in chosen})
        if row.continues:
            continued = chosen_row(rows) if row.continues == CHOSEN else row.continues
            options["model"] = str(run_dir(args.part, continued) / "model")
            extra["continues"] = continued
        tests = {lang: part.tests[lang] for lang in row.tests}
        output = run_dir(args.part, name)
        cfg = TrainConfig(train=str(row.train), dev=str(row.dev) if row.dev else None, test=[f"{n}={p}" for n, p in tests.items()],
                          output=str(output), overwrite=True, **options)
        started = time.perf_counter()
        metrics = api.train(cfg)
        scores = {lang: metrics["test"][lang][part.metric] for lang in tests}
        rows[args.part, name] = {
            "row": name, "part": args.part, "metric": part.metric, "source": part.source, "scores": scores,
            "macro_f1": {lang: metrics["test"][lang]["macro_f1"] for lang in tests} if part.task == "classify" else None,
            "language": row.language, "labelled_examples": metrics["train"]["labelled_examples"], **extra,
            **timing(metrics, time.perf_counter() - started),
            "trainable_parameters": metrics["train"].get("trainable_parameters"), "model_weights": metrics.get("model_weights"),
            "command": f"transferkit train --train {shown(row.train)}" + (f" --dev {shown(row.dev)}" if row.dev else "")
                       + "".join(f" --test {n}={shown(p)}" for n, p in tests.items())
                       + option_flags({k: v for k, v in options.items() if k != "model" or not row.continues})
                       + (f" --model <the run of “{extra['continues']}”>/model" if row.continues else ""),
        }
        print(rows[args.part, name], flush=True)
        report(list(rows.values()))


def ratio(row: dict, lang: str) -> str:
    source = row["scores"].get(row["source"])
    return f"{row['scores'][lang] / source:.2f}" if source and lang in row["scores"] and row["language"] == row["source"] else "–"


def curve(rows: list[dict]) -> list[str]:
    """The target-label curve: German test F1 of the chosen English run continued on K German
    sentences, against e5 trained on the same K alone (K = 0: the English run zero-shot)."""
    ner = {r["row"]: r for r in rows if r["part"] == "ner"}
    continued = next((r["continues"] for r in ner.values() if "continues" in r), None)
    if continued is None:
        return []
    lines = ["How many German labels the English data is worth (German test F1, the K sentences drawn with seed 0):", "",
             "| German labels K | English run continued on K | K German labels alone |", "|---|---|---|",
             f"| 0 | {ner[continued]['scores']['de']:.3f} (zero-shot: “{continued}”) | – |"]
    for k in CURVE:
        cells = [ner.get(f"e5 English run + {k} German labels"), ner.get(f"e5 {k} German labels alone")]
        lines.append(f"| {k:,} | " + " | ".join(f"{c['scores']['de']:.3f}" if c else "–" for c in cells) + " |")
    return lines + [""]


def report(rows: list[dict]) -> None:
    def cell(row, lang):
        return f"{row['scores'][lang]:.3f}" if lang in row["scores"] else "–"

    lines = [
        "# Language transfer",
        "",
        f"Machine: {machine()} · one seed (0) per row · multilingual-e5-small (e5) weights dequantised from a 4-bit file. "
        "Checkpoints and head C are chosen on the training language's dev split; e5's recipe (frozen embeddings or not) on "
        f"WikiANN German dev (`de-dev`, its first {DEV_SENTENCES} sentences); the other target splits are only scored.",
        "",
        "## NER: WikiANN (PAN-X) English → German, entity F1 (seqeval, IOB2)",
        "",
        "Training on 2,000 sentences (`--train-examples 2000`, 4 epochs), dev the first 1,000 sentences of the training "
        "language's dev split, test the full 10,000-sentence test splits. The curve's runs train on K German sentences "
        "without a dev split (the recipe's epochs, last weights). Published XLM-R base (full training set): 0.834 / 0.754, ratio 0.90.",
        "",
        "| row | English test F1 | German test F1 | German dev F1 | German / English | train s |",
        "|---|---|---|---|---|---|",
        *[f"| {r['row']} | {cell(r, 'en')} | {cell(r, 'de')} | {cell(r, 'de-dev')} | {ratio(r, 'de')} | {r['train_seconds']:.0f} |"
          for r in rows if r["part"] == "ner"],
        "",
        *curve(rows),
        "## QA: XQuAD English → German and Chinese, SQuAD F1 (Chinese per character, as MLQA)",
        "",
        "Training on en.train.json (925 questions, articles 1-36), 5 epochs (the recipe's 10 would not fit an hour with e5), "
        "no dev split, last weights; test the 265 questions of articles 37-48 in each language. "
        "Published XLM-R base (SQuAD v1.1 training): 0.844 / 0.753 / 0.650, ratios 0.89 / 0.77.",
        "",
        "| row | English F1 | German F1 | Chinese F1 | German / English | Chinese / English | train s |",
        "|---|---|---|---|---|---|---|",
        *[f"| {r['row']} | {cell(r, 'en')} | {cell(r, 'de')} | {cell(r, 'zh')} | {ratio(r, 'de')} | {ratio(r, 'zh')} | {r['train_seconds']:.0f} |"
          for r in rows if r["part"] == "qa"],
        "",
        "## Sentiment: SST-2 → ChnSentiCorp (Chinese hotel reviews), accuracy",
        "",
        "Training on 1,000 labels per class. ChnSentiCorp's test split is 66 % positive (always saying positive: accuracy "
        "0.660, macro-F1 0.40), SST-2's balanced. Published Multilingual-MiniLM on XNLI (another task): zh/en 0.86.",
        "",
        "| row | English test accuracy | Chinese test accuracy | Chinese macro-F1 | Chinese / English | train s | trainable parameters |",
        "|---|---|---|---|---|---|---|",
        *[f"| {r['row']} | {cell(r, 'en')} | {cell(r, 'zh')} | {r['macro_f1']['zh']:.3f} | {ratio(r, 'zh')} | "
          f"{r['train_seconds']:.0f} | {r['trainable_parameters'] or '–'} |" for r in rows if r["part"] == "sentiment"],
    ]
    write_runs("crosslingual", lines, rows)


if __name__ == "__main__":
    main()
