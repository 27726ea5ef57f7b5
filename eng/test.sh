#!/usr/bin/env bash
# The test command: installs and starts every lab server the tests need (127.0.0.1 only), builds, runs every test
# project against them, stops the lab, and prints "N passed, N failed" as its closing line.
# Usage: bash eng/test.sh [extra dotnet test args]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

started=$(date +%s)
# One lab user at a time: a second test run or a drill (eng/drill.sh takes the same lock) from another checkout would
# reset or fault the lab under this one. The lock file lives beside the lab, which reset never deletes.
mkdir -p /tmp/haclient-lab
exec 8>/tmp/haclient-lab/drill.lock
if ! flock -n 8; then
  echo "== waiting for another test run or drill to release /tmp/haclient-lab/drill.lock (at most 40 min)"
  flock -w 2400 8 || { echo "could not get the lab within 40 min" >&2; exit 1; }
fi
# The tests' own Lab.DrillLockAsync would otherwise wait for this very lock (a second flock on the file blocks even
# inside the process tree that holds it): tell them the session holds it.
export HACLIENT_LAB_SESSION_LOCKED=1
echo "== installing lab servers and promtool (apt-get, only what is missing)"
bash eng/lab.sh install
# Headless Chromium for the topology page test (Debian's package; the test skips only where it cannot be installed).
if [[ ! -x /usr/bin/chromium ]]; then
  echo "== installing chromium"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) \
    || echo "== chromium could not be installed; the topology page test will be skipped"
fi
# Start from a lab this run knows: whatever an earlier drill or test left under /tmp/haclient-lab (a frozen node, a
# diverged timeline, a Patroni member stuck in `starting`, a demoted master) is reported, then rebuilt from empty data.
# Lab data is test data, and a reset costs about 15 s.
echo "== lab state left by earlier runs"
bash eng/lab.sh leftovers || true
echo "== starting the lab from empty data (plain PG, Patroni + etcd, Redis + Sentinel, Redis Cluster)"
lab_t0=$(date +%s)
bash eng/lab.sh reset
echo "== lab ready in $(( $(date +%s) - lab_t0 )) s"
cleanup() { echo "== stopping the lab"; bash eng/lab.sh down >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "== building"
dotnet build HaClient.sln -c Release -nologo -v quiet

results=$(mktemp -d)
# One test project at a time: they share one lab, and some inject faults (crash, promote, reset) that others must
# not see. (dotnet test on a solution would run the assemblies in parallel.)
rc=0
for proj in $(find tests -name '*.csproj' | sort); do
  echo "== testing $proj"
  set +e
  dotnet test "$proj" -c Release --no-build --nologo \
    --logger "console;verbosity=normal" --logger "trx" --results-directory "$results" "$@"
  r=$?
  set -e
  [[ $r -eq 0 ]] || rc=$r
done
set -e
trap - EXIT
cleanup
echo "== total $(( $(date +%s) - started )) s"

# One plain closing line summed over every test assembly's TRX file.
python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
passed = failed = skipped = 0
for f in glob.glob(sys.argv[1] + "/*.trx"):
    c = ET.parse(f).getroot().find(".//{*}ResultSummary/{*}Counters")
    passed += int(c.get("passed", 0)); failed += int(c.get("failed", 0)) + int(c.get("error", 0)) + int(c.get("timeout", 0))
    skipped += int(c.get("notExecuted", 0))
print(f"{passed} passed, {failed} failed, {skipped} skipped")
if passed == 0: sys.exit(1)
PY
exit $rc
