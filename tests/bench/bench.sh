#!/bin/bash
# tests/bench/bench.sh - stud against hitch, haproxy, nginx and stunnel.
#
# Run by `make bench` (tests/bench/bench.mk), which installs the peers and
# builds everything first. Every terminator gets the same certificate, the
# same backend and the same load, pinned to CPU 0; the load generator and the
# backend run on CPU 1. For each scenario and terminator it reports the rate
# and the terminator's own CPU time per unit: the run time of all the
# terminator's processes and threads (/proc/PID/task/*/schedstat, in ns,
# before and after; clock ticks from /proc/PID/stat for a process that lost
# threads meanwhile), divided by the handshakes or MiB moved; and the share
# of it spent in the kernel (stime of utime+stime). Idle memory is the PSS of all the terminator's
# processes (/proc/PID/smaps_rollup) with and without the held connections.
#
# Environment (all optional):
#   BENCH_SECS=3            duration of each handshake run
#   BENCH_HS_REPS=5         handshake runs per scenario; the median is reported
#   BENCH_CONNS=64          concurrent connections in the handshake scenarios
#   BENCH_BULK_MIB=512      size of the download and of the upload
#   BENCH_BULK_REPS=5       transfers each way; the median is reported
#   BENCH_IDLE_CONNS=5000   connections held in the idle scenario
#   BENCH_MANY_CONNS=20000  connections held with 4 workers
#   BENCH_TERMINATORS="stud hitch haproxy nginx stunnel floor"
#   BENCH_SCENARIOS="rsa13 rsa12 ec13 resume1 resume2 down up idle many"
#   BENCH_RESULTS=tests/bench/results.md   where the markdown table goes
#   BENCH_KEEP=1            keep the work directory (configs, logs)
#   STUD_BIN, STUD_SHARED_BIN, BENCH_BIN   binaries to use
#   BENCH_STUD_ARGS         more stud options (e.g. --record-layer=openssl)
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${BENCH_BIN:-$ROOT/build/bench}
STUD=${STUD_BIN:-$ROOT/build/default/stud}
STUD_SHARED=${STUD_SHARED_BIN:-$ROOT/build/shared/stud}
SECS=${BENCH_SECS:-3}
HS_REPS=${BENCH_HS_REPS:-5}
CONC=${BENCH_CONNS:-64}
BULK_MIB=${BENCH_BULK_MIB:-512}
BULK_REPS=${BENCH_BULK_REPS:-5}
IDLE_CONNS=${BENCH_IDLE_CONNS:-5000}
MANY_CONNS=${BENCH_MANY_CONNS:-20000}
TERMINATORS=${BENCH_TERMINATORS:-"stud hitch haproxy nginx stunnel floor"}
SCENARIOS=${BENCH_SCENARIOS:-"rsa13 rsa12 ec13 resume1 resume2 down up idle many"}
RESULTS_MD=${BENCH_RESULTS:-$HERE/results.md}
STUD_ARGS=${BENCH_STUD_ARGS:-}
PEERS="hitch haproxy nginx stunnel"
CLK_TCK=$(getconf CLK_TCK)
LOG_LOADGEN="-q"

WORK=$(mktemp -d /tmp/stud-bench.XXXXXX) || exit 1
declare -a STARTED=()		# every process we started (roots)
declare -A R=()			# results: R[scenario|terminator|metric]
T_BEGIN=$(date +%s)
LOAD_BEGIN=$(cut -d' ' -f1-3 /proc/loadavg)

say() { printf '%s\n' "$*" >&2; }

