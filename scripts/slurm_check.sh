#!/usr/bin/env bash
# The `micro` sweep through a real single-node Slurm, as CI's check of `p2law sweep --slurm`:
#   1. installs Debian's slurm-wlm and munge when missing (root, apt-get), starts munged, slurmctld and slurmd
#      on this machine (one node with its cores, proctrack/linuxproc, task/none; config, state and logs
#      under target/ci/slurm/);
#   2. submits recipes/micro.toml into a fresh folder with `p2law sweep --slurm`, waits for a post-training
#      task to write its first checkpoint and `scancel`s it (the later levels are cancelled with it), then
#      resubmits, which runs that unit again, resumed from its checkpoint, and the report;
#   3. checks that no unit finished twice (journal/), that the cancelled unit resumed, and that the report
#      equals the local run's (LOCAL, by default target/ci/micro from scripts/micro_check.sh) within float
#      noise; prints how many units ran where.
# Everything talks over 127.0.0.1, so the host name need not resolve. Stops the daemons it started.
# Exit status: 0 passed, 1 failed, 77 skipped (Slurm could not be installed
# or started here; the reason is printed, the check did not pass).
#   bash scripts/slurm_check.sh [P2LAW_BINARY=target/debug/p2law] [LOCAL=target/ci/micro]
set -euo pipefail
cd "$(dirname "$0")/.."
p2law="$(realpath "${1:-target/debug/p2law}")"
local_out="$(realpath -m "${2:-target/ci/micro}")"
work="$(realpath -m target/ci/slurm)"
out="$work/micro"
started=$(date +%s)
say() { echo "slurm: $*"; }
skip() { echo "slurm: SKIPPED: $*" >&2; exit 77; }
fail() { echo "slurm: FAILED: $*" >&2; exit 1; }

# --- 1. Install ---------------------------------------------------------------------------------------
need=()
command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null || need+=(slurm-wlm)
command -v munged >/dev/null || need+=(munge)
command -v python3 >/dev/null || need+=(python3)
if [ "${#need[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || skip "${need[*]} not installed, and not root to install them"
  command -v apt-get >/dev/null || skip "${need[*]} not installed, and no apt-get here"
  mkdir -p "$work"
  say "installing ${need[*]} (apt-get)"
  apt-get update -qq > "$work/apt.log" 2>&1 || skip "apt-get update failed ($(tail -n 1 "$work/apt.log"))"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >> "$work/apt.log" 2>&1 \
    || skip "apt-get install ${need[*]} failed ($(tail -n 1 "$work/apt.log"))"
fi
say "installed after $(( $(date +%s) - started )) s"

# --- 2. Start munge and Slurm -------------------------------------------------------------------------
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
rm -rf "$work/state" "$work/spool" "$out"
mkdir -p "$work/state" "$work/spool"
if ! (munge -n | unmunge) >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || skip "munged is not running, and not root to start it"
  [ -s /etc/munge/munge.key ] || { mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null \
    || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null; }
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge
  runuser -u munge -- /usr/sbin/munged > "$work/munged.out" 2>&1 || skip "munged did not start: $(cat "$work/munged.out")"
  [ -s /run/munge/munged.pid ] && pids+=("$(cat /run/munge/munged.pid)")
  (munge -n | unmunge) >/dev/null 2>&1 || skip "munge does not authenticate after starting munged"
fi
host="$(hostname -s)"
node="$(slurmd -C 2>/dev/null | head -n 1 | sed 's/ RealMemory=[0-9]*//')"
case "$node" in NodeName=*) ;; *) skip "slurmd -C did not describe this machine: $node" ;; esac
export SLURM_CONF="$work/slurm.conf"
cat > "$SLURM_CONF" <<EOF
ClusterName=p2lawci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MinJobAge=600
KillWait=5
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
rm -f "$work/slurmctld.pid" "$work/slurmd.pid"
slurmctld -i > "$work/slurmctld.out" 2>&1 || skip "slurmctld did not start: $(tail -n 3 "$work/slurmctld.out" "$work/slurmctld.log" 2>/dev/null)"
for _ in $(seq 50); do [ -s "$work/slurmctld.pid" ] && break; sleep 0.2; done
[ -s "$work/slurmctld.pid" ] && pids+=("$(cat "$work/slurmctld.pid")")
slurmd > "$work/slurmd.out" 2>&1 || skip "slurmd did not start: $(tail -n 3 "$work/slurmd.out" "$work/slurmd.log" 2>/dev/null)"
for _ in $(seq 50); do [ -s "$work/slurmd.pid" ] && break; sleep 0.2; done
[ -s "$work/slurmd.pid" ] && pids+=("$(cat "$work/slurmd.pid")")
state=""
for _ in $(seq 60); do
  state="$(sinfo -h -n "$host" -o %T 2>/dev/null || true)"
  case "$state" in idle*|mixed*|alloc*) break ;; esac
  sleep 0.5
