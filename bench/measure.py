#!/usr/bin/env python3
"""Runs one command and prints its wall time and peak resident memory as one JSON line.

    python3 bench/measure.py LABEL -- COMMAND [ARGS...]

The command's stdout is parsed as JSON (the last line that is a JSON object: `p2law eval --json`,
`p2law prune --json` and the reference scripts print one) and its fields copied into the line. Peak RSS is the child's
`ru_maxrss` (Linux reports KiB), so run one command per invocation: the maximum is over all waited children.
"""
import json
import resource
import subprocess
import sys
import time


def main():
    label, sep, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
    if sep != "--" or not cmd:
        sys.exit(__doc__)
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"measure.py: {label}: {cmd[0]} exited with {proc.returncode}")
    result = None
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            result = json.loads(line)
    if result is None:
        sys.exit(f"measure.py: {label}: no JSON object on stdout")
    rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"label": label, "wall_s": round(wall, 2), "peak_rss_mib": round(rss_mib), **result}))


if __name__ == "__main__":
    main()