# --- processes ---------------------------------------------------------
# ptree PID: PID and all its descendants
ptree() {
	local -A kids=()
	local f line rest pid
	local -a a q out
	for f in /proc/[0-9]*/stat; do
		read -r line 2>/dev/null <"$f" || continue
		pid=${line%% *}
		rest=${line##*) }
		read -r -a a <<<"$rest"
		kids[${a[1]}]+=" $pid"
	done
	q=("$1")
	out=()
	while ((${#q[@]})); do
		pid=${q[0]}
		q=("${q[@]:1}")
		[ -d "/proc/$pid" ] || continue
		out+=("$pid")
		# shellcheck disable=SC2206
		q+=(${kids[$pid]-})
	done
	echo "${out[@]}"
}

# stop PID: SIGTERM it and its descendants, wait at most 5 s, then SIGKILL
stop_tree() {
	local root=$1 pids i
	pids=$(ptree "$root")
	[ -n "$pids" ] || return 0
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		local alive=""
		for p in $pids; do [ -d "/proc/$p" ] && \
		    [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ] && alive="$alive $p"; done
		[ -z "$alive" ] && break
		sleep 0.1
	done
	# shellcheck disable=SC2086
	[ -n "${alive:-}" ] && kill -KILL $alive 2>/dev/null
	wait "$root" 2>/dev/null
	return 0
}

cleanup() {
	local p
	trap - EXIT INT TERM
	for p in "${STARTED[@]}"; do stop_tree "$p"; done
	if [ "${BENCH_KEEP:-0}" = 1 ]; then say "work directory kept: $WORK"
	else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

forget() {		# drop a stopped root from STARTED
	local p keep=()
	for p in "${STARTED[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
	STARTED=("${keep[@]}")
}

# ticks FILE: utime+stime, then stime, from a /proc stat file, in clock ticks
ticks() {
	local line rest
	local -a a
	read -r line 2>/dev/null <"$1" || { echo 0 0; return; }
	rest=${line##*) }
	read -r -a a <<<"$rest"
	echo $((a[11] + a[12])) "${a[12]}"
}

# cpu_snap PID...: one line per process: "PID TICKS STICKS NS TID,TID,...",
# its utime+stime and its stime in clock ticks (/proc/PID/stat, which keeps
# what exited threads used) and the run time of its live threads in ns
# (schedstat).
cpu_snap() {
	local p task run rest ns tids
	for p in "$@"; do
		[ -d "/proc/$p/task" ] || continue
		ns=0 tids=,
		for task in /proc/"$p"/task/*; do
			read -r run rest 2>/dev/null <"$task/schedstat" ||
			    continue
			ns=$((ns + run)) tids="$tids${task##*/},"
		done
		echo "$p $(ticks "/proc/$p/stat") $ns $tids"
	done
}

# cpu_delta SNAP0 SNAP1: ns of CPU between two snapshots. A process whose
# threads all lived through the interval counts in ns; one that lost threads
# (stunnel's per-connection threads: the ticks grew by more than the live
# threads' ns, beyond the ticks' 2-tick truncation) counts in clock ticks.
cpu_delta() {
	local p k n tids t=0 tid ok tick=$((1000000000 / CLK_TCK))
	local -A k0 n0 t0
	while read -r p k _ n tids; do
		[ -n "$p" ] && k0[$p]=$k n0[$p]=$n t0[$p]=$tids
	done <<<"$1"
	while read -r p k _ n tids; do
		[ -n "$p" ] || continue
		if [ -z "${k0[$p]:-}" ]; then	# started during the interval
			t=$((t + n))
			continue
		fi
		ok=$(( (k - k0[$p]) * tick - (n - n0[$p]) <= 2 * tick ))
		for tid in ${t0[$p]//,/ }; do
			[[ $tids == *,$tid,* ]] || { ok=0; break; }
		done
		if [ $ok = 1 ]; then
			t=$((t + n - n0[$p]))
		else
			t=$((t + (k - k0[$p]) * tick))
		fi
	done <<<"$2"
	echo "$t"
}

# sys_pct SNAP0 SNAP1: the kernel's share (stime) of the ticks between two
# snapshots, in %
sys_pct() {
	local p k s n tids tk=0 ts=0
	local -A k0 s0
	while read -r p k s n tids; do
		[ -n "$p" ] && k0[$p]=$k s0[$p]=$s
	done <<<"$1"
	while read -r p k s n tids; do
		[ -n "$p" ] || continue
		tk=$((tk + k - ${k0[$p]:-0})) ts=$((ts + s - ${s0[$p]:-0}))
	done <<<"$2"
	awk -v s="$ts" -v k="$tk" 'BEGIN {if (k > 0) printf "%.0f", 100 * s / k}'
}

# pss_kib PID...: summed PSS in KiB
pss_kib() {
	local p t=0 v
	for p in "$@"; do
		v=$(awk '/^Pss:/ {print $2; exit}' "/proc/$p/smaps_rollup" 2>/dev/null)
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

free_port() { "$BIN/backend" -F; }

# listening PORT: is something listening on 127.0.0.1:PORT (or *:PORT)?
listening() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v h=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == h {f=1}
	    END {exit !f}' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# wait_listen PORT PID SECS
wait_listen() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		listening "$1" && return 0
		[ -d "/proc/$2" ] || return 1
		sleep 0.1
	done
	return 1
}

# field KEY LINE: value of KEY=... in a RESULT line
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2" | head -1; }

# --- certificates -------------------------------------------------------
make_certs() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \
	    -keyout "$WORK/rsa.key" -out "$WORK/rsa.crt" 2>/dev/null &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -days 30 -subj /CN=localhost -keyout "$WORK/ec.key" \
	    -out "$WORK/ec.crt" 2>/dev/null || return 1
	cat "$WORK/rsa.crt" "$WORK/rsa.key" >"$WORK/rsa.pem"
	cat "$WORK/ec.crt" "$WORK/ec.key" >"$WORK/ec.pem"
	chmod 644 "$WORK"/*.pem "$WORK"/*.key
}

# --- terminators -------------------------------------------------------
# start_term NAME CERT WORKERS PORT BPORT: starts it on CPU 0, sets TPID
start_term() {
	local name=$1 cert=$2 workers=$3 port=$4 bport=$5 dir="$WORK/$1.$4"
	mkdir -p "$dir"
	case $name in
	stud)
		# shellcheck disable=SC2086
		taskset -c 0 "$STUD" -q -n "$workers" -f "127.0.0.1,$port" \
		    -b "127.0.0.1,$bport" $STUD_ARGS "$WORK/$cert.pem" \
		    >"$dir/log" 2>&1 &
		;;
	stud-shared)
		# shellcheck disable=SC2086
		taskset -c 0 "$STUD_SHARED" -q -n "$workers" -C 20000 \
		    -f "127.0.0.1,$port" -b "127.0.0.1,$bport" $STUD_ARGS \
		    "$WORK/$cert.pem" >"$dir/log" 2>&1 &
		;;
	floor)
		taskset -c 0 "$BIN/floor" -p "$port" "$WORK/$cert.pem" \
		    >"$dir/log" 2>&1 &
		;;
	hitch)
		# Debian's hitch has no shared session cache (no
		# --session-cache): each worker keeps OpenSSL's own cache.
		taskset -c 0 hitch --frontend="[127.0.0.1]:$port" \
		    --backend="[127.0.0.1]:$bport" --workers="$workers" \
		    --tls-protos="TLSv1.2 TLSv1.3" --log-level=1 --user=nobody \
		    --ocsp-dir="$dir" "$WORK/$cert.pem" >"$dir/log" 2>&1 &
		;;
	haproxy)
		# one process, WORKERS threads; maxconn is bounded by the
		# 20,000-descriptor limit (two descriptors per connection)
		cat >"$dir/haproxy.cfg" <<-EOF
		global
		    nbthread $workers
		    maxconn 9900
		    tune.ssl.cachesize 20000
		    ssl-default-bind-options ssl-min-ver TLSv1.2
		defaults
		    mode tcp
		    timeout connect 10s
		    timeout client 1h
		    timeout server 1h
		frontend fe
		    bind 127.0.0.1:$port ssl crt $WORK/$cert.pem
		    default_backend be
		backend be
		    server s1 127.0.0.1:$bport
		EOF
		taskset -c 0 haproxy -db -f "$dir/haproxy.cfg" >"$dir/log" 2>&1 &
		;;
	nginx)
		cat >"$dir/nginx.conf" <<-EOF
		load_module /usr/lib/nginx/modules/ngx_stream_module.so;
		daemon off;
		master_process on;
		worker_processes $workers;
		worker_rlimit_nofile 20000;
		pid $dir/nginx.pid;
		error_log $dir/error.log error;
		events {
		    worker_connections 19000;
		}
		stream {
		    ssl_protocols TLSv1.2 TLSv1.3;
		    ssl_session_cache shared:BENCH:20m;
		    ssl_session_timeout 10m;
		    server {
		        listen 127.0.0.1:$port ssl;
		        ssl_certificate $WORK/$cert.pem;
		        ssl_certificate_key $WORK/$cert.pem;
		        proxy_pass 127.0.0.1:$bport;
		        proxy_timeout 1h;
		    }
		}
		EOF
		taskset -c 0 nginx -p "$dir" -e "$dir/error.log" \
		    -c "$dir/nginx.conf" >"$dir/log" 2>&1 &
		;;
	stunnel)
		# stunnel runs one thread per connection in one process: it
		# cannot be held to one thread, nor split into processes.
		cat >"$dir/stunnel.conf" <<-EOF
		foreground = yes
		pid =
		output = $dir/stunnel.log
		debug = err
		socket = l:TCP_NODELAY=1
		socket = r:TCP_NODELAY=1
		[bench]
		accept = 127.0.0.1:$port
		connect = 127.0.0.1:$bport
		cert = $WORK/$cert.pem
		sslVersionMin = TLSv1.2
		sessionCacheSize = 20000
		TIMEOUTidle = 3600
		EOF
		taskset -c 0 stunnel "$dir/stunnel.conf" >"$dir/log" 2>&1 &
		;;
	*)
		say "unknown terminator $name"
		return 1
		;;
	esac
	TPID=$!
	STARTED+=("$TPID")
	if ! wait_listen "$port" "$TPID" 10; then
		say "  $name did not start listening on $port; its log:"
		sed 's/^/    /' "$dir/log" >&2
		stop_tree "$TPID"
		forget "$TPID"
		return 1
	fi
	sleep 0.3	# let every worker reach its loop
	# Some pin their own workers (hitch puts worker N on CPU N): put every
	# thread of every process back on CPU 0, then check.
	local p t bad=""
	for p in $(ptree "$TPID"); do
		taskset -a -p -c 0 "$p" >/dev/null 2>&1
	done
	for p in $(ptree "$TPID"); do
		for t in /proc/"$p"/task/*/status; do
			grep -q '^Cpus_allowed_list:[[:space:]]*0$' "$t" 2>/dev/null ||
			    bad="$bad $p"
		done
	done
	[ -n "$bad" ] && say "  warning: $name not confined to CPU 0:$bad"
	return 0
}

# loadgen ARGS...: run the load generator on CPU 1, bounded, print RESULT
loadgen() {
	timeout -k 5 "$LG_LIMIT" taskset -c 1 "$BIN/loadgen" $LOG_LOADGEN \
	    -L "$((LG_LIMIT - 10))" "$@" | grep '^RESULT' | tail -1
}

# --- scenarios ---------------------------------------------------------
# scenario NAME: cert, workers, loadgen arguments, unit
scenario_setup() {
	WORKERS=1 CERT=rsa UNIT=hs
	case $1 in
	rsa13) LG_ARGS="-m handshake -V 1.3 -c $CONC -d $SECS" ;;
	rsa12) LG_ARGS="-m handshake -V 1.2 -c $CONC -d $SECS" ;;
	ec13) CERT=ec LG_ARGS="-m handshake -V 1.3 -c $CONC -d $SECS" ;;
	resume1) LG_ARGS="-m resume -c $CONC -d $SECS" ;;
	resume2) WORKERS=2 LG_ARGS="-m resume -c $CONC -d $SECS" ;;
	down) UNIT=mib LG_ARGS="-m download -c 1 -n 1 -s $BULK_MIB" ;;
	up) UNIT=mib LG_ARGS="-m upload -c 1 -n 1 -s $BULK_MIB" ;;
	idle) CERT=ec UNIT=idle LG_ARGS="-m idle -c $IDLE_CONNS -r 64" ;;
	many) CERT=ec UNIT=idle WORKERS=4
		LG_ARGS="-m idle -c $MANY_CONNS -P 2 -r 32" ;;
	*) return 1 ;;
	esac
}

