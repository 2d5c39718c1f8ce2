#!/usr/bin/python3
"""Oracle for templated host variables: Ansible's own Templar over the variables VariableManager gives a
host (what a task's connection and module options are templated with), many cases in one process.

stdin: {"sources": [...], "basedir": DIR, "cases": [{"host": H, "var": V}, ...]}
stdout: [{"value": ..., "type": "str"} or {"error": "..."}, ...] in case order.
"""
import json
import sys

from ansible import context
from ansible.errors import AnsibleError
from ansible.inventory.manager import InventoryManager
from ansible.module_utils.common.collections import ImmutableDict
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible.vars.hostvars import HostVars
from ansible.vars.manager import VariableManager

context.CLIARGS = ImmutableDict({})
req = json.load(sys.stdin)
loader = DataLoader()
loader.set_basedir(req['basedir'])
inv = InventoryManager(loader=loader, sources=req['sources'])
vm = VariableManager(loader=loader, inventory=inv)
# As the TaskQueueManager does, so templates see hostvars.
vm._hostvars = HostVars(inventory=inv, variable_manager=vm, loader=loader)
out = []
cache = {}


def plain(v):
    # AnsibleUnsafeText and friends as plain JSON values.
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v)
    return str(v)


for case in req['cases']:
    host = inv.get_host(case['host'])
    if host.name not in cache:
        cache[host.name] = vm.get_vars(host=host, include_hostvars=True)
    variables = cache[host.name]
    try:
        v = Templar(loader=loader, variables=variables).template(variables[case['var']])
        out.append({'value': plain(v), 'type': type(v).__name__})
    except AnsibleError as e:
        out.append({'error': str(e)})
    except Exception as e:  # Jinja's own errors that escape Ansible's wrapping
        out.append({'error': '%s: %s' % (type(e).__name__, e)})
json.dump(out, sys.stdout)
