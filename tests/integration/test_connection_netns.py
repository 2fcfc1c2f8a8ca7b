"""The netns connection plugin for real (root): ad-hoc commands, copy and fetch inside a throwaway
namespace, with pipelining on and off; a namespace made by a task outlives the task."""
import json
import os
import re
import subprocess
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
ANSIBLE = os.path.join(ROOT, '.venv', 'bin', 'ansible')
PYTHON = os.path.join(ROOT, '.venv', 'bin', 'python')

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')


def ip(*args, check=True):
    return subprocess.run(['ip'] + list(args), capture_output=True, text=True, check=check, timeout=30).stdout


@pytest.fixture
def lab_host(tmp_path):
    """A namespace with a veth pair holding 192.0.2.10/24 (no route, no link out of it), an inventory
    naming it twice: by its hostname and through ansible_netns_name."""
    name = 'c' + uuid.uuid4().hex[:8]
    made = [name, name + '-pod']
    ip('netns', 'add', name)
    try:
        ip('-n', name, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1')
        ip('-n', name, 'addr', 'add', '192.0.2.10/24', 'dev', 'v0')
        inventory = tmp_path / 'hosts.yml'
        inventory.write_text(json.dumps({'all': {'vars': {'ansible_connection': 'labnet.calico.netns',
                                                          'ansible_python_interpreter': PYTHON},
                                                 'hosts': {name: {}, 'alias-host': {'ansible_netns_name': name},
                                                           name + '-missing': {}}}}))
        yield name, str(inventory), tmp_path
    finally:
        for netns in made:
            ip('netns', 'del', netns, check=False)


def adhoc(inventory, pattern, module, args, pipelining):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_PIPELINING=str(pipelining), ANSIBLE_CALLBACK_RESULT_FORMAT='json')
    proc = subprocess.run([ANSIBLE, pattern, '-i', inventory, '-m', module, '-a', args, '-vvv'], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    results = {}
    # "host | STATUS => {json}", or for command "host | STATUS | rc=N >>" and its output on the next line.
    for found in re.finditer(r'^(\S+) \| (\S+?)!?(?: \| rc=\d+)? (=>|>>) ?', proc.stdout, re.M):
        if found.group(3) == '=>':
            result, _end = json.JSONDecoder().raw_decode(proc.stdout[found.end():])
        else:
            result = {'stdout': proc.stdout[found.end():].lstrip('\n').split('\n', 1)[0]}
        results[found.group(1)] = dict(result, _status=found.group(2))
    return results, proc.stdout + proc.stderr


@pytest.mark.parametrize('pipelining', [True, False])
def test_commands_run_inside_the_namespace(lab_host, pipelining):
    name, inventory, _tmp = lab_host
    results, output = adhoc(inventory, 'all', 'ansible.builtin.command', 'ip -j addr', pipelining)
    for host in (name, 'alias-host'):
        links = json.loads(results[host]['stdout'])
        assert sorted(link['ifname'] for link in links) == ['lo', 'v0', 'v1'], output
        assert [a['local'] for link in links for a in link['addr_info'] if a['family'] == 'inet'] == ['192.0.2.10']
    missing = results[name + '-missing']
    assert missing['_status'] == 'UNREACHABLE'
    assert 'lab host %s-missing is not running' % name in missing['msg']
    # With pipelining the module goes in on stdin; without, as a file put in place and run.
    assert ('PUT ' in output) is (not pipelining)
    assert '--net=/run/netns/%s' % name in output


@pytest.mark.parametrize('pipelining', [True, False])
def test_copy_and_fetch(lab_host, pipelining):
    name, inventory, tmp = lab_host
    target = tmp / 'in-lab-host.txt'
    results, output = adhoc(inventory, name, 'ansible.builtin.copy', 'content=hello dest=%s mode=0600' % target,
                            pipelining)
    assert results[name]['_status'] == 'CHANGED' and target.read_text() == 'hello', output
    results, output = adhoc(inventory, name, 'ansible.builtin.fetch', 'src=%s dest=%s/fetched flat=true'
                            % (target, tmp), pipelining)
    assert results[name]['_status'] == 'CHANGED' and (tmp / 'fetched').read_text() == 'hello', output


def test_a_namespace_made_inside_a_lab_host_outlives_the_task(lab_host):
    name, inventory, _tmp = lab_host
    results, output = adhoc(inventory, name, 'ansible.builtin.command', 'ip netns add %s-pod' % name, True)
    assert results[name]['_status'] == 'CHANGED', output
    assert '%s-pod' % name in ip('netns', 'list')
    # ... and it is a namespace of its own, not the lab host's.
    assert ip('-n', name + '-pod', '-br', 'link').split()[0] == 'lo'
    assert 'v0' not in ip('-n', name + '-pod', '-br', 'link')