applies() {		# applies SCENARIO TERMINATOR
	case $2 in
	floor) [ "$1" != resume2 ] && [ "$1" != many ] ;;
	*) return 0 ;;
	esac
}

warmup() {		# warmup SCENARIO PORT
	LG_LIMIT=40
	case $1 in
	down) loadgen -p "$2" -m download -c 1 -n 2 -s 8 >/dev/null ;;
	up) loadgen -p "$2" -m upload -c 1 -n 2 -s 8 >/dev/null ;;
	resume*) loadgen -p "$2" -m resume -c 8 -n 200 >/dev/null ;;
	rsa12) loadgen -p "$2" -m handshake -V 1.2 -c 8 -n 200 >/dev/null ;;
	*) loadgen -p "$2" -m handshake -c 8 -n 200 >/dev/null ;;
	esac
}

# start_one SCENARIO TERMINATOR: start it for the scenario and warm it up;
# sets PORT[term], PIDS[term] and TROOT[term]. Returns 1 if it did not start.
start_one() {
	local scen=$1 term=$2 name=$2
	[ "$term" = stud ] && [ "$scen" = resume2 ] && name=stud-shared
	PORT[$term]=$(free_port)
	start_term "$name" "$CERT" "$WORKERS" "${PORT[$term]}" "$BPORT" || {
		R[$scen|$term|note]="did not start"; return 1; }
	TROOT[$term]=$TPID
	warmup "$scen" "${PORT[$term]}"
	PIDS[$term]=$(ptree "$TPID")
}

