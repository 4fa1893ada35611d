"""Light modules stay light: an aggregation rule imports no data sets, trainer, compiler or node.

Each check runs in a fresh interpreter, since this test process has long imported them all.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ["sklearn", "torch", "tenseal", "vyper", "boa", "rdflib", "eth_account", "requests"]

PROGRAM = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
loaded = {name.split(".")[0] for name in sys.modules}
print(json.dumps(sorted(loaded & set(json.loads(sys.argv[2])))))
"""


@pytest.mark.parametrize(
    "module", ["mercato.ml.aggregate", "mercato.ml.aggregate.krum", "mercato.crypto.merkle"]
)
def test_a_light_module_loads_no_heavy_dependency(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, module, json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert json.loads(result.stdout) == []
