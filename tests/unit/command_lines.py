"""Does a ``moodwatch ...`` command line, as written in the docs or a compose file, parse?

Resolves the sub-command path through the real click CLI (the lazy group imports each command
module) and parses the rest of the arguments without running anything: an unknown command, an
unknown option, a missing option value or a bad choice is a problem; missing required options
are not (a doc line may show only the part it talks about).
"""

from __future__ import annotations

import click

from moodwatch.cli import cli


def command_problem(argv: list[str]) -> str | None:
    """None when ``argv`` (starting with ``moodwatch``) parses, else what is wrong."""
    if not argv or argv[0] != "moodwatch":
        return f"not a moodwatch command: {argv}"
    command: click.Command = cli
    ctx = click.Context(cli, info_name="moodwatch")
    args = argv[1:]
    path = ["moodwatch"]
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        sub = command.get_command(ctx, args[0])
        if sub is None:
            return f"{' '.join(path)}: no sub-command {args[0]!r}"
        path.append(args[0])
        command, args = sub, args[1:]
        ctx = click.Context(command, info_name=path[-1], parent=ctx)
    if isinstance(command, click.Group) and not args:
        return f"{' '.join(path)} needs a sub-command"
    return _options_problem(command, ctx, args, " ".join(path))


# Option types whose values the docs give literally (paths and free text may be placeholders).
_CHECKED_TYPES = (click.Choice, click.types.IntParamType, click.types.FloatParamType,
                  click.types.BoolParamType)


def _options_problem(
    command: click.Command, ctx: click.Context, args: list[str], where: str
) -> str | None:
    parser = command.make_parser(ctx)
    try:
        values, extra, _ = parser.parse_args(list(args))
    except click.UsageError as exc:  # NoSuchOption, BadOptionUsage (an option missing its value)
        return f"{where}: {exc.format_message()}"
    if extra and not command.allow_extra_args:
        return f"{where}: unexpected extra arguments {extra}"
    for param in command.get_params(ctx):
        value = values.get(param.name) if param.name else None
        if not isinstance(param, click.Option) or value is None:
            continue
        if isinstance(param.type, _CHECKED_TYPES):
            try:
                param.type_cast_value(ctx, value)
            except click.BadParameter as exc:
                return f"{where}: {param.opts[-1]}: {exc.format_message()}"
    return None
