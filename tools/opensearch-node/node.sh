#!/usr/bin/env bash
# A real OpenSearch + k-NN node, or a loopback cluster of them, on 127.0.0.1 without Docker
# (see docs/opensearch.md). Versions: 3.5.0 (k-NN 3.5.0.0, Java 21+) and 2.19.1 (k-NN 2.19.1.0, Java 17+).
#
#   node.sh start   [--port 9250] [--nodes 1] [--version V] [--timeout 300] [--neural-search]
#                   resolve jars (cached), start the nodes not yet running, wait for health
#   node.sh stop    [--port 9250] [--nodes 1]      stop the nodes this script started on those ports
#   node.sh kill    --port P                       SIGKILL the one node this script started on P (fault tests)
#   node.sh info    [--port 9250]                  print GET / version and _cat/plugins
#   node.sh status  [--port 9250] [--nodes 1]      cluster health and nodes; exit 0 when all are up and healthy
#   node.sh resolve [--version V] [--force] [--neural-search]   only resolve the jars
#
# --nodes N uses HTTP ports P..P+N-1 and transport ports P+500..P+N-1+500, forming cluster gcl-search-P.
# Jars go to $GCL_SEARCH_NODE_CACHE (default ~/.cache/gcl-search/opensearch-<version>), keyed on the pom's hash,
# so a fresh clone does not resolve again; Maven's own cache is ~/.m2 (extra Maven flags: $GCL_SEARCH_MVN_OPTS).
# Each node's data, log and pid file live in tools/opensearch-node/run/<its http port>/ (git-ignored). `stop`
# and `kill` signal only the pid recorded by `start`, after checking that it is still this launcher on that port.
set -euo pipefail

DEFAULT_VERSION=3.5.0
SUPPORTED_VERSIONS="3.5.0 2.19.1"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NEURAL_PLUGIN=org.opensearch.neuralsearch.plugin.NeuralSearch
TRANSPORT_OFFSET=500

port=9250
base_port=9250
nodes=1
version=${GCL_SEARCH_NODE_VERSION:-$DEFAULT_VERSION}
timeout_s=300
neural=0
force=0

# shellcheck source=../node-lib.sh
source "$here/../node-lib.sh"

parse_args() {
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --port) port=${2:?--port needs a value}; shift 2 ;;
            --nodes) nodes=${2:?--nodes needs a count}; shift 2 ;;
            --version) version=${2:?--version needs a value}; shift 2 ;;
            --timeout) timeout_s=${2:?--timeout needs seconds}; shift 2 ;;
            --neural-search) neural=1; shift ;;
            --force) force=1; shift ;;
            *) die "unknown option '$1' (see the header of $0)" ;;
        esac
    done
    [[ $port =~ ^[0-9]+$ ]] || die "--port must be a number, got '$port'"
    [[ $nodes =~ ^[1-9]$ ]] || die "--nodes must be 1..9, got '$nodes'"
    [[ " $SUPPORTED_VERSIONS " == *" $version "* ]] || die "--version must be one of: $SUPPORTED_VERSIONS"
    [[ $neural == 0 || $version == 2.* ]] || die "--neural-search needs --version 2.19.1 (Maven Central has no" \
        "neural-search $version.0)"
    base_port=$port
    major=${version%%.*}
    pom="$here/pom.xml"
    [[ $version == 2.19.1 ]] || pom="$here/pom-$version.xml"
    cache=${GCL_SEARCH_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gcl-search/opensearch-$version}
    local default_heap=1g
    ((nodes == 1)) || default_heap=512m
    heap=${GCL_SEARCH_NODE_HEAP:-$default_heap}
}

# The cluster's member ports (one port for a single node).
member_ports() { seq "$base_port" $((base_port + nodes - 1)); }

url() { echo "http://127.0.0.1:$port"; }
run_dir() { echo "$here/run/$port"; }
pid_file() { echo "$(run_dir)/node.pid"; }
log_file() { echo "$(run_dir)/node.log"; }

# --- jars ---------------------------------------------------------------------------------------------------

