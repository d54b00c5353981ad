#!/usr/bin/env bash
# A real Elasticsearch 8.x node on 127.0.0.1 without Docker (see docs/elasticsearch.md).
#
#   node.sh start   [--port 9400] [--version V] [--timeout 300]   fetch (cached), start, wait for health
#   node.sh stop    [--port 9400]      stop the node this script started on that port (its pid only)
#   node.sh status  [--port 9400]      exit 0 when the node started here is up and healthy
#   node.sh info    [--port 9400]      version and modules of the node at that port
#   node.sh resolve [--version V]      only fetch the distribution
#
# The distribution is Maven Central's `org.elasticsearch.distribution.integ-test-zip:elasticsearch` (the
# complete server with a minimal module set: no painless, no analysis-common, no x-pack search features).
# Its zip is cached in $GCL_SEARCH_NODE_CACHE (default ~/.cache/gcl-search)/elasticsearch-<version>/ and
# unpacked into tools/elasticsearch-node/run/dist-<version>/. Elasticsearch refuses to run as root, so a root
# caller runs it as uid/gid 65534 (setpriv); the node's config, data, logs and pid file live in
# tools/elasticsearch-node/run/<port>/ (git-ignored), owned by that user; in a clone that user cannot reach
# (a parent folder not world-searchable, e.g. under /root), run/ moves to /tmp/gcl-search-elasticsearch-<hash>. Single node, security and ML off,
# loopback only, heap $GCL_SEARCH_ES_HEAP (512m). `stop` signals only the pid recorded by `start`, after
# checking that it is still an Elasticsearch server with this port's config.
set -euo pipefail

DEFAULT_VERSION=8.19.21
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)  # the real path: the pid check compares it
TRANSPORT_OFFSET=500
RUN_UID=65534

port=9400
version=${GCL_SEARCH_ES_VERSION:-$DEFAULT_VERSION}
timeout_s=300
heap=${GCL_SEARCH_ES_HEAP:-512m}

# shellcheck source=../node-lib.sh
source "$here/../node-lib.sh"

parse_args() {
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --port) port=${2:?--port needs a value}; shift 2 ;;
            --version) version=${2:?--version needs a value}; shift 2 ;;
            --timeout) timeout_s=${2:?--timeout needs seconds}; shift 2 ;;
            *) die "unknown option '$1' (see the header of $0)" ;;
        esac
    done
    [[ $port =~ ^[0-9]+$ ]] || die "--port must be a number, got '$port'"
    [[ $version =~ ^8\.[0-9]+\.[0-9]+$ ]] || die "--version must be an 8.x.y release, got '$version'"
    cache=${GCL_SEARCH_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gcl-search}/elasticsearch-$version
    run_root=$here/run
    if ((EUID == 0)) && ! setpriv --reuid=$RUN_UID --regid=$RUN_UID --clear-groups -- test -x "$here"; then
        run_root=/tmp/gcl-search-elasticsearch-$(echo "$here" | sha256sum | cut -c1-12)
    fi
    dist=$run_root/dist-$version/elasticsearch-$version
}

url() { echo "http://127.0.0.1:$port"; }
run_dir() { echo "$run_root/$port"; }
pid_file() { echo "$(run_dir)/node.pid"; }
log_file() { echo "$(run_dir)/node.log"; }

# As the unprivileged user when we are root (Elasticsearch refuses root), else as ourselves.
as_node_user() {
    if ((EUID == 0)); then
        setpriv --reuid=$RUN_UID --regid=$RUN_UID --clear-groups -- "$@"
    else
        "$@"
    fi
}

# --- distribution -------------------------------------------------------------------------------------------

