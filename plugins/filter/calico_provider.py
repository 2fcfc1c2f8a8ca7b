# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""calico_lab_provider: auto - network namespaces of this machine where its kernel can run the mode,
QEMU VMs (their own kernel) otherwise. Reads /sys and /lib/modules only: nothing is loaded.
calico_lab_provider: docker - containers of the Docker engine; they share its host's kernel."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess

# The kernel driver each mode's tunnel device needs; BGP mode needs none.
MODE_DRIVERS = {'ipip': 'ipip', 'vxlan': 'vxlan'}
MODE_NAMES = {'bgp': 'BGP', 'ipip': 'IPIP', 'vxlan': 'VXLAN'}
DEFAULT_VM_RUN_DIR = '~/.cache/labnet-calico/run'


def kernel_driver(name, sys_module='/sys/module', modules_dir=None):
    """(found, where): the driver is built in or loaded (/sys/module/NAME), or a module of the running
    kernel listed in modules.dep or modules.builtin. Looks only; never loads anything."""
    if os.path.isdir(os.path.join(sys_module, name)):
        return True, '%s/%s' % (sys_module, name)
    modules_dir = modules_dir or os.path.join('/lib/modules', os.uname()[2])
    for index in ('modules.builtin', 'modules.dep'):
        path = os.path.join(modules_dir, index)
        try:
            with open(path) as handle:
                for line in handle:
                    module = os.path.basename(line.split(':', 1)[0].strip())
                    if module.split('.ko', 1)[0] == name and '.ko' in module:
                        return True, '%s lists %s' % (path, module)
        except (IOError, OSError):
            continue
    return False, 'no %s/%s, and %s lists no %s.ko' % (sys_module, name, modules_dir, name)


def _choose(provider, mode, host, vm_run_dir, netns_dir='/run/netns', **kernel):
    if provider != 'auto':
        return provider, 'calico_lab_provider: %s' % (provider or 'unset (hosts reached over SSH)')
    driver = MODE_DRIVERS.get(mode)
    if driver:
        found, where = kernel_driver(driver, **kernel)
        if found:
            return 'netns', ('auto: network namespaces of this machine, whose kernel has the %s driver %s mode '
                             'needs (%s)' % (driver, MODE_NAMES[mode], where))
        return 'qemu', ('auto: QEMU VMs, because this kernel (%s) has no %s driver, which %s mode needs (%s); '
                        'the VMs run a kernel of their own' % (os.uname()[2], driver, MODE_NAMES[mode], where))
    if mode == 'bgp':
        return 'netns', 'auto: network namespaces of this machine (BGP mode needs no tunnel driver)'
    # No mode (teardown, verify on its own): whatever runs the lab's hosts now.
    if host and os.path.exists(os.path.join(netns_dir, host)):
        return 'netns', 'auto: the lab host is the network namespace %s/%s' % (netns_dir, host)
    pidfile = os.path.join(os.path.expanduser(vm_run_dir or DEFAULT_VM_RUN_DIR), host or '', 'qemu.pid')
    if host and os.path.exists(pidfile):
        return 'qemu', 'auto: the lab host is the QEMU VM of %s' % pidfile
    return 'netns', 'auto: neither a namespace nor a VM of this host runs; network namespaces'


def calico_provider(provider, mode='any', host=None, vm_run_dir=None):
    """The provider that makes HOST: netns, qemu, or '' (a host reached over SSH)."""
    return _choose(provider or '', mode, host, vm_run_dir)[0]


def calico_provider_reason(provider, mode='any', host=None, vm_run_dir=None):
    """Why calico_provider chose what it chose, in one sentence."""
    return _choose(provider or '', mode, host, vm_run_dir)[1]


def docker_container_running(name, docker='docker', timeout=30):
    """Whether the Docker engine runs a container NAME (False when there is no engine or no container)."""
    try:
        result = subprocess.run([docker, 'container', 'inspect', '--format', '{{.State.Running}}', name],
                                capture_output=True, text=True, timeout=timeout, check=False,
                                env=dict(os.environ, LC_ALL='C'))
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0 and result.stdout.strip() == 'true'


def mode_refusal(provider, mode, **kernel):
    """Why PROVIDER cannot run MODE here, or '' when it can: a docker lab host shares the kernel of the
    Docker engine's machine (this one), so a mode whose tunnel driver that kernel lacks cannot run."""
    driver = MODE_DRIVERS.get(mode)
    if provider != 'docker' or not driver:
        return ''
    found, where = kernel_driver(driver, **kernel)
    if found:
        return ''
    return ('calico_lab_provider: docker cannot run %s mode here: containers share this machine\'s kernel (%s), '
            'which has no %s driver (%s). Use calico_lab_provider: qemu (VMs with a kernel of their own) or auto '
            'for %s mode.' % (MODE_NAMES[mode], os.uname()[2], driver, where, MODE_NAMES[mode]))


def calico_provider_refusal(provider, mode='any'):
    """Why PROVIDER cannot run MODE on this machine, or '' when it can."""
    return mode_refusal(provider or '', mode)


def calico_host_running(provider, host, netns_name=None, vm_run_dir=None, netns_dir='/run/netns'):
    """Whether the lab host a provider of this machine makes is there now: its namespace, its VM's
    pid file, or its running container. Hosts reached over SSH are always taken to be there."""
    if provider == 'netns':
        return os.path.exists(os.path.join(netns_dir, netns_name or host))
    if provider == 'qemu':
        return os.path.exists(os.path.join(os.path.expanduser(vm_run_dir or DEFAULT_VM_RUN_DIR), host, 'qemu.pid'))
    if provider == 'docker':
        return docker_container_running(host)
    return True


def calico_provider_hosts(hostvars, hosts, wanted, mode='any', vm_run_dir=None):
    """The HOSTS whose provider (calico_lab_provider, auto resolved for MODE) is WANTED."""
    return [host for host in hosts or []
            if calico_provider(hostvars[host].get('calico_lab_provider'), mode, host, vm_run_dir) == wanted]


class FilterModule(object):
    def filters(self):
        return {'calico_provider': calico_provider, 'calico_provider_reason': calico_provider_reason,
                'calico_provider_hosts': calico_provider_hosts, 'calico_host_running': calico_host_running,
                'calico_provider_refusal': calico_provider_refusal}
