#!/usr/bin/env python3
"""Runs one command and prints its wall time and peak resident memory as one JSON line.

    python3 bench/measure.py LABEL [--out FILE] -- COMMAND [ARGS...]

The command's stdout is parsed as JSON (the last line that is a JSON object: `p2law eval --json`,
`p2law prune --json` and the reference scripts print one) and its fields copied into the line. Peak RSS is the child's
`ru_maxrss` (Linux reports KiB), so run one command per invocation: the maximum is over all waited children.
With `--out FILE` the command's stdout goes to FILE as it is, and only the time and memory are printed.
"""
import json
import resource
import subprocess
import sys
import time


def main():
    args = sys.argv[1:]
    if "--" not in args or args.index("--") < 1:
        sys.exit(__doc__)
    head, cmd = args[: args.index("--")], args[args.index("--") + 1 :]
    label, out = head[0], None
    if head[1:3] and head[1] == "--out" and len(head) == 3:
        out = head[2]
    elif len(head) != 1 or not cmd:
        sys.exit(__doc__)
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"measure.py: {label}: {cmd[0]} exited with {proc.returncode}")
    rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if out is not None:
        with open(out, "w") as f:
            f.write(proc.stdout)
        print(json.dumps({"label": label, "wall_s": round(wall, 2), "peak_rss_mib": round(rss_mib)}))
        return
    result = None
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            result = json.loads(line)
    if result is None:
        sys.exit(f"measure.py: {label}: no JSON object on stdout")
    print(json.dumps({"label": label, "wall_s": round(wall, 2), "peak_rss_mib": round(rss_mib), **result}))


if __name__ == "__main__":
    main()
