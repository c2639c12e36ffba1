#!/usr/bin/env bash
# make demo: start the local sandbox (real PostgreSQL 15 + pgBackRest, a standby and a steady
# writer, OpenBao, moto, the Kubernetes API simulators, practice HSM tokens), run the monthly
# recovery test (a real test restore), the quarterly full DR drill (fail over to the DR site
# and back) and a point-in-time restore drill headless so that there is history to look at,
# then open the console on a terminal. Runs go to the default runs directory (the one the
# console and `drconsole runs` read) unless a directory is given as the first argument.
set -euo pipefail
runs_opt=()
[ -n "${1:-}" ] && runs_opt=(--runs-dir "$1")
sandbox_dir=${DRCONSOLE_SANDBOX_DIR:-}
dc=.venv/bin/drconsole
dir_opt=()
[ -n "$sandbox_dir" ] && dir_opt=(--dir "$sandbox_dir")

echo "== drconsole sandbox up (practice only)"
$dc sandbox up "${dir_opt[@]}"
targets=$($dc sandbox status "${dir_opt[@]}" | awk '/targets file/ {print $3}')
echo
echo "== drconsole validate plans/"
$dc validate plans/
echo
echo "== monthly database recovery test: restore the newest backup into a scratch cluster"
$dc run plans/monthly-db-recovery-test.yaml --headless --mode drill --targets "$targets" \
  "${runs_opt[@]}" | tail -n 3
echo
practice=$(mktemp -d -t drconsole-demo.XXXXXX)
sandbox_root=$($dc sandbox status "${dir_opt[@]}" | awk 'NR == 1 {print $2}')
shares="$sandbox_root/openbao/primary"
custodians='{signoffs: [{name: c1, role: key_custodian}, {name: c2, role: key_custodian}, {name: c3, role: key_custodian}]}'
unseal="{secrets: [{file: $shares/PRACTICE-ONLY-share-1}, {file: $shares/PRACTICE-ONLY-share-2}, {file: $shares/PRACTICE-ONLY-share-3}]}"
cat > "$practice/drill.yaml" <<ANSWERS
operator: demo-facilitator
steps:
  brief: {confirm: true}
  fail-primary: {typed: fail primary}
  fo-declare: {signoffs: [{name: demo-ic, role: incident_commander}]}
  fo-promote: {typed: promote dr}
  fo-vault-restore: {typed: restore vault dr}
  fo-custodians: $custodians
  fo-vault-unseal: $unseal
  fb-decide: {signoffs: [{name: demo-ic, role: incident_commander}]}
  fb-rebuild-primary: {typed: rebuild primary}
  fb-promote-primary: {typed: promote primary}
  fb-rebuild-dr: {typed: rebuild dr}
  fb-custodians: $custodians
  fb-vault-unseal: $unseal
  lessons: {confirm: true, evidence: {went_well: demo, to_improve: demo, actions: none}}
ANSWERS
echo "== quarterly full DR drill: fail the primary, fail over, validate, fail back"
if $dc sandbox prepare-drill "${dir_opt[@]}"; then
  $dc run plans/quarterly-full-dr-drill.yaml --headless --mode drill --targets "$targets" \
    --answers "$practice/drill.yaml" "${runs_opt[@]}" | tail -n 3
else
  echo "(drill skipped: the sandbox is not in its starting roles; see above)"
fi
echo
cat > "$practice/answers.yaml" <<ANSWERS
operator: demo-dba
steps:
  confirm: {confirm: true}
  restore: {typed: "restore qsign"}
  rebuild-standby: {typed: "rebuild dr"}
ANSWERS
sleep 3
target=$(date -u -d '-2 sec' +%Y-%m-%dT%H:%M:%SZ)
echo "== point-in-time restore drill to $target (the writer keeps writing; later rows go)"
out=$($dc run plans/pitr-restore.yaml --headless --mode drill --targets "$targets" \
  --answers "$practice/answers.yaml" --input target_time="$target" "${runs_opt[@]}" \
  | tee /dev/stderr)
run_dir=$(head -n 1 <<<"$out")
echo
echo "== drconsole journal verify $run_dir"
$dc journal verify "$run_dir"
echo
echo "== drconsole report $run_dir (first lines)"
$dc report "$run_dir" | head -n 30
echo
echo "== drconsole runs"
$dc runs "${runs_opt[@]}" | head -n 6
echo
echo "The sandbox keeps running: 'drconsole sandbox status', 'drconsole sandbox down'."
if [ -t 0 ] && [ -t 1 ]; then
  echo "Opening the console (q quits, ? shows every key)..."
  sleep 2
  exec $dc console --targets "$targets" "${runs_opt[@]}"
fi
echo "No terminal here: open the console later with"
echo "  $dc console --targets $targets ${runs_opt[*]}"
