"""What every Molecule scenario checks on every lab host, with pytest-testinfra.

The expectations are written by hand per scenario (molecule/<scenario>/expected.yml: each host's
node address, block, tunnel address, pods and their addresses, the route to every peer's block
and its device, the BGP sessions), not computed by the plan code, so a planning bug cannot pass
both sides. The plan code has its own unit tests (tests/unit/plugins/filter/test_calico_lab.py).
"""

import hashlib
import json
import os
import re
import sys
import time

import pytest
import testinfra.utils.ansible_runner
import yaml

# The golden tests' normaliser (one module for the netns provider's test and this one) and the
# collection it imports, both from this checkout.
TREE = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
sys.path[:0] = [os.path.join(TREE, 'tests', 'integration'), os.path.join(TREE, 'collections')]
import golden_state  # noqa: E402

SCENARIO_DIR = os.environ.get('MOLECULE_SCENARIO_DIRECTORY') or os.path.join(
    os.path.dirname(__file__), '..', '..', os.environ['MOLECULE_SCENARIO_NAME'])
EXPECTED = yaml.safe_load(open(os.path.join(SCENARIO_DIR, 'expected.yml')))
HOSTS = EXPECTED['hosts']

# Molecule's inventory directory holds its generated file and the scenario's linked inventory.
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.path.dirname(os.environ['MOLECULE_INVENTORY_FILE']))
testinfra_hosts = RUNNER.get_hosts('calico_nodes')
PEER_PROTO = {'static': '78', 'bird': 'bird'}[EXPECTED['routing']]
TUNNELS = ('tunl0', 'vxlan.calico')


def test_the_expectations_cover_the_inventory():
    assert sorted(HOSTS) == sorted(testinfra_hosts)


def me(host):
    return HOSTS[host.backend.get_hostname()]


def ip_json(host, *args):
    return json.loads(host.check_output('ip -j ' + ' '.join(args)) or '[]')


def proc_sys(host, path):
    return host.check_output('cat /proc/sys/' + path).strip()


def host_ifname(host, pod):
    """The host end of POD's pair, found by the lab's tag (its workload id, Calico's '<namespace>.<pod>';
    the scenarios' pods are in the namespace default), and named as Calico names it: cali + the first 11
    hex digits of sha1('default.<pod>') (VethNameForWorkload), computed here, not by the naming code."""
    found = [link['ifname'] for link in ip_json(host, '-d', 'link', 'show')
             if link.get('ifalias') == 'labnet.calico:default.' + pod]
    assert len(found) == 1, 'pod %s: links tagged for it: %s' % (pod, found)
    assert found[0] == 'cali' + hashlib.sha1(('default.' + pod).encode()).hexdigest()[:11], found
    return found[0]


def test_ip_forward(host):
    assert proc_sys(host, 'net/ipv4/ip_forward') == '1'


def test_host_side_of_every_pod(host):
    for pod, address in me(host)['pods'].items():
        ifname = host_ifname(host, pod)
        assert ifname.startswith('cali') and len(ifname) == 15
        link = ip_json(host, '-d', 'link', 'show', 'dev', ifname)[0]
        assert link['address'] == 'ee:ee:ee:ee:ee:ee'
        assert 'UP' in link['flags']
        assert link['linkinfo']['info_kind'] == 'veth'
        assert proc_sys(host, 'net/ipv4/conf/%s/proxy_arp' % ifname) == '1'
        assert proc_sys(host, 'net/ipv4/neigh/%s/proxy_delay' % ifname) == '0'
        assert proc_sys(host, 'net/ipv4/conf/%s/forwarding' % ifname) == '1'
        # Felix (felix/dataplane/linux/endpoint_mgr.go): rp_filter as the host's default, accept_ra 0.
        assert proc_sys(host, 'net/ipv4/conf/%s/rp_filter' % ifname) == proc_sys(host, 'net/ipv4/conf/default/rp_filter')
        if host.file('/proc/sys/net/ipv6/conf/%s' % ifname).exists:
            assert proc_sys(host, 'net/ipv6/conf/%s/accept_ra' % ifname) == '0'
        # Felix's permanent neighbour for the pod (felix/routetable/route_table.go addStaticARPEntry).
        pod_mac = ip_json(host, '-n', pod, 'link', 'show', 'dev', 'eth0')[0]['address']
        neighbours = [(n['lladdr'], n['state']) for n in ip_json(host, 'neigh', 'show', address, 'dev', ifname)]
        assert neighbours == [(pod_mac, ['PERMANENT'])], (pod, neighbours)
        routes = ip_json(host, 'route', 'show', address + '/32')
        assert [(r['dev'], r.get('scope'), r['protocol']) for r in routes] == [(ifname, 'link', '77')]


