# Reads a JSON list of -e argument lists on stdin; prints, for each, what Ansible's own
# load_extra_vars makes of them (run in the current directory, so @file is relative to it), or
# {"error": ...}. The oracle of test/unit/extravars-ansible.test.ts.
import json, sys
from ansible import context
from ansible.module_utils.common.collections import ImmutableDict
from ansible.parsing.ajson import AnsibleJSONEncoder
from ansible.parsing.dataloader import DataLoader
from ansible.utils.vars import load_extra_vars

out = []
for args in json.load(sys.stdin):
    context.CLIARGS = ImmutableDict(extra_vars=tuple(args))
    try:
        value = load_extra_vars(DataLoader())
        out.append({"value": json.loads(json.dumps(value, cls=AnsibleJSONEncoder))})
    except Exception as e:
        out.append({"error": type(e).__name__})
json.dump(out, sys.stdout)
