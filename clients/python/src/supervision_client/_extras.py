"""The adapters need their framework, installed as an extra of this package: when it is missing,
the error says which extra to install instead of naming a module the user never imported."""

from __future__ import annotations


def missing_extra(missing: ModuleNotFoundError, extra: str, feature: str) -> ModuleNotFoundError:
    """The error to raise (from `missing`) when `feature` finds its framework absent."""
    return ModuleNotFoundError(
        f'{feature} needs the {extra} extra: pip install "supervision-client[{extra}]" '
        f'(from a checkout: pip install "./clients/python[{extra}]")',
        name=missing.name,
    )