def test_pod_side_of_every_pod(host):
    for pod, address in me(host)['pods'].items():
        addresses = ip_json(host, '-n', pod, 'addr', 'show', 'dev', 'eth0')[0]['addr_info']
        assert [(a['local'], a['prefixlen']) for a in addresses if a['family'] == 'inet'] == [(address, 32)]
        routes = dict((r['dst'], r) for r in ip_json(host, '-n', pod, 'route', 'show'))
        assert routes['169.254.1.1']['dev'] == 'eth0' and routes['169.254.1.1']['scope'] == 'link'
        assert routes['default']['gateway'] == '169.254.1.1' and routes['default']['dev'] == 'eth0'
        # The CNI plugin's configureContainerSysctls: no forwarding inside the pod.
        assert host.check_output('ip netns exec %s cat /proc/sys/net/ipv4/ip_forward' % pod).strip() == '0'


def test_gateway_answered_by_proxy_arp(host):
    """A pod's ARP for 169.254.1.1 is answered with the host end's MAC, ee:ee:ee:ee:ee:ee."""
    others = [(p, a) for h in HOSTS.values() for p, a in h['pods'].items()]
    for pod in me(host)['pods']:
        target = next(a for p, a in others if p != pod)
        host.run('ip netns exec %s ping -c 1 -W 2 %s' % (pod, target))
        neighbours = ip_json(host, '-n', pod, 'neigh', 'show', '169.254.1.1')
        assert neighbours and neighbours[0]['lladdr'] == 'ee:ee:ee:ee:ee:ee'
        assert neighbours[0]['state'][0] in ('REACHABLE', 'STALE', 'DELAY', 'PROBE')


def test_routes_between_hosts(host):
    mine = me(host)
    routes = ip_json(host, 'route', 'show')
    by_dst = dict((r['dst'], r) for r in routes)
    assert by_dst[mine['block']].get('type') == 'blackhole'
    for name, peer in mine['peers'].items():
        route = by_dst[peer['block']]
        assert (route['gateway'], route['dev'], route['protocol']) == (peer['via'], peer['dev'], PEER_PROTO), name
        assert ('onlink' in route['flags']) is (peer['dev'] in TUNNELS), name
        assert len([r for r in routes if r['dst'] == peer['block']]) == 1


def test_tunl0(host):
    mine = me(host)
    if not any(p['dev'] == 'tunl0' for p in mine['peers'].values()):
        pytest.skip('no peer of this host is reached through tunl0')
    link = ip_json(host, 'addr', 'show', 'dev', 'tunl0')[0]
    underlay = ip_json(host, 'link', 'show', 'dev', 'eth0')[0]
    assert 'UP' in link['flags']
    assert link['mtu'] == underlay['mtu'] - 20
    assert [(a['local'], a['prefixlen']) for a in link['addr_info'] if a['family'] == 'inet'] == \
        [(mine['tunnel_address'], 32)]


def test_pods_reach_pods_on_other_hosts(host):
    """Two hops across hosts (TTL 62); requests leave through tunl0 exactly for the peers routed through it."""
    mine = me(host)
    if not mine['pods']:
        pytest.skip('no pods on this host')
    source = sorted(mine['pods'])[0]
    for name, peer in mine['peers'].items():
        remote = HOSTS[name]['pods']
        if not remote:
            continue
        before = host.run('ip -s -j link show tunl0')
        result = host.run('ip netns exec %s ping -n -c 2 -i 0.2 -W 2 -w 5 %s' % (source, remote[sorted(remote)[0]]))
        after = host.run('ip -s -j link show tunl0')
        assert result.rc == 0, result.stdout + result.stderr
        assert 'ttl=62' in result.stdout
        expect_tunnel = peer['dev'] == 'tunl0'
        if before.rc == 0 and after.rc == 0:
            sent = json.loads(after.stdout)[0]['stats64']['tx']['packets'] - \
                json.loads(before.stdout)[0]['stats64']['tx']['packets']
            assert sent == (2 if expect_tunnel else 0), '%s: tunl0 sent %d packets' % (name, sent)
        else:
            assert not expect_tunnel, 'no tunl0, but %s is routed through it' % name


