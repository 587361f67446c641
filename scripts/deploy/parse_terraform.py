"""Parse every terraform file (*.tf and terraform.tfvars.*) with python-hcl2; exit 1 on the
first that does not parse, naming it.

usage: parse_terraform.py DIR
"""

import pathlib
import sys

import hcl2


def main() -> None:
    root = pathlib.Path(sys.argv[1])
    files = sorted([*root.glob("*.tf"), *root.glob("terraform.tfvars*")])
    if not files:
        sys.exit(f"no terraform files in {root}")
    for path in files:
        try:
            with path.open() as f:
                hcl2.load(f)
        except Exception as e:  # the parser raises lark errors of many kinds
            sys.exit(f"{path}: does not parse as HCL2: {e}")
    print(f"{len(files)} terraform files parse")


if __name__ == "__main__":
    main()
