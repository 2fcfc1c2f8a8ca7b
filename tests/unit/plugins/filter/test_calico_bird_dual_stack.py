"""BIRD for IPv6 (issue 13): the v6 sessions, blocks and next hops a dual-stack host's BIRD gets, the
rendered configuration against golden files (and BIRD's own parser), the report for both families,
and the module's reads of proto bird routes, which cover both families. An IPv4-only plan renders
no IPv6 at all (its golden is tests/integration/golden/bgp-bird)."""
import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.labnet.calico.plugins.filter import calico_bird, calico_lab
from ansible_collections.labnet.calico.plugins.module_utils import bird
from ansible_collections.labnet.calico.plugins.module_utils.bird_runner import Bird

from ansible_collections.labnet.calico.tests.unit.plugins.filter.test_calico_bird import plan, render, routes, up

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, 'golden', 'bird-dual-stack')


def dual_plan(count, mode='bgp', without_v6=()):
    """The plan of COUNT dual-stack hosts (v6plan's calico_lab_plan): n<i> has 192.168.0.<i>/24 and
    fd00:91::20<i>/64, the i-th /26 of 10.244.0.0/16 and the i-th /122 of fd00:10:244::/48; the hosts
    of WITHOUT_V6 have IPv4 only."""
    variables = dict(('n%d' % i, {'calico_node_address': '192.168.0.%d/24' % i}) for i in range(1, count + 1))
    for host, hostvars in variables.items():
        if host not in without_v6:
            hostvars['calico_node_address_v6'] = 'fd00:91::%d/64' % (200 + int(host[1:]))
    return calico_lab.calico_lab_plan(variables, sorted(variables, key=lambda h: int(h[1:])), pool='10.244.0.0/16',
                                      mode=mode, pool_v6='fd00:10:244::/48')


def test_full_mesh_has_a_v6_session_per_peer_named_as_confd_names_it():
    lab = dual_plan(3)
    settings = calico_bird.bird_config(lab, 'n2')
    assert settings['router_id'] == '192.168.0.2'  # 4 octets for both families, as in calico-node
    assert [(s['name'], s['neighbor'], s['family'], s['passive']) for s in settings['sessions']] == [
        ('Mesh_192_168_0_1', '192.168.0.1', 'ipv4', False), ('Mesh_192_168_0_3', '192.168.0.3', 'ipv4', True),
        ('Mesh_fd00_91__201', 'fd00:91::201', 'ipv6', False), ('Mesh_fd00_91__203', 'fd00:91::203', 'ipv6', True)]
    assert settings['node_ip_v6'] == 'fd00:91::202' and settings['block_v6'] == 'fd00:10:244::40/122'
    assert settings['peer_blocks_v6'] == ['fd00:10:244::/122', 'fd00:10:244::80/122']
    assert settings['next_hops_v6'] == [
        {'address': 'fd00:91::201', 'peer': 'n1', 'dev': 'eth0', 'onlink': False},
        {'address': 'fd00:91::203', 'peer': 'n3', 'dev': 'eth0', 'onlink': False}]


def test_v6_passivity_compares_v6_addresses_as_strings():
    lab = dual_plan(2)
    # 'fd00:91::9' > 'fd00:91::10' as text, while n1 < n2 in IPv4: each family decides on its own.
    lab['n1']['node_ip_v6'], lab['n2']['node_ip_v6'] = 'fd00:91::9', 'fd00:91::10'
    lab['n1']['peers'][0]['node_ip_v6'], lab['n2']['peers'][0]['node_ip_v6'] = 'fd00:91::10', 'fd00:91::9'
    passive = dict((s['family'], s['passive']) for s in calico_bird.bird_config(lab, 'n2')['sessions'])
    assert passive == {'ipv4': False, 'ipv6': True}


def test_route_reflectors_for_both_families():
    lab = dual_plan(4)
    reflector = calico_bird.bird_config(lab, 'n1', ['n1'])
    assert [(s['name'], s['rr_client'], s['passive']) for s in reflector['sessions'] if s['family'] == 'ipv6'] == [
        ('Node_fd00_91__202', True, False), ('Node_fd00_91__203', True, False), ('Node_fd00_91__204', True, False)]
    client = calico_bird.bird_config(lab, 'n3', ['n1'])
    assert [s['name'] for s in client['sessions']] == ['Node_192_168_0_1', 'Node_fd00_91__201']
    # A client learns every v6 block (reflected with the origin's next hop) and must reach each origin.
    assert [hop['peer'] for hop in client['next_hops_v6']] == ['n1', 'n2', 'n4']