def bird_socket(host):
    name = host.backend.get_hostname()
    if RUNNER.get_variables(name).get('calico_lab_provider') in ('netns', 'docker'):  # a process of the lab's
        return '/run/labnet-calico-bird-%s/bird.ctl' % name
    return '/run/bird/bird.ctl'


def bgp_neighbours(output):
    """{neighbour address: BGP state} from `birdc show protocols all`."""
    found = {}
    for block in re.split(r'\n(?=\S)', output):
        address = re.search(r'Neighbor address:\s+(\S+)', block)
        state = re.search(r'BGP state:\s+(\S+)', block)
        if address and state:
            found[address.group(1)] = state.group(1)
    return found


@pytest.mark.skipif(EXPECTED['routing'] != 'bird', reason='calico_routing bird only')
def test_bgp_sessions_established(host):
    """Exactly the sessions the topology asks for (full mesh, or with the route reflectors), all up."""
    neighbours = bgp_neighbours(host.check_output('birdc -s %s show protocols all' % bird_socket(host)))
    assert neighbours == dict((address, 'Established') for address in me(host)['sessions'])


@pytest.mark.skipif('policy_udp_drop_port' not in EXPECTED, reason='no network policy in this scenario')
def test_policy_chains_as_felix_programs_them(host):
    """Every pod's from-workload chain cali-fw-<cali iface>, jumped to from the dispatch chain, and an
    egress policy chain that drops UDP to the expected port."""
    saved = host.check_output('iptables-save -t filter')
    chains = re.findall(r'^:(\S+) ', saved, re.M)
    for pod in me(host)['pods']:
        iface = host_ifname(host, pod)
        assert 'cali-fw-' + iface in chains, (pod, chains)
        assert re.search(r'^-A cali-from-wl-dispatch .*-i %s .*-[gj] cali-fw-%s\b' % (iface, iface), saved, re.M), saved
    port = EXPECTED['policy_udp_drop_port']
    drops = [line for line in saved.splitlines() if line.startswith('-A cali-po-') and '-p udp' in line
             and re.search(r'--dports? %d\b' % port, line) and line.endswith('-j DROP')]
    assert drops, saved


def run_in(host, netns=None, record=None):
    """golden_state's RUN on a lab host: an argv in the host's own namespace, or in NETNS (a pod's).
    RECORD, a dict, keeps each command's output (golden_state's sysctl script as READ_SYSCTLS)."""
    prefix = ['ip', 'netns', 'exec', netns] if netns else []

    def run(argv):
        output = host.check_output(' '.join(['%s'] * len(prefix + argv)), *(prefix + argv))
        if record is not None:
            record[' '.join('READ_SYSCTLS' if w == golden_state.READ_SYSCTLS else w for w in prefix + argv)] = output
        return output
    return run


def golden_problems(host, golden, routing):
    """The host's programmed state (and BIRD configuration with ROUTING bird) against
    tests/integration/golden/GOLDEN/; '' when they match, else readable diffs. With LABNET_GOLDEN_WRITE=1
    the outputs read are also written, as the unit test's fixture, to
    tests/unit/fixtures/golden-GOLDEN-<host>.json.actual (tests/unit/test_golden_state.py), to review."""
    name = host.backend.get_hostname()
    pods = sorted(HOSTS[name]['pods'])
    record = {} if os.environ.get('LABNET_GOLDEN_WRITE') else None
    macs = dict((pod, golden_state.pod_mac(run_in(host, pod, record))) for pod in pods)
    names = golden_state.placeholders(dict((n, n) for n in list(HOSTS) + pods), HOSTS, macs)
    directory = os.path.join(golden_state.GOLDEN, golden)
    state = golden_state.host_state(name, golden_state.namespace_lines(run_in(host, None, record)), dict(
        (pod, golden_state.namespace_lines(run_in(host, pod, record), pod=True)) for pod in pods), names)
    problems = [golden_state.difference(os.path.join(directory, name + '.txt'), state, 'programmed on ' + name)]
    if routing == 'bird':
        text = host.file(bird_config(host)).content_string
        if record is not None:
            record['cat ' + bird_config(host)] = text
        problems.append(golden_state.difference(os.path.join(directory, name + '.bird.conf'),
                                                golden_state.bird_config_lines(text, names),
                                                'BIRD configuration of ' + name))
    if record is not None:
        fixture = os.path.join(TREE, 'tests', 'unit', 'fixtures', 'golden-%s-%s.json.actual' % (golden, name))
        with open(fixture, 'w') as out:
            json.dump(dict(sorted(record.items())), out, indent=1)
            out.write('\n')
    return '\n'.join(p for p in problems if p)


