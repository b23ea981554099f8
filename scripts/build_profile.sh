#!/usr/bin/env bash
# CPU time of every compile and link step of the extension, from a clean
# build directory: what dominates `pip install .` (bench/README.md, "Issue 12
# (second session): build time").
#
#   scripts/build_profile.sh [BUILD_DIR] [extra cmake -D options...]
#
# Each step runs under a launcher that records its own user+system CPU
# seconds (GNU time), so the numbers do not depend on how loaded the machine
# is, unlike .ninja_log's wall times.  Prints one line per step, slowest
# first, then the total CPU and the wall time of the build with -j2; the
# critical path of a 2-core build is the slowest chain, usually the one
# slowest file.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/profile}
shift || true
log="$PWD/$build/cpu_per_step.tsv"
rm -rf "$build"
mkdir -p "$build"
launcher="$PWD/$build/launcher.sh"
cat >"$launcher" <<'LAUNCH'
#!/usr/bin/env bash
# the last argument naming a source or output: the compiled file
what=""
prev=""
for a in "$@"; do
  case "$prev" in -o) what="$a" ;; esac
  prev="$a"
done
exec /usr/bin/time -a -o "$NEON_PROFILE_LOG" -f "%U	%S	%e	$what" "$@"
LAUNCH
chmod +x "$launcher"
: >"$log"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNEON_CCACHE=OFF \
  -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" \
  -DCMAKE_CXX_COMPILER_LAUNCHER="$launcher" -DCMAKE_CXX_LINKER_LAUNCHER="$launcher" "$@" >/dev/null
start=$(date +%s.%N)
NEON_PROFILE_LOG="$log" cmake --build "$build" -j2 >/dev/null
end=$(date +%s.%N)
python3 - "$log" "$start" "$end" <<'PY'
import sys
rows = []
for line in open(sys.argv[1]):
    parts = line.rstrip("\n").split("\t")
    if len(parts) != 4:
        continue  # GNU time's "Command exited with non-zero status" lines
    user, system, wall, what = parts
    rows.append((float(user) + float(system), float(wall), what.split("CMakeFiles/")[-1]))
rows.sort(reverse=True)
for cpu, wall, what in rows:
    print(f"{cpu:7.1f} s CPU {wall:7.1f} s wall  {what}")
total = sum(r[0] for r in rows)
print(f"total {total:.1f} s CPU over {len(rows)} steps; build wall {float(sys.argv[3]) - float(sys.argv[2]):.1f} s with -j2")
PY
