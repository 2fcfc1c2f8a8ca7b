"""netns_lab for real (root): builds labs of namespaces through ansible and checks the kernel's state.

Every test uses namespace names of its own and removes them in a finalizer, whatever happens. Pings
run only inside lab namespaces; nothing here adds, reads from or sends to a lab address in the root
namespace, and the tests check that the root namespace's links and routes did not change.
"""
import json
import os
import re
import subprocess
import time
import uuid

import pytest

from labtest import remove_netns

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
ANSIBLE = os.path.join(ROOT, '.venv', 'bin', 'ansible')

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')


def ip(*args, check=True):
    return subprocess.run(['ip'] + list(args), capture_output=True, text=True, check=check, timeout=30).stdout


def netns_list():
    return sorted(item['name'] for item in json.loads(ip('-j', 'netns', 'list') or '[]'))


def ours(lab_name):
    """The namespaces of this test's lab (other engineers' namespaces come and go meanwhile)."""
    return sorted(name for name in netns_list() if name.startswith(lab_name + '-'))


def root_state():
    """The root namespace's links and routes: the lab must never change them."""
    links = sorted((link['ifname'], link.get('address'), tuple(link.get('flags', [])))
                   for link in json.loads(ip('-j', 'link', 'show')))
    return {'links': links, 'routes': ip('-j', 'route', 'show', 'table', 'all')}


