"""The one error type of the expression language.

An :class:`ExpressionError` is a :class:`~airflow_provider_cylon.runtime.errors.SpecError`:
the JobSpec field that holds the expression (``where``, e.g. ``steps[2].where``)
is invalid. Its message names the whole expression, the offending fragment and,
where a column is involved, the column with its Arrow type, so that a user can
fix the text without reading a traceback.
"""
from __future__ import annotations

from airflow_provider_cylon.runtime.errors import CylonRuntimeError, SpecError


class ExpressionError(SpecError):
    """An expression is malformed, does not type-check, or failed to evaluate.

    :param message: what is wrong, with the values and types involved.
    :param expression: the whole expression (its SQL text).
    :param fragment: the offending part of it (SQL text), when narrower than the whole.
    :param where: the JobSpec field path that holds the expression, e.g. ``steps[2].where``.
    """

    def __init__(self, message: str, *, expression: str = "", fragment: str = "", where: str = "") -> None:
        self.reason = message
        self.expression = expression
        self.fragment = fragment
        self.where = where
        text = message
        if fragment and fragment != expression:
            text += f" (in fragment {fragment})"
        if expression:
            text += f" in expression {expression!r}"
        if where:
            super().__init__(where, text)
        else:  # no field path known (e.g. parsing outside a JobSpec): the message alone
            CylonRuntimeError.__init__(self, text)
            self.field = ""

    def located(self, *, expression: str | None = None, where: str | None = None) -> ExpressionError:
        """Return a copy that also names the whole expression and the field path.

        Inner code raises with the fragment only; the entry points add what they know.
        """
        return ExpressionError(
            self.reason,
            expression=self.expression or (expression or ""),
            fragment=self.fragment,
            where=self.where or (where or ""),
        )
