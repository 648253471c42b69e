"""The `publish` command line: parse arguments, call one function, map errors to exit codes.

Commands live one per module in `publisher.commands`; this file only registers them, so a new
command touches one line here. Start-up stays light: a command module imports its heavy modules
(pydantic, gguf/numpy, httpx, the Hub and Ollama clients, jinja2) inside the function that runs,
and typer builds a command's options only when the command line names it (or `--help` lists it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperGroup
from typer.models import CommandInfo

from publisher import __version__, console
from publisher.commands.check_template import check_template
from publisher.commands.init import init
from publisher.commands.release import release
from publisher.commands.render import render
from publisher.commands.seal import seal
from publisher.commands.smoke import smoke
from publisher.commands.status import status
from publisher.commands.validate import validate
from publisher.commands.verify import verify
from publisher.errors import EXIT_USAGE, PublisherError, UsageError


class _LazyCommands(Mapping[str, Any]):
    """The group's commands by name, each built from its signature on first use: `--version`
    builds none, `publish validate` builds one, `--help` builds them all to list them."""

    def __init__(self, infos: list[CommandInfo]) -> None:
        self._infos = infos
        self._built: dict[str, Any] = {}

    def _info(self, name: str) -> CommandInfo:
        for info in self._infos:
            if info.name == name:
                return info
        raise KeyError(name)

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            self._built[name] = typer.main.get_command_from_info(
                self._info(name),
                pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=app.rich_markup_mode,
            )
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter([info.name for info in self._infos if info.name])

    def __len__(self) -> int:
        return len(self._infos)


class _LazyGroup(TyperGroup):
    """The `publish` group, with the commands `register` recorded instead of prebuilt ones."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _LazyCommands(_registered.registered_commands)  # type: ignore[assignment]


_registered = typer.Typer()  # holds what `register` declares; `app`'s group builds it lazily

app = typer.Typer(
    name="publish",
    cls=_LazyGroup,
    help="Verify a ladder of GGUF quants and publish it to Ollama and the Hugging Face Hub "
    "from one TOML manifest.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        console.out.print(f"publish {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and results.")] = False,
) -> None:
    """Set the global output switches."""
    console.state.debug = debug
    console.state.quiet = quiet
    console.state.progress = True  # a --json command turns its bars off for itself


def user_errors(function: Callable[..., Any]) -> Callable[..., Any]:
    """Turn PublisherError into one clear line and its exit code; tracebacks only with --debug."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            _refuse_nul(kwargs)
            return function(*args, **kwargs)
        except PublisherError as exc:
            if console.state.debug:
                console.err.print_exception()
            console.error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:  # the file system said no: a setup problem, not a bug
            if console.state.debug:
                console.err.print_exception()
            where = f": {exc.filename}" if exc.filename else ""
            console.error(f"{exc.strerror or exc}{where}")
            raise typer.Exit(EXIT_USAGE) from None
        except KeyboardInterrupt:
            console.error("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def _refuse_nul(options: dict[str, Any]) -> None:
    """No argument may hold a NUL byte: no path or name can, and os calls would raise on it."""
    for name, value in options.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if isinstance(item, (str, Path)) and "\0" in str(item):
                label = name.replace("_", "-")  # the option's name, or the argument's
                raise UsageError(f"{label}: {str(item)!r} contains a NUL byte")


_EXAMPLES: list[str] = []


def register(name: str, function: Callable[..., Any], example: str) -> None:
    """Add a command with its error mapping and an example, shown under its --help and the app's."""
    _registered.command(name, epilog=f"Example: {example}")(user_errors(function))
    _EXAMPLES.append(example)
    app.info.epilog = "Examples:\n\n" + "\n\n".join(f"  {line}" for line in _EXAMPLES)


register("release", release, "publish release manifests/v3.toml --dry-run")
register("validate", validate, "publish validate manifests/v3.toml manifests/v4.toml")
register("verify", verify, "publish verify manifests/v3.toml --tag Q4_K_M")
register("check-template", check_template, "publish check-template manifests/v3.toml --json")
register("render", render, "publish render manifests/v3.toml --out build/v3")
register("status", status, "publish status manifests/v3.toml --json")
register("seal", seal, "publish seal manifests/v3.toml --yes --json")
register(
    "init",
    init,
    "publish init ../gguf/v3 --ollama-model mannix/gemma4-98e "
    "--hf-repo ManniX-ITA/gemma-4-A4B-98e-v3-it-GGUF --out manifests/v3.toml",
)
register("smoke", smoke, "publish smoke manifests/v3.toml --tag Q4_K_M --repeat 3")
