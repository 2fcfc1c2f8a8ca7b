"""How the Molecule scenarios' testinfra checks reach the lab hosts: the same hosts, the same commands,
without a process of seconds around each command (CI's time, see scripts/run-tests.sh).

Testinfra's ansible backend runs each command of a host whose connection it does not know (the
collection's labnet.calico.netns, or a templated ansible_connection as in inventory/hosts.yml) as a
whole `ansible -m shell` run: 1-3 s each on 2 busy cores, a few hundred commands per scenario. Here such
a host, once Ansible says (one `debug` run per host) that its connection is labnet.calico.netns, runs
each command as that connection plugin does, with the plugin's own argv (nsenter --net=/run/netns/NAME
-- /bin/sh -c CMD). A host that testinfra reaches over SSH (the VMs) keeps its SSH backend, with one
multiplexed connection per host (a ControlPath in a temporary directory, the masters closed at the
end) instead of a new SSH handshake with a TCG VM for every command. Any other host is left as
testinfra makes it.
"""

import os
import shutil
import subprocess
import sys
import tempfile

import testinfra.host
from testinfra.backend.base import BaseBackend
from testinfra.backend.ssh import SshBackend
from testinfra.utils.ansible_runner import AnsibleRunner

TREE = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
sys.path.insert(0, os.path.join(TREE, 'collections'))
from ansible_collections.labnet.calico.plugins.connection.netns import (  # noqa: E402
    find_nsenter, netns_path, nsenter_argv)

NETNS_CONNECTION = 'labnet.calico.netns'
COMMAND_TIMEOUT = 120   # every check's command is bounded (pings carry their own -w)
_control = {'dir': None, 'paths': []}   # the ControlPath of every multiplexed SSH host


class NetnsBackend(BaseBackend):
    """A lab host of the netns provider: each command as the labnet.calico.netns connection runs it."""

    NAME = 'labnet_netns'

    def __init__(self, name, netns, **kwargs):
        self.path = netns_path(netns)
        self.nsenter = find_nsenter()
        super().__init__(name, **kwargs)

    def run(self, command, *args, **kwargs):
        command = self.get_command(command, *args)
        proc = subprocess.run(nsenter_argv(self.nsenter, self.path, '/bin/sh', command), capture_output=True, check=False,
                              stdin=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT, env=dict(os.environ, LC_ALL='C'))
        return self.result(proc.returncode, self.encode(command), proc.stdout, proc.stderr)


def rendered_connection(runner, name):
    """(ansible_connection, ansible_netns_name) of host NAME as Ansible renders them (one debug run)."""
    out = runner.run_module(name, 'ansible.builtin.debug', 'msg={{ [ansible_connection | default("ssh"), '
                            'ansible_netns_name | default(inventory_hostname)] }}', check=False)
    return tuple(out['msg'])


def netns_host(runner, name):
    connection, netns = rendered_connection(runner, name)
    if connection != NETNS_CONNECTION:
        return None
    backend = NetnsBackend(name, netns)
    host = testinfra.host.Host(backend)
    backend.set_host(host)
    return host


_testinfra_get_host = AnsibleRunner.get_host


def get_host(self, name, **kwargs):
    if name not in self._host_cache:
        host = _testinfra_get_host(self, name, **kwargs)
        if host is None:
            host = netns_host(self, name)
        elif isinstance(host.backend, SshBackend) and not host.backend.controlpath:
            # testinfra asks for ControlMaster=auto but gives ssh no ControlPath (ansible.cfg has none):
            # without one, ssh multiplexes nothing.
            if not _control['dir']:
                _control['dir'] = tempfile.mkdtemp(prefix='labnet-testinfra-')
            host.backend.controlpath = os.path.join(_control['dir'], name)
            _control['paths'].append(host.backend.controlpath)
        self._host_cache[name] = host
    return self._host_cache[name]


AnsibleRunner.get_host = get_host


def pytest_sessionfinish(session, exitstatus):  # pylint: disable=unused-argument
    for path in _control['paths']:
        if os.path.exists(path):
            subprocess.run(['ssh', '-o', 'ControlPath=' + path, '-O', 'exit', 'labnet-testinfra'],
                           capture_output=True, check=False, stdin=subprocess.DEVNULL, timeout=30)
    if _control['dir']:
        shutil.rmtree(_control['dir'], ignore_errors=True)