resolve() {
    local zip="$cache/elasticsearch-$version.zip"
    mkdir -p "$cache"
    # Two engineers may start nodes at once: one fetches and unpacks, the other waits.
    exec 9>"$cache/.lock"
    flock 9
    if [[ ! -s $zip ]]; then
        command -v mvn >/dev/null 2>&1 || die "'mvn' is not on PATH; install Maven 3.8+ (apt-get install maven)"
        local t0
        t0=$(now)
        echo "node.sh: fetching Elasticsearch $version (integ-test-zip, ~107 MB) with Maven ..." >&2
        # shellcheck disable=SC2086  # GCL_SEARCH_MVN_OPTS is a list of flags
        mvn -q -B -Dstyle.color=never ${GCL_SEARCH_MVN_OPTS:-} dependency:copy \
            -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$version:zip" \
            -DoutputDirectory="$cache" 2>&1 | sed -u 's/\x1b\[[0-9;]*m//g' >&2 || true
        [[ -s $zip ]] || { exec 9>&-; die "Maven could not fetch Elasticsearch $version (see above)"; }
        echo "node.sh: fetched $zip in $(elapsed "$t0") s" >&2
    fi
    if [[ ! -x $dist/bin/elasticsearch ]]; then
        local tmp
        mkdir -p "$run_root"
        chmod 755 "$run_root"
        tmp=$(mktemp -d "$run_root/.unpack.XXXXXX")
        unzip -q "$zip" -d "$tmp" || { rm -rf "$tmp"; exec 9>&-; die "cannot unpack $zip"; }
        chmod -R a+rX "$tmp"
        rm -rf "$(dirname "$dist")"
        mv "$tmp" "$(dirname "$dist")"
    fi
    exec 9>&-
}

# --- Java ---------------------------------------------------------------------------------------------------

jdk_feature() {
    local v
    v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release" 2>/dev/null) || return 1
    [[ $v =~ ^[0-9]+$ && -x $1/bin/java ]] || return 1
    echo "$v"
}