def test_ipip_mode_routes_v6_over_the_underlay():
    settings = calico_bird.bird_config(dual_plan(3, 'ipip'), 'n1')
    assert [(h['dev'], h['onlink']) for h in settings['next_hops']] == [('tunl0', True), ('tunl0', True)]
    assert [(h['dev'], h['onlink']) for h in settings['next_hops_v6']] == [('eth0', False), ('eth0', False)]


def test_mixed_lab_peers_over_v6_only_where_both_hosts_have_it():
    lab = dual_plan(3, without_v6=('n3',))
    assert [s['name'] for s in calico_bird.bird_config(lab, 'n1')['sessions']] == [
        'Mesh_192_168_0_2', 'Mesh_192_168_0_3', 'Mesh_fd00_91__202']
    assert calico_bird.bird_config(lab, 'n1')['peer_blocks_v6'] == [lab['n2']['block_v6']]
    v4_only = calico_bird.bird_config(lab, 'n3')
    assert [s['family'] for s in v4_only['sessions']] == ['ipv4', 'ipv4']
    assert (v4_only['node_ip_v6'], v4_only['block_v6'], v4_only['peer_blocks_v6']) == (None, None, [])
    assert 'ipv6' not in render(lab, 'n3') and '_v6' not in render(lab, 'n3')


def test_an_ipv4_plan_renders_no_ipv6():
    """The v4 plan of today (no v6 keys at all) renders the configuration of tests/integration/golden/bgp-bird."""
    text = render(plan(3), 'n1')
    assert 'ipv6' not in text and '_v6' not in text and 'labnet_peer {' in text


@pytest.mark.parametrize('host, reflectors', [('n1', ()), ('n1', ('n1',)), ('n3', ('n1',))])
def test_dual_stack_config_matches_its_golden(host, reflectors):
    """Regenerate after a deliberate change: LABNET_GOLDEN_WRITE=1 make unit, then read the diff."""
    text = render(dual_plan(3), host, reflectors)
    path = os.path.join(GOLDEN, '%s-%s.bird.conf' % (host, 'rr-' + '-'.join(reflectors) if reflectors else 'mesh'))
    if os.environ.get('LABNET_GOLDEN_WRITE'):
        with open(path, 'w') as handle:
            handle.write(text)
    with open(path) as handle:
        assert text == handle.read()


@pytest.mark.skipif(not shutil.which('bird'), reason='needs bird (apt-get install bird2)')
@pytest.mark.parametrize('mode, reflectors, host', [
    ('bgp', (), 'n1'), ('ipip', (), 'n2'), ('bgp', ('n1', 'n2'), 'n1'), ('bgp', ('n1', 'n2'), 'n4')])
