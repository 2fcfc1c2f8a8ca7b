#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: calico_policy
short_description: Program one host's Calico network policy as Felix does in iptables mode
version_added: 0.2.0
description:
  - Renders the lab's C(calico_policies) for the pods of this host into the chains Felix programs in
    its iptables mode - C(cali-INPUT), C(cali-FORWARD), C(cali-OUTPUT) jumped to from the filter table's
    built-in chains, the dispatch chains C(cali-from-wl-dispatch) and C(cali-to-wl-dispatch), one
    C(cali-fw-<iface>) and C(cali-tw-<iface>) per pod interface, one C(cali-pi-<policy>) or
    C(cali-po-<policy>) per policy that selects a local pod, the namespace profile
    C(cali-pri-kns.default) / C(cali-pro-kns.default) - and the IP sets of the rules' selectors, named
    as Felix names them (C(cali40s:) and a hash of the selector).
  - Every rule carries Felix's rule id comment (C(cali:) and a hash of the chain and the rules up to it);
    a chain whose ids differ from the wanted ones is rewritten, so a rerun changes nothing and a rule
    deleted by hand is restored.
  - Applies with one C(iptables-restore --noflush) that names only the lab's C(cali-) chains and its
    jumps in C(INPUT), C(FORWARD), C(OUTPUT); no table is flushed. IP sets are changed with C(ipset
    restore); the lab's sets are C(cali40) sets made with the C(comment) extension (Felix makes none so).
  - O(state=absent) removes the lab's chains, jumps and sets, and nothing else; on a host without
    C(iptables-save) or C(ipset) it has nothing to remove and changes nothing.
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
        description: Pod IPv4 address.
        type: str
        required: true
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
        description:
          - Ignored - the pod's IPv6 address (a dual-stack lab's plan has it). Policy is programmed for IPv4 only;
            the inventory check refuses C(calico_policies) in a lab with IPv6 pods.
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
        description: Pod IPv4 address.
        type: str
        required: true
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
        description:
          - Ignored - the pod's IPv6 address (a dual-stack lab's plan has it). Policy is programmed for IPv4 only;
            the inventory check refuses C(calico_policies) in a lab with IPv6 pods.
        type: str
  policies:
    description:
      - The policies, in the shape of Calico's C(projectcalico.org/v3) NetworkPolicy spec (C(name),
        C(namespace) (default C(default)), C(order), C(selector), C(types), C(ingress), C(egress)); see C(docs/policy.md).
    type: list
    elements: dict
    default: []
  state:
    description: C(present) programs the rules, C(absent) removes the lab's chains and sets.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - labnet.calico.attributes
notes:
  - Needs C(iptables-save), C(iptables-restore) (the nft backend works) and C(ipset), and root.
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
  description: The lab chains wanted on this host (none for O(state=absent)).
  returned: always
  type: list
  elements: str
written:
  description: Chains (re)written by this run.
  returned: always
  type: list
  elements: str
deleted:
  description: Chains removed by this run.
  returned: always
  type: list
  elements: str
sets:
  description: The lab IP sets wanted on this host, with their members.
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labnet.calico.plugins.module_utils import felix_rules
from ansible_collections.labnet.calico.plugins.module_utils.calico_policy import check_policies
from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    LabError, check_ifname, check_k8s_namespace, parse_ipv4_address, run_argv,
)


def _pods(items, option, with_ifname):
    pods = []
    for index, item in enumerate(items):
        field = '%s[%d]' % (option, index)
        pod = {'name': item['name'], 'ip': str(parse_ipv4_address(item['ip'], field + '.ip')),
               'labels': dict((str(k), str(v)) for k, v in (item.get('labels') or {}).items()),
               'namespace': check_k8s_namespace(item['namespace'], field + '.namespace')}
        if with_ifname:
            pod['host_ifname'] = check_ifname(item['host_ifname'], field + '.host_ifname')
            if not pod['host_ifname'].startswith(felix_rules.WORKLOAD_IFACE_PREFIX):
                raise LabError('%s.host_ifname: %s does not start with cali (the dispatch chains match cali+)'
                               % (field, pod['host_ifname']))
        pods.append(pod)
    return pods


