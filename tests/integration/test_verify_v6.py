"""Verification over IPv6 for real: pod_ping's ICMPv6 echo and hop limit between namespaces, and a broken
IPv6 path reported and named by pod and family while IPv4 still works.

The test builds its own tiny dual-stack lab as Calico wires a host: a "host" namespace (IPv6 forwarding,
the cali* ends with ee:ee:ee:ee:ee:ee and so the link-local fe80::ecee:eeff:feee:eeee) and two pod
namespaces with /32 and /128 addresses (DAD off) routed by it. Names carry a per-test suffix, and only
those namespaces are removed afterwards. Nothing here touches the root namespace.
"""

import json
import os

import pytest

from ansible_collections.labnet.calico.plugins.filter import calico_verify
from labtest import BIN, ROOT, adhoc_result, ansible_env, assert_module, ip, netns_list, new_suffix, run

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')

GATEWAY6 = 'fe80::ecee:eeff:feee:eeee'
PODS = {'a': ('10.77.6.2', 'fd00:77:6::2'), 'b': ('10.77.6.3', 'fd00:77:6::3'), 'c': ('10.77.6.4', 'fd00:77:6::4')}


def sysctl(netns, *settings):
    run(['ip', 'netns', 'exec', netns, 'sysctl', '-qw'] + list(settings), timeout=30, check=True)