stop_one() {		# stop_one TERMINATOR
	stop_tree "${TROOT[$1]}"
	forget "${TROOT[$1]}"
}

# run_scenario SCENARIO TERMINATOR...: memory scenarios one terminator at a
# time; CPU scenarios with every terminator up at once, their measured runs
# taken in turn (stud, hitch, ..., then again), so that a slow spell of the
# machine falls on all of them rather than on one.
run_scenario() {
	local scen=$1 term i reps started=()
	shift
	scenario_setup "$scen" || return 1
	if [ "$UNIT" = idle ]; then
		for term in "$@"; do
			start_one "$scen" "$term" || continue
			run_idle "$scen" "$term" "${PORT[$term]}" "${PIDS[$term]}"
			stop_one "$term"
		done
		return 0
	fi
	for term in "$@"; do
		start_one "$scen" "$term" && started+=("$term")
	done
	if [ "$UNIT" = mib ]; then
		reps=$BULK_REPS LG_LIMIT=180
	else
		reps=$HS_REPS LG_LIMIT=$((SECS + 60))
	fi
	for term in "${started[@]}"; do
		A_units[$term]="" A_rates[$term]="" A_resumed[$term]="" A_sys[$term]=""
		A_errors[$term]=0 A_cpu[$term]=0 A_rs[$term]=0 A_of[$term]=0
	done
	for ((i = 0; i < reps; i++)); do
		for term in "${started[@]}"; do
			run_once "$term"
		done
	done
	for term in "${started[@]}"; do
		report_reps "$scen" "$term"
		stop_one "$term"
	done
}

