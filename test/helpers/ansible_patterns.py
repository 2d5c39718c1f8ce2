#!/usr/bin/python3
"""Oracle for host patterns: Ansible's own InventoryManager (the code `ansible PATTERN --list-hosts` and
ansible-playbook run) evaluates every case of one inventory in one process (ansible's CLI costs ~1 s a call).

stdin: {"sources": [...], "cases": [{"pattern": P, "limit": L or null}, ...]}
stdout: [{"hosts": [...]} or {"error": "..."}, ...] in case order; warnings go to stderr as Ansible prints them.
"""
import json
import sys

from ansible import context
from ansible.module_utils.common.collections import ImmutableDict
from ansible.parsing.dataloader import DataLoader
from ansible.inventory.manager import InventoryManager
from ansible.errors import AnsibleError

context.CLIARGS = ImmutableDict({})
req = json.load(sys.stdin)
inv = InventoryManager(loader=DataLoader(), sources=req['sources'])
out = []
for case in req['cases']:
    inv.clear_caches()
    try:
        inv.subset(case.get('limit'))
        # get_hosts, as PlaybookExecutor picks a play's hosts (list_hosts would answer a limited-away
        # localhost pattern with the pattern itself).
        hosts = inv.get_hosts(case['pattern'])
        out.append({'hosts': [h.name for h in hosts]})
    except AnsibleError as e:
        out.append({'error': str(e)})
json.dump(out, sys.stdout)
