"""A function's environment variables as one typed model, spelt once: the stack renders them from the model's
fields (`render`), the function parses them with the same model (`parse`).

The stack cannot validate the values (at synth most are CDK tokens that resolve at deploy time), so `render`
checks the names only: a misspelt or missing required field fails the synth. `parse` validates the values when
the function starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel

Model = TypeVar("Model", bound=BaseModel)


def variable_names(model: type[BaseModel]) -> dict[str, str]:
    """field name -> environment variable (the field's alias)."""
    return {name: field.alias or name.upper() for name, field in model.model_fields.items()}


def render(model: type[BaseModel], **values: object) -> dict[str, str]:
    """The variables of `model` set to `values` (by field name); None values are left unset."""
    names = variable_names(model)
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise TypeError(f"{model.__name__} has no field(s) {unknown}")
    missing = sorted(n for n, f in model.model_fields.items() if f.is_required() and values.get(n) is None)
    if missing:
        raise TypeError(f"{model.__name__} needs {missing}")
    return {names[n]: v if isinstance(v, str) else str(v) for n, v in values.items() if v is not None}


def parse(model: type[Model], environ: Mapping[str, str] | None = None) -> Model:
    """`model` from the process environment (or `environ`): only its own variables are read."""
    env = os.environ if environ is None else environ
    return model.model_validate({var: env[var] for var in variable_names(model).values() if var in env})
