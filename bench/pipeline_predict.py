"""The baseline `bench/inference.py` times: what a user writes with transformers alone to
predict a file with a trained model. Run as its own process, so its time holds the
imports, the model load and every prediction, as transferkit's `predict` is timed.

    python bench/pipeline_predict.py TASK MODEL_DIR INPUT OUTPUT [BATCH_SIZE]

classify: INPUT is a CSV with a `text` column, OUTPUT gets one JSON line per text with
the pipeline's label and score. ner: INPUT is a CoNLL file, each sentence's tokens
joined by spaces are tagged, OUTPUT gets the pipeline's entity groups.
"""

import csv
import json
import sys

from transformers import pipeline


def sentences(path: str) -> list[str]:
    """The sentences of a CoNLL file, their tokens joined by spaces (-DOCSTART- dropped)."""
    out, words = [], []
    for line in open(path, encoding="utf-8"):
        token = line.split()[0] if line.strip() else None
        if token is None or token == "-DOCSTART-":
            if words:
                out.append(" ".join(words))
            words = []
        else:
            words.append(token)
    return out + ([" ".join(words)] if words else [])


def main(task: str, model_dir: str, input_path: str, output_path: str, batch_size: int = 32) -> None:
    if task == "classify":
        texts = [row["text"] for row in csv.DictReader(open(input_path, encoding="utf-8"))]
        predict = pipeline("text-classification", model=model_dir, device="cpu")
    else:
        texts = sentences(input_path)
        predict = pipeline("token-classification", model=model_dir, device="cpu", aggregation_strategy="first")
    with open(output_path, "w", encoding="utf-8") as f:
        for result in predict(texts, batch_size=batch_size):
            f.write(json.dumps(result, default=float) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:5], *(int(a) for a in sys.argv[5:6]))
