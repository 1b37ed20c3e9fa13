#!/usr/bin/env python3
"""Validates a JSON document against one of the JSON schemas in registry-tests/fixtures/schemas,
with the `jsonschema` PyPI package (an implementation independent of wharf's writers).

Usage:
    python3 validate_schema.py SCHEMA.json DOCUMENT.json

The schemas beside SCHEMA (CycloneDX's bom-1.5 refers to spdx.schema.json and
jsf-0.82.schema.json by relative name) are registered under their `$id`, so no
network is used. Formats (`iri-reference`, `date-time`, ...) are checked too.
Exit status: 0 valid; 1 invalid (every error printed on stderr); 2 usage or I/O error.
"""

import json
import pathlib
import sys

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    schema_path, document_path = pathlib.Path(argv[1]), pathlib.Path(argv[2])
    try:
        schema = json.loads(schema_path.read_text())
        document = json.loads(document_path.read_text())
    except (OSError, ValueError) as e:
        print(f"validate_schema.py: {e}", file=sys.stderr)
        return 2
    resources = []
    for sibling in sorted(schema_path.parent.glob("*.json")):
        contents = json.loads(sibling.read_text())
        resource = Resource.from_contents(contents, default_specification=DRAFT7)
        resources.append((contents.get("$id", sibling.name), resource))
    registry = Registry().with_resources(resources)
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema, registry=registry, format_checker=validator_class.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    for error in errors:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        print(f"{document_path.name}: {where}: {error.message}", file=sys.stderr)
    if errors:
        return 1
    print(f"{document_path.name}: valid against {schema.get('$id', schema_path.name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
