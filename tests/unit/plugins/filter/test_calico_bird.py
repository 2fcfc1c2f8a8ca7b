"""BGP with BIRD: session names, reading `birdc show protocols`, the per-host settings the template
renders (full mesh, route reflectors, next hops), the verify report, and the template itself, which
BIRD must accept (`bird -p`) for every topology."""
import json
import os
import shutil
import subprocess

import jinja2
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.labnet.calico.plugins.filter import calico_bird, calico_lab
from ansible_collections.labnet.calico.plugins.module_utils import bird
from ansible_collections.labnet.calico.plugins.modules import calico_bird as calico_bird_module

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(HERE, '..', '..', '..', '..', 'roles', 'bird', 'templates', 'bird.conf.j2')


def hostvars(count, subnets=1):
    """count hosts, spread over `subnets` /24s, blocks from a pool."""
    return dict(('n%d' % i, {'calico_node_address': '192.168.%d.%d/24' % (i % subnets, i)})
                for i in range(1, count + 1))


def plan(count, mode='bgp', subnets=1, ipip_mode='always'):
    variables = hostvars(count, subnets)
    return calico_lab.calico_lab_plan(variables, sorted(variables, key=lambda h: int(h[1:])), pool='10.244.0.0/16',
                                      mode=mode, ipip_mode=ipip_mode)


def test_parse_show_protocols_recorded():
    with open(os.path.join(HERE, 'fixtures', 'birdc-show-protocols.txt')) as handle:
        rows = bird.parse_show_protocols(handle.read())
    assert [row['name'] for row in rows] == [
        'device1', 'labnet_peer_nodes', 'labnet_block', 'labnet_kernel', 'Node_192_168_60_2', 'Node_192_168_60_3',
        'Node_192_168_60_4', 'Node_192_168_60_5', 'Node_192_168_60_6']
    assert rows[5]['since'] == '2026-11-29 02:00:01'
    assert rows[5]['info'] == 'Active        Socket: Connection refused'
    assert bird.established(rows) == {'Node_192_168_60_2', 'Node_192_168_60_4'}
    assert bird.parse_show_protocols('') == []


def test_full_mesh():
    lab = plan(3)
    settings = calico_bird.bird_config(lab, 'n1')
    assert settings['router_id'] == '192.168.0.1' and settings['as_number'] == 64512
    assert settings['route_reflector'] is False
    assert [(s['name'], s['neighbor'], s['rr_client']) for s in settings['sessions']] == [
        ('Mesh_192_168_0_2', '192.168.0.2', False), ('Mesh_192_168_0_3', '192.168.0.3', False)]
    assert settings['peer_blocks'] == [lab['n2']['block'], lab['n3']['block']]
    assert settings['next_hops'][0] == {'address': '192.168.0.2', 'peer': 'n2', 'dev': 'eth0', 'onlink': False}


def test_route_reflectors():
    lab = plan(5)
    reflector = calico_bird.bird_config(lab, 'n1', ['n1', 'n2'], '244.0.0.1', 65001)
    assert reflector['route_reflector'] and reflector['as_number'] == 65001
    assert [(s['peer'], s['rr_client']) for s in reflector['sessions']] == [
        ('n2', False), ('n3', True), ('n4', True), ('n5', True)]
    assert all(s['name'].startswith('Node_') for s in reflector['sessions'])
    client = calico_bird.bird_config(lab, 'n4', ['n1', 'n2'])
    assert [(s['peer'], s['rr_client']) for s in client['sessions']] == [('n1', False), ('n2', False)]
    # A client still knows how to reach every peer's next hop: reflected routes keep the origin's.
    assert [hop['peer'] for hop in client['next_hops']] == ['n1', 'n2', 'n3', 'n5']


def test_ipip_next_hops_follow_the_ipip_mode():
    always = calico_bird.bird_config(plan(3, 'ipip', subnets=2), 'n1')
    assert [(h['dev'], h['onlink']) for h in always['next_hops']] == [('tunl0', True), ('tunl0', True)]
    cross = calico_bird.bird_config(plan(3, 'ipip', subnets=2, ipip_mode='cross_subnet'), 'n1')
    # n1 and n3 share 192.168.1.0/24; n2 is on 192.168.0.0/24.
    assert [(h['peer'], h['dev'], h['onlink']) for h in cross['next_hops']] == [
        ('n2', 'tunl0', True), ('n3', 'eth0', False)]


