#!/usr/bin/env bash
# Do two commits print the same results? Runs the demo and a race of the demo (launch, status,
# report) on BASE (a git revision) and on the working tree, then diffs what each printed: the
# leaderboards, the race's decisions and the reports' terminal text must agree to the last digit
# (only the report artifacts' random ids may differ). For refactors that may not change results.
#
#   bash benchmarks/same_results.sh 1cc7899      # about 2 minutes on 2 CPU cores
set -euo pipefail
base=${1:?usage: bash benchmarks/same_results.sh BASE_REVISION}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/layerlab-same.XXXX)
trap 'git -C "$root" worktree remove --force "$work/base-tree" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$root" worktree add --detach -q "$work/base-tree" "$base"

run() {  # run TREE OUT: the five commands, in a fresh directory each
  local tree=$1 out=$2
  mkdir -p "$out"
  (
    cd "$tree"
    python cli.py study launch --storage "sqlite:///$out/demo.db" --artifact-dir "$out/a1" --no-progress \
      > "$out/demo.txt" 2> "$out/demo.err"
    python cli.py study launch --race --storage "sqlite:///$out/race.db" --artifact-dir "$out/a2" --no-progress \
      > "$out/race.txt" 2> "$out/race.err"
    python cli.py study status --storage "sqlite:///$out/race.db" --study-name demo > "$out/race_status.txt" 2>&1
    python cli.py study report --storage "sqlite:///$out/race.db" --study-name demo --out "$out/race.html" \
      > "$out/race_report.txt" 2>&1
    python cli.py study report --storage "sqlite:///$out/demo.db" --study-name demo --out "$out/demo.html" \
      > "$out/demo_report.txt" 2>&1
  )
}

run "$work/base-tree" "$work/base"
run "$root" "$work/now"
status=0
for f in demo.txt race.txt race_status.txt race_report.txt demo_report.txt; do
  # the paths differ by their folder, and an attached report's artifact id is random
  norm() { sed -e "s#$1#DIR#g" -e 's/artifact [0-9a-f-]\{36\}/artifact ID/' "$2"; }
  if diff <(norm "$work/base" "$work/base/$f") <(norm "$work/now" "$work/now/$f") > "$work/$f.diff"; then
    echo "same: $f"
  else
    echo "DIFFERENT: $f"; head -20 "$work/$f.diff"; status=1
  fi
done
exit $status
