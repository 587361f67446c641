"""Validates rendered manifests of custom resources against their CRDs' schemas, strictly.

usage: validate_crds.py CRD_DIR MANIFEST...

Each manifest's documents are matched to a CRD of CRD_DIR by apiVersion and kind, and checked
against that version's openAPIV3Schema. As in `kubernetes-validate --strict`, a field the
schema does not define is an error (unless the schema preserves unknown fields). A kind with
no CRD in CRD_DIR is an error too.
"""
import copy
import pathlib
import sys

import jsonschema
import yaml


def strict(schema):
    """The schema with additionalProperties: false wherever properties are listed and neither
    additionalProperties nor x-kubernetes-preserve-unknown-fields says otherwise."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if ("properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def main():
    crd_dir, manifests = pathlib.Path(sys.argv[1]), sys.argv[2:]
    schemas = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = strict(version["schema"]["openAPIV3Schema"])
            # metadata is the API server's ObjectMeta: checked by Kubernetes, not this schema.
            schema.setdefault("properties", {})["metadata"] = {"type": "object"}
            schemas[(f"{group}/{version['name']}", kind)] = schema
    failures = 0
    for manifest in manifests:
        for doc in yaml.safe_load_all(pathlib.Path(manifest).read_text()):
            if not doc:
                continue
            key = (doc.get("apiVersion"), doc.get("kind"))
            name = f"{manifest}: {key[1]} {doc.get('metadata', {}).get('name')}"
            if key not in schemas:
                print(f"{name}: no CRD for {key[0]} {key[1]} in {crd_dir}")
                failures += 1
                continue
            errors = list(jsonschema.Draft7Validator(schemas[key]).iter_errors(doc))
            for e in errors:
                print(f"{name}: {'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}")
            failures += len(errors)
            if not errors:
                print(f"{name}: valid against its CRD")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
