# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: netns
short_description: Run tasks inside a named network namespace of the controller
version_added: 0.1.0
description:
  - Runs every task of a host inside a named network namespace of the Ansible controller (a lab
    host of the C(netns) provider, see the P(labnet.calico.netns_hosts#role) role).
  - Commands run as C(nsenter --net=/run/netns/NAME -- /bin/sh -c CMD). Only the network namespace
    is entered; the mount, PID, UTS and user namespaces stay the controller's. So a module that runs
    C(ip netns add) inside the lab host makes a namespace that outlives the task (C(ip netns exec)
    would run it in a private mount namespace, where the new namespace vanishes when the task ends).
  - The filesystem is the controller's, so files are transferred by plain local copies, and modules
    run with the controller's own Python (C(ansible_playbook_python)), whatever
    C(ansible_python_interpreter) says, and without interpreter discovery (which could pick a broken one on PATH).
  - Supports pipelining, which this collection enables in C(ansible.cfg).
  - With pipelining, the module's zipped payload (AnsiballZ) is handed over with bytecode next to each
    of its Python files, compiled once per run by the controller's Python (which runs the module), so that
    a module run does not compile C(ansible.module_utils) from source again; a payload it cannot read is
    passed on unchanged.
author:
  - labnet.calico contributors (@labnet-calico)
options:
  netns_name:
    description:
      - Name of the network namespace to run in (a file under C(/run/netns)).
      - Defaults to the inventory hostname (not C(ansible_host), which an inventory may give for
        another provider, e.g. the VMs C(calico_lab_provider=auto) falls back to).
    type: str
    vars:
      - name: inventory_hostname
      - name: ansible_netns_name
extends_documentation_fragment:
  - connection_pipelining
notes:
  - The controller must run Ansible as root (entering a network namespace needs CAP_SYS_ADMIN);
    privilege escalation is not needed, and C(become) with a password is refused.
  - The namespace must exist; when it does not, the task fails with a message that says to create
    the lab hosts first.
  - The remote user is ignored, as with P(ansible.builtin.local#connection).
seealso:
  - plugin: ansible.builtin.local
    plugin_type: connection
'''

EXAMPLES = r'''
# inventory: each lab host is a network namespace of the controller
# all:
#   children:
#     calico_nodes:
#       vars:
#         ansible_connection: labnet.calico.netns   # implied by calico_lab_provider: netns in this collection's roles
#       hosts:
#         host-a:                         # runs in /run/netns/host-a
#         host-b:
#           ansible_netns_name: lab-b     # runs in /run/netns/lab-b

- name: Show the addresses of a lab host
  hosts: calico_nodes
  gather_facts: false
  tasks:
    - name: Addresses inside the namespace
      ansible.builtin.command: ip -j addr
      changed_when: false
'''

import base64
import getpass
import hashlib
import importlib.util
import io
import marshal
import os
import re
import shlex
import shutil
import subprocess
import zipfile

import ansible.constants as C
from ansible import context
from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

display = Display()

NETNS_DIR = '/run/netns'


def netns_path(name):
    """The file that names a network namespace; refuses names that would leave NETNS_DIR."""
    if not name or '/' in name or name in ('.', '..') or '\0' in name:
        raise AnsibleConnectionFailure('netns: %r is not a network namespace name' % (name,))
    return os.path.join(NETNS_DIR, name)


def not_running(name, path):
    """The failure for a lab host whose namespace is missing, with the command that makes it."""
    sources = [source for source in (context.CLIARGS.get('inventory') or ()) if source]
    inventory = ''.join(' -i %s' % shlex.quote(source) for source in sources)
    return AnsibleConnectionFailure(
        'lab host %s is not running: network namespace %s does not exist. Make the lab first: '
        'ansible-playbook playbooks/bgp.yml%s (or ipip.yml, vxlan.yml; a --check run makes nothing), '
        'or molecule create in a Molecule scenario' % (name, path, inventory))


def find_nsenter():
    """nsenter (util-linux) on PATH or where distributions put it; None when it is not installed."""
    found = shutil.which('nsenter')
    if found:
        return found
    for path in ('/usr/bin/nsenter', '/bin/nsenter', '/usr/sbin/nsenter'):
        if os.path.exists(path):
            return path
    return None


# The payload line of Ansible's AnsiballZ wrapper (ansible.executor.module_common, zip_data=...).
ZIP_DATA = re.compile(br"^zip_data='([A-Za-z0-9+/=]+)',$", re.M)
# A pyc that zipimport takes without looking at the source's time: hash-based, unchecked (PEP 552).
PYC_UNCHECKED_HASH = (1).to_bytes(4, 'little')


def payload_with_bytecode(payload):
    """The zip PAYLOAD again, with NAME.pyc (this Python's bytecode) beside every NAME.py."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(payload)) as source, zipfile.ZipFile(out, 'w') as target:
        for info in source.infolist():
            data = source.read(info)
            target.writestr(info, data)
            if info.filename.endswith('.py'):
                code = compile(data, info.filename, 'exec', dont_inherit=True)
                pyc = zipfile.ZipInfo(info.filename + 'c', info.date_time)
                pyc.compress_type = info.compress_type
                target.writestr(pyc, importlib.util.MAGIC_NUMBER + PYC_UNCHECKED_HASH
                                + importlib.util.source_hash(data) + marshal.dumps(code))
    return out.getvalue()


def wrapper_with_bytecode(wrapper, cache_dir):
    """The AnsiballZ WRAPPER with payload_with_bytecode's payload, kept in CACHE_DIR by the payload's hash
    (the same module has the same payload all run long); WRAPPER unchanged when it has no payload line."""
    match = ZIP_DATA.search(wrapper)
    if not match:
        return wrapper
    path = os.path.join(cache_dir, 'labnet-netns-%s.b64' % hashlib.sha256(match.group(1)).hexdigest())
    try:
        with open(path, 'rb') as cached:
            encoded = cached.read()
    except (IOError, OSError):
        encoded = base64.b64encode(payload_with_bytecode(base64.b64decode(match.group(1))))
        partial = '%s.%d' % (path, os.getpid())
        with open(partial, 'wb') as out:
            out.write(encoded)
        os.replace(partial, path)  # another worker may write the same file: each write is whole
    return wrapper[:match.start(1)] + encoded + wrapper[match.end(1):]


def nsenter_argv(nsenter, path, executable, cmd):
    """The argv that runs ``cmd`` with ``executable -c`` inside the network namespace at ``path``."""
    return [nsenter, '--net=%s' % path, '--', executable, '-c', cmd]


class Connection(ConnectionBase):
    """Run commands inside a named network namespace of the controller."""

    transport = 'labnet.calico.netns'
    has_pipelining = True
    has_tty = False
    # The namespaces are the controller's: its Python runs the modules (Ansible then skips interpreter
    # discovery) and its temporary directory holds their files.
    _remote_is_local = True

    def __init__(self, *args, **kwargs):
        super(Connection, self).__init__(*args, **kwargs)
        self.cwd = None
        try:
            self.default_user = getpass.getuser()
        except KeyError:
            self.default_user = ''
        self._netns = None
        self._nsenter = None

    def _netns_name(self):
        return self.get_option('netns_name') or self._play_context.remote_addr  # option unset: used directly

    def _connect(self):
        # As with the local connection, commands run as the user who runs Ansible.
        self._play_context.remote_user = self.default_user
        if not self._connected:
            name = self._netns_name()
            path = netns_path(name)
            if not os.path.exists(path):
                raise not_running(name, path)
            nsenter = find_nsenter()
            if not nsenter:
                raise AnsibleConnectionFailure('netns: nsenter (util-linux) is not installed on the controller')
            self._netns, self._nsenter = name, nsenter
            display.vvv(u'ESTABLISH NETNS CONNECTION TO %s' % path, host=name)
            self._connected = True
        return self

    def exec_command(self, cmd, in_data=None, sudoable=True):
        """Run ``cmd`` (a shell command line) inside the namespace; ``in_data`` is its stdin."""
        super(Connection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        if sudoable and self.become and self.become.expect_prompt():
            raise AnsibleError('netns: become with a password is not supported; '
                               'run Ansible as root on the controller instead')
        # exec_command may be called again after the namespace disappeared (e.g. a teardown task).
        path = netns_path(self._netns)
        if not os.path.exists(path):
            raise not_running(self._netns, path)
        executable = C.DEFAULT_EXECUTABLE.split()[0] if C.DEFAULT_EXECUTABLE else '/bin/sh'
        argv = nsenter_argv(self._nsenter, path, executable, to_text(cmd))
        display.vvv(u'EXEC %s' % ' '.join(shlex.quote(word) for word in argv), host=self._netns)
        if in_data:
            # The run's own temporary directory on the controller (0700, removed when the run ends).
            in_data = wrapper_with_bytecode(to_bytes(in_data), C.DEFAULT_LOCAL_TMP)
        proc = subprocess.Popen([to_bytes(a, errors='surrogate_or_strict') for a in argv], cwd=self.cwd,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stdout, stderr = proc.communicate(in_data)
        return proc.returncode, stdout, stderr

    def put_file(self, in_path, out_path):
        """The filesystem is shared: a plain copy."""
        super(Connection, self).put_file(in_path, out_path)
        display.vvv(u'PUT %s TO %s' % (in_path, out_path), host=self._netns)
        if not os.path.exists(to_bytes(in_path, errors='surrogate_or_strict')):
            raise AnsibleFileNotFound('file or module does not exist: %s' % to_native(in_path))
        try:
            shutil.copyfile(to_bytes(in_path, errors='surrogate_or_strict'),
                            to_bytes(out_path, errors='surrogate_or_strict'))
        except shutil.Error:
            raise AnsibleError('failed to copy: %s and %s are the same' % (to_native(in_path), to_native(out_path)))
        except (IOError, OSError) as exc:
            raise AnsibleError('failed to transfer file to %s: %s' % (to_native(out_path), to_native(exc)))

    def fetch_file(self, in_path, out_path):
        """The filesystem is shared: a plain copy."""
        super(Connection, self).fetch_file(in_path, out_path)
        display.vvv(u'FETCH %s TO %s' % (in_path, out_path), host=self._netns)
        self.put_file(in_path, out_path)

    def reset(self):
        self.close()

    def close(self):
        self._connected = False
