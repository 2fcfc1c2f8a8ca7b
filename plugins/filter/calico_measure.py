# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What measure runs (the pairs, from the plan) and the seeds' kind of drawing of the lab."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError
from ansible_collections.labnet.calico.plugins.module_utils.lab_pictures import lab_ascii
from ansible_collections.labnet.calico.plugins.module_utils.measure import measure_pairs


def calico_measure_pairs(plan, port=5201):
    return measure_pairs(plan, int(port))


def calico_lab_ascii(plan, mode='any'):
    try:
        return lab_ascii(plan, mode or 'any')
    except LabError as exc:
        raise AnsibleFilterError('calico_lab_ascii: %s' % exc)


class FilterModule(object):
    def filters(self):
        return {
            'calico_measure_pairs': calico_measure_pairs,
            'calico_lab_ascii': calico_lab_ascii,
        }