pom_key() { sha256sum "$pom" | cut -c1-16; }

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
    echo "node.sh: resolving ${dirs[*]} jars (OpenSearch $version) with Maven into $cache ..." >&2
    # shellcheck disable=SC2086  # GCL_SEARCH_MVN_OPTS is a list of flags
    # Maven 3.8 prints colour resets even in batch mode; strip them from the CI log.
    if ! mvn -q -B -Dstyle.color=never -f "$pom" ${GCL_SEARCH_MVN_OPTS:-} "$@" \
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

# --- Java ---------------------------------------------------------------------------------------------------

# The feature version (17, 21, 25, ...) of the JDK at $1, from its `release` file.
jdk_feature() {
    local v
    v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release" 2>/dev/null) || return 1
    [[ $v =~ ^[0-9]+$ && -x $1/bin/java && -x $1/bin/javac ]] || return 1
    echo "$v"
}

# Pick the JDK: $GCL_SEARCH_JAVA_HOME if set; else the newest JDK (with javac) among $JAVA_HOME, the `java` on
# PATH, /usr/lib/jvm/* and /opt/*. 3.x needs 21+; 2.19.1 runs on 17 but gets Lucene's SIMD vector code only on
# 20+, so it takes the newest JDK too. Sets java_home and java_feature.
pick_java() {
    local min=17 cand best="" best_v=0 v
    ((major >= 3)) && min=21
    if [[ -n ${GCL_SEARCH_JAVA_HOME:-} ]]; then
        v=$(jdk_feature "$GCL_SEARCH_JAVA_HOME") || die "GCL_SEARCH_JAVA_HOME=$GCL_SEARCH_JAVA_HOME is not a JDK"
        ((v >= min)) || die "OpenSearch $version needs Java $min+; GCL_SEARCH_JAVA_HOME is Java $v"
        java_home=$GCL_SEARCH_JAVA_HOME java_feature=$v
        return 0
    fi
    local path_java=""
    command -v java >/dev/null 2>&1 && path_java=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
    for cand in ${JAVA_HOME:-} $path_java /usr/lib/jvm/* /opt/*; do
        v=$(jdk_feature "$cand") || continue
        if ((v > best_v)); then best=$cand best_v=$v; fi
    done
    ((best_v >= min)) || die "OpenSearch $version needs a Java $min+ JDK (javac included); found" \
        "${best_v/#0/none}. Install one or set GCL_SEARCH_JAVA_HOME"
    java_home=$best java_feature=$best_v
}

# JVM flags for the picked JDK: Lucene's Panama vector code (SIMD dot products) needs Java 20+ and the
# incubator module; Lucene only trusts Java versions it was tested with unless told the upper bound.
jvm_flags() {
    jvm=()
    if ((java_feature >= 20)) && [[ ${GCL_SEARCH_NODE_VECTOR:-1} == 1 ]]; then
        jvm+=(--add-modules jdk.incubator.vector
              -Dorg.apache.lucene.vectorization.upperJavaFeatureVersion="$java_feature")
    fi
    # Java 24+ warns about netty's and Lucene's native/Unsafe access; allow it quietly.
    ((java_feature >= 24)) && jvm+=(--enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow)
    return 0
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


healthy() {
    curl -sf -m 5 "$(url)/_cluster/health?wait_for_status=yellow&wait_for_nodes=$nodes&timeout=1s" >/dev/null 2>&1
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
    local pid p down=() up=()
    for p in $(member_ports); do
        port=$p
        if pid=$(recorded_pid) && is_our_node "$pid"; then up+=("$p"); else down+=("$p"); fi
    done
    if ((nodes == 1)); then
        port=$base_port
        if ((${#up[@]} == 1)) && healthy; then
            echo "node.sh: node (pid $(recorded_pid)) is healthy at $(url)"
            return 0
        fi
        echo "node.sh: no healthy node started by node.sh at $(url)" >&2
        return 1
    fi
    ((${#down[@]} == 0)) || echo "node.sh: not running (no live node started by node.sh): ${down[*]}" >&2
    ((${#up[@]} > 0)) || return 1
    port=${up[0]}
    curl -sf -m 10 "$(url)/_cat/health?v&h=cluster,status,node.total,shards,pri,relo,init,unassign" \
        || { echo "node.sh: no answer from $(url)" >&2; return 1; }
    curl -sf -m 10 "$(url)/_cat/nodes?v&h=name,ip,http_address,version,heap.percent,heap.max,cluster_manager&s=name" \
        || true
    ((${#down[@]} == 0)) && healthy
}

# `java Launcher.java` would compile the launcher on every start (~3 s of CPU); compile once per version of it
# and of the JDK (class files of a newer javac do not load on an older java).
compile_launcher() {
    local out
    out="$cache/launcher-$(sha256sum "$here/Launcher.java" | cut -c1-16)-java$java_feature"
    if [[ ! -f $out/Launcher.class ]]; then
        rm -rf "$out.tmp.$$"
        "$java_home/bin/javac" -proc:none -nowarn -cp "$cache/lib/*:$cache/knn/*" -d "$out.tmp.$$" \
            "$here/Launcher.java" >&2 || die "javac failed on $here/Launcher.java"
        rm -rf "$out"
        mv "$out.tmp.$$" "$out"
    fi
    echo "$out"
}

# Launcher settings for this member: single-node discovery for one node, else a loopback cluster named after
# its first port, with fixed transport ports so every member can list the others as seeds.
cluster_settings() {
    settings=()
    ((nodes == 1)) && return 0
    local p seeds="" managers=""
    for p in $(member_ports); do
        seeds+="${seeds:+,}127.0.0.1:$((p + TRANSPORT_OFFSET))"
        managers+="${managers:+,}node-$p"
    done
    settings=(--set cluster.name="gcl-search-$base_port" --set node.name="node-$port"
              --set discovery.type=zen --set discovery.seed_hosts="$seeds"
              --set cluster.initial_cluster_manager_nodes="$managers"
              --set transport.port=$((port + TRANSPORT_OFFSET)))
}

# What a data folder was made by; a node refuses another cluster's (or an older major's) data, so a change
# of version or cluster shape starts it empty.
layout_stamp() { echo "version=$version nodes=$nodes base=$base_port"; }

launch() {
    local cp="$cache/lib/*:$cache/knn/*" plugins=()
    if [[ $neural == 1 ]]; then
        cp="$cp:$cache/neural/*"
        plugins=(--plugin "$NEURAL_PLUGIN")
    fi
    local classes
    classes=$(compile_launcher)
    if [[ -f $(run_dir)/layout && $(cat "$(run_dir)/layout") != "$(layout_stamp)" ]]; then
        echo "node.sh: $(run_dir) held a node of another version or cluster ($(cat "$(run_dir)/layout"));" \
            "starting it with empty data" >&2
        rm -rf "$(run_dir)/home"
    fi
    mkdir -p "$(run_dir)/home"
    layout_stamp > "$(run_dir)/layout"
    cluster_settings
    jvm_flags
    cd "$(run_dir)"
    # nohup, not setsid: the pid of the background job stays the JVM's pid, which is what the pid file records.
    nohup "$java_home/bin/java" -Xms256m -Xmx"$heap" -XX:+UseG1GC -Djava.awt.headless=true -Dfile.encoding=UTF-8 \
        -Dlog4j2.disable.jmx=true -Dlog4j.shutdownHookEnabled=false \
        -Dio.netty.noUnsafe=true -Dio.netty.recycler.maxCapacityPerThread=0 "${jvm[@]}" \
        -Dgcl.search.node.port="$port" -cp "$cp:$classes" Launcher \
        --config "$here/config" --home "$(run_dir)/home" --port "$port" "${settings[@]}" "${plugins[@]}" \
        > "$(log_file)" 2>&1 < /dev/null &
    local pid=$! i
    echo "$pid" > "$(pid_file)"
    cd - >/dev/null
    # Until the forked shell has exec'd java, its command line is not yet the JVM's: wait for that (<= 5 s).
    for ((i = 0; i < 50; i++)); do
        is_our_node "$pid" || ! kill -0 "$pid" 2>/dev/null && break
        sleep 0.1
    done
}

# The version the node at $(url) reports, or nothing.
running_version() { curl -sf -m 5 "$(url)/" | sed -n 's/.*"number" : "\([^"]*\)".*/\1/p'; }

# Start every member of the cluster that is not running (all of them for a fresh one), then wait for health.
cmd_start() {
    local p pid t0 started=() waiting=()
    if ((nodes == 1)); then
        cmd_start_one
        return
    fi
    for p in $(member_ports); do
        port=$p
        if pid=$(recorded_pid) && is_our_node "$pid"; then
            waiting+=("$p")
            continue
        fi
        rm -f "$(pid_file)"
        port_in_use "$p" && die "port $p on 127.0.0.1 is taken by another process (not started by node.sh);" \
            "stop it or use --port with a free port"
        port_in_use $((p + TRANSPORT_OFFSET)) && die "transport port $((p + TRANSPORT_OFFSET)) (for HTTP port" \
            "$p) is taken by another process"
        started+=("$p")
    done
    if ((${#started[@]} > 0)); then
        resolve
        pick_java
        t0=$(now)
        for p in "${started[@]}"; do
            port=$p
            launch
        done
        echo "node.sh: started ${#started[@]} node(s) on ports ${started[*]} (OpenSearch $version," \
            "java $java_feature, heap $heap each); already running: ${waiting[*]:-none}" >&2
    fi
    t0=${t0:-$(now)}
    local deadline=$((SECONDS + timeout_s))
    while true; do
        for p in $(member_ports); do
            port=$p
            if ! { pid=$(recorded_pid) && is_our_node "$pid"; }; then
                log_tail
                die "the node on port $p exited during start-up (log above: $(log_file))"
            fi
        done
        port=$base_port
        healthy && break
        if ((SECONDS >= deadline)); then
            for p in $(member_ports); do port=$p; log_tail; done
            die "no yellow/green health with $nodes nodes at $(url) within ${timeout_s}s (logs above;" \
                "stop them with: $0 stop --port $base_port --nodes $nodes)"
        fi
        sleep 1
    done
    local v
    v=$(running_version)
    [[ $v == "$version" ]] || die "the cluster at $(url) runs OpenSearch $v, not $version; stop it first:" \
        "$0 stop --port $base_port --nodes $nodes"
    echo "node.sh: cluster gcl-search-$base_port ($nodes nodes, OpenSearch $v) healthy after $(elapsed "$t0") s"
    cmd_status
}

cmd_start_one() {
    local pid t0
    if pid=$(recorded_pid) && is_our_node "$pid"; then
        if healthy; then
            local v
            v=$(running_version)
            [[ $v == "$version" ]] || die "the node already running at $(url) (pid $pid) is OpenSearch $v," \
                "not $version; stop it first: $0 stop --port $port"
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
        pick_java
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
    local p rc=0
    for p in $(member_ports); do
        port=$p
        cmd_stop_one || rc=1
    done
    return $rc
}

# Fault tests: SIGKILL one node (no shutdown hook, no clean close), the way a crashed machine leaves it.
cmd_kill() {
    local pid
    pid=$(recorded_pid) && is_our_node "$pid" || die "no live node started by node.sh on port $port"
    kill -KILL "$pid"
    while is_our_node "$pid"; do sleep 0.1; done
    rm -f "$(pid_file)"
    echo "node.sh: killed node pid $pid on port $port (SIGKILL)"
}

cmd_stop_one() { stop_recorded_node "node"; }

main() {
    local cmd=${1:-}
    [[ -n $cmd ]] || die "usage: node.sh start|stop|kill|info|status|resolve [--port N] [--nodes N]" \
        "[--version V] (see the header of $0)"
    shift
    parse_args "$@"
    case "$cmd" in
        start) cmd_start ;;
        stop) cmd_stop ;;
        kill) cmd_kill ;;
        info) cmd_info ;;
        status) cmd_status ;;
        resolve) resolve ;;
        *) die "unknown command '$cmd'; use start, stop, kill, info, status or resolve" ;;
    esac
}

main "$@"