def run_module(args, *options):
    """Run labnet.calico.netns_lab on localhost ad hoc; returns (rc, result dict, whole output)."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_CALLBACK_RESULT_FORMAT='json')
    proc = subprocess.run([ANSIBLE, 'localhost', '-m', 'labnet.calico.netns_lab', '-a', json.dumps(args)]
                          + list(options), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    found = re.search(r'^localhost \| \S+!? => ', proc.stdout, re.M)
    assert found, output
    result, _end = json.JSONDecoder().raw_decode(proc.stdout[found.end():])
    return proc.returncode, result, output


def forwarding(netns):
    return ip('netns', 'exec', netns, 'cat', '/proc/sys/net/ipv4/ip_forward').strip()


def ping(netns, address):
    """Two pings inside a lab namespace, bounded in time; returns the TTLs of the replies."""
    proc = subprocess.run(['ip', 'netns', 'exec', netns, 'ping', '-n', '-c', '2', '-W', '2', address],
                          capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0, '%s cannot reach %s: %s' % (netns, address, proc.stdout + proc.stderr)
    return [int(ttl) for ttl in re.findall(r'ttl=(\d+)', proc.stdout)]


@pytest.fixture
def lab():
    """A unique lab name; every namespace a test may have made is removed afterwards, by exact name."""
    name = 't' + uuid.uuid4().hex[:6]
    made = []
    yield name, made
    remove_netns(made)
    assert not [netns for netns in made if netns in netns_list()]


def names(plan_result):
    return set(plan_result['namespaces'])


def addresses(netns, dev='eth0'):
    return [(a['local'], a['prefixlen']) for a in json.loads(ip('-n', netns, '-j', 'addr', 'show', 'dev', dev))[0]
            ['addr_info'] if a['family'] == 'inet']


def default_routes(netns):
    return [(r.get('gateway'), r['dev'], r.get('scope', 'global'), r.get('protocol'))
            for r in json.loads(ip('-n', netns, '-j', 'route', 'show', 'default'))]


def test_two_hosts_on_one_segment(lab):
    name, made = lab
    hosts = [{'name': name + '-a', 'address': '172.31.201.11/24'}, {'name': name + '-b', 'address': '172.31.201.12/24'}]
    switch = name + '-sw-172-31-201-0-24'
    made += [name + '-a', name + '-b', switch, name + '-router']
    before_root = root_state()

    rc, result, output = run_module({'hosts': hosts, 'lab': name})
    assert rc == 0 and result['changed'], output
    assert names(result) == {name + '-a', name + '-b', switch} and result['router'] is None
    assert ours(name) == sorted(names(result))
    assert addresses(name + '-a') == [('172.31.201.11', 24)] and addresses(name + '-b') == [('172.31.201.12', 24)]
    assert default_routes(name + '-a') == [(None, 'eth0', 'link', '79')]
    bridge_ports = json.loads(ip('-n', switch, '-j', 'link', 'show', 'master', 'br0'))
    assert sorted(p['ifname'] for p in bridge_ports) == ['p-%s-a' % name, 'p-%s-b' % name]
    assert ping(name + '-a', '172.31.201.12') == [64, 64]
    assert ping(name + '-b', '172.31.201.11') == [64, 64]

    rc, result, output = run_module({'hosts': hosts, 'lab': name})
    assert rc == 0 and not result['changed'] and result['commands'] == [], output
    assert root_state() == before_root
    # The hosts forward (a Calico node routes for its pods); a host that stopped is repaired, the
    # switch is left as it is.
    assert [forwarding(ns) for ns in (name + '-a', name + '-b', switch)] == ['1', '1', '0']
    ip('netns', 'exec', name + '-b', 'sysctl', '-qw', 'net.ipv4.ip_forward=0')
    rc, result, output = run_module({'hosts': hosts, 'lab': name})
    assert rc == 0 and result['commands'] == ['ip netns exec %s-b sysctl -w net.ipv4.ip_forward=1' % name], output
    assert forwarding(name + '-b') == '1' and root_state() == before_root

    rc, result, output = run_module({'hosts': hosts, 'lab': name, 'state': 'absent'})
    assert rc == 0 and result['changed'] and set(result['removed']) == {name + '-a', name + '-b', switch}, output
    assert ours(name) == [] and root_state() == before_root
    rc, result, output = run_module({'hosts': hosts, 'lab': name, 'state': 'absent'})
    assert rc == 0 and not result['changed'], output


def test_three_hosts_in_two_subnets_through_the_router(lab):
    name, made = lab
    hosts = [{'name': name + '-a', 'address': '172.31.202.11/24'}, {'name': name + '-b', 'address': '172.31.202.12/24'},
             {'name': name + '-c', 'address': '172.31.203.13/24'}]
    router = name + '-router'
    made += [h['name'] for h in hosts] + [name + '-sw-172-31-202-0-24', name + '-sw-172-31-203-0-24', router]
    before_root = root_state()
    root_forward = open('/proc/sys/net/ipv4/ip_forward').read()

    rc, result, output = run_module({'hosts': hosts, 'lab': name})
    assert rc == 0 and result['changed'] and result['router'] == router, output
    assert [(s['subnet'], s['gateway']) for s in result['segments']] == [
        ('172.31.202.0/24', '172.31.202.1'), ('172.31.203.0/24', '172.31.203.1')]
    assert default_routes(name + '-a') == [('172.31.202.1', 'eth0', 'global', '79')]
    assert default_routes(name + '-c') == [('172.31.203.1', 'eth0', 'global', '79')]
    forward = subprocess.run(['ip', 'netns', 'exec', router, 'cat', '/proc/sys/net/ipv4/ip_forward'],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert forward == '1' and open('/proc/sys/net/ipv4/ip_forward').read() == root_forward
    assert ping(name + '-a', '172.31.202.12') == [64, 64]       # same segment
    assert ping(name + '-a', '172.31.203.13') == [63, 63]       # one hop through the router
    assert ping(name + '-c', '172.31.202.11') == [63, 63]

    rc, result, output = run_module({'hosts': hosts, 'lab': name})
    assert rc == 0 and not result['changed'], output

    rc, result, output = run_module({'hosts': hosts, 'lab': name, 'state': 'absent'})
    assert rc == 0 and set(result['removed']) == set(made), output
    assert ours(name) == [] and root_state() == before_root


def test_check_mode_reports_and_leaves_nothing(lab):
    name, made = lab
    hosts = [{'name': name + '-a', 'address': '172.31.204.11/24'}, {'name': name + '-b', 'address': '172.31.205.12/24'}]
    made += [name + '-a', name + '-b', name + '-sw-172-31-204-0-24', name + '-sw-172-31-205-0-24', name + '-router']
    before_root = root_state()

    rc, result, output = run_module({'hosts': hosts, 'lab': name}, '--check', '--diff')
    assert rc == 0 and result['changed'] and 'ip netns add %s-a' % name in result['commands'], output
    assert '+netns %s-router (router)' % name in output  # the diff
    assert ours(name) == [] and root_state() == before_root

    rc, result, output = run_module({'hosts': hosts, 'lab': name})
    assert rc == 0 and result['changed'], output
    built = ours(name)
    rc, result, output = run_module({'hosts': hosts, 'lab': name}, '--check')
    assert rc == 0 and not result['changed'], output
    rc, result, output = run_module({'hosts': hosts, 'lab': name, 'state': 'absent'}, '--check', '--diff')
    assert rc == 0 and result['changed'] and len(result['removed']) == 5, output
    assert ours(name) == built

    rc, result, output = run_module({'hosts': hosts, 'lab': name, 'state': 'absent'})
    assert rc == 0 and ours(name) == [] and root_state() == before_root, output


def test_absent_terminates_processes_and_removes_pods(lab):
    name, made = lab
    host, pod = name + '-a', name + '-pod'
    hosts = [{'name': host, 'address': '172.31.206.11/24'}]
    made += [host, pod, name + '-sw-172-31-206-0-24']
    rc, result, output = run_module({'hosts': hosts, 'lab': name})
    assert rc == 0, output
    # A pod as calico_veth makes it, and a daemon left running inside the host.
    ip('netns', 'add', pod)
    ip('-n', host, 'link', 'add', 'calitest0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod)
    daemon = subprocess.Popen(['ip', 'netns', 'exec', host, 'sleep', '300'], start_new_session=True)
    time.sleep(0.3)

    rc, result, output = run_module({'hosts': hosts, 'lab': name, 'state': 'absent', 'pods': [pod],
                                     'kill_processes': False})
    assert rc != 0 and 'processes still run inside namespaces to remove' in result['msg'], output
    assert ours(name) == sorted([host, pod, name + '-sw-172-31-206-0-24'])

    rc, result, output = run_module({'hosts': hosts, 'lab': name, 'state': 'absent', 'pods': [pod]})
    assert rc == 0, output
    assert result['processes'] == [{'netns': host, 'pid': daemon.pid, 'command': 'sleep'}]
    assert result['removed'] == [host, pod, name + '-sw-172-31-206-0-24']
    assert daemon.wait(timeout=10) is not None
    assert ours(name) == []


def test_a_namespace_the_lab_did_not_make_is_refused(lab):
    name, made = lab
    foreign = name + '-a'
    made += [foreign, name + '-sw-172-31-207-0-24']
    ip('netns', 'add', foreign)
    ip('-n', foreign, 'link', 'add', 'mine0', 'type', 'veth', 'peer', 'name', 'mine1')
    hosts = [{'name': foreign, 'address': '172.31.207.11/24'}]
    for state in ('present', 'absent'):
        rc, result, output = run_module({'hosts': hosts, 'lab': name, 'state': state})
        assert rc != 0 and 'exists and was not made by netns_lab' in result['msg'], output
        assert ours(name) == [foreign]
        assert sorted(link['ifname'] for link in json.loads(ip('-n', foreign, '-j', 'link', 'show'))) == \
            ['lo', 'mine0', 'mine1']


def addresses6(netns, dev='eth0'):
    return [(a['local'], a['prefixlen'], bool(a.get('nodad'))) for a in json.loads(ip(
        '-n', netns, '-j', 'addr', 'show', 'dev', dev))[0]['addr_info']
        if a['family'] == 'inet6' and a.get('scope') == 'global']


def ping6(netns, address):
    proc = subprocess.run(['ip', 'netns', 'exec', netns, 'ping', '-6', '-n', '-c', '2', '-W', '2', address],
                          capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0, '%s cannot reach %s: %s' % (netns, address, proc.stdout + proc.stderr)
    return [int(hops) for hops in re.findall(r'(?:ttl|hlim)=(\d+)', proc.stdout)]


def test_dual_stack_hosts_in_two_subnets_through_the_router(lab):
    """IPv6 underlay (issue 13): address6 nodad, IPv6 forwarding, the router's IPv6 legs and ::/0 through it."""
    name, made = lab
    hosts = [{'name': name + '-a', 'address': '172.31.204.11/24', 'address6': 'fd00:31:204::11/64'},
             {'name': name + '-b', 'address': '172.31.204.12/24', 'address6': 'fd00:31:204::12'},
             {'name': name + '-c', 'address': '172.31.205.13/24', 'address6': 'fd00:31:205::13/64'}]
    router = name + '-router'
    made += [h['name'] for h in hosts] + [name + '-sw-172-31-204-0-24', name + '-sw-172-31-205-0-24', router]
    before_root = root_state()
    before_root6 = ip('-6', '-j', 'route', 'show', 'table', 'all')

    rc, result, output = run_module({'hosts': hosts, 'lab': name})
    assert rc == 0 and result['changed'] and result['router'] == router, output
    assert addresses6(name + '-a') == [('fd00:31:204::11', 64, True)]
    assert addresses6(name + '-b') == [('fd00:31:204::12', 64, True)]
    v6_defaults = json.loads(ip('-n', name + '-c', '-6', '-j', 'route', 'show', 'default'))
    assert [(r.get('gateway'), r['dev'], r.get('protocol')) for r in v6_defaults] == [('fd00:31:205::1', 'eth0', '79')]
    for netns in [h['name'] for h in hosts] + [router]:
        assert ip('netns', 'exec', netns, 'cat', '/proc/sys/net/ipv6/conf/all/forwarding').strip() == '1', netns
    assert ping6(name + '-a', 'fd00:31:204::12') == [64, 64]
    assert ping6(name + '-a', 'fd00:31:205::13') == [63, 63]   # one hop: the router

    rc, result, output = run_module({'hosts': hosts, 'lab': name})
    assert rc == 0 and not result['changed'] and result['commands'] == [], output
    ip('netns', 'exec', name + '-c', 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=0')
    rc, result, output = run_module({'hosts': hosts, 'lab': name})
    assert rc == 0 and result['commands'] == ['ip netns exec %s-c sysctl -w net.ipv6.conf.all.forwarding=1' % name]
    assert root_state() == before_root and ip('-6', '-j', 'route', 'show', 'table', 'all') == before_root6

    rc, result, output = run_module({'hosts': hosts, 'lab': name, 'state': 'absent'})
    assert rc == 0 and result['changed'], output
    assert ours(name) == [] and root_state() == before_root


def neigh_limits():
    return dict(('%s.%s' % (family, key), int(open('/proc/sys/net/%s/neigh/default/%s' % (family, key)).read()))
                for family in ('ipv4', 'ipv6') for key in ('gc_thresh2', 'gc_thresh3'))


def test_a_lab_too_big_for_the_neighbour_table_raises_its_limits_and_puts_them_back(lab):
    """24 hosts on one switch may hold 24 x 23 = 552 ARP entries, above Debian's gc_thresh2 (512): the lab
    raises gc_thresh2/3 in the root namespace (one table for all namespaces) and its removal restores them."""
    name, made = lab
    before = neigh_limits()
    if os.path.exists('/run/labnet-calico-neigh-limits.json') or before['ipv4.gc_thresh2'] >= 552:
        pytest.skip('another lab raised the neighbour limits already: %s' % before)
    hosts = [{'name': '%s-%02d' % (name, i), 'address': '172.31.203.%d/24' % (10 + i)} for i in range(24)]
    made += [host['name'] for host in hosts] + [name + '-sw-172-31-203-0-24']

    rc, result, output = run_module({'hosts': hosts, 'lab': name}, '--check')
    assert rc == 0 and 'sysctl -w net.ipv4.neigh.default.gc_thresh3=1104' in result['commands'], output
    assert neigh_limits() == before and ours(name) == []
    rc, result, output = run_module({'hosts': hosts, 'lab': name})
    assert rc == 0 and result['changed'], output
    assert {'sysctl -w net.ipv4.neigh.default.gc_thresh2=552',
            'sysctl -w net.ipv4.neigh.default.gc_thresh3=1104'} <= set(result['commands']), output
    after = neigh_limits()
    assert (after['ipv4.gc_thresh2'], after['ipv4.gc_thresh3']) == (552, 1104)
    assert (after['ipv6.gc_thresh2'], after['ipv6.gc_thresh3']) == (before['ipv6.gc_thresh2'], before['ipv6.gc_thresh3'])
    # The first host resolves every other one: 23 entries in the shared table, all of them answered.
    for host in hosts[1:]:
        proc = subprocess.run(['ip', 'netns', 'exec', hosts[0]['name'], 'ping', '-n', '-c', '1', '-W', '2',
                               host['address'].split('/')[0]], capture_output=True, text=True, timeout=10)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    neighbours = json.loads(ip('-n', hosts[0]['name'], '-j', 'neigh', 'show', 'dev', 'eth0'))
    assert len([n for n in neighbours if 'lladdr' in n]) == 23, neighbours
    rc, result, output = run_module({'hosts': hosts, 'lab': name})
    assert rc == 0 and not result['changed'] and result['commands'] == [], output

    rc, result, output = run_module({'hosts': hosts, 'lab': name, 'state': 'absent'})
    assert rc == 0 and result['changed'], output
    assert neigh_limits() == before and not os.path.exists('/run/labnet-calico-neigh-limits.json')
    assert ours(name) == []