def test_dual_stack_template_is_accepted_by_bird(tmp_path, mode, reflectors, host):
    lab = dual_plan(4, mode)
    text = render(lab, host, reflectors)
    config = tmp_path / 'bird.conf'
    config.write_text(text)
    result = subprocess.run(['bird', '-p', '-c', str(config)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr + text
    sessions = [line.split()[2:4] for line in text.splitlines() if line.startswith('protocol bgp ')]
    assert sessions == [[s['name'], 'from'] for s in calico_bird.bird_config(lab, host, list(reflectors))['sessions']]
    assert text.count('from labnet_peer_v6 {') == len([s for s in sessions if '__' in s[0]])


def test_lab_prefixes_cover_both_families():
    lab = dual_plan(3)
    assert bird.lab_prefixes(render(lab, 'n1')) == sorted(
        [lab[h]['block'] for h in lab] + [lab[h]['block_v6'] for h in lab])


def v6_routes(lab, host):
    me = lab[host]
    items = [{'type': 'blackhole', 'dst': me['block_v6'], 'dev': 'lo', 'protocol': 'bird', 'flags': []}]
    items.extend({'dst': peer['block_v6'], 'gateway': peer['node_ip_v6'], 'dev': 'eth0', 'protocol': 'bird',
                  'metric': 32, 'flags': []} for peer in me['peers'])
    return items


def all_up(lab, reflectors=()):
    return dict((h, up(*[s['name'] for s in calico_bird.bird_config(lab, h, list(reflectors))['sessions']]))
                for h in lab)


def both(lab, host):
    return json.dumps(json.loads(routes(lab, host)) + v6_routes(lab, host))


def test_report_checks_v6_sessions_and_blocks():
    lab = dual_plan(3)
    good = dict((h, both(lab, h)) for h in lab)
    report = calico_bird.bird_report(lab, all_up(lab), good)
    assert report['failures'] == []
    assert report['lines'][0] == ('n1: 4/4 BGP sessions Established (IPv6 2/2), 4/4 peer blocks learned '
                                  '(proto bird; IPv6 2/2)')
    # The IPv4 half alone (its sessions Established, its routes in the kernel) is not enough.
    v4_only = dict((h, routes(lab, h)) for h in lab)
    failures = calico_bird.bird_report(lab, all_up(plan(3)), v4_only)['failures']
    assert 'n1: BGP session Mesh_fd00_91__202 (to n2) is not Established' in failures
    assert 'n1: no proto bird blackhole for its own block fd00:10:244::/122' in failures
    assert 'n1: no proto bird route to fd00:10:244::40/122 (n2), want via fd00:91::202 dev eth0' in failures
    assert len(failures) == 3 * (2 + 1 + 2)


def test_report_names_a_v6_route_via_the_wrong_peer():
    lab = dual_plan(3)
    astray = json.loads(both(lab, 'n2'))
    astray[-1]['gateway'] = 'fd00:91::209'
    good = dict((h, both(lab, h)) for h in lab)
    failures = calico_bird.bird_report(lab, all_up(lab), dict(good, n2=json.dumps(astray)))['failures']
    assert failures == ['n2: route to fd00:10:244::80/122 (n3) is via fd00:91::209 dev eth0, want via fd00:91::203 dev eth0']
    report = calico_bird.bird_report(lab, all_up(lab), dict(good, n2=json.dumps(astray)), check_devices=False)
    assert report['failures'] == ['n2: route to fd00:10:244::80/122 (n3) is via fd00:91::209, want via fd00:91::203']


class RecordedBird(Bird):
    """Bird with its commands answered from recorded output (ip -j -4/-6 route show proto bird)."""

    def __init__(self, config, outputs):
        self.config, self.outputs, self.argvs, self.actions = config, outputs, [], []
        self.socket = '/run/test/bird.ctl'

    def binary(self, name):
        return name

    def current_config(self):
        return self.config

    def run(self, argv, check_rc=True):
        self.argvs.append(argv)
        return self.outputs.get(tuple(argv), (0, '', ''))


V4_ROUTES = json.dumps([{'type': 'blackhole', 'dst': '10.244.0.0/26', 'protocol': 'bird'},
                        {'dst': '10.244.0.64/26', 'gateway': '192.168.0.2', 'dev': 'eth0', 'protocol': 'bird'},
                        {'dst': '10.99.0.0/24', 'gateway': '192.168.0.9', 'dev': 'eth0', 'protocol': 'bird'}])
V6_ROUTES = json.dumps([{'type': 'blackhole', 'dst': 'fd00:10:244::/122', 'dev': 'lo', 'protocol': 'bird'},
                        {'dst': 'fd00:10:244::40/122', 'gateway': 'fd00:91::202', 'dev': 'eth0', 'protocol': 'bird'}])
READS = {('ip', '-j', '-4', 'route', 'show', 'proto', 'bird'): (0, V4_ROUTES, ''),
         ('ip', '-j', '-6', 'route', 'show', 'proto', 'bird'): (0, V6_ROUTES, ''),
         ('birdc', '-s', '/run/test/bird.ctl', 'show', 'protocols'): (0, up('Mesh_fd00_91__202'), '')}


@pytest.mark.skipif(not os.path.isdir('/proc/sys/net/ipv6'), reason='a kernel without IPv6')
def test_wait_and_withdraw_read_proto_bird_routes_of_both_families():
    lab = dual_plan(2)
    runner = RecordedBird(render(lab, 'n1'), READS)
    text, dsts = runner.bgp_state()
    assert 'Mesh_fd00_91__202' in bird.established(bird.parse_show_protocols(text))
    assert dsts == ['10.244.0.0/26', '10.244.0.64/26', '10.99.0.0/24', 'fd00:10:244::/122', 'fd00:10:244::40/122']
    runner.argvs = []
    runner.withdraw_routes()
    deleted = [argv for argv in runner.argvs if 'del' in argv]
    # The lab's prefixes of both families go, with their family named; 10.99.0.0/24 is not the lab's.
    assert deleted == [['ip', '-4', 'route', 'del', '10.244.0.0/26', 'proto', 'bird'],
                       ['ip', '-4', 'route', 'del', '10.244.0.64/26', 'proto', 'bird'],
                       ['ip', '-6', 'route', 'del', 'fd00:10:244::/122', 'proto', 'bird'],
                       ['ip', '-6', 'route', 'del', 'fd00:10:244::40/122', 'proto', 'bird']]


def test_a_failed_route_read_while_waiting_counts_as_no_routes():
    reads = dict(READS)
    reads[('ip', '-j', '-6', 'route', 'show', 'proto', 'bird')] = (2, '', 'Cannot talk to rtnetlink')
    runner = RecordedBird('', reads)
    assert 'fd00:10:244::40/122' not in runner.bgp_state()[1]
