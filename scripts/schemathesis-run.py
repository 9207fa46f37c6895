"""schemathesis's command line, with one workaround for CPython 3.11.

CPython 3.11 can raise SystemError ("AST constructor recursion depth mismatch") from ast.parse when called deep in a
stack, which Hypothesis does to describe a lambda for its own display. The description is cosmetic: on that error it
falls back to "<unknown>", as Hypothesis does when it cannot find a lambda's source.
"""
import sys

from hypothesis.internal import lambda_sources

_describe = lambda_sources._lambda_description


def _described(f, *args, **kwargs):
    try:
        return _describe(f, *args, **kwargs)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _described

from schemathesis.cli import schemathesis  # noqa: E402

sys.exit(schemathesis())
