# Reads a JSON list of YAML texts on stdin; prints a JSON list: for each, the value Ansible's own YAML
# loader (AnsibleLoader: PyYAML's SafeLoader rules) gives, written with Ansible's JSON encoder (dates
# as isoformat), or {"error": "..."} where the loader raises. The oracle of test/unit/yaml11-pyyaml.test.ts.
import json, sys
from ansible.parsing.yaml.loader import AnsibleLoader
from ansible.parsing.ajson import AnsibleJSONEncoder


def special(v):
    # JSON has no inf/nan: written as strings, the test maps its own values the same way.
    if isinstance(v, float) and (v != v or v in (float('inf'), float('-inf'))):
        return 'nan' if v != v else ('inf' if v > 0 else '-inf')
    if isinstance(v, dict):
        return {k: special(x) for k, x in v.items()}
    if isinstance(v, list):
        return [special(x) for x in v]
    return v

out = []
for text in json.load(sys.stdin):
    try:
        loader = AnsibleLoader(text)
        try:
            value = loader.get_single_data()
        finally:
            loader.dispose()
        out.append({"value": special(json.loads(json.dumps(value, cls=AnsibleJSONEncoder)))})
    except Exception as e:
        out.append({"error": type(e).__name__})
json.dump(out, sys.stdout)
