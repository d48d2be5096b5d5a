"""Inference speed: transferkit's `predict` (torch, ONNX fp32, ONNX int8) against a script
that predicts the same file with `transformers.pipeline`, each timed as a whole process
(imports, model load, every prediction) as a user runs it; the cold start of `predict`;
and a load test of `serve` on loopback.

    .venv/bin/python bench/inference.py [--parts classify,ner,qa,serve] [--repeats 3]

Data: the SST-2 test split (1,821 sentences) with an SST-2 finetune run, and the
CoNLL-2003 test split (3,453 sentences) with a CoNLL NER run; each run is trained here
first if it is not there yet (commands in the results). Writes `bench/results/inference.md`
and `.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, REPO, machine, saved, shown, write_results  # noqa: E402

RUNS = REPO / "runs" / "bench-inference"
BIN = Path(sys.executable).parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
SST2, CONLL, XQUAD = DATASETS / "sst2", DATASETS / "conll2003", DATASETS / "xquad"

# the runs measured, and the commands that train them (cut where a full run would take hours:
# inference speed does not depend on how long a model trained)
TRAIN = {
    "sst2-finetune": ["--task", "classify", "--train", SST2 / "train.csv", "--dev", SST2 / "dev.csv", "--test", SST2 / "test.csv",
                      "--strategy", "finetune", "--seed", "0"],
    "conll-finetune": ["--task", "ner", "--train", CONLL / "train.txt", "--dev", CONLL / "dev.txt", "--test", CONLL / "test.txt",
                       "--strategy", "finetune", "--train-examples", "3000", "--epochs", "3", "--evaluations", "3", "--seed", "0"],
    "xquad-finetune": ["--task", "qa", "--train", XQUAD / "en.train.json", "--test", XQUAD / "en.test.json",
                       "--strategy", "finetune", "--epochs", "3", "--seed", "0"],
}


def command_line(args: list) -> str:
    """A command as the results show it: paths relative to the repo, the venv's programs by their venv path."""
    return " ".join(shown(Path(a)) if str(a).startswith("/") else str(a) for a in args)


def transferkit(*args) -> list[str]:
    return [str(BIN / "transferkit"), *map(str, args)]


def ensure_run(name: str) -> Path:
    run = RUNS / name
    if not (run / "metrics.json").is_file():
        print(f"training {name} ...", flush=True)
        subprocess.run(transferkit("train", *TRAIN[name], "--output", run), env=ENV, check=True)
    return run


def ensure_export(run: Path, quantize: str) -> Path:
    out = RUNS / f"{run.name}-onnx-{quantize}"
    if not (out / "export.json").is_file():
        print(f"exporting {run.name} ({quantize}) ...", flush=True)
        # --min-agreement 0: the benchmark records the agreement rather than refusing the export
        subprocess.run(transferkit("export", run, "--format", "onnx", "--quantize", quantize, "--output", out, "--min-agreement", 0, "-q"),
                       env=ENV, check=True, stdout=subprocess.DEVNULL)
    return out


def timed(command: list[str], repeats: int) -> tuple[float, list[float]]:
    """The median wall time of `command` run `repeats` times as a process of its own."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, env=ENV, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def speed_rows(name: str, data: Path, n: int, run: Path, pipeline_task: str, score, repeats: int) -> list[dict]:
    """Whole-process timings of the pipeline script and of `transferkit predict` on the
    run and its two exports, each with its metric (`score(records_file, kind)`) and its
    agreement with the torch run's predictions."""
    out = RUNS / "predictions"
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    commands = {
        "transformers.pipeline (batch 32)": [sys.executable, str(REPO / "bench" / "pipeline_predict.py"), pipeline_task, str(run / "model"), str(data), str(out / f"{name}-pipeline.jsonl")],
        "transferkit torch": transferkit("-q", "predict", run, "--input", data, "--output", out / f"{name}-torch.jsonl"),
        "transferkit ONNX fp32": transferkit("-q", "predict", ensure_export(run, "none"), "--input", data, "--output", out / f"{name}-fp32.jsonl"),
        "transferkit ONNX int8": transferkit("-q", "predict", ensure_export(run, "int8"), "--input", data, "--output", out / f"{name}-int8.jsonl"),
    }
    files = dict(zip(commands, ("pipeline", "torch", "fp32", "int8")))
    for label, command in commands.items():
        print(f"{name}: {label} ...", flush=True)
        wall, times = timed(command, repeats)
        metric, predictions = score(out / f"{name}-{files[label]}.jsonl", files[label])
        rows.append({"part": name, "method": label, "wall_seconds": wall, "times": times, "per_second": n / wall,
                     "metric": metric, "predictions": predictions, "command": command_line(command)})
    torch_predictions = rows[1]["predictions"]
    for row in rows:
        row["agreement_with_torch"] = sum(a == b for a, b in zip(row["predictions"], torch_predictions)) / len(torch_predictions)
        row["speed_vs_pipeline"] = rows[0]["wall_seconds"] / row["wall_seconds"]
        del row["predictions"]
    return rows


