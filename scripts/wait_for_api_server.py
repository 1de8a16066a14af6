"""Wait until every URL answers (HTTP 200), or fail when the api-server process ends or the time runs out.

Used by scripts/airflow.sh between starting the api-server and the components that
need it (the scheduler's tasks call its execution API at once).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("urls", nargs="+", help="URLs that must answer")
    parser.add_argument("--pid", type=int, required=True, help="the api-server's process")
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("CYLON_API_SERVER_START_TIMEOUT_S", 180)))
    args = parser.parse_args()
    end = time.monotonic() + args.timeout
    while time.monotonic() < end:
        try:
            os.kill(args.pid, 0)
        except ProcessLookupError:
            print("the api-server exited before it answered", file=sys.stderr)
            return 1
        try:
            for url in args.urls:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    resp.read()
            return 0
        except OSError:
            time.sleep(1)
    print(f"the api-server did not answer {args.urls} within {args.timeout:.0f} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
