"""The report's template engine: report/report.md is a Jinja2 template.

`{{ key }}` or `{{ key | fmt }}` placeholders (the formats are the filters in FORMATS) and
`{% for %}` loops over the models. The values come from results/report/values.json (built by
:mod:`.values`). No result is typed into the report source, and a placeholder naming a value
the pipeline does not produce is an error, never blank.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import jinja2

from prml_pipeline.errors import PipelineError

# Numbers print a true minus sign (U+2212), as in the tables.
FORMATS: dict[str, Callable[[Any], str]] = {
    "pct": lambda value: f"{100 * float(value):.2f}\\%".replace("-", "\u2212"),
    "f2": lambda value: f"{float(value):.2f}".replace("-", "\u2212"),
    "f3": lambda value: f"{float(value):.3f}".replace("-", "\u2212"),
    "f4": lambda value: f"{float(value):.4f}".replace("-", "\u2212"),
    "int": lambda value: f"{int(value)}",
    "raw": str,
}
_TEMPLATE_NAME = "report.md"


class TemplateError(PipelineError, KeyError):
    """A placeholder names a value the pipeline does not produce, or an unknown format."""


class _Unknown(jinja2.StrictUndefined):
    """StrictUndefined whose error says which name is unknown, and nothing else, so that the
    error can quote the placeholder it sits in."""

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint or not isinstance(self._undefined_name, str):
            return super()._undefined_message
        return f"no value '{self._undefined_name}'"


def _template_line(error: BaseException, name: str) -> int | None:
    """The template line an error was raised on (Jinja2 keeps it in the traceback)."""
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
             if frame.filename == name]
    return lines[-1] if lines else getattr(error, "lineno", None)


_TAG = re.compile(r"\{\{(.*?)\}\}|\{%(.*?)%\}")
_KEY = re.compile(r"[A-Za-z_]\w*(?:\.\w+)*")


def _unknown_keys(source_line: str, unknown: str) -> list[str]:
    """The dotted keys in the line's placeholders up to the unknown name: vae.small.epochz."""
    expressions = " ".join(a or b for a, b in _TAG.findall(source_line))
    keys = [key.split(".") for key in _KEY.findall(expressions)]
    return list(dict.fromkeys(".".join(parts[:parts.index(unknown) + 1])
                              for parts in keys if unknown in parts))


def render(template: str, values: Mapping[str, Any], name: str = _TEMPLATE_NAME) -> str:
    """Fill the template; an unknown key or format is an error naming it and its line."""
    environment = jinja2.Environment(loader=jinja2.FunctionLoader(
                                         lambda _: (template, name, lambda: True)),
                                     undefined=_Unknown, autoescape=False,
                                     keep_trailing_newline=True,
                                     # `{#fig:name}` is pandoc's label, not a comment
                                     comment_start_string="{##", comment_end_string="##}")
    environment.filters.update(FORMATS)
    try:
        return environment.get_template(name).render(values)
    except jinja2.TemplateSyntaxError as error:  # includes an unknown filter (format)
        raise TemplateError(f"{name}, line {error.lineno}: {error.message} (formats: "
                            f"{', '.join(sorted(FORMATS))})") from None
    except jinja2.UndefinedError as error:
        line = _template_line(error, name)
        unknown = re.fullmatch(r"no value '(\w+)'", error.message or "")
        keys = (_unknown_keys(template.splitlines()[line - 1], unknown.group(1))
                if line and unknown else [])
        what = f"no value {' or '.join(map(repr, keys))}" if keys else error.message
        raise TemplateError(f"{name}, line {line}: {what}; the values are those in "
                            "results/report/values.json") from None


