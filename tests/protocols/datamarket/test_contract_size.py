"""DataMarket.vy fits EIP-170's limit on deployed code (24,576 bytes), with the margin printed:
the on-chain check of every exclusion (sorting the scores) is part of that code."""

from __future__ import annotations

import warnings

from mercato.chain.compile import CONTRACTS_DIR

EIP170_LIMIT = 24_576


def test_the_runtime_code_fits_eip_170() -> None:
    import vyper
    from vyper.compiler.input_bundle import FilesystemInputBundle

    path = CONTRACTS_DIR / "DataMarket.vy"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # vyper warns, and still compiles, above the limit
        output = vyper.compile_code(
            path.read_text(),
            contract_path=path.name,
            resolved_path=path,
            input_bundle=FilesystemInputBundle([CONTRACTS_DIR]),
            output_formats=["bytecode_runtime"],
        )
    size = len(bytes.fromhex(output["bytecode_runtime"].removeprefix("0x")))
    print(f"\nDataMarket runtime code: {size:,} bytes, {EIP170_LIMIT - size:,} under EIP-170")
    assert size <= EIP170_LIMIT