# run_once TERMINATOR: one measured run of the current scenario's load (CPU
# of the terminator before and after), added to its A_* accumulators.
run_once() {
	local term=$1 c0 c1 d out n e r o
	# shellcheck disable=SC2086
	c0=$(cpu_snap ${PIDS[$term]})
	# shellcheck disable=SC2086
	out=$(loadgen -p "${PORT[$term]}" $LG_ARGS)
	# shellcheck disable=SC2086
	c1=$(cpu_snap ${PIDS[$term]})
	d=$(cpu_delta "$c0" "$c1")
	e=$(field errors "$out")
	A_errors[$term]=$((A_errors[$term] + ${e:-1}))
	A_cpu[$term]=$((A_cpu[$term] + d))
	A_sys[$term]+=" $(sys_pct "$c0" "$c1")"
	A_out[$term]=$out
	if [ "$UNIT" = mib ]; then	# per MiB moved
		n=$(awk -v b="$(field bytes "$out")" 'BEGIN {print b / 1048576}')
		A_rates[$term]+=" $(field mibps "$out")"
	else				# per handshake
		n=$(field handshakes "$out")
		A_rates[$term]+=" $(field rate "$out")"
		r=$(field resumed "$out") o=$(field offered "$out")
		A_rs[$term]=$((A_rs[$term] + ${r:-0}))
		A_of[$term]=$((A_of[$term] + ${o:-0}))
		# resumed out of the handshakes that offered a session (each
		# connection slot's first cannot)
		A_resumed[$term]+=" $(awk -v r="${r:-0}" -v n="${o:-0}" \
		    'BEGIN {if (n > 0) printf "%.2f", 100 * r / n}')"
	fi
	A_units[$term]+=" $(awk -v t="$d" -v n="${n:-0}" \
	    'BEGIN {if (n > 0) printf "%.0f", t / 1e3 / n}')"
}

# report_reps SCENARIO TERMINATOR: the medians of its runs into R[], and a
# line on stderr. One run is at the mercy of whatever else the machine does
# at that moment: on this shared machine a lone run moved by up to 30%.
report_reps() {
	local scen=$1 term=$2 units=${A_units[$2]}
	R[$scen|$term|raw]=${A_out[$term]}
	R[$scen|$term|errors]=${A_errors[$term]}
	R[$scen|$term|cpu_s]=$(awk -v t="${A_cpu[$term]}" \
	    'BEGIN {printf "%.2f", t / 1e9}')
	# shellcheck disable=SC2086
	R[$scen|$term|unit]=$(median $units)
	# shellcheck disable=SC2086
	R[$scen|$term|sys]=$(median ${A_sys[$term]})
	# shellcheck disable=SC2086
	R[$scen|$term|rate]=$(median ${A_rates[$term]})
	case $scen in resume*)
		# shellcheck disable=SC2086
		R[$scen|$term|resumed]=$(median ${A_resumed[$term]})
		R[$scen|$term|resumed_n]=${A_rs[$term]}/${A_of[$term]} ;;
	esac
	say "  $(printf '%-8s %-8s' "$scen" "$term") rate=${R[$scen|$term|rate]:-?}" \
	    "cpu/unit=${R[$scen|$term|unit]:-?}µs kernel=${R[$scen|$term|sys]:-?}%" \
	    "errors=${A_errors[$term]}" \
	    "${R[$scen|$term|resumed]:+resumed=${R[$scen|$term|resumed]}%}" \
	    "(cpu ${R[$scen|$term|cpu_s]} s; runs:$units)"
}

# median N...: the middle value (the lower middle of an even count)
median() {
	printf '%s\n' "$@" | grep . | sort -g |
	    awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]}'
}

