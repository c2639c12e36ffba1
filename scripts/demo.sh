#!/usr/bin/env bash
# make demo: until the sandbox and the TUI exist, show the main job headless: validate the
# shipped plans, dry-run the hello drill, run it as a drill with an answers file, verify its
# journal and print its report. Everything it writes is under a temporary practice directory.
set -euo pipefail
runs_dir=${1:-runs}
dc=.venv/bin/drconsole
practice=$(mktemp -d -t drconsole-demo.XXXXXX)
echo "== practice files in $practice (PRACTICE ONLY)"
head -c 65536 /dev/urandom > "$practice/qsign-backup.dump"
(cd "$practice" && sha256sum qsign-backup.dump > qsign-backup.dump.sha256)
cat > "$practice/answers.yaml" <<ANSWERS
operator: demo-facilitator
steps:
  brief: {confirm: true}
  approve:
    signoffs:
      - {name: Kim Security, role: security_officer}
      - {name: Lee Witness, role: witness}
ANSWERS

echo "== drconsole validate plans/"
$dc validate plans/
echo
echo "== drconsole run plans/hello-drill.yaml --mode dry-run (touches nothing)"
$dc run plans/hello-drill.yaml --headless --mode dry-run --yes \
  --input file="$practice/qsign-backup.dump" --runs-dir "$runs_dir" >/dev/null
echo "dry-run recorded under $runs_dir"
echo
echo "== drconsole run plans/hello-drill.yaml --mode drill --answers answers.yaml"
out=$($dc run plans/hello-drill.yaml --headless --mode drill \
  --input file="$practice/qsign-backup.dump" --answers "$practice/answers.yaml" \
  --runs-dir "$runs_dir" | tee /dev/stderr)
run_dir=$(head -n 1 <<<"$out")
echo
echo "== drconsole journal verify $run_dir"
$dc journal verify "$run_dir"
echo
echo "== drconsole report $run_dir"
$dc report "$run_dir"
echo
echo "== drconsole runs"
$dc runs --runs-dir "$runs_dir"
echo
echo "The interactive console and the local sandbox are not built yet; see README.md."
