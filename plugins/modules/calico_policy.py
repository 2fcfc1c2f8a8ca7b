#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: calico_policy
short_description: Program one host's Calico network policy as Felix does in iptables mode, IPv4 and IPv6
version_added: 0.2.0
description:
  - Renders the lab's C(calico_policies) for the pods of this host into the chains Felix programs in
    its iptables mode - C(cali-INPUT), C(cali-FORWARD), C(cali-OUTPUT) jumped to from the filter table's
    built-in chains, the dispatch chains C(cali-from-wl-dispatch) and C(cali-to-wl-dispatch), one
    C(cali-fw-<iface>) and C(cali-tw-<iface>) per pod interface, one C(cali-pi-<policy>) or
    C(cali-po-<policy>) per policy that selects a local pod, the namespace profile
    C(cali-pri-kns.default) / C(cali-pro-kns.default) - and the IP sets of the rules' selectors, named
    as Felix names them (C(cali40s:) and a hash of the selector).
  - With O(ipv6) the same chains are programmed in C(ip6tables) too, as Felix keeps one table per family - a rule
    whose nets are IPv6 (or whose C(ipVersion) is 6, or whose protocol is C(ICMPv6)) only there, one whose nets
    are IPv4 (or ICMP) only in C(iptables), any other in both; the selector sets of IPv6 are C(cali60s:) sets of
    the pods' IPv6 addresses (C(family inet6)); C(cali-wl-to-host) accepts the ICMPv6 of neighbour discovery
    (types 130-133, 135, 136) before the egress policy, as Felix's C(ICMPv6Filter).
  - Every rule carries Felix's rule id comment (C(cali:) and a hash of the chain and the rules up to it);
    a chain whose ids differ from the wanted ones is rewritten, so a rerun changes nothing and a rule
    deleted by hand is restored.
  - Applies with one C(iptables-restore --noflush) that names only the lab's C(cali-) chains and its
    jumps in C(INPUT), C(FORWARD), C(OUTPUT); no table is flushed. IP sets are changed with C(ipset
    restore); the lab's sets are C(cali40) sets made with the C(comment) extension (Felix makes none so).
  - O(state=absent) removes the lab's chains, jumps and sets of both families, and nothing else; on a host
    without C(iptables-save) (C(ip6tables-save)) or C(ipset) it has nothing to remove there and changes nothing.
  - See C(docs/policy.md) for the layout and the facts from Felix's source it follows.
author:
  - labnet.calico contributors (@labnet-calico)
