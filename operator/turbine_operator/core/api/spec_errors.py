"""pydantic's validation errors as SpecError, naming the field the way a user writes it.

pydantic locates an error by position (`additionalTemplates`, 0, `name`); users know entries by their key,
so a list-map entry is named by it when it has one (spec.additionalTemplates[Dags].name) and by its index
otherwise, and an error inside a list of plain values names the list.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from turbine_operator.core.api.api_types import FIELD_ERROR
from turbine_operator.core.errors import SpecError

_MESSAGES = {
    "missing": "is required",
    "dataclass_type": "must be an object",
    "dict_type": "must be an object",
    "tuple_type": "must be a list",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
}


def spec_error(model: type[Any], raw: object, error: ValidationError) -> SpecError:
    """The first error of `error`, raised validating `raw` as `model`, as a SpecError below `spec`."""
    return spec_errors(model, raw, error)[0]


def spec_errors(model: type[Any], raw: object, error: ValidationError) -> list[SpecError]:
    """Every error of `error`, in pydantic's order, each as a SpecError naming its field."""
    found = []
    for detail in error.errors(include_url=False):
        field = _field_path(model, raw, detail["loc"])
        context = detail.get("ctx") or {}
        if detail["type"] == FIELD_ERROR and "field" in context:
            below = str(context["field"])
            field += below if below.startswith("[") else f".{below}"
        found.append(SpecError(field, _MESSAGES.get(detail["type"], detail["msg"])))
    return found


def _field_path(model: type[Any] | None, raw: object, loc: Sequence[int | str]) -> str:
    path, node = "spec", raw
    items: type[Any] | None = None  # the model of the entries, while walking into a list
    map_key = ""
    for part in loc:
        if isinstance(part, int):
            if items is None:
                break  # a list of plain values: the list is the field
            entry = node[part] if isinstance(node, Sequence) and part < len(node) else None
            label = entry.get(map_key) if isinstance(entry, Mapping) else None
            path += f"[{label}]" if isinstance(label, str) and label else f"[{part}]"
            model, node, items = items, entry, None
            continue
        path += f".{part}"
        node = node.get(part) if isinstance(node, Mapping) else None
        info = _field(model, part)
        model, items, map_key = None, None, ""
        if info is None:
            continue
        annotation, extra = info
        if typing.get_origin(annotation) is tuple:
            item = typing.get_args(annotation)[0]
            if hasattr(item, "__pydantic_fields__"):
                items, map_key = item, str(extra.get("x-kubernetes-list-map-keys", [""])[0])
        elif hasattr(annotation, "__pydantic_fields__"):
            model = annotation
    return path


def _field(model: type[Any] | None, alias: str) -> tuple[Any, Mapping[str, Any]] | None:
    if model is None:
        return None
    for name, info in model.__pydantic_fields__.items():
        if (info.alias or name) == alias:
            annotation = info.annotation
            members = [member for member in typing.get_args(annotation) if member is not type(None)]
            if type(None) in typing.get_args(annotation) and len(members) == 1:
                annotation = members[0]  # X | None
            extra = dict(info.json_schema_extra) if isinstance(info.json_schema_extra, Mapping) else {}
            if typing.get_origin(annotation) is typing.Annotated:
                # Annotated[X, ...] | None keeps its Field() metadata inside the Annotated.
                annotation, *metadata = typing.get_args(annotation)
                for marker in metadata:
                    more = getattr(marker, "json_schema_extra", None)
                    extra |= more if isinstance(more, Mapping) else {}
            return annotation, extra
    return None
