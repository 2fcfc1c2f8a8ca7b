# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: preload
type: aggregate
short_description: Load the collection's filter plugins once in the controller, before any task
version_added: 0.2.0
description:
  - Ansible runs every task of every host in a worker process forked from the controller, and a worker
    that meets a C(labnet.calico.*) filter imports the collection's filter plugins and their
    C(module_utils) from source again (the collection loader keeps no bytecode), even for a task whose
    C(when) is false.
  - This callback imports them once in the controller when the playbook starts, so that every worker
    inherits them. It prints nothing and changes no result.
  - Enabled in this collection's C(ansible.cfg) (C(callbacks_enabled)); without it runs are the same, only slower.
author:
  - labnet.calico contributors (@labnet-calico)
requirements:
  - enable in configuration (C(callbacks_enabled = labnet.calico.preload))
'''

from ansible.plugins.callback import CallbackBase
from ansible.plugins.loader import filter_loader

# One name is enough: looking a collection filter up imports every filter file of the collection.
PRELOAD_FILTER = 'labnet.calico.calico_provider'


class CallbackModule(CallbackBase):
    """Import the collection's filter plugins in the controller before the workers fork."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'labnet.calico.preload'
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_start(self, playbook):
        filter_loader.get(PRELOAD_FILTER)