@pytest.mark.parametrize('args, message', [
    ((['n9'],), 'calico_route_reflectors: n9 is not a lab host'),
    ((['n1', 'n1'],), 'calico_route_reflectors: n1 is listed twice'),
    (('n1',), 'calico_route_reflectors: must be a list'),
    (([], '244.0.0.300'), 'calico_route_reflector_cluster_id'),
    (([], '244.0.0.1', 0), 'calico_as_number: 0 is not an AS number'),
    (([], '244.0.0.1', 'private'), 'calico_as_number'),
    (([], '244.0.0.1', 4294967296), 'calico_as_number'),
])
def test_bad_settings_name_the_field(args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        calico_bird.bird_config(plan(3), 'n1', *args)


def test_one_host_has_no_peers():
    with pytest.raises(AnsibleFilterError, match='at least two hosts'):
        calico_bird.bird_config(plan(1), 'n1')


def up(*names):
    return 'BIRD 2.0.12 ready.\nName Proto Table State Since Info\n' + ''.join(
        '%s BGP --- up 02:00:00.663 Established\n' % name for name in names)


def routes(lab, host, mode='bgp'):
    me = lab[host]
    items = [{'type': 'blackhole', 'dst': me['block'], 'protocol': 'bird', 'flags': []}]
    for peer in me['peers']:
        tunnel = mode == 'ipip' and peer['encapsulate']
        items.append({'dst': peer['block'], 'gateway': peer['node_ip'], 'dev': 'tunl0' if tunnel else 'eth0',
                      'protocol': 'bird', 'flags': ['onlink'] if tunnel else []})
    return json.dumps(items)


def test_report_all_good_and_each_failure():
    lab = plan(3, 'ipip')
    protocols = {'n1': up('Mesh_192_168_0_2', 'Mesh_192_168_0_3'), 'n2': up('Mesh_192_168_0_1', 'Mesh_192_168_0_3'),
                 'n3': up('Mesh_192_168_0_1', 'Mesh_192_168_0_2')}
    good = dict((h, routes(lab, h, 'ipip')) for h in lab)
    report = calico_bird.bird_report(lab, protocols, good)
    assert report['failures'] == []
    assert report['lines'][0] == 'n1: 2/2 BGP sessions Established, 2/2 peer blocks learned (proto bird)'

    protocols['n3'] = up('Mesh_192_168_0_1')
    plain = dict(good, n1=routes(lab, 'n1', 'bgp'), n2=json.dumps(json.loads(good['n2'])[1:]))
    failures = calico_bird.bird_report(lab, protocols, plain)['failures']
    assert 'n3: BGP session Mesh_192_168_0_2 (to n2) is not Established' in failures
    assert 'n1: route to %s (n2) is via 192.168.0.2 dev eth0, want via 192.168.0.2 dev tunl0 onlink' \
        % lab['n2']['block'] in failures
    assert 'n2: no proto bird blackhole for its own block %s' % lab['n2']['block'] in failures
    assert len(failures) == 4  # n1's route to n3 is wrong the same way


def test_report_without_the_mode_checks_gateways_only():
    """verify.yml run on its own plans with mode any: a tunl0 route is as good as a plain one."""
    ipip, unknown = plan(3, 'ipip'), plan(3, 'any')
    protocols = dict((h, up(*[s['name'] for s in calico_bird.bird_config(ipip, h)['sessions']])) for h in ipip)
    tunnelled = dict((h, routes(ipip, h, 'ipip')) for h in ipip)
    assert calico_bird.bird_report(unknown, protocols, tunnelled, check_devices=False)['failures'] == []
    assert len(calico_bird.bird_report(unknown, protocols, tunnelled)['failures']) == 6  # dev eth0 wanted
    astray = json.loads(tunnelled['n1'])
    astray[1]['gateway'] = '192.168.0.9'
    failures = calico_bird.bird_report(unknown, protocols, dict(tunnelled, n1=json.dumps(astray)),
                                       check_devices=False)['failures']
    assert failures == ['n1: route to %s (n2) is via 192.168.0.9, want via 192.168.0.2' % ipip['n2']['block']]


def render(lab, host, reflectors=(), daemon='process', timers=(5, 30, 10)):
    environment = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined)
    with open(TEMPLATE) as handle:
        template = environment.from_string(handle.read())
    return template.render(
        inventory_hostname=host, calico_route_reflectors=list(reflectors), calico_bird_daemon=daemon,
        calico_bird_run_dir='/run/labnet-calico-bird-%s' % host, calico_bird_connect_retry=timers[0],
        calico_bird_hold_time=timers[1], calico_bird_keepalive_time=timers[2],
        calico_bird_settings=calico_bird.bird_config(lab, host, list(reflectors)))


def test_timers_given_as_strings_render_as_numbers():
    """-e calico_bird_connect_retry=7 arrives as a string: '7' * 6 must not become 777777."""
    text = render(plan(2), 'n1', timers=('7', '60', '20'))
    assert 'connect retry time 7;' in text and 'error wait time 5, 30;' in text and 'connect delay time 2;' in text
    assert 'hold time 60;' in text and 'keepalive time 20;' in text