def read_state(module, binaries):
    _rc, saved, _err = run_argv(module, [binaries['iptables-save'], '-t', 'filter'])
    _rc, sets, _err = run_argv(module, [binaries['ipset'], 'save'])
    return felix_rules.parse_save(saved), felix_rules.parse_ipset_save(sets)


def _lab_builtin_lines(current):
    return [line for lines in current['builtin'].values() for line in lines if felix_rules.lab_jump(line)]


def main():
    pod_options = dict(name=dict(type='str', required=True), ip=dict(type='str', required=True),
                       host_ifname=dict(type='str', required=True), labels=dict(type='dict', default={}),
                       namespace=dict(type='str', default='default'), netns=dict(type='str'), workload=dict(type='str'),
                       ip6=dict(type='str'))
    lab_pod_options = dict(name=dict(type='str', required=True), ip=dict(type='str', required=True),
                           labels=dict(type='dict', default={}), namespace=dict(type='str', default='default'),
                           host_ifname=dict(type='str'), netns=dict(type='str'), workload=dict(type='str'),
                           ip6=dict(type='str'))
    module = AnsibleModule(
        argument_spec=dict(
            pods=dict(type='list', elements='dict', options=pod_options, default=[]),
            lab_pods=dict(type='list', elements='dict', options=lab_pod_options, default=[]),
            policies=dict(type='list', elements='dict', default=[]),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        wanted = None
        if params['state'] == 'present':
            policies, problems = check_policies(params['policies'])
            if problems:
                raise LabError('policies: %d problem%s, nothing was changed:\n  - %s'
                               % (len(problems), '' if len(problems) == 1 else 's', '\n  - '.join(problems)))
            wanted = felix_rules.render(_pods(params['pods'], 'pods', True),
                                        _pods(params['lab_pods'], 'lab_pods', False), policies)
        binaries = dict((name, module.get_bin_path(name, required=wanted is not None))
                        for name in ('iptables-save', 'iptables-restore', 'ipset'))
        if not all(binaries.values()):  # state=absent on a host without iptables: the lab made nothing there
            module.exit_json(changed=False, chains=[], written=[], deleted=[], sets={})
        current, sets_now = read_state(module, binaries)
        changes = felix_rules.plan(current, wanted, sets_now)
        changed = felix_rules.changed(changes)
        result = {'changed': changed, 'chains': list(wanted['chains']) if wanted else [],
                  'written': changes['write'], 'deleted': changes['delete'],
                  'sets': dict(wanted['sets']) if wanted else {}}
        if module._diff:
            # Unchanged chains as saved, so the diff shows only what this run writes.
            after_chains = dict((name, lines if name in changes['write'] else current['chains'][name])
                                for name, lines in (wanted['chains'] if wanted else {}).items())
            kept = [line for line in _lab_builtin_lines(current) if line not in changes['unjump']]
            after_jumps = kept + ['-A' + wanted['jumps'][name][2:].replace(' 1 ', ' ', 1) for name in changes['insert']]
            result['diff'] = {
                'before': felix_rules.state_text(current['chains'], _lab_builtin_lines(current), sets_now),
                'after': felix_rules.state_text(after_chains, after_jumps, wanted['sets'] if wanted else {})}
        if changed and not module.check_mode:
            text = felix_rules.ipset_create_text(changes)
            if text:
                run_argv(module, [binaries['ipset'], 'restore', '-exist'], data=text)
            if changes['write'] or changes['delete'] or changes['insert'] or changes['unjump']:
                run_argv(module, [binaries['iptables-restore'], '--noflush'],
                         data=felix_rules.restore_text(changes, wanted))
            text = felix_rules.ipset_cleanup_text(changes)
            if text:
                run_argv(module, [binaries['ipset'], 'restore', '-exist'], data=text)
    except LabError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
