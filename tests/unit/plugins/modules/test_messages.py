"""The text of the modules' failure messages (issue 18): each says what was expected, what was found
and what to run next. The host is the task's (Ansible prints it before the message)."""
import pytest

from ansible_collections.labnet.calico.plugins.module_utils import bird as bird_utils
from ansible_collections.labnet.calico.plugins.module_utils import bird_runner
from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError
from ansible_collections.labnet.calico.plugins.module_utils.workload import foreign_pod_link
from ansible_collections.labnet.calico.plugins.modules import netns_lab


class FakeModule:
    """Enough of AnsibleModule for bird_runner.Bird: params, the binaries on PATH, commands' answers."""

    check_mode = False

    def __init__(self, on_path=(), answers=None, **params):
        self.params = dict(daemon='service', config_path=None, socket=None, pid_file=None, service_name='bird',
                           wait_sessions=[], wait_routes=[], wait_timeout=0, log=None)
        self.params.update(params)
        self.on_path = on_path
        self.answers = answers or {}

    def get_bin_path(self, name, required=False):
        return '/usr/sbin/' + name if name in self.on_path else None

    def run_command(self, argv, **_kwargs):
        return self.answers.get(argv[0].rsplit('/', 1)[-1], (0, '', ''))


def test_no_systemctl_names_systemd_not_bird2():
    bird = bird_runner.Bird(FakeModule(on_path=('bird', 'birdc')))
    with pytest.raises(LabError) as error:
        bird.service_active()
    assert str(error.value) == (
        'systemctl is not on PATH: daemon=service runs the system service bird.service, and this host has no '
        'systemd (a container?). Boot it with systemd, or use daemon=process (the netns provider does: '
        'calico_lab_provider: netns)')
    assert 'bird2' not in str(error.value)


def test_no_bird_says_to_install_bird2():
    bird = bird_runner.Bird(FakeModule(on_path=('systemctl',)))
    with pytest.raises(LabError, match=r'^birdc is not on PATH: BIRD 2 is not installed on this host\. '
                                       r'Install it: apt-get install bird2 \(Debian/Ubuntu\)'):
        bird.reconfigure()


SHOW_PROTOCOLS = """BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     10:00:00.000
Mesh_172_16_91_202 BGP ---       up     10:00:01.000  Established
Mesh_172_16_91_203 BGP ---       start  10:00:01.000  Active        Socket: Connection refused
"""
SESSIONS = [{'name': 'Mesh_172_16_91_202', 'peer': 'host-b', 'neighbor': '172.16.91.202'},
            {'name': 'Mesh_172_16_91_203', 'peer': 'host-c'},
            {'name': 'Mesh_172_16_91_204', 'peer': 'host-d'}]


def test_missing_sessions_carry_birds_state():
    rows = bird_utils.parse_show_protocols(SHOW_PROTOCOLS)
    assert bird_utils.missing_sessions(rows, SESSIONS) == [
        'Mesh_172_16_91_203 to host-c (start, Active Socket: Connection refused)',
        'Mesh_172_16_91_204 to host-d (not configured)']


def test_a_bird_wait_polls_quietly_and_ends_in_one_message():
    now = [0.0]
    reads = []

    def read():
        reads.append(now[0])
        return SHOW_PROTOCOLS, ['10.10.1.0/24']

    def sleep(seconds):
        now[0] += seconds

    sessions, routes = bird_utils.wait_for_bgp(read, SESSIONS, ['10.10.1.0/24', '10.10.2.0/24'], 5,
                                               clock=lambda: now[0], sleep=sleep)
    assert reads == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]   # bounded: once a second, one read at the deadline
    assert routes == ['10.10.2.0/24'] and len(sessions) == 2
    message = bird_utils.wait_message(5, sessions, routes, '/run/labnet-calico-bird-host-a/bird.ctl',
                                      '/run/labnet-calico-bird-host-a/bird.log')
    assert message == (
        'BGP sessions not Established after 5 s: Mesh_172_16_91_203 to host-c (start, Active Socket: '
        'Connection refused); Mesh_172_16_91_204 to host-d (not configured). peer blocks not in the kernel as '
        "proto bird after 5 s: 10.10.2.0/24. BIRD's log: /run/labnet-calico-bird-host-a/bird.log. next: birdc -s "
        '/run/labnet-calico-bird-host-a/bird.ctl show protocols all Mesh_172_16_91_203; ip route show proto bird')


def test_a_bird_wait_returns_as_soon_as_all_is_up():
    up = SHOW_PROTOCOLS.replace('start  10:00:01.000  Active        Socket: Connection refused',
                                'up     10:00:01.000  Established')
    assert bird_utils.wait_for_bgp(lambda: (up, ['10.10.1.0/24']), SESSIONS[:2], ['10.10.1.0/24'], 90,
                                   sleep=lambda _s: pytest.fail('waited although all was up')) == ([], [])


def test_a_bird_that_does_not_answer_is_named_so():
    sessions, _routes = bird_utils.wait_for_bgp(lambda: (None, []), SESSIONS[:1], [], 0)
    assert sessions == ['Mesh_172_16_91_202 to host-b (BIRD does not answer)']


def test_the_module_fails_with_the_one_message_and_the_service_log():
    module = FakeModule(on_path=('birdc', 'ip'), socket='/run/bird/bird.ctl', wait_sessions=SESSIONS[1:2],
                        answers={'birdc': (0, SHOW_PROTOCOLS, ''), 'ip': (0, '[]', '')})
    with pytest.raises(LabError) as error:
        bird_runner.Bird(module).wait()
    assert str(error.value).startswith('BGP sessions not Established after 0 s: Mesh_172_16_91_203 to host-c (start')
    assert "BIRD's log: journalctl -u bird. next: birdc -s /run/bird/bird.ctl show protocols all" in str(error.value)


def test_a_foreign_pod_interface_gives_cause_and_fix():
    spec = {'workload': 'netns01', 'netns': 'netns01', 'pod_ifname': 'eth0', 'host_ifname': 'calibe793eb2780'}
    assert foreign_pod_link(spec, None, {'kind': 'veth', 'peer_index': 12}) == (
        'netns01: namespace netns01 already has a eth0 (veth whose peer is ifindex 12), but it is not the peer of '
        'calibe793eb2780, whose host end does not exist; refusing to replace it. Cause: the namespace belongs '
        'to something else (another lab or tool with a pod of this name), or the host end of its veth was '
        'deleted by hand. Fix: if nothing else uses it, delete the namespace on this host (ip netns del '
        'netns01) and run the playbook again; otherwise rename the pod in calico_workloads')
    paired_elsewhere = foreign_pod_link(spec, {'kind': 'veth', 'peer_index': 40}, {'kind': 'dummy'})
    assert 'a eth0 (dummy), but it is not the peer of calibe793eb2780, whose host end is paired with ifindex 40' \
        in paired_elsewhere


def test_processes_left_name_the_role_variable():
    message = netns_lab.processes_left_message([{'command': 'bird', 'netns': 'host-a', 'pid': 4242},
                                                {'command': 'sleep', 'netns': 'netns01', 'pid': 4243}])
    assert message == (
        'processes still run inside namespaces to remove: bird in host-a (pid 4242), sleep in netns01 (pid 4243); '
        'kill_processes is false (the netns_hosts role sets it from netns_hosts_kill_processes), so nothing was '
        'removed. Stop them (kill 4242 4243), or let the lab end them: run again with '
        '-e netns_hosts_kill_processes=true')