# run_idle SCENARIO TERMINATOR PORT PIDS: hold connections, measure PSS
run_idle() {
	local scen=$1 term=$2 port=$3 pids=$4 p0 p1 lg out i ready="" held
	# shellcheck disable=SC2086
	p0=$(pss_kib $pids)
	# no timeout(1) here: the signal must reach loadgen itself; -L bounds
	# it and stop_tree below ends it in any case
	# shellcheck disable=SC2086
	taskset -c 1 "$BIN/loadgen" $LOG_LOADGEN -L 240 \
	    -p "$port" $LG_ARGS >"$WORK/idle.out" 2>"$WORK/idle.err" &
	lg=$!
	STARTED+=("$lg")
	for ((i = 0; i < 2400; i++)); do	# READY within 240 s
		ready=$(grep -m1 '^READY' "$WORK/idle.out" 2>/dev/null)
		[ -n "$ready" ] && break
		[ -d "/proc/$lg" ] || break
		sleep 0.1
	done
	sleep 1
	# shellcheck disable=SC2086
	pids=$(for p in $pids; do ptree "$p"; done | tr ' ' '\n' | sort -u)
	# shellcheck disable=SC2086
	p1=$(pss_kib $pids)
	kill -USR1 "$lg" 2>/dev/null
	for ((i = 0; i < 600; i++)); do		# the ping: 60 s at most
		[ -d "/proc/$lg" ] || break
		grep -q '^RESULT' "$WORK/idle.out" && break
		sleep 0.1
	done
	stop_tree "$lg"
	forget "$lg"
	out=$(grep '^RESULT' "$WORK/idle.out" | tail -1)
	R[$scen|$term|raw]="$ready / $out"
	held=$(field held " $ready")
	R[$scen|$term|held]=${held:-0}
	R[$scen|$term|alive]=$(field alive "$out")
	R[$scen|$term|errors]=$(field errors "$out")
	R[$scen|$term|ramp_s]=$(field elapsed " $ready")
	R[$scen|$term|pss_mib]=$(awk -v a="$p1" 'BEGIN {printf "%.1f", a / 1024}')
	R[$scen|$term|unit]=$(awk -v a="$p0" -v b="$p1" -v n="${held:-0}" \
	    'BEGIN {if (n > 0) printf "%.1f", (b - a) / n}')
	say "  $(printf '%-8s %-8s' "$scen" "$term") held=${held:-0}" \
	    "alive=${R[$scen|$term|alive]:-?} errors=${R[$scen|$term|errors]:-?}" \
	    "PSS ${p0} -> ${p1} KiB: ${R[$scen|$term|unit]:-?} KiB/conn" \
	    "(ramp ${R[$scen|$term|ramp_s]:-?} s)"
}

# --- the table ---------------------------------------------------------
scen_title() {
	case $1 in
	rsa13) echo "full handshake, RSA-2048, TLS 1.3" ;;
	rsa12) echo "full handshake, RSA-2048, TLS 1.2" ;;
	ec13) echo "full handshake, ECDSA P-256, TLS 1.3" ;;
	resume1) echo "TLS 1.2 session-ID resumption, 1 worker" ;;
	resume2) echo "TLS 1.2 session-ID resumption, 2 workers (stud: shared cache -C)" ;;
	down) echo "download $BULK_MIB MiB, one connection" ;;
	up) echo "upload $BULK_MIB MiB, one connection" ;;
	idle) echo "$IDLE_CONNS idle keep-alive connections (ECDSA, TLS 1.3)" ;;
	many) echo "$MANY_CONNS concurrent connections, 4 workers" ;;
	esac
}

# cell SCEN TERM KEY: the value, or "—"
cell() { local v=${R[$1|$2|$3]-}; [ -n "$v" ] && echo "$v" || echo "—"; }

# best SCEN KEY min|max: best peer value and its name
best() {
	local t v bv="" bn=""
	for t in $PEERS; do
		v=${R[$1|$t|$2]-}
		[ -n "$v" ] || continue
		if [ -z "$bv" ] || awk -v a="$v" -v b="$bv" -v m="$3" \
		    'BEGIN {exit !((m == "min") ? a < b : a > b)}'; then
			bv=$v bn=$t
		fi
	done
	echo "$bv $bn"
}

