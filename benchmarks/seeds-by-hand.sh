#!/usr/bin/env bash
# The seeds' BGP-mode lab typed as raw `ip` commands, the way the notes do it by hand: the baseline
# that playbooks/bgp.yml is timed against. Same topology as the netns provider (host namespaces, a
# bridge in a switch namespace, four pods); every name starts with "bh-" so it cannot collide.
#   benchmarks/seeds-by-hand.sh up     build and ping once across hosts
#   benchmarks/seeds-by-hand.sh down   remove everything it made
set -euo pipefail
sw=bh-sw
hosts=(bh-a:172.16.91.201:10.10.0.0/24 bh-b:172.16.91.202:10.10.1.0/24)
pods=(bh-a:bh-pod1:10.10.0.2 bh-a:bh-pod2:10.10.0.3 bh-b:bh-pod3:10.10.1.2 bh-b:bh-pod4:10.10.1.3)

up() {
  ip netns add $sw
  ip -n $sw link add br0 type bridge
  ip -n $sw link set br0 up
  for spec in "${hosts[@]}"; do
    IFS=: read -r host address block <<<"$spec"
    ip netns add "$host"
    ip -n $sw link add "p-$host" type veth peer name eth0 netns "$host"
    ip -n $sw link set "p-$host" master br0 up
    ip -n "$host" link set lo up
    ip -n "$host" addr add "$address/24" dev eth0
    ip -n "$host" link set eth0 up
    ip -n "$host" route add default dev eth0
    ip netns exec "$host" sysctl -qw net.ipv4.ip_forward=1
    ip -n "$host" route add blackhole "$block"
  done
  for spec in "${pods[@]}"; do
    IFS=: read -r host pod address <<<"$spec"
    ip netns add "$pod"
    ip -n "$host" link add "cali-$pod" type veth peer name eth0 netns "$pod"
    ip -n "$host" link set "cali-$pod" address ee:ee:ee:ee:ee:ee up
    ip netns exec "$host" sysctl -qw "net.ipv4.conf.cali-$pod.proxy_arp=1" \
      "net.ipv4.neigh.cali-$pod.proxy_delay=0" "net.ipv4.conf.cali-$pod.forwarding=1"
    ip -n "$host" route add "$address/32" dev "cali-$pod" scope link
    ip -n "$pod" link set lo up
    ip -n "$pod" addr add "$address/32" dev eth0
    ip -n "$pod" link set eth0 up
    ip -n "$pod" route add 169.254.1.1 dev eth0 scope link
    ip -n "$pod" route add default via 169.254.1.1 dev eth0
  done
  ip -n bh-a route add 10.10.1.0/24 via 172.16.91.202 dev eth0
  ip -n bh-b route add 10.10.0.0/24 via 172.16.91.201 dev eth0
  ip netns exec bh-pod1 ping -c 1 -W 2 10.10.1.2 >/dev/null
}

down() {
  for spec in "${pods[@]}"; do pod=${spec#*:}; ip netns del "${pod%%:*}" 2>/dev/null || true; done
  for spec in "${hosts[@]}"; do ip netns del "${spec%%:*}" 2>/dev/null || true; done
  ip netns del $sw 2>/dev/null || true
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
