"""``.. regwire-command::``: the command's reference, made from its argument parser at build
time, so that the page cannot drift from what ``regwire --help`` says."""

from __future__ import annotations

import argparse
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles


def _subcommands(
    parser: argparse.ArgumentParser,
) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """Each subcommand: its name, its one-line help, its parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            return [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    return []


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    if action.choices and not isinstance(action, argparse._SubParsersAction):
        text += f" (one of: {', '.join(map(str, action.choices))})"
    shown = action.default not in (None, False, argparse.SUPPRESS) and not action.required
    if shown and action.option_strings and not isinstance(action.default, list):
        text += f" (default: {action.default})"
    return text.replace("%(default)s", str(action.default)).replace("*", "\\*")


class RegwireCommand(SphinxDirective):
    has_content = False

    def run(self) -> list[nodes.Node]:
        from regwire.cli import _parser

        parser = _parser()
        lines: list[str] = []
        for name, summary, sub in _subcommands(parser):
            lines += [name, "-" * len(name), ""]
            description = sub.description or summary
            if description:
                lines += [description, ""]
            usage = sub.format_usage().replace("usage: ", "").strip()
            lines += ["::", "", "    " + " ".join(usage.split()), ""]
            for action in sub._actions:
                if isinstance(action, argparse._HelpAction):
                    continue
                names = ", ".join(action.option_strings) or (action.metavar or action.dest)
                metavar = action.metavar or (
                    action.dest.upper() if action.option_strings and action.nargs != 0 else ""
                )
                if action.option_strings and action.nargs != 0:
                    names += f" {metavar}"
                lines += [f"``{names}``", f"    {_help(action) or '(see above)'}", ""]
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source="regwire --help"), node)
        return list(node.children)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("regwire-command", RegwireCommand)
    return {"parallel_read_safe": True}