row() {		# row SCEN LABEL KEY min|max|- TARGET-TEXT TARGET-TEST
	local scen=$1 label=$2 key=$3 dir=$4 ttext=$5 ttest=$6 t line ratio="" b
	local -a bb
	line="| $(scen_title "$scen") | $label |"
	for t in $COLS; do
		local v
		v=$(cell "$scen" "$t" "$key")
		if [ "$key" = held ] && [ "$v" != "—" ]; then
			local want=$IDLE_CONNS
			[ "$scen" = many ] && want=$MANY_CONNS
			v="$v of $want ($(cell "$scen" "$t" errors) err)"
		fi
		line="$line $v |"
	done
	if [ "$dir" != - ]; then
		read -r -a bb <<<"$(best "$scen" "$key" "$dir")"
		local s=${R[$scen|stud|$key]-}
		if [ -n "$s" ] && [ -n "${bb[0]:-}" ]; then
			ratio=$(awk -v s="$s" -v b="${bb[0]}" \
			    'BEGIN {if (b > 0) printf "%.2f", s / b}')
			[ -n "$ratio" ] && ratio="$ratio (vs ${bb[1]})"
		fi
	fi
	line="$line ${ratio:-—} |"
	if [ -n "$ttext" ]; then
		local verdict="—"
		if [ -n "$ratio" ] || [ "$dir" = - ]; then
			if eval "$ttest"; then verdict="met"; else verdict="**not met**"; fi
		fi
		line="$line $ttext: $verdict |"
	else
		line="$line |"
	fi
	echo "$line"
}

all_resumed() {	# every offered session of stud's was resumed
	local n=${R[$1|stud|resumed_n]:-0/0}
	[ "${n%/*}" = "${n#*/}" ] && [ "${n#*/}" != 0 ]
}

ratio_le() {	# ratio_le SCEN KEY LIMIT: stud ÷ best peer (min) <= LIMIT
	local -a bb
	read -r -a bb <<<"$(best "$1" "$2" min)"
	awk -v s="${R[$1|stud|$2]:-}" -v b="${bb[0]:-}" -v l="$3" \
	    'BEGIN {exit !(s != "" && b > 0 && s / b <= l)}'
}

print_table() {
	local scen
	COLS="stud $PEERS floor"
	echo "| scenario | metric | stud | hitch | haproxy | nginx | stunnel | floor (OpenSSL alone) | stud ÷ best peer | target |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
	for scen in $SCENARIOS; do
		case $scen in
		rsa13 | rsa12 | ec13)
			row "$scen" "handshakes/s" rate max "" ""
			row "$scen" "CPU µs/handshake" unit min "≤ 0.85" \
			    "ratio_le $scen unit 0.85"
			row "$scen" "of which in the kernel, %" sys - "" ""
			;;
		resume1 | resume2)
			row "$scen" "handshakes/s" rate max "" ""
			row "$scen" "CPU µs/handshake" unit min "≤ 0.85" \
			    "ratio_le $scen unit 0.85"
			row "$scen" "of which in the kernel, %" sys - "" ""
			if [ "$scen" = resume2 ]; then
				row "$scen" "resumed % (of offered)" resumed max \
				    "100 %" "all_resumed resume2"
			else
				row "$scen" "resumed % (of offered)" resumed max "" ""
			fi
			;;
		down | up)
			row "$scen" "MiB/s" rate max "" ""
			row "$scen" "CPU µs/MiB" unit min "≤ 0.6" \
			    "ratio_le $scen unit 0.6"
			row "$scen" "of which in the kernel, %" sys - "" ""
			;;
		idle)
			row "$scen" "held" held - "" ""
			row "$scen" "PSS KiB/conn" unit min "≤ 12 KiB" \
			    "awk -v v=\"\${R[idle|stud|unit]:-}\" 'BEGIN {exit !(v != \"\" && v <= 12)}'"
			;;
		many)
			row "$scen" "held" held - "$MANY_CONNS, 0 errors" \
			    "[ \"\${R[many|stud|alive]:-0}\" = $MANY_CONNS ] && [ \"\${R[many|stud|errors]:-1}\" = 0 ]"
			row "$scen" "still alive at the end" alive - "" ""
			row "$scen" "PSS KiB/conn" unit min "" ""
			;;
		esac
	done
}

# --- main ---------------------------------------------------------------
for b in "$BIN/loadgen" "$BIN/backend" "$BIN/floor" "$STUD" "$STUD_SHARED"; do
	[ -x "$b" ] || { say "missing $b: run make bench"; exit 1; }
done
# private copies: a rebuild in the tree during the run must not change them
mkdir -p "$WORK/bin"
cp "$BIN/loadgen" "$BIN/backend" "$BIN/floor" "$WORK/bin/" &&
    cp "$STUD" "$WORK/bin/stud" && cp "$STUD_SHARED" "$WORK/bin/stud-shared" ||
    { say "cannot copy the binaries"; exit 1; }
BIN=$WORK/bin STUD=$WORK/bin/stud STUD_SHARED=$WORK/bin/stud-shared
ulimit -n "$(ulimit -Hn)" 2>/dev/null
make_certs || { say "cannot make certificates"; exit 1; }

