# Shared by the bench/ scripts: run hyperfine on commands and print each
# one's median and its ratio to a baseline measured in the same run.
# Timings belong here, never in pass/fail tests.

bench_init() {
	cd "$(dirname "$0")/.."
	CORDON=${CORDON:-build/release/cordon}
	RUNS=${RUNS:-100}
	if [ "$(id -u)" != 0 ]; then
		echo "bench: run as root (cordon run needs it)" >&2
		exit 1
	fi
	if [ ! -x "$CORDON" ]; then
		cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
		cmake --build build/release -j "$(nproc)" >/dev/null
	fi
	for t in hyperfine bwrap python3; do
		command -v "$t" >/dev/null || { echo "bench: $t missing (scripts/setup installs it)" >&2; exit 1; }
	done
	BENCH_TMP=$(mktemp -d)
	trap 'rm -rf "$BENCH_TMP"' EXIT
	echo "machine: $(nproc) CPUs, $(uname -r), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
}

# bench_run NAME [hyperfine options] -- CMD...   (one hyperfine per command, stored by name)
bench_run() {
	name=$1
	shift
	opts=""
	while [ "$1" != "--" ]; do
		opts="$opts $1"
		shift
	done
	shift
	# shellcheck disable=SC2086
	if ! hyperfine -N --style none --warmup 5 --runs "$RUNS" $opts \
		--export-json "$BENCH_TMP/$name.json" -- "$*" >"$BENCH_TMP/$name.log" 2>&1; then
		echo "bench: '$*' failed:" >&2
		tail -n 5 "$BENCH_TMP/$name.log" >&2
		exit 1
	fi
}

# bench_report BASELINE NAME...: medians and ratios to BASELINE's median.
bench_report() {
	python3 - "$BENCH_TMP" "$@" <<'PY'
import json, sys, os
tmp, base, names = sys.argv[1], sys.argv[2], sys.argv[3:]
def median(n):
    with open(os.path.join(tmp, n + ".json")) as f:
        r = json.load(f)["results"][0]
    return r["median"] * 1000.0, r["command"]
b, _ = median(base)
for n in [base] + names:
    m, cmd = median(n)
    print(f"  {n:<28} median {m:8.2f} ms   {m / b:6.2f}x {base}")
PY
}
