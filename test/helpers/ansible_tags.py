"""Ansible's own answers for task selection: Taggable.evaluate_tags (--tags/--skip-tags) and the fnmatch
--start-at-task uses. Reads {"tags": [[task_tags, only, skip], ...], "globs": [[name, pattern], ...]} on stdin,
prints {"tags": [bool, ...], "globs": [bool, ...]}."""
import json
import sys
from fnmatch import fnmatch

from ansible.parsing.dataloader import DataLoader
from ansible.playbook.task import Task

req = json.load(sys.stdin)
loader = DataLoader()
tags = []
for task_tags, only, skip in req.get("tags", []):
    t = Task()
    t._loader = loader
    t.tags = task_tags
    tags.append(bool(t.evaluate_tags(only, skip, {})))
globs = [bool(fnmatch(name, pattern)) for name, pattern in req.get("globs", [])]
json.dump({"tags": tags, "globs": globs}, sys.stdout)
