"""The `report` command's arguments: all the CLI's parser needs of the report, without its modules.

Every run of `blameless` builds the whole parser, `report` included; the report's history and
source code (dataclasses, JSON, entry points) load only when `report` runs.
"""

from __future__ import annotations

import argparse
from datetime import date

FORMATS = ("markdown", "html", "json")


def parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def add_arguments(report: argparse.ArgumentParser) -> None:
    report.add_argument("path", nargs="?", help="a local clone or a folder of postmortems (default: .)")
    report.add_argument(
        "--repo", metavar="OWNER/NAME", help="collect the history from GitHub (token in GITHUB_TOKEN)"
    )
    report.add_argument(
        "--history", metavar="FILE", help="incidents and action items as JSON (see the README)"
    )
    report.add_argument(
        "--since", type=parse_date, metavar="DATE", help="first day of the report (YYYY-MM-DD)"
    )
    report.add_argument(
        "--until", type=parse_date, metavar="DATE", help="the report's 'today' (default: today, UTC)"
    )
    report.add_argument("--format", choices=FORMATS, default="markdown")
    report.add_argument("--config", help="config file (default: .github/blameless.yml if present)")
    report.add_argument("--output", help="write the report to this file instead of standard output")