@pytest.mark.skipif('golden' not in EXPECTED, reason='no golden files for this scenario')
def test_golden_state(host):
    """The host's programmed state and BIRD configuration against tests/integration/golden/<golden>/
    (expected.yml's golden), printed by the normaliser of the netns provider's golden test."""
    problems = golden_problems(host, EXPECTED['golden'], EXPECTED['routing'])
    assert not problems, 'differs from the golden files:\n' + problems


def bird_config(host):
    name = host.backend.get_hostname()
    if RUNNER.get_variables(name).get('calico_lab_provider') in ('netns', 'docker'):
        return '/run/labnet-calico-bird-%s/bird.conf' % name
    return '/etc/bird/bird.conf'


SERVICE_BIRD = EXPECTED['routing'] == 'bird' and all(
    RUNNER.get_variables(name).get('calico_lab_provider') not in ('netns', 'docker') for name in testinfra_hosts)


def wait_for(condition, seconds, interval=1.0):
    deadline = time.time() + seconds
    while not condition():
        if time.time() > deadline:
            return False
        time.sleep(interval)
    return True


@pytest.mark.skipif(not SERVICE_BIRD, reason="BIRD as the hosts' system service only")
def test_a_crashed_bird_service_restarts_with_recovery_and_loses_no_ping():
    """SIGKILL to one host's bird.service: the package's Restart=on-abort starts it again, with -R (the
    lab's drop-in), so that its kernel keeps the routes until the peers have sent theirs again and a pod
    pinging across loses nothing for 10 s; the sessions come back. (The netns provider's BIRD is a
    process of the lab's: test_bird_sigkill_loses_no_ping_rerun_recovers.)"""
    victim_name, other_name = sorted(HOSTS)[:2]
    victim, other = RUNNER.get_host(victim_name), RUNNER.get_host(other_name)
    source = sorted(HOSTS[other_name]['pods'])[0]
    target = HOSTS[victim_name]['pods'][sorted(HOSTS[victim_name]['pods'])[0]]
    old_pid = victim.check_output('systemctl show -p MainPID --value bird').strip()
    assert old_pid != '0'
    out = '/run/labnet-calico-ping.out'
    other.check_output('rm -f %s; setsid ip netns exec %s ping -n -q -i 0.2 -c 50 -w 25 %s > %s 2>&1 < /dev/null &'
                       % (out, source, target, out))
    time.sleep(1)
    victim.check_output('kill -KILL %s' % old_pid)

    def new_pid():
        pid = victim.check_output('systemctl show -p MainPID --value bird').strip()
        return pid if pid not in ('0', old_pid) else None
    assert wait_for(new_pid, 30), 'bird.service did not start again within 30 s of SIGKILL'
    argv = victim.file('/proc/%s/cmdline' % new_pid()).content.split(b'\0')
    assert b'-R' in argv, argv
    assert wait_for(lambda: 'packet loss' in other.run('cat %s' % out).stdout, 40), other.run('cat ' + out).stdout
    summary = other.check_output('cat %s' % out)
    assert ' 50 received, 0% packet loss' in summary, summary
    assert wait_for(lambda: bgp_neighbours(victim.check_output('birdc -s /run/bird/bird.ctl show protocols all'))
                    == dict((a, 'Established') for a in HOSTS[victim_name]['sessions']), 60)
    other.run('rm -f %s' % out)