options:
  pods:
    description: This host's pods.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Pod name.
        type: str
        required: true
      ip:
        description: Pod IPv4 address (none for a pod without one).
        type: str
      host_ifname:
        description: Host end of the pod's veth (C(cali...)).
        type: str
        required: true
      labels:
        description: The pod's labels.
        type: dict
        default: {}
      netns:
        description: Ignored (so the lab plan's pods can be passed as they are).
        type: str
      namespace:
        description: The pod's Kubernetes namespace (its profile C(kns.<namespace>); policies select pods of their own namespace).
        type: str
        default: default
      workload:
        description: Ignored (so the lab plan's pods can be passed as they are).
        type: str
      ip6:
        description: The pod's IPv6 address (a dual-stack lab's plan has it), its member in the IPv6 sets.
        type: str
  lab_pods:
    description: Every pod of the lab (the members of the selectors' IP sets).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Pod name.
        type: str
        required: true
      ip:
        description: Pod IPv4 address (none for a pod without one).
        type: str
      labels:
        description: The pod's labels.
        type: dict
        default: {}
      host_ifname:
        description: Ignored (so the lab plan's pods can be passed as they are).
        type: str
      netns:
        description: Ignored (so the lab plan's pods can be passed as they are).
        type: str
      namespace:
        description: The pod's Kubernetes namespace (its profile C(kns.<namespace>); policies select pods of their own namespace).
        type: str
        default: default
      workload:
        description: Ignored (so the lab plan's pods can be passed as they are).
        type: str
      ip6:
        description: The pod's IPv6 address (a dual-stack lab's plan has it), its member in the IPv6 sets.
        type: str
  policies:
    description:
      - The policies, in the shape of Calico's C(projectcalico.org/v3) NetworkPolicy spec (C(name),
        C(namespace) (default C(default)), C(order), C(selector), C(types), C(ingress), C(egress)); see C(docs/policy.md).
    type: list
    elements: dict
    default: []
  ipv6:
    description:
      - Program the IPv6 table (C(ip6tables)) too. Unset, it is when a pod of the lab has an C(ip6).
      - With O(state=absent) unset removes IPv6 chains wherever C(ip6tables-save) is found.
    type: bool
  state:
    description: C(present) programs the rules, C(absent) removes the lab's chains and sets.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - labnet.calico.attributes
notes:
  - Needs C(iptables-save), C(iptables-restore) (the nft backend works) and C(ipset), and root; with O(ipv6)
    C(ip6tables-save) and C(ip6tables-restore) too.
'''

EXAMPLES = r'''
- name: Program this host's policy
  labnet.calico.calico_policy:
    pods:
      - {name: pod-a1, ip: 10.244.0.2, host_ifname: cali1b2c3d4e5f6, labels: {app: web}}
    lab_pods:
      - {name: pod-a1, ip: 10.244.0.2, labels: {app: web}}
      - {name: pod-b1, ip: 10.244.0.66, labels: {role: client}}
    policies:
      - name: allow-clients
        order: 10
        selector: app == "web"
        ingress:
          - {action: Allow, protocol: TCP, source: {selector: role == "client"}, destination: {ports: [80]}}

- name: Remove the lab's chains and sets
  labnet.calico.calico_policy:
    state: absent
'''

RETURN = r'''
chains:
  description: The lab chains wanted on this host in C(iptables) (none for O(state=absent)).
  returned: always
  type: list
  elements: str
written:
  description: Chains (re)written by this run in C(iptables).
  returned: always
  type: list
  elements: str
deleted:
  description: Chains removed by this run from C(iptables).
  returned: always
  type: list
  elements: str
chains_v6:
  description: The lab chains wanted in C(ip6tables) (none without O(ipv6)).
  returned: always
  type: list
  elements: str
written_v6:
  description: Chains (re)written by this run in C(ip6tables).
  returned: always
  type: list
  elements: str
deleted_v6:
  description: Chains removed by this run from C(ip6tables).
  returned: always
  type: list
  elements: str
sets:
  description: The lab IP sets wanted on this host (C(cali40) and C(cali60)), with their members.
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labnet.calico.plugins.module_utils import felix_rules
from ansible_collections.labnet.calico.plugins.module_utils.calico_policy import check_policies
from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    LabError, check_ifname, check_k8s_namespace, parse_ipv4_address, parse_ipv6_address, run_argv,
)

# Per family: the save and restore commands of its table (the IP sets of both are in one `ipset save`).
TOOLS = {4: ('iptables-save', 'iptables-restore'), 6: ('ip6tables-save', 'ip6tables-restore')}
SUFFIX = {4: '', 6: '_v6'}
HEADER = {4: '# iptables', 6: '# ip6tables'}


def _pods(items, option, with_ifname):
    pods = []
    for index, item in enumerate(items):
        field = '%s[%d]' % (option, index)
        pod = {'name': item['name'],
               'ip': str(parse_ipv4_address(item['ip'], field + '.ip')) if item.get('ip') else None,
               'ip6': str(parse_ipv6_address(item['ip6'], field + '.ip6')) if item.get('ip6') else None,
               'labels': dict((str(k), str(v)) for k, v in (item.get('labels') or {}).items()),
               'namespace': check_k8s_namespace(item['namespace'], field + '.namespace')}
        if not pod['ip'] and not pod['ip6']:
            raise LabError('%s: pod %s has neither ip nor ip6' % (field, pod['name']))
        if with_ifname:
            pod['host_ifname'] = check_ifname(item['host_ifname'], field + '.host_ifname')
            if not pod['host_ifname'].startswith(felix_rules.WORKLOAD_IFACE_PREFIX):
                raise LabError('%s.host_ifname: %s does not start with cali (the dispatch chains match cali+)'
                               % (field, pod['host_ifname']))
        pods.append(pod)
    return pods


def _lab_builtin_lines(current):
    return [line for lines in current['builtin'].values() for line in lines if felix_rules.lab_jump(line)]


def _programmed(params, lab_pods):
    """The families to program: IPv4, and IPv6 when asked or (by default) when a pod of the lab has an ip6.
    Every other family's lab state is removed where its tools are found (a host no longer dual-stack, teardown)."""
    if params['state'] == 'absent':
        return ()
    ipv6 = params['ipv6'] if params['ipv6'] is not None else any(p['ip6'] for p in lab_pods)
    return (4, 6) if ipv6 else (4,)


def _as_saved(lines, saved):
    """LINES (a chain to write) with each rule the kernel already has (same rule id) as iptables-save prints it:
    the kernel orders a rule's matches its own way, so the restore text of a kept rule would show as changed."""
    by_id = dict((felix_rules.line_id(line), line) for line in saved)
    return [by_id.get(felix_rules.line_id(line), line) if felix_rules.line_id(line) else line for line in lines]


def _diff(current, changes, wanted, sets_now):
    """before/after text of one family's lab state (unchanged chains and rules as saved: the diff shows only this
    run's changes)."""
    after_chains = dict((name, _as_saved(lines, current['chains'].get(name, [])) if name in changes['write']
                         else current['chains'][name])
                        for name, lines in (wanted['chains'] if wanted else {}).items())
    kept = [line for line in _lab_builtin_lines(current) if line not in changes['unjump']]
    after_jumps = kept + ['-A' + wanted['jumps'][name][2:].replace(' 1 ', ' ', 1) for name in changes['insert']]
    return (felix_rules.state_text(current['chains'], _lab_builtin_lines(current), sets_now),
            felix_rules.state_text(after_chains, after_jumps, wanted['sets'] if wanted else {}))


def _apply(module, binaries, family, changes, wanted):
    text = felix_rules.ipset_create_text(changes, family)
    if text:
        run_argv(module, [binaries['ipset'], 'restore', '-exist'], data=text)
    if changes['write'] or changes['delete'] or changes['insert'] or changes['unjump']:
        run_argv(module, [binaries[TOOLS[family][1]], '--noflush'], data=felix_rules.restore_text(changes, wanted))
    text = felix_rules.ipset_cleanup_text(changes)
    if text:
        run_argv(module, [binaries['ipset'], 'restore', '-exist'], data=text)


def main():
    pod_options = dict(name=dict(type='str', required=True), ip=dict(type='str'),
                       host_ifname=dict(type='str', required=True), labels=dict(type='dict', default={}),
                       namespace=dict(type='str', default='default'), netns=dict(type='str'), workload=dict(type='str'),
                       ip6=dict(type='str'))
    lab_pod_options = dict(name=dict(type='str', required=True), ip=dict(type='str'),
                           labels=dict(type='dict', default={}), namespace=dict(type='str', default='default'),
                           host_ifname=dict(type='str'), netns=dict(type='str'), workload=dict(type='str'),
                           ip6=dict(type='str'))
    module = AnsibleModule(
        argument_spec=dict(
            pods=dict(type='list', elements='dict', options=pod_options, default=[]),
            lab_pods=dict(type='list', elements='dict', options=lab_pod_options, default=[]),
            policies=dict(type='list', elements='dict', default=[]),
            ipv6=dict(type='bool'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    present = params['state'] == 'present'
    try:
        policies, host_pods, lab_pods = [], [], []
        if present:
            policies, problems = check_policies(params['policies'])
            if problems:
                raise LabError('policies: %d problem%s, nothing was changed:\n  - %s'
                               % (len(problems), '' if len(problems) == 1 else 's', '\n  - '.join(problems)))
            host_pods = _pods(params['pods'], 'pods', True)
            lab_pods = _pods(params['lab_pods'], 'lab_pods', False)
        programmed = _programmed(params, lab_pods)
        binaries = dict((name, module.get_bin_path(name)) for name in ('ipset',) + TOOLS[4] + TOOLS[6])
        for name in sum((('ipset',) + TOOLS[family] for family in programmed), ()):
            if not binaries[name]:
                module.get_bin_path(name, required=True)  # fails, naming the command
        result = {'changed': False, 'sets': {}, 'diff': {'before': '', 'after': ''}}
        for family in (4, 6):
            for key in ('chains', 'written', 'deleted'):
                result[key + SUFFIX[family]] = []
        work = []
        _rc, sets_text, _err = (run_argv(module, [binaries['ipset'], 'save'])
                                if binaries['ipset'] else (0, '', ''))
        for family in (4, 6):
            if not (binaries['ipset'] and binaries[TOOLS[family][0]] and binaries[TOOLS[family][1]]):
                continue  # a family to clean on a host without its tools: the lab made nothing there
            wanted = felix_rules.render(host_pods, lab_pods, policies, family) if family in programmed else None
            rc, saved, _err = run_argv(module, [binaries[TOOLS[family][0]], '-t', 'filter'],
                                       check_rc=family in programmed)
            if rc != 0:
                continue  # a family to clean whose table cannot be read (no IPv6 in this kernel): nothing of the lab
            current = felix_rules.parse_save(saved)
            sets_now = felix_rules.parse_ipset_save(sets_text, family)
            changes = felix_rules.plan(current, wanted, sets_now)
            result['changed'] = result['changed'] or felix_rules.changed(changes)
            result['chains' + SUFFIX[family]] = list(wanted['chains']) if wanted else []
            result['written' + SUFFIX[family]] = changes['write']
            result['deleted' + SUFFIX[family]] = changes['delete']
            result['sets'].update(wanted['sets'] if wanted else {})
            before, after = _diff(current, changes, wanted, sets_now)
            result['diff']['before'] += '%s\n%s' % (HEADER[family], before)
            result['diff']['after'] += '%s\n%s' % (HEADER[family], after)
            work.append((family, changes, wanted))
        if not module._diff:
            del result['diff']
        if not module.check_mode:
            for family, changes, wanted in work:
                if felix_rules.changed(changes):
                    _apply(module, binaries, family, changes, wanted)
    except LabError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