def cold_start(run: Path, text: str, repeats: int) -> list[dict]:
    """`transferkit predict RUN TEXT`: the time from the command to its output."""
    rows = []
    for label, target in (("torch", run), ("ONNX int8", ensure_export(run, "int8"))):
        command = transferkit("-q", "predict", target, text)
        wall, times = timed(command, repeats)
        rows.append({"runtime": label, "seconds": wall, "times": times, "command": command_line(command)})
    return rows


def classify_part(repeats: int) -> dict:
    import csv

    run = ensure_run("sst2-finetune")
    gold = [row["label"] for row in csv.DictReader(open(SST2 / "test.csv", encoding="utf-8"))]

    def score(path: Path, kind: str):
        predicted = [r["label"] if kind == "pipeline" else r["prediction"] for r in read_jsonl(path)]
        return sum(p == g for p, g in zip(predicted, gold)) / len(gold), predicted

    rows = speed_rows("sst2", SST2 / "test.csv", len(gold), run, "classify", score, repeats)
    return {"rows": rows, "cold_start": cold_start(run, "a gripping, beautifully acted film", repeats), "examples": len(gold),
            "train_command": command_line(["transferkit", "train", *TRAIN["sst2-finetune"], "--output", RUNS / "sst2-finetune"])}


def ner_part(repeats: int) -> dict:
    sys.path.insert(0, str(REPO / "bench"))
    from pipeline_predict import sentences

    from transferkit.api import run_config
    from transferkit.tasks import get_task
    from transferkit.tasks.ner import entity_metrics

    run = ensure_run("conll-finetune")
    test = get_task("ner").read_labelled(str(CONLL / "test.txt"), run_config(str(run)))
    assert [" ".join(t) for t in test.tokens] == sentences(str(CONLL / "test.txt"))

    def score(path: Path, kind: str):
        records = read_jsonl(path)
        tags = [pipeline_tags(r, tokens) for r, tokens in zip(records, test.tokens)] if kind == "pipeline" else [r["tags"] for r in records]
        return entity_metrics(test.tags, tags)["f1"], [t for sentence in tags for t in sentence]

    rows = speed_rows("conll", CONLL / "test.txt", len(test.tokens), run, "ner", score, repeats)
    return {"rows": rows, "examples": len(test.tokens),
            "train_command": command_line(["transferkit", "train", *TRAIN["conll-finetune"], "--output", RUNS / "conll-finetune"])}


def pipeline_tags(groups: list[dict], tokens: list[str]) -> list[str]:
    """IOB2 word tags from the token-classification pipeline's entity groups over the
    words joined by spaces (a group covers the words its characters touch)."""
    starts, position = [], 0
    for token in tokens:
        starts.append(position)
        position += len(token) + 1
    tags = ["O"] * len(tokens)
    for group in groups:
        words = [i for i, s in enumerate(starts) if s < group["end"] and s + len(tokens[i]) > group["start"]]
        kind = group["entity_group"].split("-")[-1]
        for k, i in enumerate(words):
            tags[i] = ("B-" if k == 0 else "I-") + kind
    return tags


TEST_FILES = {"sst2-finetune": (SST2 / "test.csv", "accuracy"), "conll-finetune": (CONLL / "test.txt", "f1"), "xquad-finetune": (XQUAD / "en.test.json", "f1")}


