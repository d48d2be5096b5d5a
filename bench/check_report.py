"""Render a sweep's report.html in headless Chromium and save a PNG screenshot of it, to
see the page as a reader will (table layout, overflow, legibility of the embedded plots)
without a desktop. Needs `chromium` (Debian: `apt-get install -y chromium`).

    .venv/bin/python bench/check_report.py runs/demo/report.html [--output bench/out/report.png]

Prints where it wrote the screenshot; bench/out/ is not tracked by git.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def screenshot(report: Path, output: Path, width: int = 1200, height: int = 2400) -> Path:
    """Screenshot `report` (a local HTML file) into `output` with a throw-away profile."""
    browser = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if browser is None:
        sys.exit("check_report: no chromium on PATH; install it with: apt-get install -y chromium")
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="check-report-") as profile:
        command = [browser, "--headless", "--disable-gpu", "--no-sandbox", f"--user-data-dir={profile}",
                   "--hide-scrollbars", f"--screenshot={output.resolve()}", f"--window-size={width},{height}",
                   report.resolve().as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or not output.is_file():
        sys.exit(f"check_report: chromium failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="a report.html")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "out" / "report.png", help="the PNG to write")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args()
    if not args.report.is_file():
        sys.exit(f"check_report: {args.report}: no such file")
    print(f"wrote {screenshot(args.report, args.output, args.width, args.height)}")


if __name__ == "__main__":
    main()
