"""Every command of docs/*.md, run against netns labs the test builds (issue 18: the docs stay true).

The docs mark their code blocks by the fence's info string:

* ``lab-bgp``, ``lab-vxlan``: commands for the seeds' lab (inventory/) in that mode;
  ``lab-two-subnets``: commands for inventories/two-subnets-vxlan (VXLAN cross_subnet);
* ``... capture`` (e.g. ``lab-vxlan capture``): the block's first command is a bounded capture that
  runs in the background while the block's other commands run, as in a second terminal;
* ``lab-cycle``: bring-up, mode switch and teardown (``CYCLE``), which the tests run themselves;
* ``lab-vm``: commands that need the QEMU VMs (IPIP on a kernel without ``ipip``): not run here;
* ``text``, ``yaml``: output and files, not commands.

One command per line (a trailing backslash continues it), ``#`` starts a comment, and a line
``#=> TEXT`` under a command says its output must contain TEXT. The docs use the seeds' names
(host-a, netns01, caliadc59a9f7cf, lab-sw-...); the test runs them under its own suffixed names
(labtest.Lab) and its own inventory. Each command must end rc 0 within its time limit. The
network-safety rule is checked on the text of every block, run or not: nothing talks to the network
from the root namespace, every ping and capture is bounded.
"""

import os
import re
import shlex
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from ansible_collections.labnet.calico.plugins.module_utils.iproute import workload_host_ifname, workload_id
from labtest import BIN, ROOT, Lab, ansible_env, assert_play, run
# labs is a fixture: imported for the tests below, which take it as an argument.
from test_playbooks import labs, run_playbook  # noqa: F401 pylint: disable=unused-import

DOCS = ['docs/explore.md', 'docs/packet-walk.md', 'docs/troubleshooting.md', 'docs/recipes.md']
LAB_KINDS = ('lab-bgp', 'lab-vxlan', 'lab-two-subnets')
KINDS = LAB_KINDS + ('lab-cycle', 'lab-vm', 'text', 'yaml')
# lab-cycle: bringing a lab up, switching its mode, taking it down - what the tests below run themselves.
CYCLE = set('ansible-playbook playbooks/%s.yml%s' % (playbook, inventory) for playbook in ('bgp', 'vxlan', 'teardown')
            for inventory in ('', ' -i inventory', ' -i inventories/two-subnets-vxlan'))
INVENTORIES = {'lab-bgp': 'inventory/hosts.yml', 'lab-vxlan': 'inventory/hosts.yml',
               'lab-two-subnets': 'inventories/two-subnets-vxlan/hosts.yml'}
FENCE = re.compile(r'^```([^\n`]*)\n(.*?)^```[ \t]*$', re.M | re.S)
# Tools that send or watch packets: only inside a lab namespace (ip netns exec NAME ...).
NETWORK_TOOLS = ('ping', 'tcpdump', 'curl', 'wget', 'arping', 'tracepath', 'traceroute', 'nc', 'mtr', 'ssh')
ANSIBLE = ('ansible-playbook', 'ansible', 'ansible-inventory', 'ansible-doc')


def blocks():
    """[(doc, kind, options, [(command, [expected text])])] of every fenced block of the docs."""
    found = []
    for doc in DOCS:
        text = open(os.path.join(ROOT, doc)).read()
        for info, body in FENCE.findall(text):
            words = info.split()
            kind, options = (words[0] if words else ''), words[1:]
            commands = []
            for line in body.replace('\\\n', ' ').splitlines():
                line = line.strip()
                if line.startswith('#=>') and commands:
                    commands[-1][1].append(line[3:].strip())
                elif line and not line.startswith('#'):
                    commands.append((line, []))
            found.append((doc, kind, options, commands))
    return found


