"""The docker provider end to end: the seeds' lab as containers (names of this test's own), verified,
rerun with changed=0, torn down leaving no container or network of the lab; the image stays.

Skips, saying why, where no Docker engine answers (scripts/dockerd.sh start brings one up).
"""

import json
import os
import shutil

import pytest
import yaml

from labtest import BIN, ROOT, Lab, ansible_env, assert_play, ip_json, run

PLAYBOOK = os.path.join(BIN, 'ansible-playbook')
SEEDS = os.path.join(ROOT, 'inventories', 'docker', 'hosts.yml')
LABEL = 'labnet.calico.lab'


def engine_problem():
    if os.geteuid() != 0:
        return 'needs root'
    if not shutil.which('docker'):
        return 'no docker command (apt-get install docker.io)'
    try:
        info = run(['docker', 'info', '--format', '{{.ServerVersion}}'], timeout=30)
    except Exception as error:  # a hung engine: skip rather than wait
        return 'docker info: %s' % error
    if info.returncode != 0:
        return 'no Docker engine answers (scripts/dockerd.sh start): %s' % info.stderr.strip()[-300:]
    return None


pytestmark = pytest.mark.skipif(engine_problem() is not None, reason=str(engine_problem()))


def docker(*args):
    return run(['docker'] + list(args), timeout=120)


def lab_objects(lab):
    """The containers and networks that carry this lab's label."""
    label = '%s=%s' % (LABEL, lab)
    containers = docker('ps', '-a', '--filter', 'label=' + label, '--format', '{{.Names}}').stdout.split()
    networks = docker('network', 'ls', '--filter', 'label=' + label, '--format', '{{.Name}}').stdout.split()
    return {'containers': sorted(containers), 'networks': sorted(networks)}


def run_playbook(name, inventory, *extra):
    return run([PLAYBOOK, os.path.join(ROOT, 'playbooks', name), '-i', inventory] + list(extra),
               cwd=ROOT, env=ansible_env(ANSIBLE_CALLBACK_RESULT_FORMAT='json'), timeout=900)


def test_seeds_lab_on_docker_verifies_reruns_clean_and_leaves_nothing(tmp_path):
    lab = Lab()
    inventory = lab.inventory(SEEDS, tmp_path / 'hosts.yml')
    data = yaml.safe_load(open(inventory))
    data['all']['vars']['docker_hosts_lab'] = lab.lab
    with open(inventory, 'w') as out:
        yaml.safe_dump(data, out, default_flow_style=False)
    hosts = [lab.names['host-a'], lab.names['host-b']]
    root_routes = ip_json('route', 'show', 'table', 'all')
    try:
        output = assert_play(run_playbook('bgp.yml', inventory), hosts)
        assert '4 pods reach each other (bgp mode)' in output
        assert lab_objects(lab.lab) == {'containers': sorted(hosts), 'networks': ['%s-172.16.91.0-24' % lab.lab]}
        # The kernel objects inside host A: its underlay address, the route to host B's block, a pod.
        inspect = json.loads(docker('container', 'inspect', hosts[0]).stdout)[0]
        assert inspect['HostConfig']['Privileged'] is False
        # Exactly the two capabilities added (engines spell them with or without CAP_).
        assert set(c.replace('CAP_', '', 1) for c in inspect['HostConfig']['CapAdd']) == {'NET_ADMIN', 'SYS_ADMIN'}
        addr = json.loads(docker('exec', hosts[0], 'ip', '-j', '-4', 'addr', 'show', 'dev', 'eth0').stdout)
        assert [a['local'] for a in addr[0]['addr_info']] == ['172.16.91.201']
        route = json.loads(docker('exec', hosts[0], 'ip', '-j', 'route', 'show', '10.10.1.0/24').stdout)
        assert [(r.get('gateway'), r.get('dev')) for r in route] == [('172.16.91.202', 'eth0')]
        assert lab.names['netns01'] in docker('exec', hosts[0], 'ip', 'netns', 'list').stdout
        assert_play(run_playbook('bgp.yml', inventory), hosts, changed=0)
        assert_play(run_playbook('teardown.yml', inventory), hosts)
        assert lab_objects(lab.lab) == {'containers': [], 'networks': []}
        image = yaml.safe_load(open(os.path.join(ROOT, 'roles', 'docker_hosts', 'defaults', 'main.yml')))
        kept = docker('images', '--filter', 'label=labnet.calico.image=host', '--format', '{{.Repository}}').stdout
        assert image['docker_hosts_image_name'] in kept.split(), 'teardown removed the image'
        # Nothing of the lab in this machine's root namespace (pods live in the containers; the engine
        # scripts/dockerd.sh starts keeps its bridges in a namespace of its own, an engine of the user's
        # keeps them here).
        if os.path.exists('/run/labnet-calico-dockerd/dockerd.pid'):
            assert ip_json('route', 'show', 'table', 'all') == root_routes
    finally:
        left = lab_objects(lab.lab)
        for name in left['containers']:
            docker('rm', '--force', name)
        for name in left['networks']:
            docker('network', 'rm', name)