# $GCL_SEARCH_ES_JAVA_HOME if set; else the newest JDK 17..25 among $JAVA_HOME, `java` on PATH and
# /usr/lib/jvm/* (21+ gets Lucene's SIMD vector code; 8.19 runs on 17 too).
pick_java() {
    if [[ -n ${GCL_SEARCH_ES_JAVA_HOME:-} ]]; then
        java_feature=$(jdk_feature "$GCL_SEARCH_ES_JAVA_HOME") || die "GCL_SEARCH_ES_JAVA_HOME is not a JDK"
        java_home=$GCL_SEARCH_ES_JAVA_HOME
        return 0
    fi
    local cand best="" best_v=0 v path_java=""
    command -v java >/dev/null 2>&1 && path_java=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
    for cand in ${JAVA_HOME:-} $path_java /usr/lib/jvm/*; do
        v=$(jdk_feature "$cand") || continue
        if ((v >= 17 && v <= 25 && v > best_v)); then best=$cand best_v=$v; fi
    done
    ((best_v >= 17)) || die "Elasticsearch $version needs Java 17+; set GCL_SEARCH_ES_JAVA_HOME"
    java_home=$best java_feature=$best_v
}

# --- process bookkeeping ------------------------------------------------------------------------------------

# True when $1 is a live Elasticsearch server of this port's run folder (guards against a recycled pid).
is_our_node() {
    local cmdline
    [[ -r /proc/$1/cmdline ]] || return 1
    cmdline=$(tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null) || return 1
    [[ $cmdline == *"org.elasticsearch.bootstrap.Elasticsearch"* ]] || return 1
    # The config path reaches the server on stdin; its temp folder (ES_TMPDIR) is per port and on the line.
    [[ $cmdline == *"-Djava.io.tmpdir=$(run_dir)/tmp "* ]]
}


healthy() { curl -sf -m 5 "$(url)/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; }

running_version() { curl -sf -m 5 "$(url)/_nodes/_local?filter_path=nodes.*.version" |
    sed -n 's/.*"version":"\([^"]*\)".*/\1/p'; }

log_tail() {
    local f=$(log_file)
    # The CLI echoes the server log until it detaches; after that only the server's own log has it.
    [[ -s $f ]] || f=$(run_dir)/logs/gcl-search-es.log
    echo "---- last 30 lines of $f ----" >&2
    tail -n 30 "$f" >&2 || true
    echo "----" >&2
}

# --- commands -----------------------------------------------------------------------------------------------

cmd_info() {
    local nodes
    # GET / answers 405 on this distribution; _nodes says the same.
    nodes=$(curl -sf -m 10 "$(url)/_nodes/_local?filter_path=nodes.*.version,nodes.*.modules.name") ||
        die "no Elasticsearch node answers at $(url)"
    echo "Elasticsearch at $(url): version $(running_version)"
    echo "modules: $(grep -o '"name":"[^"]*"' <<< "$nodes" | cut -d'"' -f4 | tr '\n' ' ')"
}

cmd_status() {
    local pid
    if pid=$(recorded_pid) && is_our_node "$pid" && healthy; then
        echo "node.sh: Elasticsearch node (pid $pid) is healthy at $(url)"
        return 0
    fi
    echo "node.sh: no healthy Elasticsearch node started by node.sh at $(url)" >&2
    return 1
}

# run/<port>/config: the distribution's JVM and log settings plus ours; a fresh copy on every start.
write_config() {
    local conf
    conf=$(run_dir)/config
    rm -rf "$conf"
    mkdir -p "$conf" "$(run_dir)/data" "$(run_dir)/logs" "$(run_dir)/tmp"
    cp -r "$dist/config/jvm.options" "$dist/config/jvm.options.d" "$dist/config/log4j2.properties" "$conf/"
    {
        cat "$here/config/elasticsearch.yml"
        echo "http.port: $port"
        echo "transport.port: $((port + TRANSPORT_OFFSET))"
        echo "path.data: $(run_dir)/data"
        echo "path.logs: $(run_dir)/logs"
    } > "$conf/elasticsearch.yml"
    # No GC log files: they are large and nobody reads them here.
    echo "-Xlog:disable" > "$conf/jvm.options.d/gcl-search.options"
    echo "-Xlog:all=warning:stderr" >> "$conf/jvm.options.d/gcl-search.options"
    ((EUID == 0)) && chown -R $RUN_UID:$RUN_UID "$(run_dir)"
    as_node_user test -w "$(run_dir)/data" && as_node_user test -r "$dist/lib" ||
        die "uid $RUN_UID cannot reach $(run_dir) or $dist (a parent folder is not world-searchable);" \
            "clone the repository under a world-searchable path"
}

cmd_start() {
    local pid t0
    if pid=$(recorded_pid) && is_our_node "$pid"; then
        if healthy; then
            echo "node.sh: an Elasticsearch node started by node.sh (pid $pid) is already healthy at $(url)"
            cmd_info
            return 0
        fi
        echo "node.sh: node pid $pid is running but not healthy yet; waiting" >&2
    else
        rm -f "$(pid_file)"
        port_in_use && die "port $port on 127.0.0.1 is taken by another process (not started by node.sh)"
        port_in_use $((port + TRANSPORT_OFFSET)) && die "transport port $((port + TRANSPORT_OFFSET)) is taken"
        resolve
        pick_java
        write_config
        t0=$(now)
        # -d: the CLI detaches once the server runs and -p records the server's own pid.
        if ! as_node_user env -i PATH=/usr/bin:/bin HOME="$(run_dir)" ES_JAVA_HOME="$java_home" \
                ES_PATH_CONF="$(run_dir)/config" ES_TMPDIR="$(run_dir)/tmp" \
                ES_JAVA_OPTS="-Xms$heap -Xmx$heap" \
                "$dist/bin/elasticsearch" -d -p "$(pid_file)" > "$(log_file)" 2>&1 < /dev/null; then
            log_tail
            die "Elasticsearch did not start (log above: $(log_file))"
        fi
        pid=$(recorded_pid) || { log_tail; die "Elasticsearch wrote no pid file ($(pid_file))"; }
    fi
    t0=${t0:-$(now)}
    local deadline=$((SECONDS + timeout_s))
    until healthy; do
        if ! is_our_node "$pid"; then
            log_tail
            rm -f "$(pid_file)"
            die "the node exited during start-up (logs above)"
        fi
        if ((SECONDS >= deadline)); then
            log_tail
            cmd_stop >&2 || true
            die "no yellow/green health at $(url) within ${timeout_s}s; node stopped (log above)"
        fi
        sleep 0.5
    done
    local v
    v=$(running_version)
    [[ $v == "$version" ]] || die "the node at $(url) runs Elasticsearch $v, not $version; stop it first"
    echo "node.sh: Elasticsearch $v (pid $pid, java ${java_feature:-?}, heap $heap) healthy at $(url)" \
        "after $(elapsed "$t0") s"
}

cmd_stop() { stop_recorded_node "Elasticsearch node"; }

main() {
    local cmd=${1:-}
    [[ -n $cmd ]] || die "usage: node.sh start|stop|status|info|resolve [--port N] [--version V]"
    shift
    parse_args "$@"
    case "$cmd" in
        start) cmd_start ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        info) cmd_info ;;
        resolve) resolve ;;
        *) die "unknown command '$cmd'; use start, stop, status, info or resolve" ;;
    esac
}

main "$@"
