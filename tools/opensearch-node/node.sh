#!/usr/bin/env bash
# A real single-node OpenSearch 2.19.1 + k-NN 2.19.1.0 on 127.0.0.1, without Docker (see docs/opensearch.md).
#
#   node.sh start   [--port 9250] [--timeout 300] [--neural-search]   resolve jars (cached), start, wait for health
#   node.sh stop    [--port 9250]                                     stop the node this script started on that port
#   node.sh info    [--port 9250]                                     print GET / version and _cat/plugins
#   node.sh status  [--port 9250]                                     exit 0 when our node there is healthy
#   node.sh resolve [--force] [--neural-search]                       only resolve the jars
#
# Jars go to $GCL_SEARCH_NODE_CACHE (default ~/.cache/gcl-search/opensearch-2.19.1), keyed on pom.xml's hash,
# so a fresh clone does not resolve again; Maven's own cache is ~/.m2 (extra Maven flags: $GCL_SEARCH_MVN_OPTS).
# Data, logs and the pid file live in tools/opensearch-node/run/<port>/ (git-ignored). `stop` signals only the
# pid recorded by `start`, after checking that it is still this launcher on this port.
set -euo pipefail

OPENSEARCH_VERSION=2.19.1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${GCL_SEARCH_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gcl-search/opensearch-$OPENSEARCH_VERSION}
heap=${GCL_SEARCH_NODE_HEAP:-1g}
NEURAL_PLUGIN=org.opensearch.neuralsearch.plugin.NeuralSearch

port=9250
timeout_s=300
neural=0
force=0

die() { echo "node.sh: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

parse_args() {
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --port) port=${2:?--port needs a value}; shift 2 ;;
            --timeout) timeout_s=${2:?--timeout needs seconds}; shift 2 ;;
            --neural-search) neural=1; shift ;;
            --force) force=1; shift ;;
            *) die "unknown option '$1' (see the header of $0)" ;;
        esac
    done
    [[ $port =~ ^[0-9]+$ ]] || die "--port must be a number, got '$port'"
}

url() { echo "http://127.0.0.1:$port"; }
run_dir() { echo "$here/run/$port"; }
pid_file() { echo "$(run_dir)/node.pid"; }
log_file() { echo "$(run_dir)/node.log"; }

# --- jars ---------------------------------------------------------------------------------------------------

pom_key() { sha256sum "$here/pom.xml" | cut -c1-16; }

# fetch STAMP DIR... -- MAVEN_ARGS...: run Maven into temporary DIRs, then swap them into $cache and write
# $cache/STAMP. Skipped when STAMP exists (unless --force).
fetch() {
    local stamp=$1 dirs=() d
    shift
    while [[ $1 != -- ]]; do dirs+=("$1"); shift; done
    shift
    [[ $force == 0 && -f $cache/$stamp ]] && return 0
    mkdir -p "$cache"
    # Two engineers (ports 9250 and 9260) may start nodes at once: one resolves, the other waits.
    exec 9>"$cache/.lock"
    flock 9
    if [[ $force == 0 && -f $cache/$stamp ]]; then exec 9>&-; return 0; fi
    local t0 tmp
    t0=$(now)
    tmp=$(mktemp -d "$cache/tmp.XXXXXX")
    echo "node.sh: resolving ${dirs[*]} jars (OpenSearch $OPENSEARCH_VERSION) with Maven into $cache ..." >&2
    # shellcheck disable=SC2086  # GCL_SEARCH_MVN_OPTS is a list of flags
    # Maven 3.8 prints colour resets even in batch mode; strip them from the CI log.
    if ! mvn -q -B -Dstyle.color=never -f "$here/pom.xml" ${GCL_SEARCH_MVN_OPTS:-} "$@" \
        -Dnode.lib="$tmp/lib" -Dnode.knn="$tmp/knn" -Dnode.neural="$tmp/neural" 2>&1 \
        | sed -u 's/\x1b\[[0-9;]*m//g' >&2; then
        rm -rf "$tmp"
        exec 9>&-
        die "Maven could not resolve the jars (see above); check access to Maven Central or ~/.m2/settings.xml"
    fi
    for d in "${dirs[@]}"; do
        # A running node keeps its jars open, so replacing the folders under it is safe on Linux.
        rm -rf "${cache:?}/$d"
        mv "$tmp/$d" "$cache/$d"
    done
    rm -rf "$tmp"
    rm -f "$cache/${stamp%%-*}"-*
    touch "$cache/$stamp"
    exec 9>&-
    echo "node.sh: resolved ${dirs[*]} jars in $(elapsed "$t0") s" >&2
}

need() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' is not on PATH; $2"
}

resolve() {
    need mvn "install Maven 3.8+ (Debian: apt-get install maven)"
    fetch "resolved-$(pom_key)" lib knn -- dependency:copy-dependencies@lib dependency:unpack-dependencies@knn
    if [[ $neural == 1 ]]; then
        fetch "neural-$(pom_key)" neural -- -P neural-search dependency:unpack-dependencies@neural
    fi
}

# --- process bookkeeping ------------------------------------------------------------------------------------

# True when $1 is a live launcher process serving this port (guards against a recycled pid).
is_our_node() {
    local pid=$1 cmdline
    [[ -r /proc/$pid/cmdline ]] || return 1
    cmdline=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmdline == *" -Dgcl.search.node.port=$port "* ]] && return 0
    # nodes started by the first version of this script ran `java Launcher.java`
    [[ $cmdline == *"Launcher.java"* && $cmdline == *"--port $port "* ]]
}

recorded_pid() {
    [[ -f $(pid_file) ]] || return 1
    local pid
    pid=$(cat "$(pid_file)")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    echo "$pid"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

healthy() {
    curl -sf -m 5 "$(url)/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1
}

log_tail() {
    echo "---- last 40 lines of $(log_file) ----" >&2
    tail -n 40 "$(log_file)" >&2 || true
    echo "----" >&2
}

# --- commands -----------------------------------------------------------------------------------------------

cmd_info() {
    local root plugins
    root=$(curl -sf -m 10 "$(url)/") || die "no OpenSearch node answers at $(url)"
    plugins=$(curl -sf -m 10 "$(url)/_cat/plugins?h=component&s=component") || die "$(url)/_cat/plugins failed"
    echo "OpenSearch at $(url): version $(sed -n 's/.*"number" : "\([^"]*\)".*/\1/p' <<< "$root")," \
        "lucene $(sed -n 's/.*"lucene_version" : "\([^"]*\)".*/\1/p' <<< "$root")"
    echo "plugins:"
    sed 's/^/  /' <<< "$plugins"
}

cmd_status() {
    local pid
    if pid=$(recorded_pid) && is_our_node "$pid" && healthy; then
        echo "node.sh: node (pid $pid) is healthy at $(url)"
        return 0
    fi
    echo "node.sh: no healthy node started by node.sh at $(url)" >&2
    return 1
}

# `java Launcher.java` would compile the launcher on every start (~3 s of CPU); compile once per version of it.
compile_launcher() {
    local out
    out="$cache/launcher-$(sha256sum "$here/Launcher.java" | cut -c1-16)"
    if [[ ! -f $out/Launcher.class ]]; then
        rm -rf "$out.tmp"
        javac -proc:none -nowarn -cp "$cache/lib/*:$cache/knn/*" -d "$out.tmp" "$here/Launcher.java" >&2 \
            || die "javac failed on $here/Launcher.java"
        rm -rf "$out"
        mv "$out.tmp" "$out"
    fi
    echo "$out"
}

launch() {
    need java "install a Java 17+ JDK (Debian: apt-get install openjdk-17-jdk-headless)"
    need javac "install a Java 17+ JDK, not only a JRE (Debian: apt-get install openjdk-17-jdk-headless)"
    local cp="$cache/lib/*:$cache/knn/*" plugins=()
    if [[ $neural == 1 ]]; then
        cp="$cp:$cache/neural/*"
        plugins=(--plugin "$NEURAL_PLUGIN")
    fi
    local classes
    classes=$(compile_launcher)
    mkdir -p "$(run_dir)/home"
    cd "$(run_dir)"
    # nohup, not setsid: the pid of the background job stays the JVM's pid, which is what the pid file records.
    nohup java -Xms256m -Xmx"$heap" -XX:+UseG1GC -Djava.awt.headless=true -Dfile.encoding=UTF-8 \
        -Dlog4j2.disable.jmx=true -Dlog4j.shutdownHookEnabled=false \
        -Dio.netty.noUnsafe=true -Dio.netty.recycler.maxCapacityPerThread=0 \
        -Dgcl.search.node.port="$port" -cp "$cp:$classes" Launcher \
        --config "$here/config" --home "$(run_dir)/home" --port "$port" "${plugins[@]}" \
        > "$(log_file)" 2>&1 < /dev/null &
    echo $! > "$(pid_file)"
    cd - >/dev/null
}

cmd_start() {
    local pid t0
    if pid=$(recorded_pid) && is_our_node "$pid"; then
        if healthy; then
            if [[ $neural == 1 ]] && ! curl -sf -m 10 "$(url)/_cat/plugins" | grep -q "$NEURAL_PLUGIN"; then
                die "the node already running at $(url) (pid $pid) has no neural-search plugin;" \
                    "stop it first: $0 stop --port $port"
            fi
            echo "node.sh: a node started by node.sh (pid $pid) is already healthy at $(url)"
            cmd_info
            return 0
        fi
        echo "node.sh: node pid $pid is running but not healthy yet; waiting" >&2
    else
        rm -f "$(pid_file)"
        if port_in_use; then
            die "port $port on 127.0.0.1 is taken by another process (not started by node.sh);" \
                "stop it or use --port with a free port"
        fi
        resolve
        t0=$(now)
        launch
        pid=$(recorded_pid)
    fi
    t0=${t0:-$(now)}
    local deadline=$((SECONDS + timeout_s))
    until healthy; do
        if ! is_our_node "$pid"; then
            log_tail
            rm -f "$(pid_file)"
            die "the node exited during start-up (log above: $(log_file))"
        fi
        if ((SECONDS >= deadline)); then
            log_tail
            cmd_stop >&2 || true
            die "no yellow/green health at $(url) within ${timeout_s}s; node stopped (log above)"
        fi
        sleep 0.5
    done
    echo "node.sh: node (pid $pid) healthy at $(url) after $(elapsed "$t0") s; log $(log_file)"
    cmd_info
}

cmd_stop() {
    local pid
    if ! pid=$(recorded_pid); then
        echo "node.sh: no node started by node.sh on port $port (no $(pid_file))"
        return 0
    fi
    if ! is_our_node "$pid"; then
        rm -f "$(pid_file)"
        echo "node.sh: pid $pid from $(pid_file) is no longer our node; removed the stale pid file"
        return 0
    fi
    kill -TERM "$pid"
    local deadline=$((SECONDS + 30))
    while is_our_node "$pid"; do
        if ((SECONDS >= deadline)); then
            echo "node.sh: node pid $pid ignored SIGTERM for 30 s; sending SIGKILL to that pid" >&2
            kill -KILL "$pid" 2>/dev/null || true
            sleep 1
            break
        fi
        sleep 0.2
    done
    rm -f "$(pid_file)"
    echo "node.sh: stopped node pid $pid on port $port"
}

main() {
    local cmd=${1:-}
    [[ -n $cmd ]] || die "usage: node.sh start|stop|info|status|resolve [--port N] (see the header of $0)"
    shift
    parse_args "$@"
    case "$cmd" in
        start) cmd_start ;;
        stop) cmd_stop ;;
        info) cmd_info ;;
        status) cmd_status ;;
        resolve) resolve ;;
        *) die "unknown command '$cmd'; use start, stop, info, status or resolve" ;;
    esac
}

main "$@"
