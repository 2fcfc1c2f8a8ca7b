"""The scale sweep's baseline: a BGP-mode lab of HOSTS hosts with PODS pods each, typed as the seeds'
raw `ip` commands, one process per command (argv lists, no shell), the way a person scripts it.

    python3 benchmarks/raw-lab.py up 2 256     # build it, then one ping from the first pod to the last host's
    python3 benchmarks/raw-lab.py down 2 256   # remove exactly what `up` made

Same shape as the netns provider builds for benchmarks/make-inventory.py: a switch namespace with a
bridge, a namespace per host on 192.168.61.0/24 (another subnet than the inventory's, so both can
exist at once), a namespace per pod behind a cali veth with proxy ARP, a /32 per pod, a blackhole
for the host's block and a route per other host's block. Every name starts with "rw".
"""
import ipaddress
import os
import subprocess
import sys

PREFIX = 'rw'
SWITCH = PREFIX + '-sw'
ENV = dict(os.environ, LC_ALL='C')


def run(*argv, quiet=False):
    subprocess.run(argv, check=True, env=ENV, timeout=60, stdout=subprocess.DEVNULL if quiet else None)


def layout(hosts, pods):
    """[(host, node address, block, [(pod, pod address, host-side veth)])]: blocks of 10.245.0.0/16, a /24
    each up to 250 pods, a /23 above (as benchmarks/make-inventory.py)."""
    blocks = ipaddress.ip_network('10.245.0.0/16').subnets(new_prefix=24 if pods <= 250 else 23)
    lab = []
    for h in range(1, hosts + 1):
        block = next(blocks)
        workloads = [('%s-s%dp%d' % (PREFIX, h, p), str(block[p + 1]), 'cali%03dp%03d' % (h, p)) for p in range(1, pods + 1)]
        lab.append(('%s-s%d' % (PREFIX, h), '192.168.61.%d' % h, str(block), workloads))
    return lab


def up(hosts, pods):
    lab = layout(hosts, pods)
    run('ip', 'netns', 'add', SWITCH)
    run('ip', '-n', SWITCH, 'link', 'add', 'br0', 'type', 'bridge')
    run('ip', '-n', SWITCH, 'link', 'set', 'br0', 'up')
    for index, (host, address, block, workloads) in enumerate(lab):
        port = '%s-p%d' % (PREFIX, index + 1)
        run('ip', 'netns', 'add', host)
        run('ip', '-n', SWITCH, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host)
        run('ip', '-n', SWITCH, 'link', 'set', port, 'master', 'br0', 'up')
        run('ip', '-n', host, 'link', 'set', 'lo', 'up')
        run('ip', '-n', host, 'addr', 'add', address + '/24', 'dev', 'eth0')
        run('ip', '-n', host, 'link', 'set', 'eth0', 'up')
        run('ip', '-n', host, 'route', 'add', 'default', 'dev', 'eth0')   # proxy ARP answers what the host can route
        run('ip', 'netns', 'exec', host, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
        run('ip', '-n', host, 'route', 'add', 'blackhole', block)
        for pod, pod_address, veth in workloads:
            run('ip', 'netns', 'add', pod)
            run('ip', '-n', host, 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod)
            run('ip', '-n', host, 'link', 'set', veth, 'address', 'ee:ee:ee:ee:ee:ee', 'up')
            run('ip', 'netns', 'exec', host, 'sysctl', '-qw', 'net.ipv4.conf.%s.proxy_arp=1' % veth,
                'net.ipv4.neigh.%s.proxy_delay=0' % veth, 'net.ipv4.conf.%s.forwarding=1' % veth)
            run('ip', '-n', host, 'route', 'add', pod_address + '/32', 'dev', veth, 'scope', 'link')
            run('ip', '-n', pod, 'link', 'set', 'lo', 'up')
            run('ip', '-n', pod, 'addr', 'add', pod_address + '/32', 'dev', 'eth0')
            run('ip', '-n', pod, 'link', 'set', 'eth0', 'up')
            run('ip', '-n', pod, 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link')
            run('ip', '-n', pod, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0')
    for host in [entry[0] for entry in lab]:
        for other, other_address, other_block, _pods in lab:
            if other != host:
                run('ip', '-n', host, 'route', 'add', other_block, 'via', other_address, 'dev', 'eth0')
    first_pod, last_pod = lab[0][3][:1], lab[-1][3][-1:]
    if first_pod and last_pod:   # one bounded ping, pod to pod inside the lab
        run('ip', 'netns', 'exec', first_pod[0][0], 'ping', '-n', '-q', '-c', '1', '-W', '2', last_pod[0][1], quiet=True)


def down(hosts, pods):
    present = set(subprocess.run(['ip', 'netns', 'list'], check=True, capture_output=True, text=True, env=ENV,
                                 timeout=60).stdout.split())
    for host, _address, _block, workloads in layout(hosts, pods):
        for name in [workload[0] for workload in workloads] + [host]:
            if name in present:
                run('ip', 'netns', 'del', name)
    if SWITCH in present:
        run('ip', 'netns', 'del', SWITCH)


def main(argv):
    if len(argv) != 4 or argv[1] not in ('up', 'down'):
        sys.exit(__doc__)
    hosts, pods = int(argv[2]), int(argv[3])
    if not (1 <= hosts <= 200 and 0 <= pods <= 500 and (pods <= 250 or hosts <= 128)):
        sys.exit('HOSTS must be 1-200 (1-128 above 250 pods) and PODS 0-500')
    (up if argv[1] == 'up' else down)(hosts, pods)


if __name__ == '__main__':
    main(sys.argv)
