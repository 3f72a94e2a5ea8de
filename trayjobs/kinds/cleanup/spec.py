"""The base of filter and action models: they dump under the keys a config uses.

Some keys are not Python names (``not``) or clash with class attributes
(``name``, ``copy``), so their fields carry an alias. Params travel to the job
process as ``model_dump(mode="json")`` and are parsed again there, so a dump
must use the aliases whoever calls it.
"""

from __future__ import annotations

from typing import Any

from pydantic import SerializationInfo, SerializerFunctionWrapHandler, model_serializer

from ..base import KindParams

__all__ = ["Spec"]


class Spec(KindParams):
    @model_serializer(mode="wrap")
    def _dump_by_alias(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        data = handler(self)
        if not isinstance(data, dict):
            return data
        fields = type(self).model_fields
        return {(fields[k].alias or k) if k in fields else k: v for k, v in data.items()}
