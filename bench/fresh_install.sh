#!/usr/bin/env bash
# The README's first command on a "fresh machine": a clean clone, a new venv, no Go on PATH, an
# empty cache. Prints the wall time of the whole line (and of pip / publish), the step lines
# (check-template must be `ok`, not `skipped`), the time of a second run, and the plan.
#
#   bench/fresh_install.sh [REPO] [WORKDIR]     # defaults: this checkout, /tmp/publisher-fresh
set -u
repo="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
work="${2:-/tmp/publisher-fresh}"
rm -rf "$work" "$work-cache"
git clone -q "$repo" "$work"
cd "$work" || exit 1
git log --oneline -1
export XDG_CACHE_HOME="$work-cache"
unset PUBLISHER_CACHE_DIR PUBLISHER_GO GOCACHE GOPATH GOROOT
export PATH=/usr/local/bin:/usr/bin:/bin
echo "go on PATH: $(command -v go || echo none); load: $(cut -d' ' -f1-3 /proc/loadavg)"
s0=$(date +%s.%N)
python3 -m venv .venv && .venv/bin/pip install -q -e . 2>/dev/null
s1=$(date +%s.%N)
.venv/bin/publish release manifests/v3.toml --dry-run > out1.txt 2> err1.txt
rc=$?
s2=$(date +%s.%N)
echo "exit $rc; README command wall: $(echo "$s2 - $s0" | bc) s" \
  "(venv + pip $(echo "$s1 - $s0" | bc) s, publish $(echo "$s2 - $s1" | bc) s)"
cat err1.txt
s3=$(date +%s.%N)
.venv/bin/publish release manifests/v3.toml --dry-run > out2.txt 2> err2.txt
s4=$(date +%s.%N)
echo "second run (renderer reused) wall: $(echo "$s4 - $s3" | bc) s"
grep -E "check-template" err2.txt
echo "--- the plan:"
cat out1.txt
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