def unsafe(command, kind=None):
    """Why COMMAND breaks the network-safety rule, or None. On the VMs (lab-vm) a command goes over
    SSH to 127.0.0.1 (the VMs' forwarded ports) and runs in the VM, where ping and tcpdump must be
    bounded all the same."""
    argv = shlex.split(command)
    if kind == 'lab-vm':
        hosts = [a for a in argv if '@' in a]
        if argv[0] != 'ssh' or hosts[:1] != ['root@127.0.0.1']:
            return 'a lab-vm command is ssh ... root@127.0.0.1 COMMAND'
        argv = ['ip', 'netns', 'exec', 'vm'] + argv[argv.index(hosts[0]) + 1:]
    bounded = False
    if argv[:1] == ['timeout']:
        argv, bounded = argv[2:], True
    if argv[:3] == ['ip', 'netns', 'exec']:
        inner = argv[4:]
        if inner[:1] == ['timeout']:
            inner, bounded = inner[2:], True
        tool = inner[0] if inner else ''
        if tool == 'ping' and not ('-c' in inner and ('-W' in inner or '-w' in inner)):
            return 'ping without -c and -W/-w'
        if tool == 'tcpdump' and not ('-c' in inner and bounded):
            return 'tcpdump without -c and timeout'
        return None
    tool = argv[0]
    if tool in NETWORK_TOOLS:
        return '%s outside a lab namespace (use ip netns exec NAME ...)' % tool
    if tool == 'ip' and not (argv[1:2] == ['-n'] or argv[1:3] in (['netns', 'list'], ['netns', 'pids'])):
        return 'ip in the root namespace (use ip -n NAME ...)'
    if tool == 'bridge' and argv[1:2] != ['-n']:
        return 'bridge in the root namespace (use bridge -n NAME ...)'
    if tool not in ('ip', 'bridge') + ANSIBLE:
        return '%s is not a command the doc test knows to be safe' % tool
    return None


def test_every_block_is_marked_and_safe():
    """No root needed: every block carries a known kind, and no command breaks the safety rule."""
    problems = []
    for doc, kind, options, commands in blocks():
        if kind not in KINDS:
            problems.append('%s: a ```%s block (kinds: %s)' % (doc, kind, ', '.join(KINDS)))
        if kind in ('text', 'yaml'):
            continue
        if not commands:
            problems.append('%s: an empty ```%s block' % (doc, kind))
        for command, _expect in commands:
            reason = unsafe(command, kind)
            if kind == 'lab-cycle' and command not in CYCLE:
                reason = 'not one of the bring-up, switch and teardown commands the doc test runs'
            if reason:
                problems.append('%s: %s: %s' % (doc, command, reason))
        if 'capture' in options and (len(commands) < 2 or 'tcpdump' not in commands[0][0]):
            problems.append('%s: a capture block starts with its tcpdump and has commands after it' % doc)
    kinds = set(kind for _doc, kind, _o, _c in blocks())
    assert not problems, '\n'.join(problems)
    assert set(LAB_KINDS) <= kinds, 'no commands for %s' % sorted(set(LAB_KINDS) - kinds)


def renames(lab, source):
    """{name in the docs: name in this test's lab}: hosts, pods, their cali interfaces, switches, router."""
    data = yaml.safe_load(open(os.path.join(ROOT, source)))
    base = (data['all'].get('vars') or {}).get('netns_hosts_lab') or 'lab'
    names = {}
    for key, name in lab.names.items():
        if key.startswith('switch ') or key == 'router':
            names[name.replace(lab.lab, base, 1)] = name
        else:
            names[key] = name
            names[workload_host_ifname(workload_id('default', key))] = workload_host_ifname(workload_id('default', name))
    return names


def rename(text, names):
    """TEXT (a command or the output it expects) with the docs' names replaced by this lab's."""
    pattern = re.compile(r'(?<![A-Za-z0-9])(%s)(?![A-Za-z0-9])' % '|'.join(
        re.escape(n) for n in sorted(names, key=len, reverse=True)))
    return pattern.sub(lambda m: names[m.group(1)], text)


def localize(command, names, inventory):
    """COMMAND as argv for this test's lab: its names, its inventory, the venv's ansible."""
    argv = shlex.split(rename(command, names))
    if argv[0] in ANSIBLE:
        argv[0] = os.path.join(BIN, argv[0])
        if '-i' in argv:
            argv[argv.index('-i') + 1] = inventory
        elif argv[0].endswith(('ansible-playbook', 'ansible-inventory')):
            argv[1:1] = ['-i', inventory]
    return argv