def export_checks() -> list[dict]:
    """export.json's check of every run measured, fp32 and int8 (qa: a run of its own), and
    each export's test metric (`transferkit evaluate`) beside the run's own."""
    rows = []
    for name in ("sst2-finetune", "conll-finetune", "xquad-finetune"):
        run = ensure_run(name)
        data, metric = TEST_FILES[name]
        for quantize in ("none", "int8"):
            export = ensure_export(run, quantize)
            report = json.loads((export / "export.json").read_text())
            scored = subprocess.run(transferkit("-q", "evaluate", export, "--data", data), env=ENV, check=True, capture_output=True, text=True)
            rows.append({"run": name, "quantize": quantize, "onnx_mb": report["onnx_bytes"] / 1e6, **report["check"],
                         "fused": report["fused_operators"], "export_seconds": report["seconds"], "metric": metric,
                         "test_metric": json.loads(scored.stdout)[metric], "run_test_metric": json.loads((run / "metrics.json").read_text())["test"][metric]})
    return rows


def serve_part(repeats: int, total: int = 2000, soak: int = 10_000) -> dict:
    """`transferkit serve` on the SST-2 run (torch): `total` POST /predict requests of one
    SST-2 sentence at concurrency 1, 8 and 32, with micro-batching on (the defaults) and off
    (`--max-batch 1`: one request per forward pass); then the server's resident memory
    before and after `soak` more requests. The load comes from ApacheBench (`ab`, Debian's
    apache2-utils), a C client light enough to leave the 2 cores to the server: a Python
    client (bench/load_test.py) itself held throughput near 100 requests/s, batching or not.
    Loopback only; every run is bounded in count (and `ab -s` in time)."""
    from load_test import rss_mb

    from transferkit.serving.launch import ServerProcess

    run = ensure_run("sst2-finetune")
    body = RUNS / "request.json"
    body.write_text(json.dumps({"texts": [SENTENCE]}))
    rows = []
    for label, flags in (("on (--max-batch 64 --max-wait-ms 5)", []), ("off (--max-batch 1)", ["--max-batch", 1])):
        with ServerProcess([run, *flags]) as server:
            apache_bench(server.url, body, 8, 200)  # warm-up: first passes allocate
            for concurrency in (1, 8, 32):
                print(f"serve: batching {label}, concurrency {concurrency} ...", flush=True)
                before = httpx_get(server.url + "/metadata")["batching"]
                result = apache_bench(server.url, body, concurrency, total)
                after = httpx_get(server.url + "/metadata")["batching"]
                passes = after["batches"] - before["batches"]
                rows.append({"batching": label, **result, "texts_per_batch": (after["texts"] - before["texts"]) / max(passes, 1)})
    with ServerProcess([run]) as server:
        apache_bench(server.url, body, 8, 200)
        before, peak_before = rss_mb(server.pid), rss_mb(server.pid, "VmHWM")
        print(f"serve: {soak} requests for memory ...", flush=True)
        result = apache_bench(server.url, body, 32, soak)
        memory = {"rss_mb_before": before, "rss_mb_after": rss_mb(server.pid), "peak_mb_before": peak_before,
                  "peak_mb_after": rss_mb(server.pid, "VmHWM"), "requests": result["requests"], "errors": result["errors"]}
    return {"rows": rows, "memory": memory, "total": total, "sentence": SENTENCE,
            "command": f"transferkit serve {shown(run)} [--max-batch 1]; ab -k -n N -c C -p request.json -T application/json URL/predict"}


SENTENCE = "arnold 's jump from little screen to big will leave frowns on more than a few faces ."  # the first SST-2 test sentence of the median length, 18 words


def apache_bench(url: str, body: Path, concurrency: int, total: int) -> dict:
    """`ab` with keep-alive: requests/s, latency percentiles (ms) and failed or non-200 answers."""
    import re

    if not url.startswith("http://127."):
        raise ValueError(f"load only on loopback, not {url}")
    out = subprocess.run(["ab", "-q", "-k", "-s", "120", "-n", str(total), "-c", str(concurrency), "-p", str(body),
                          "-T", "application/json", url + "/predict"], check=True, capture_output=True, text=True).stdout
    number = lambda pattern: float(m.group(1)) if (m := re.search(pattern, out, re.M)) else 0.0  # noqa: E731
    return {"requests": total, "concurrency": concurrency, "requests_per_s": number(r"Requests per second:\s+([\d.]+)"),
            "errors": int(number(r"Failed requests:\s+(\d+)") + number(r"Non-2xx responses:\s+(\d+)")),
            **{f"p{p}_ms": number(rf"^\s+{p}%\s+(\d+)") for p in (50, 95, 99)}}


def httpx_get(url: str) -> dict:
    import httpx

    return httpx.get(url, timeout=30).json()


