"""Derived columns: small typed expressions over columns, unit-checked when loaded.

``speed = distance / air_time`` is parsed with Python's :mod:`ast` into a whitelisted tree
(numbers, column names, ``+ - * /``, unary minus, comparisons, ``abs``, ``sqrt``,
``log``, ``exp``).  :func:`compile_expression` works out the unit of every node with
pint and refuses what makes no physical sense (``minute + mile``, ``EUR < mile``,
``log(minute)``) before any data is read.  Operands of ``+``, ``-`` and comparisons are
converted to the left operand's unit, so ``hour + minute`` is computed right.  A bare
number takes the unit of the other operand there (``air_time > 0``).

The same compiled tree evaluates a whole Arrow batch (:meth:`Expr.arrow`) and one record
(:meth:`Expr.scalar`).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from suture.errors import ExpressionError, UnitError
from suture.schema.units import canonical, conversion, registry

__all__ = ["Expr", "ExpressionError", "compile_expression"]


_BIN: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
}
_CMP: dict[type[ast.cmpop], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}
_ARROW_BIN: dict[str, Callable[[Any, Any], Any]] = {
    "+": pc.add,
    "-": pc.subtract,
    "*": pc.multiply,
    "/": pc.divide,
    "<": pc.less,
    "<=": pc.less_equal,
    ">": pc.greater,
    ">=": pc.greater_equal,
    "==": pc.equal,
    "!=": pc.not_equal,
}
_PY_BIN: dict[str, Callable[[float, float], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b != 0 else (math.nan if a == 0 else math.copysign(math.inf, a)),
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
_FUNCS = ("abs", "sqrt", "log", "exp")
_BACKTICK = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Expr:
    """A compiled, unit-checked expression node.

    Attributes
    ----------
    op : str
        ``num``, ``col``, ``neg``, a binary operator, a comparison or a function name.
    unit : str
        The unit of the value (canonical pint spelling, "" for none).
    boolean : bool
        Whether the value is true/false (a comparison).
    args : tuple of Expr
    value : float or str
        The number of a ``num`` node or the column name of a ``col`` node.
    scale, offset : float
        Applied to the second argument of ``+``, ``-`` and comparisons to bring it to the
        first argument's unit.
    """

    op: str
    unit: str
    boolean: bool = False
    args: tuple[Expr, ...] = ()
    value: float | str = 0.0
    scale: float = 1.0
    offset: float = 0.0

    def columns(self) -> set[str]:
        """The column names the expression reads."""
        if self.op == "col":
            return {str(self.value)}
        return set().union(*(a.columns() for a in self.args)) if self.args else set()

    def arrow(self, env: Mapping[str, pa.Array]) -> Any:
        """Evaluate on float64 Arrow arrays of equal length (nulls propagate)."""
        if self.op == "num":
            return pa.scalar(float(self.value), pa.float64())
        if self.op == "col":
            return env[str(self.value)]
        if self.op == "neg":
            return pc.negate(self.args[0].arrow(env))
        if self.op in _FUNCS:
            x = self.args[0].arrow(env)
            if self.op == "abs":
                return pc.abs(x)
            if self.op == "sqrt":
                return pc.sqrt(x)
            if self.op == "log":
                return pc.ln(x)
            return pc.exp(x)
        left = self.args[0].arrow(env)
        right = self.args[1].arrow(env)
        if self.scale != 1.0 or self.offset != 0.0:
            right = pc.add(pc.multiply(right, self.scale), self.offset)
        return _ARROW_BIN[self.op](left, right)

    def scalar(self, env: Mapping[str, float | None]) -> Any:
        """Evaluate on one record of floats; ``None`` (missing) propagates."""
        if self.op == "num":
            return float(self.value)
        if self.op == "col":
            return env[str(self.value)]
        values = [a.scalar(env) for a in self.args]
        if any(v is None for v in values):
            return None
        if self.op == "neg":
            return -values[0]
        if self.op in _FUNCS:
            return _py_func(self.op, values[0])
        right = values[1] * self.scale + self.offset
        return _PY_BIN[self.op](values[0], right)


def _py_func(name: str, x: float) -> float:
    if name == "abs":
        return abs(x)
    if name == "sqrt":
        return math.sqrt(x) if x >= 0 else math.nan
    if name == "log":
        return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def compile_expression(text: str, units: Mapping[str, str | None]) -> Expr:
    """Parse ``text`` and check its units against the columns' units.

    Parameters
    ----------
    text : str
        The expression.
    units : mapping of str to str or None
        Unit of every numeric column ("" for none); ``None`` marks a column that exists
        but is not numeric (it cannot appear in arithmetic).

    Raises
    ------
    ExpressionError
        For syntax outside the whitelist, an unknown column, or units that do not agree.
    """
    names: dict[str, str] = {}

    def hide(match: re.Match[str]) -> str:
        alias = f"__c{len(names)}"
        names[alias] = match.group(1)
        return alias

    try:
        tree = ast.parse(_BACKTICK.sub(hide, text.strip()), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse {text!r}: {exc.msg}") from None
    return _Compiler(text, units, names).node(tree.body)


class _Compiler:
    def __init__(self, text: str, units: Mapping[str, str | None], names: dict[str, str]):
        self.text = text
        self.units = units
        self.names = names

    def fail(self, message: str) -> ExpressionError:
        return ExpressionError(f"in {self.text!r}: {message}")

    def node(self, n: ast.expr) -> Expr:
        if isinstance(n, ast.Constant) and isinstance(n.value, int | float):
            if isinstance(n.value, bool):
                raise self.fail("true/false constants are not numbers")
            return Expr("num", "", value=float(n.value))
        if isinstance(n, ast.Name):
            return self.column(self.names.get(n.id, n.id))
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub | ast.UAdd):
            inner = self.numeric(self.node(n.operand))
            return inner if isinstance(n.op, ast.UAdd) else Expr("neg", inner.unit, args=(inner,))
        if isinstance(n, ast.BinOp) and type(n.op) in _BIN:
            return self.binary(_BIN[type(n.op)], self.node(n.left), self.node(n.right))
        if isinstance(n, ast.Compare) and len(n.ops) == 1 and type(n.ops[0]) in _CMP:
            return self.binary(_CMP[type(n.ops[0])], self.node(n.left), self.node(n.comparators[0]))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in _FUNCS:
            if len(n.args) != 1 or n.keywords:
                raise self.fail(f"{n.func.id}() takes one argument")
            return self.function(n.func.id, self.numeric(self.node(n.args[0])))
        shown = ast.unparse(n)
        raise self.fail(
            f"{shown!r} is not allowed; use numbers, column names, + - * /, comparisons, "
            "abs, sqrt, log and exp"
        )

    def column(self, name: str) -> Expr:
        if name not in self.units:
            known = ", ".join(sorted(self.units)) or "none"
            raise self.fail(f"unknown column {name!r}; columns are: {known}")
        unit = self.units[name]
        if unit is None:
            raise self.fail(f"column {name!r} is not a number, so it cannot be computed with")
        return Expr("col", unit, value=name)

    def numeric(self, e: Expr) -> Expr:
        if e.boolean:
            raise self.fail("a comparison gives true/false, which cannot be computed with")
        return e

    def binary(self, op: str, left: Expr, right: Expr) -> Expr:
        self.numeric(left)
        self.numeric(right)
        if op in ("*", "/"):
            ureg = registry()
            a = ureg.parse_units(left.unit) if left.unit else ureg.dimensionless
            b = ureg.parse_units(right.unit) if right.unit else ureg.dimensionless
            combined = a * b if op == "*" else a / b
            unit = "" if combined == ureg.dimensionless else canonical(str(combined))
            return Expr(op, unit, args=(left, right))
        comparison = op not in ("+", "-")
        if left.op == "num" and right.op != "num":
            left = Expr("num", right.unit, value=left.value)
        if right.op == "num":
            right = Expr("num", left.unit, value=right.value)
        try:
            conv = conversion(right.unit, left.unit)
        except UnitError:
            verb = "compare" if comparison else ("add" if op == "+" else "subtract")
            raise self.fail(
                f"cannot {verb} {_describe(right)} {'with' if comparison else 'and'} "
                f"{_describe(left)}: their units do not convert"
            ) from None
        if conv.offset and not comparison:
            raise self.fail(
                f"cannot {op} {right.unit} and {left.unit}: offset units (temperatures) "
                "need a difference unit such as delta_degC"
            )
        return Expr(
            op,
            "" if comparison else left.unit,
            boolean=comparison,
            args=(left, right),
            scale=conv.scale,
            offset=conv.offset,
        )

    def function(self, name: str, arg: Expr) -> Expr:
        if name == "abs":
            return Expr(name, arg.unit, args=(arg,))
        if name == "sqrt":
            ureg = registry()
            unit = ureg.parse_units(arg.unit) ** 0.5 if arg.unit else ureg.dimensionless
            return Expr(name, "" if not arg.unit else canonical(str(unit)), args=(arg,))
        if arg.unit:
            raise self.fail(
                f"{name}() needs a plain number, got {_describe(arg)}; divide by a unit first"
            )
        return Expr(name, "", args=(arg,))


def _describe(e: Expr) -> str:
    what = f"{e.value!r}" if e.op == "col" else "a value"
    return f"{what} in {e.unit}" if e.unit else f"{what} without unit"