def check(command, argv, proc, expect):
    output = (proc.stdout or '') + (proc.stderr or '')
    assert proc.returncode == 0, '%s\n(run as %s) rc %s\n%s' % (command, argv, proc.returncode, output[-3000:])
    for text in expect:
        assert text in output, '%s: no %r in\n%s' % (command, text, output[-3000:])


def run_blocks(kind, names, inventory):
    """Run every command of the KIND blocks, in the docs' order; returns how many ran."""
    count = 0
    env = ansible_env(PATH=BIN + os.pathsep + os.environ['PATH'])
    for doc, block_kind, options, commands in blocks():
        if block_kind != kind:
            continue
        background = None
        if 'capture' in options:
            command, expect = commands[0][0], [rename(e, names) for e in commands[0][1]]
            argv = localize(command, names, inventory)
            background = (command, argv, expect, subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
            time.sleep(1.5)  # tcpdump is listening before the traffic starts
            commands = commands[1:]
        for command, expect in commands:
            argv = localize(command, names, inventory)
            timeout = 300 if argv[0].startswith(BIN) else 30
            check(command, argv, run(argv, timeout=timeout, cwd=ROOT, env=env), [rename(e, names) for e in expect])
            count += 1
        if background:
            command, argv, expect, proc = background
            stdout = proc.communicate(timeout=60)[0]
            check(command, argv, subprocess.CompletedProcess(argv, proc.returncode, stdout, ''), expect)
            count += 1
    return count


def lab_inventory(lab, source, tmp_path):
    text = open(os.path.join(ROOT, source)).read().replace('calico_lab_provider: auto', 'calico_lab_provider: netns')
    return lab.inventory(text, tmp_path / 'hosts.yml')


def seeds_lab(labs, tmp_path):  # noqa: F811
    """The seeds' lab brought up in VXLAN mode, the lab-vxlan commands; then switched to BGP mode,
    the lab-bgp commands (the lab-vm ones need QEMU VMs and are not run here)."""
    lab = Lab()
    inventory = labs(lab, lab_inventory(lab, INVENTORIES['lab-vxlan'], tmp_path))
    names = renames(lab, INVENTORIES['lab-vxlan'])
    hosts = [lab.names['host-a'], lab.names['host-b']]
    assert_play(run_playbook('vxlan.yml', inventory), hosts)
    assert run_blocks('lab-vxlan', names, inventory) > 0
    assert_play(run_playbook('bgp.yml', inventory), hosts)
    assert run_blocks('lab-bgp', names, inventory) > 0


def two_subnets_lab(labs, tmp_path):  # noqa: F811
    """inventories/two-subnets-vxlan brought up with vxlan.yml, then the lab-two-subnets commands."""
    lab = Lab()
    source = INVENTORIES['lab-two-subnets']
    inventory = labs(lab, lab_inventory(lab, source, tmp_path))
    assert_play(run_playbook('vxlan.yml', inventory), [lab.names['node-1'], lab.names['node-3']])
    assert run_blocks('lab-two-subnets', renames(lab, source), inventory) > 0


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root')
def test_docs_commands(labs, tmp_path):  # noqa: F811
    """Both labs at once (their names are their own), so that the test stays short on two cores."""
    (tmp_path / 'seeds').mkdir()
    (tmp_path / 'two').mkdir()
    with ThreadPoolExecutor(max_workers=1) as pool:
        other = pool.submit(two_subnets_lab, labs, tmp_path / 'two')
        seeds_lab(labs, tmp_path / 'seeds')
        other.result()


def test_lab_up_modes_and_help():
    """No root needed: lab-up.sh prints its options with -h, takes every mode, refuses another
    before installing anything."""
    script = os.path.join(ROOT, 'scripts', 'lab-up.sh')
    shown = run([script, '-h'], timeout=10)
    assert shown.returncode == 0 and all(m in shown.stdout for m in ('bgp', 'ipip', 'vxlan')), shown
    refused = run([script, 'calico'], timeout=10)
    assert refused.returncode == 2 and "unknown mode 'calico'" in refused.stderr, refused