def serve_markdown(part: dict) -> list[str]:
    lines = ["## `transferkit serve`: load test on loopback", "",
             f"`{part['command']}`: {part['total']:,} POST /predict requests per row, each the sentence \"{part['sentence']}\", over keep-alive connections from ApacheBench (the client shares the 2 cores).", "",
             "| micro-batching | concurrency | requests/s | p50 ms | p95 ms | p99 ms | errors | texts per forward pass |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['batching']} | {r['concurrency']} | {r['requests_per_s']:.1f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['p99_ms']:.0f} | {r['errors']} | {r['texts_per_batch']:.1f} |" for r in part["rows"]]
    m = part["memory"]
    lines += ["", f"Resident memory of the server (batching on): {m['rss_mb_before']:.0f} MB after warm-up, {m['rss_mb_after']:.0f} MB after {m['requests']:,} more requests "
              f"at concurrency 32 ({m['errors']} errors): {m['rss_mb_after'] - m['rss_mb_before']:+.0f} MB; peak (VmHWM) {m['peak_mb_before']:.0f} → {m['peak_mb_after']:.0f} MB."]
    return lines


def speed_table(part: dict, metric: str) -> list[str]:
    lines = [f"| method | wall s (median) | per second | {metric} | agreement with torch | speed vs pipeline |", "|---|---|---|---|---|---|"]
    for r in part["rows"]:
        lines.append(f"| {r['method']} | {r['wall_seconds']:.2f} | {r['per_second']:.0f} | {r['metric']:.4f} | {r['agreement_with_torch']:.4f} | {r['speed_vs_pipeline']:.2f}× |")
    return lines


def markdown(results: dict, repeats: int) -> str:
    lines = ["# Inference benchmark", "",
             f"Command: `.venv/bin/python bench/inference.py` · machine: {machine()} · each time is the median of {repeats} runs of the whole process "
             "(imports, model load, reading the file, every prediction, writing JSON lines), as a user runs it.", ""]
    if "classify" in results:
        part = results["classify"]
        lines += ["## SST-2 test (1,821 sentences), classify finetune run", "", f"Run: `{part['train_command']}`.", ""]
        lines += speed_table(part, "accuracy") + ["", "Commands:", ""] + [f"- {r['method']}: `{command_line(r['command'].split())}`" for r in part["rows"]]
        lines += ["", "Cold start, `transferkit predict RUN TEXT` (one text, to its output):", "", "| runtime | seconds |", "|---|---|"]
        lines += [f"| {r['runtime']} | {r['seconds']:.2f} |" for r in part["cold_start"]]
    if "ner" in results:
        part = results["ner"]
        lines += ["", "## CoNLL-2003 test (3,453 sentences), NER finetune run", "", f"Run: `{part['train_command']}` (3,000 training sentences, 3 epochs: speed does not depend on training length).",
                  "The pipeline tags each sentence alone (`aggregation_strategy=\"first\"`, its entity groups mapped back to words); transferkit reads the file's documents as the run was trained to. Agreement: word tags.", ""]
        lines += speed_table(part, "entity F1") + ["", "Commands:", ""] + [f"- {r['method']}: `{command_line(r['command'].split())}`" for r in part["rows"]]
    if "exports" in results:
        lines += ["", "## Export checks (`export.json`)", "", "The run's predictor on torch and on the export, over the first 256 examples of the run's test file.", "",
                  "| run | quantize | ONNX MB | largest logit difference | agreement | unit | test metric: torch → export | export s |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['run']} | {r['quantize']} | {r['onnx_mb']:.1f} | {r['max_logit_difference']:.2g} | {r['agreement']:.4f} | {r['unit']} ({r['compared']}) | "
                  f"{r['metric']} {r['run_test_metric']:.4f} → {r['test_metric']:.4f} | {r['export_seconds']:.0f} |" for r in results["exports"]]
    if "serve" in results:
        lines += ["", *serve_markdown(results["serve"])]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="classify,ner,exports,serve")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = saved("inference", "results", {})
    parts = {"classify": classify_part, "ner": ner_part, "exports": lambda repeats: export_checks(), "serve": serve_part}
    names = [name for name in args.parts.split(",") if name]  # --parts "": the results file rewritten from the JSON
    for name in names or [None]:
        if name:
            results[name] = parts[name](args.repeats)
        write_results("inference", markdown(results, args.repeats), {"machine": machine(), "results": results})


if __name__ == "__main__":
    main()