@pytest.fixture
def lab():
    """{'host', 'pods': {key: netns}} - host namespace routing two pods over both families."""
    prefix = 't' + new_suffix()
    host = prefix + 'h'
    pods = dict((key, prefix + key) for key in PODS)
    made = [host] + sorted(pods.values())
    try:
        for name in made:
            ip('netns', 'add', name)
            ip('-n', name, 'link', 'set', 'lo', 'up')
        sysctl(host, 'net.ipv4.conf.all.forwarding=1', 'net.ipv6.conf.all.forwarding=1')
        # Proxy ARP answers for 169.254.1.1 only when the host routes it elsewhere: an IPv4 default
        # route out of an underlay, as a lab host has one (no IPv6 default: a lost /128 is no route).
        ip('-n', host, 'link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u1')
        for dev in ('u0', 'u1'):
            ip('-n', host, 'link', 'set', dev, 'up')
        ip('-n', host, 'route', 'add', 'default', 'dev', 'u0')
        for key, netns in sorted(pods.items()):
            ip4, ip6 = PODS[key]
            cali = 'cali' + key
            ip('-n', host, 'link', 'add', cali, 'address', 'ee:ee:ee:ee:ee:ee', 'type', 'veth',
               'peer', 'name', 'eth0', 'netns', netns)
            sysctl(host, 'net.ipv6.conf.%s.accept_dad=0' % cali, 'net.ipv4.conf.%s.proxy_arp=1' % cali)
            sysctl(netns, 'net.ipv6.conf.eth0.accept_dad=0')
            ip('-n', netns, 'addr', 'add', ip4 + '/32', 'dev', 'eth0')
            ip('-n', netns, 'addr', 'add', ip6 + '/128', 'dev', 'eth0', 'nodad')
            ip('-n', netns, 'link', 'set', 'eth0', 'up')
            ip('-n', host, 'link', 'set', cali, 'up')
            ip('-n', netns, 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link')
            ip('-n', netns, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0')
            ip('-n', netns, '-6', 'route', 'add', 'default', 'via', GATEWAY6, 'dev', 'eth0')
            ip('-n', host, 'route', 'add', ip4 + '/32', 'dev', cali, 'scope', 'link')
            ip('-n', host, '-6', 'route', 'add', ip6 + '/128', 'dev', cali)
        yield {'host': host, 'pods': pods}
    finally:
        existing = netns_list()
        for name in made:
            if name in existing:
                ip('netns', 'del', name, check=False)


def pod_ping(lab, args, name='pod_ping'):
    """pod_ping (or NAME) run ad hoc inside the host namespace (as the verify role runs it on a lab host)."""
    env = ansible_env(ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='oneline',
                      ANSIBLE_CALLBACK_RESULT_FORMAT='json')
    argv = ['nsenter', '--net=/run/netns/' + lab['host'], os.path.join(BIN, 'ansible'), 'localhost', '-c', 'local',
            '-m', 'labnet.calico.' + name, '-a', json.dumps(args),
            '-e', 'ansible_python_interpreter=' + os.path.join(BIN, 'python')]
    return assert_module(adhoc_result(run(argv, cwd=ROOT, env=env, timeout=120)))


def test_icmpv6_echo_with_hop_limit_and_a_broken_ipv6_path_named(lab):
    pods = lab['pods']
    targets = [{'name': pods[k], 'ip': PODS[k][0], 'ip6': PODS[k][1]} for k in sorted(PODS)]
    found = pod_ping(lab, {'sources': sorted(pods.values()), 'targets': targets, 'count': 2})
    rows = dict(((r['source'], r['target'], r['family']), r) for r in found['results'])
    assert len(rows) == 12 and found['failed_pairs'] == 0, found['results']
    for family, address in (('ipv4', PODS['b'][0]), ('ipv6', PODS['b'][1])):
        row = rows[(pods['a'], pods['b'], family)]
        # 64 from b, less one at the host that forwarded it: the hop limit counts as the TTL does.
        assert (row['ip'], row['sent'], row['received'], row['ttl']) == (address, 2, 2, 63), row
        assert row['host_dev'] == 'calib', row

    # What crosses b's host end (calib) over both families: the ICMPv6 frames decoded as the ICMP ones.
    probe = {'source': pods['a'], 'source_ip': PODS['a'][0], 'source_ip6': PODS['a'][1], 'target': pods['b'],
             'ip': PODS['b'][0], 'ip6': PODS['b'][1]}
    captured = pod_ping(lab, {'interface': 'calib', 'probes': [probe], 'count': 2}, name='pod_capture')['results']
    assert [(r['family'], r['sent'], r['received'], r['route_dev']) for r in captured] == [
        ('ipv4', 2, 2, 'calib'), ('ipv6', 2, 2, 'calib')], captured
    texts = [p['text'] for p in captured[1]['packets']]
    assert sorted(texts) == sorted(['out %s > %s ICMP6 echo request' % (PODS['a'][1], PODS['b'][1]),
                                    'in %s > %s ICMP6 echo reply' % (PODS['b'][1], PODS['a'][1])] * 2), texts

    # Break b's IPv6 path only: its /128 route on the host.
    ip('-n', lab['host'], '-6', 'route', 'del', PODS['b'][1] + '/128')
    broken = pod_ping(lab, {'sources': sorted(pods.values()), 'targets': targets, 'count': 2})
    # a -> b and c -> b get no route at the host; b -> a and b -> c lose the replies there.
    assert broken['failed_pairs'] == 4, broken['results']
    by_family = dict((r['family'], r) for r in broken['results'] if (r['source'], r['target']) == (pods['a'], pods['b']))
    assert by_family['ipv4']['received'] == 2, by_family
    assert by_family['ipv6']['received'] == 0 and by_family['ipv6']['host_dev'] is None, by_family
    assert by_family['ipv6']['error'] == ['From %s: Destination unreachable: No route' % GATEWAY6], by_family

    # verify's judge on these real results names the pod and the family, and passes IPv4.
    workloads = [{'name': pods[k], 'netns': pods[k], 'host_ifname': 'cali' + k, 'ip': PODS[k][0], 'ip6': PODS[k][1]}
                 for k in sorted(PODS)]
    plan = {lab['host']: {'workloads': workloads, 'peers': [], 'underlay_dev': 'u0'}}
    report = calico_verify.verify_report({lab['host']: broken['results']}, plan)
    assert len(report['failures']) == 1 and report['failures'][0].startswith(
        'pod %s (%s) over IPv6: 4 of its 4 probed pairs failed' % (pods['b'], lab['host'])), report['failures']
    assert '%s -> %s over IPv6 (%s): no reply (From %s: Destination unreachable: No route)' % (
        pods['a'], pods['b'], PODS['b'][1], GATEWAY6) in report['failures'][0]
    assert '%s -> %s over IPv4: 6/6 pairs ok, TTL 63, via cali* (plain)' % (lab['host'], lab['host']) in report['lines']
