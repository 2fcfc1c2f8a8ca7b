#!/usr/bin/env bash
# Starts and stops a Docker engine for the docker provider's lab, only when none runs.
#   scripts/dockerd.sh start   # a running engine (`docker info` answers) is used as it is
#   scripts/dockerd.sh stop    # stops only the engine this script started
# The engine this script starts runs in a network namespace of its own (labnet-docker, attached to
# nothing), so the bridges of the lab's --internal networks, their addresses and routes live there and
# never in this machine's root namespace. It makes no docker0 bridge, no iptables rules and does not
# forward between its networks (--bridge=none --iptables=false --ip-forward=false --ip-masq=false): with
# no link out of that namespace there is nothing for Docker's rules to guard, and its isolation rules
# for --internal networks would drop pod traffic between lab hosts (BGP mode sends pods' own addresses
# across the underlay, which those rules allow only from the network's subnet). A lab of several
# subnets routes through its own router container.
set -euo pipefail
netns=labnet-docker
run_dir=/run/labnet-calico-dockerd
pid_file=$run_dir/dockerd.pid
log=${LABNET_DOCKERD_LOG:-/tmp/labnet-dockerd.log}
wait_seconds=${LABNET_DOCKERD_WAIT:-60}
export LC_ALL=C

ours() { [ -s "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }

case "${1:-}" in
  start)
    if docker info >/dev/null 2>&1; then
      ours && echo "dockerd: the engine this script started runs (pid $(cat "$pid_file"))" \
           || echo "dockerd: a Docker engine runs already; using it"
      exit 0
    fi
    command -v dockerd >/dev/null || { echo "dockerd: no dockerd (apt-get install docker.io)" >&2; exit 1; }
    mkdir -p "$run_dir"
    [ -e "/run/netns/$netns" ] || ip netns add "$netns"
    ip -n "$netns" link set lo up
    nsenter --net="/run/netns/$netns" dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
      --pidfile "$run_dir/engine.pid" >"$log" 2>&1 &
    echo $! > "$pid_file"
    for _ in $(seq "$wait_seconds"); do
      docker info >/dev/null 2>&1 && { echo "dockerd: started (pid $(cat "$pid_file"), network namespace $netns, log $log)"; exit 0; }
      kill -0 "$(cat "$pid_file")" 2>/dev/null || break
      sleep 1
    done
    echo "dockerd: the engine did not answer within ${wait_seconds}s; its log ($log):" >&2
    tail -n 20 "$log" >&2 || true
    "$0" stop || true
    exit 1 ;;
  stop)
    if ! [ -e "$pid_file" ]; then echo "dockerd: this script started no engine"; exit 0; fi
    if ours; then
      pid=$(cat "$pid_file")
      kill -TERM "$pid"
      for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -0 "$pid" 2>/dev/null && { echo "dockerd: $pid still runs after 30s; killing it" >&2; kill -KILL "$pid"; }
    fi
    rm -f "$pid_file"
    rmdir "$run_dir" 2>/dev/null || true   # empty once the engine removed its own pid file
    # The namespace goes only when nothing of the engine is left in it.
    if [ -e "/run/netns/$netns" ] && [ -z "$(ip netns pids "$netns" 2>/dev/null)" ]; then ip netns delete "$netns"; fi
    echo "dockerd: stopped" ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
