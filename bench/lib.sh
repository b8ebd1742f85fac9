# Shared by the bench/ scripts: run hyperfine on commands and print each
# one's median and its ratio to a baseline measured in the same run.
# Timings belong here, never in pass/fail tests.

bench_init() {
	cd "$(dirname "$0")/.." || exit 1
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
	# A script may also set BENCH_SHM (a directory in /dev/shm) to remove.
	trap 'rm -rf "$BENCH_TMP" ${BENCH_SHM:+"$BENCH_SHM"}' EXIT
	trap 'exit 130' INT TERM HUP
	echo "machine: $(nproc) CPUs, $(uname -r), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
}

# bench_run NAME [hyperfine options] -- CMD...   (one hyperfine per command, stored by name)
# Options keep their own words: `--prepare "sleep 0.2"` reaches hyperfine as
# two arguments, not three. CMD is joined into one string, which hyperfine -N
# splits on blanks (no shell), so CMD's own arguments must not contain blanks.
bench_run() {
	name=$1
	shift
	cmd=""
	seen=0
	# The loop's word list is fixed when it starts; rebuild "$@" from the
	# options only, and gather the words after "--" into cmd.
	for a do
		shift
		if [ "$seen" = 1 ]; then
			cmd="${cmd:+$cmd }$a"
		elif [ "$a" = "--" ]; then
			seen=1
		else
			set -- "$@" "$a"
		fi
	done
	if [ "$seen" != 1 ] || [ -z "$cmd" ]; then
		echo "bench: bench_run $name: no command after --" >&2
		exit 1
	fi
	if ! hyperfine -N --style none --warmup 5 --runs "$RUNS" "$@" \
		--export-json "$BENCH_TMP/$name.json" -- "$cmd" >"$BENCH_TMP/$name.log" 2>&1; then
		echo "bench: '$cmd' failed:" >&2
		tail -n 5 "$BENCH_TMP/$name.log" >&2
		exit 1
	fi
}

# bench_merge NAME PART...: pool the runs of PART... (bench_run names) into
# NAME, whose median bench_report and bench_median then give. Measuring two
# commands in alternating rounds and pooling each one's rounds keeps a drift
# in the machine's speed from landing on one of them only.
bench_merge() {
	python3 - "$BENCH_TMP" "$@" <<'PY'
import json, statistics, sys, os
tmp, name, parts = sys.argv[1], sys.argv[2], sys.argv[3:]
times, command = [], None
for p in parts:
    with open(os.path.join(tmp, p + ".json")) as f:
        r = json.load(f)["results"][0]
    times += r["times"]
    command = command or r["command"]
res = {"command": command, "times": times, "median": statistics.median(times),
       "mean": statistics.mean(times), "min": min(times), "max": max(times)}
with open(os.path.join(tmp, name + ".json"), "w") as f:
    json.dump({"results": [res]}, f)
PY
}

# bench_median NAME: NAME's median in ms.
bench_median() {
	python3 -c 'import json, sys; print("%.2f" % (json.load(open(sys.argv[1]))["results"][0]["median"] * 1000.0))' \
		"$BENCH_TMP/$1.json"
}

# bench_report BASELINE NAME...: medians, their ratios to BASELINE's median
# and their differences from it.
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
    print(f"  {n:<28} median {m:8.2f} ms   {m / b:6.2f}x {base}   {m - b:+8.2f} ms")
PY
}