BPORT=$(free_port)
taskset -c 1 "$BIN/backend" -p "$BPORT" -P 2 >"$WORK/backend.log" 2>&1 &
BACKEND=$!
STARTED+=("$BACKEND")
wait_listen "$BPORT" "$BACKEND" 10 || { say "backend did not start"; exit 1; }

say "stud benchmark: terminator on CPU 0, load generator and backend on CPU 1"
say "  ${SECS}s per handshake scenario, $CONC connections; bulk $BULK_MIB MiB;" \
    "idle $IDLE_CONNS; many $MANY_CONNS; work dir $WORK"
declare -A PORT PIDS TROOT A_units A_rates A_resumed A_errors A_cpu A_rs \
    A_of A_out A_sys
for scen in $SCENARIOS; do
	say "== $(scen_title "$scen")"
	terms=()
	for term in $TERMINATORS; do
		applies "$scen" "$term" || continue
		if [ "$term" != stud ] && [ "$term" != floor ] &&
		    ! command -v "$term" >/dev/null; then
			R[$scen|$term|note]="not installed"
			continue
		fi
		terms+=("$term")
	done
	run_scenario "$scen" "${terms[@]}"
done

T_END=$(date +%s)
{
	echo "## stud benchmark results"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(awk -F': ' \
	    '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(uname -r)," \
	    "$(openssl version | cut -d' ' -f1-2). Terminator pinned to CPU 0," \
	    "load generator and backend to CPU 1. CPU = run time (user and" \
	    "system, schedstat) of all the terminator's processes, and the" \
	    "kernel's share of it (stime of utime + stime, /proc/PID/stat);" \
	    "PSS from" \
	    "smaps_rollup. One worker unless the scenario says otherwise." \
	    "stud ÷ best peer: lower is better for CPU and memory, higher for" \
	    "rates. Run took $((T_END - T_BEGIN)) s."
	echo
	echo "The rates depend on what else runs on the machine (load average" \
	    "$LOAD_BEGIN at the start, $(cut -d' ' -f1-3 /proc/loadavg) at" \
	    "the end): a terminator waiting for CPU 0 serves fewer handshakes," \
	    "but its CPU time per handshake or per MiB does not change, so the" \
	    "CPU and memory rows are the ones to compare."
	echo
	echo "Versions: stud $("$STUD" -V 2>&1 | awk '{print $2; exit}')," \
	    "hitch $(hitch --version 2>&1 | awk '{print $2; exit}')," \
	    "haproxy $(haproxy -v 2>&1 | awk '{print $3; exit}')," \
	    "nginx $(nginx -v 2>&1 | sed 's|.*/||')," \
	    "stunnel $(stunnel -version 2>&1 | awk '/^stunnel/ {print $2; exit}')."
	echo
	print_table
	echo
	echo "Notes: handshake scenarios run $HS_REPS times ${SECS} s with $CONC concurrent" \
	    "connections, each doing connect, handshake, a 2-byte request and a" \
	    "128-byte reply, close_notify, close. Full handshakes offer no" \
	    "session (tickets allowed, as a browser does); resumption offers" \
	    "the previous session ID with tickets off (SSL_OP_NO_TICKET)." \
	    "Download and upload: $BULK_REPS transfers each, one connection" \
	    "each. The terminators take turns, one run each per round; the" \
	    "table has the medians of their runs." \
	    "hitch (Debian) has no shared session cache, so its 2 workers" \
	    "resume only the sessions they made themselves, and it pins" \
	    "worker N to CPU N (the bench moves every thread back to CPU 0);" \
	    "stunnel is one process with a thread per connection;" \
	    "haproxy 2.6 is one process (nbthread) whose maxconn must stay" \
	    "under the 20,000-descriptor limit (two per connection), so it" \
	    "cannot hold 20,000 (nor can stunnel: it refuses the rest);" \
	    "the floor server has no backend and is not a peer."
	local_notes=""
	for scen in $SCENARIOS; do for term in $TERMINATORS; do
		[ -n "${R[$scen|$term|note]-}" ] &&
		    local_notes="$local_notes $term/$scen: ${R[$scen|$term|note]};"
	done; done
	[ -n "$local_notes" ] && echo "Problems:$local_notes"
} >"$WORK/results.md"
echo
cat "$WORK/results.md"
cp "$WORK/results.md" "$RESULTS_MD" && say "table written to $RESULTS_MD"
if [ "${BENCH_KEEP:-0}" = 1 ]; then
	for k in "${!R[@]}"; do echo "$k = ${R[$k]}"; done | sort >"$WORK/raw.txt"
fi
exit 0
