#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: lab_report
short_description: Write the lab's measurements and pictures to a report directory on the controller
version_added: 0.2.0
description:
  - Joins the runs P(labnet.calico.calico_measure_pairs#filter) chose with what M(labnet.calico.pod_iperf)
    measured, and writes to O(dest) - C(measure-MODE.json) (one entry per run - its kind C(underlay),
    C(same-host) or C(cross-host), mode, path, Mbit/s, RTT, ratio to the underlay, the PMTU verdict),
    C(measure-throughput.png) (a chart comparing every C(measure-*.json) of O(dest), one bar per mode) and
    C(topology-MODE.svg) (the lab drawn from its plan).
  - Returns the table the play prints - each pod path with its ratio to the underlay run it crossed.
  - Runs where the report is wanted, on the controller (C(delegate_to localhost)); the chart needs matplotlib there.
author:
  - labnet.calico contributors (@labnet-calico)
options:
  dest:
    description: Report directory (made when missing).
    type: path
    required: true
  mode:
    description: The lab's mode for the file names and entries; unset - the mode the cross-host routes showed.
    type: str
    choices: [bgp, ipip, vxlan]
  runs:
    description: The runs, as P(labnet.calico.calico_measure_pairs#filter) returned them.
    type: list
    elements: dict
    required: true
  results:
    description: The client result of M(labnet.calico.pod_iperf) per run id.
    type: dict
    required: true
  plan:
    description: The lab plan (P(labnet.calico.calico_lab_plan#filter)), for the topology diagram.
    type: dict
    required: true
  lab:
    description: Name of the lab, kept in the JSON.
    type: str
extends_documentation_fragment:
  - labnet.calico.attributes.NO_DIFF
  - labnet.calico.attributes
notes:
  - In check mode nothing is written; C(lines) lists the runs.
requirements:
  - matplotlib (the chart) where the module runs
'''

EXAMPLES = r'''
- name: Write the report
  labnet.calico.lab_report:
    dest: lab-report
    runs: "{{ calico_measure_runs }}"
    results: "{{ calico_measure_results }}"
    plan: "{{ calico_plan }}"
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
mode:
  description: The mode of the report.
  returned: always
  type: str
lines:
  description: The table - kind, pair, path, Mbit/s, RTT ms, ratio to the underlay, PMTU (in check mode the runs).
  returned: always
  type: list
  elements: str
entries:
  description: The entries of C(measure-MODE.json).
  returned: always
  type: list
  elements: dict
files:
  description: The files written (or that would be).
  returned: always
  type: list
  elements: str
'''

import glob
import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError, run_guarded
from ansible_collections.labnet.calico.plugins.module_utils.lab_pictures import throughput_png, topology_svg
from ansible_collections.labnet.calico.plugins.module_utils.measure import (
    check_document, lab_mode, report_document, report_entries, report_table,
)


def write_if_changed(path, text):
    old = None
    if os.path.exists(path):
        with open(path) as handle:
            old = handle.read()
    if old == text:
        return False
    with open(path + '.tmp', 'w') as handle:
        handle.write(text)
    os.rename(path + '.tmp', path)
    return True


def documents_in(dest):
    """Every sound measure-*.json of DEST, in mode order bgp, ipip, vxlan."""
    order = {'bgp': 0, 'ipip': 1, 'vxlan': 2}
    found = []
    for path in sorted(glob.glob(os.path.join(dest, 'measure-*.json'))):
        try:
            with open(path) as handle:
                document = json.load(handle)
        except (IOError, ValueError):
            continue
        if not check_document(document):
            found.append(document)
    return sorted(found, key=lambda d: order.get(d.get('mode'), 9))


def body(module):
    params = module.params
    runs = params['runs']
    results = params['results']
    missing = [run['id'] for run in runs if run['id'] not in results]
    if missing and not module.check_mode:
        raise LabError('results: no result for %s' % ', '.join(missing))
    failed = ['%s: %s' % (run_id, (results[run_id] or {}).get('msg')) for run_id in results
              if (results[run_id] or {}).get('failed')]
    if failed:
        raise LabError('runs failed: %s' % '; '.join(failed))
    probe = report_entries(runs, results, 'bgp')
    mode = lab_mode(probe, params['mode'])
    entries = report_entries(runs, results, mode)
    dest = params['dest']
    files = [os.path.join(dest, name) for name in
             ('measure-%s.json' % mode, 'measure-throughput.png', 'topology-%s.svg' % mode)]
    if module.check_mode:
        lines = ['check mode - nothing measured, nothing written; the runs:'] + [run['id'] for run in runs]
        module.exit_json(changed=True, mode=mode, lines=lines, entries=entries, files=files)
    lines = report_table(entries)
    if not os.path.isdir(dest):
        os.makedirs(dest, 0o755)
    document = report_document(entries, mode, params['lab'])
    changed = write_if_changed(files[0], json.dumps(document, indent=2, sort_keys=True) + '\n')
    changed = write_if_changed(files[2], topology_svg(params['plan'], mode)) or changed
    throughput_png(documents_in(dest), files[1])
    module.exit_json(changed=changed, mode=mode, lines=lines, entries=entries, files=files)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type='path', required=True),
            mode=dict(type='str', choices=['bgp', 'ipip', 'vxlan']),
            runs=dict(type='list', elements='dict', required=True),
            results=dict(type='dict', required=True),
            plan=dict(type='dict', required=True),
            lab=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    try:
        run_guarded(module, body)
    except (IOError, OSError) as exc:
        module.fail_json(msg='lab_report: %s' % exc)


if __name__ == '__main__':
    main()
