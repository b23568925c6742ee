"""Strict pydantic models whose cross-field checks never hide other problems; bounded numbers.

The config models (:mod:`linewatch.pipeline.config`) derive from :class:`Strict`, so that
``check-config`` reports every problem of a file in one pass, and use the number types
below, so that no number is unbounded or non-finite.

>>> from typing import Iterator
>>> class Spec(Strict):
...     lsl: Value
...     usl: Value
...     window_s: Period = 60.0
...     _checks = ("_ordered",)
...     def _ordered(self) -> Iterator[str]:
...         if self.lsl >= self.usl:
...             yield "lsl must be below usl"
>>> try:
...     Spec.model_validate({"lsl": 2, "usl": 1, "window_s": float("inf")})
... except ValidationError as exc:
...     print([(e["loc"], e["msg"]) for e in exc.errors()])
[(('window_s',), 'Input should be a finite number'), ((), 'Value error, lsl must be below usl')]
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

__all__ = [
    "COUNT_MAX",
    "SIGMA_MIN",
    "VALUE_MAX",
    "YEAR_S",
    "Alpha",
    "Count",
    "Period",
    "Seconds",
    "Sigma",
    "Strict",
    "Value",
    "duplicates",
    "names_of",
]

# -- ranges ------------------------------------------------------------------------------
# Every number has bounds a plant could need and the code can hold. Durations stop at a
# year: timedelta holds ~2.7e14 s, but a window or lateness beyond a year is a typo that
# would otherwise fail at start (OverflowError) or mid-stream. Values and limits stay
# within +-1e15, so their squares and sums stay far from float overflow. NaN and infinity
# are refused everywhere (``allow_inf_nan=False``).

YEAR_S = 366 * 24 * 3600.0
VALUE_MAX = 1e15
SIGMA_MIN = 1e-12
COUNT_MAX = 1_000_000

#: A measured value, a limit or a target.
Value = Annotated[float, Field(ge=-VALUE_MAX, le=VALUE_MAX)]
#: A process sigma: positive, and not so small that dividing by it overflows.
Sigma = Annotated[float, Field(ge=SIGMA_MIN, le=VALUE_MAX)]
#: A duration that may be zero (lateness, lags), in seconds.
Seconds = Annotated[float, Field(ge=0.0, le=YEAR_S)]
#: A period or window, in seconds: at least a millisecond (timedelta has microseconds).
Period = Annotated[float, Field(ge=0.001, le=YEAR_S)]
#: Records per batch or page, points per window, and other counts held in memory.
Count = Annotated[int, Field(ge=1, le=COUNT_MAX)]
#: A false-alarm probability or significance level.
Alpha = Annotated[float, Field(ge=1e-9, lt=1.0)]


class Strict(BaseModel):
    """Unknown keys and non-finite numbers are errors; cross-field checks never hide others.

    A pydantic ``model_validator(mode="after")`` runs only when every field of its model
    is valid, so a cross-field problem used to show up only after the field errors were
    fixed (``check-config`` took several rounds). Here the cross-field checks are the
    methods named in ``_checks``; each yields its problems, and when some fields are bad
    they run on the fields that are good (a check that reads a bad field is skipped:
    that field's own error is already reported).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    _checks: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="wrap")
    @classmethod
    def _every_problem(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            model = handler(data)
        except ValidationError as exc:
            partial = cls._partial(data, exc)
            problems = partial._cross_problems(partial=True) if partial is not None else []
            if not problems:
                raise
            raise _with_problems(exc.errors(), problems, data) from None
        problems = model._cross_problems(partial=False)
        if problems:
            raise _with_problems([], problems, data)
        return model

    def _cross_problems(self, *, partial: bool) -> list[str]:
        problems: list[str] = []
        for name in self._checks:
            try:
                problems.extend(getattr(self, name)())
            except AttributeError:
                if not partial:
                    raise
        return problems

    @classmethod
    def _partial(cls, data: Any, exc: ValidationError) -> Self | None:
        """The model built from its valid fields only; bad fields are left unset."""
        if not isinstance(data, Mapping):
            return None
        failed = {e["loc"][0] for e in exc.errors() if e["loc"]}
        values: dict[str, Any] = {}
        broken: list[str] = []
        for name, field in cls.model_fields.items():
            key = field.alias or name
            if key not in data:
                if key in failed:
                    broken.append(name)
                continue
            try:
                if key in failed:
                    values[name] = _valid_items(cls, name, data[key])
                else:
                    values[name] = _field_adapter(cls, name).validate_python(data[key])
            except (ValidationError, TypeError):
                broken.append(name)
        model = cls.model_construct(**values)
        for name in broken:
            model.__dict__.pop(name, None)
        return model


@functools.cache
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    field = model.model_fields[name]
    return TypeAdapter(Annotated[field.annotation, field])  # type: ignore[arg-type]


def _valid_items(model: type[BaseModel], name: str, value: Any) -> list[Any]:
    """The items of a list field, each as valid as it gets (for checks across items).

    A bad item that is a model is kept as its partial model, so that, say, a duplicate
    station name is still found when the station has a bad key of its own.
    """
    annotation = model.model_fields[name].annotation
    if typing.get_origin(annotation) is not list or not isinstance(value, list):
        raise TypeError(f"{name} is not a list")
    item_type = typing.get_args(annotation)[0]
    adapter = TypeAdapter[Any](item_type)
    items = []
    for item in value:
        try:
            items.append(adapter.validate_python(item))
        except ValidationError as exc:
            if isinstance(item_type, type) and issubclass(item_type, Strict):
                partial = item_type._partial(item, exc)
                if partial is not None:
                    items.append(partial)
    return items


def names_of(items: Sequence[Any], *fields: str) -> list[str]:
    """``a/b`` names of items; an item whose name fields are bad (unset) is left out."""
    found = []
    for item in items:
        parts = [getattr(item, field, None) for field in fields]
        if all(isinstance(part, str) for part in parts):
            found.append("/".join(str(part) for part in parts))
    return found


def _with_problems(errors: Sequence[Any], problems: Sequence[str], data: Any) -> ValidationError:
    """Field errors (kept as they are) plus this model's cross-field problems."""
    details: list[InitErrorDetails] = [
        InitErrorDetails(
            type=PydanticCustomError(error["type"], error["msg"]),
            loc=error["loc"],
            input=error["input"],
        )
        for error in errors
    ]
    details += [
        InitErrorDetails(
            type=PydanticCustomError("value_error", "Value error, {error}", {"error": problem}),
            loc=(),
            input=data,
        )
        for problem in problems
    ]
    return ValidationError.from_exception_data("Config", details)


def duplicates(names: Sequence[str], what: str, skip_first: int = 0) -> Iterator[str]:
    """One problem per repeated name; repeats among the first ``skip_first`` are not ours."""
    seen: set[str] = set()
    for position, name in enumerate(names):
        if name in seen and position >= skip_first:
            yield f"duplicate {what} {name!r}"
        seen.add(name)