done
case "$state" in
  idle*|mixed*|alloc*) ;;
  *) skip "the node did not come up (state '${state:-none}'): $(tail -n 5 "$work/slurmctld.log" "$work/slurmd.log" 2>/dev/null)" ;;
esac
cpus="$(sinfo -h -n "$host" -o %c)"
say "single-node Slurm up on $host ($cpus CPUs) after $(( $(date +%s) - started )) s"

# --- 3. Submit micro, cancel one running post-training task, resubmit ----------------------------------
"$p2law" data build --quiet
wait_jobs() { # until none of the jobs $* is queued or running (at most 30 min)
  local ids; ids="$(echo "$*" | tr ' ' ',')"
  for _ in $(seq 3600); do
    [ -z "$(squeue -h -j "$ids" -o %i 2>/dev/null)" ] && return 0
    sleep 0.5
  done
  fail "jobs $* still queued after 30 min: $(squeue -j "$ids")"
}
sweep_start=$(date +%s)
jobs1="$("$p2law" sweep recipes/micro.toml --out "$out" --slurm --max-parallel "$cpus" --quiet)"
say "submitted jobs $jobs1"
# The first post-training unit running with a checkpoint written: its journal record has no outcome yet.
victim="" task=""
for _ in $(seq 1200); do
  for rec in "$out"/journal/posttrain_*.json; do
    [ -e "$rec" ] || continue
    grep -q '"outcome":null' "$rec" || continue
    unit="$(sed 's/.*"unit":"\([^"]*\)".*/\1/' "$rec")"
    run="${unit#posttrain:}"
    ls "$out/runs/$run/checkpoints/"*/ >/dev/null 2>&1 || continue
    # Far enough from its end (micro: 12 steps, a checkpoint at step 6, a curve row per step) that the
    # cancel lands before the run finishes.
    [ "$(( $(wc -l < "$out/runs/$run/curve.csv") - 1 ))" -le 9 ] || continue
    victim="$unit"
    task="$(sed 's/.*"slurm_job":"\([^"]*\)".*/\1/' "$rec")"
    break 2
  done
  [ -z "$(squeue -h -j "$(echo "$jobs1" | tr ' ' ',')" -o %i)" ] && break
  sleep 0.5
done
[ -n "$victim" ] || fail "no post-training task was seen running with a checkpoint"
scancel "$task"
say "scancel $task ($victim, after its first checkpoint)"
wait_jobs $jobs1
[ -e "$out/report/report.md" ] && fail "the report was written although $victim was cancelled"
"$p2law" sweep recipes/micro.toml --out "$out" --plan > "$work/plan-after-cancel.txt"
grep -q "^$victim .* ready " "$work/plan-after-cancel.txt" || fail "$victim is not ready again after scancel: $(grep "^$victim " "$work/plan-after-cancel.txt")"
jobs2="$("$p2law" sweep recipes/micro.toml --out "$out" --slurm --max-parallel "$cpus" --quiet)"
say "resubmitted: jobs $jobs2 ($(grep -c ' ready \| waiting ' "$work/plan-after-cancel.txt") units left)"
wait_jobs $jobs2
say "sweep through Slurm in $(( $(date +%s) - sweep_start )) s"

# --- 4. Checks ----------------------------------------------------------------------------------------
for f in "$out"/slurm/*/logs/*.out; do
  if grep -q "^error: " "$f"; then fail "task log $f: $(grep "^error: " "$f" | head -n 3)"; fi
done
[ -s "$out/report/report.md" ] || fail "no report after the resubmission (logs: $out/slurm/*/logs)"
"$p2law" sweep recipes/micro.toml --out "$out" --plan --json > "$work/plan.json"
python3 - "$out" "$local_out" "$victim" "$work/plan.json" <<'PY'
import csv, glob, json, math, os, sys
from collections import Counter
out, local, victim, plan_path = sys.argv[1:5]
plan = json.load(open(plan_path))
todo = [u["id"] for u in plan["units"] if u["status"] != "done"]
if todo:
    sys.exit(f"slurm: FAILED: units not done: {todo}")
records = [json.load(open(p)) for p in glob.glob(os.path.join(out, "journal", "*.json"))]
finished = Counter(r["unit"] for r in records if r["outcome"] is not None and r["unit"] != "report")
twice = {u: n for u, n in finished.items() if n > 1}
if twice:
    sys.exit(f"slurm: FAILED: units finished more than once: {twice}")
kinds = {u["id"]: u["kind"] for u in plan["units"]}
ran = [u for u in kinds if kinds[u] != "report" and u in finished]
twins = [u["id"] for u in plan["units"] if u["note"] and "same model" in u["note"]]
missing = [u for u in kinds if kinds[u] != "report" and u not in finished and u not in twins]
if missing:
    sys.exit(f"slurm: FAILED: done units with no journal record: {missing}")
mine = [r for r in records if r["unit"] == victim]
if not (len(mine) == 2 and sum(r["outcome"] is None for r in mine) == 1
        and any(r["outcome"] == "ran" and r["resumed"] for r in mine)):
    sys.exit(f"slurm: FAILED: {victim} should have one cancelled and one resumed record: {mine}")
if not all(r["slurm_job"] for r in records):
    sys.exit("slurm: FAILED: a unit ran outside a Slurm task")
where = Counter((r["host"], "slurm") for r in records if r["outcome"] is not None)
print("slurm: units ran where: " + ", ".join(f"{n} on {h} in Slurm tasks" for (h, _), n in where.items())
      + f" ({len(ran)} units once each, {len(twins)} twins not trained, {victim} cancelled once and resumed"
      + f", {len({r['slurm_job'] for r in records})} Slurm tasks)")

def close(a, b, path):
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or a is None:
        return
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if not (math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))):
            sys.exit(f"slurm: FAILED: report differs from the local run at {path}: {a} vs {b}")
        return
    if type(a) is not type(b):
        sys.exit(f"slurm: FAILED: report differs from the local run at {path}: {a!r} vs {b!r}")
    if isinstance(a, dict):
        if set(a) != set(b):
            sys.exit(f"slurm: FAILED: report keys differ at {path}: {sorted(set(a) ^ set(b))}")
        for k in a:
            close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        if len(a) != len(b):
            sys.exit(f"slurm: FAILED: report lists differ in length at {path}")
        for i, (x, y) in enumerate(zip(a, b)):
            close(x, y, f"{path}[{i}]")

ref = os.path.join(local, "report", "report.json")
if not os.path.isfile(ref):
    sys.exit(f"slurm: FAILED: no local report to compare with at {ref} (run scripts/micro_check.sh first)")
close(json.load(open(os.path.join(out, "report", "report.json"))), json.load(open(ref)), "report")
n = 0
for path in sorted(glob.glob(os.path.join(local, "report", "curves", "*.csv"))):
    other = os.path.join(out, "report", "curves", os.path.basename(path))
    rows = [list(csv.reader(open(p))) for p in (path, other)]
    def num(s):
        try:
            return float(s)
        except ValueError:
            return s
    if rows[0][0] != rows[1][0]:
        sys.exit(f"slurm: FAILED: {other}: columns differ from the local run's")
    # Throughput is the one column that is a measurement of the machine, not of the model.
    keep = [i for i, h in enumerate(rows[0][0]) if h != "tokens_per_s"]
    close([[num(r[i]) for i in keep] for r in rows[1]], [[num(r[i]) for i in keep] for r in rows[0]],
          os.path.basename(path))
    n += 1
print(f"slurm: report.json and {n} curves equal the local run's within 1e-6")
PY
say "passed in $(( $(date +%s) - started )) s"