def test_mesh_is_one_way_as_calico_decides():
    """confd's template: passive toward a peer whose address is greater (as strings); RR sessions never."""
    lab = plan(3)
    passive = dict((h, [(s['peer'], s['passive']) for s in calico_bird.bird_config(lab, h)['sessions']]) for h in lab)
    assert passive == {'n1': [('n2', True), ('n3', True)], 'n2': [('n1', False), ('n3', True)],
                       'n3': [('n1', False), ('n2', False)]}
    text = render(lab, 'n2')
    assert text.count('passive on;') == 1 and 'persist;' in text and 'graceful restart time 120;' in text
    assert not any(s['passive'] for s in calico_bird.bird_config(plan(4), 'n1', ['n1', 'n2'])['sessions'])


def test_mesh_passivity_compares_addresses_as_strings():
    lab = plan(2)
    lab['n1']['node_ip'], lab['n2']['node_ip'] = '10.0.0.9', '10.0.0.10'
    lab['n1']['peers'][0]['node_ip'], lab['n2']['peers'][0]['node_ip'] = '10.0.0.10', '10.0.0.9'
    # '10.0.0.9' > '10.0.0.10' as text: n2 waits for n1, as Calico's Go template has it.
    assert calico_bird.bird_config(lab, 'n2')['sessions'][0]['passive'] is True
    assert calico_bird.bird_config(lab, 'n1')['sessions'][0]['passive'] is False


def test_lab_prefixes_read_from_the_rendered_config():
    lab = plan(3)
    assert bird.lab_prefixes(render(lab, 'n1')) == sorted([lab['n1']['block'], lab['n2']['block'], lab['n3']['block']])
    assert bird.lab_prefixes('') == [] and bird.lab_prefixes(None) == []


@pytest.mark.skipif(not shutil.which('bird'), reason='needs bird (apt-get install bird2)')
@pytest.mark.parametrize('mode, reflectors, host, daemon', [
    ('bgp', (), 'n1', 'process'), ('ipip', (), 'n2', 'service'),
    ('bgp', ('n1', 'n2'), 'n1', 'process'), ('ipip', ('n1', 'n2'), 'n4', 'service')])
def test_template_is_accepted_by_bird(tmp_path, mode, reflectors, host, daemon):
    text = render(plan(4, mode), host, reflectors, daemon)
    config = tmp_path / 'bird.conf'
    config.write_text(text)
    result = subprocess.run(['bird', '-p', '-c', str(config)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr + text
    sessions = [line.split()[2] for line in text.splitlines() if line.startswith('protocol bgp ')]
    assert sessions == [s['name'] for s in calico_bird.bird_config(plan(4, mode), host, list(reflectors))['sessions']]
    assert ('rr client;' in text) == (host in reflectors)


class ServiceStandIn:
    """The system service as calico_bird's Bird drives it: running, enabled, and its file on disk."""

    service = True

    def __init__(self, config_path, active, enabled):
        self.config_path, self.active, self.enabled, self.actions = str(config_path), active, enabled, []
        # The lab's -R drop-in on the unit, there while the lab's BIRD runs.
        self.recover_dropin, self.recovers = str(config_path) + '.dropin', True

    def current_config(self):
        return open(self.config_path).read() if os.path.exists(self.config_path) else None

    def write_config(self, text):
        with open(self.config_path, 'w') as handle:
            handle.write(text)

    def service_active(self):
        return self.active

    def service_enabled(self):
        return self.enabled

    def stop(self):
        self.active = False
        self.actions.append('stopped')

    def start(self):
        assert not self.recovers, 'the service the lab found would start with -R: the drop-in is still there'
        self.active = True
        self.actions.append('started')

    def recover_on_restart(self, wanted=True):
        self.recovers = wanted

    def disable(self):
        self.enabled = False
        self.actions.append('disabled')


class ModuleStandIn:
    check_mode = False

    def __init__(self, state_dir, installed_now):
        self.params = {'state_dir': str(state_dir), 'installed_now': installed_now}


@pytest.mark.parametrize('installed_now, active, enabled, actions', [
    (True, True, True, ['stopped', 'disabled']),    # the package started it for the lab: it goes
    (False, True, True, ['stopped', 'started']),    # it ran before the lab: it runs again
    (False, False, False, ['stopped']),             # stopped and disabled before (the VMs)
])
def test_service_is_left_as_it_was_before_the_lab(tmp_path, installed_now, active, enabled, actions):
    service = ServiceStandIn(tmp_path / 'bird.conf', active, enabled)
    service.write_config('# the package\'s file\n')
    module = ModuleStandIn(tmp_path / 'state', installed_now)
    calico_bird_module.take_over_service(module, service)
    service.write_config(calico_bird_module.HEADER + 'router id 192.168.0.1;\n')
    service.active = True                                         # the lab's BIRD runs
    changed, before, after = calico_bird_module.ensure_absent(module, service)
    assert changed and before.startswith(calico_bird_module.HEADER) and after == '# the package\'s file\n'
    assert service.actions == actions and service.current_config() == after
    assert (service.active, service.enabled) == (active and not installed_now, enabled and not installed_now)
    assert os.listdir(str(tmp_path / 'state')) == []              # record and saved file gone
    assert not service.recovers                                   # the drop-in gone
