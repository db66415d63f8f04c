"""The ``cnnlab`` command line: parse, call the library, print. No experiment logic lives here.

Every experiment command is generated from its registry entry (:mod:`cnnlab.registry`): its options come from the
settings' fields (:mod:`cnnlab.options`), so a new experiment appears here, in ``--help`` and in ``cnnlab run``
without touching this file. ``train`` takes its options from :class:`~cnnlab.training.TrainConfig` the same way.

Each command writes ``results.json`` and its figures into its own output folder (``--out``, default
``runs/<command>-<time>``), which it holds for itself while it runs and never silently reuses: a folder with an
earlier run's results is refused unless ``--overwrite`` (or, for ``train``, ``--resume``) says what to do with it.

Failures: bad arguments are usage errors (exit 2), checked before any data is read; expected failures (missing or
damaged data, a wrong weights folder, a diverged run, a full disk, a folder in use) print one line naming what and
where (exit 1); Ctrl-C exits 130. No traceback is shown unless ``cnnlab --debug`` (or ``$CNNLAB_DEBUG=1``) asks for
it; an unexpected error (a bug) is one line too, pointing at ``--debug``.

Under torchrun (``torchrun --nproc-per-node N -m cnnlab train ...``) only ``train`` runs, data-parallel
(:mod:`cnnlab.training.distributed`), and only rank 0 prints: the other ranks stay silent about usage errors (each
finds the same) and about rank 0's failures, and name themselves (``rank 1: ...``) in any other.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shlex
import subprocess
import sys
import types
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from cnnlab import __version__
from cnnlab.options import OptionInfo, option_info


# ------------------------------------------------------------------------------------------------------ output
def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_results(out_dir: Path, results: dict[str, Any]) -> Path:
    """``results.json`` in ``out_dir`` (written atomically): the machine-readable record of a command."""
    from cnnlab.files import write_text_atomic

    return write_text_atomic(out_dir / "results.json", json.dumps(results, indent=2, default=_json_default) + "\n")


def _out_path(out: Path | None, command: str) -> Path:
    return out if out is not None else Path("runs") / f"{command}-{datetime.now():%Y%m%d-%H%M%S}"


@contextmanager
def _claimed_out_dir(out: Path | None, command: str, *, overwrite: bool = False, resume: bool = False,
                     resumable: bool = False) -> Iterator[Path]:
    """The command's output folder, created and held for the block; an earlier run in it is refused unless
    ``overwrite`` / ``resume`` (see :func:`cnnlab.training.folders.claim_folder`)."""
    from cnnlab.training.folders import claim_folder

    with claim_folder(_out_path(out, command), resume=resume, overwrite=overwrite, resumable=resumable) as folder:
        yield folder


# ------------------------------------------------------------------------------------------------ failures
_OS_HINTS = {
    errno.ENOSPC: "the disk is full: free some space and run again (a training run continues with --resume)",
    getattr(errno, "EDQUOT", -2): "the disk quota is exhausted: free some space and run again (a training run "
                                  "continues with --resume)",
    errno.EACCES: "permission denied: use a folder you may write to (--out, --data-dir) or fix its permissions",
    errno.EPERM: "operation not permitted: use a folder you may write to (--out, --data-dir)",
    errno.EROFS: "the file system is read-only: use another folder (--out, --data-dir)",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder, not a file",
}


def _os_error_message(error: OSError) -> str:
    """One line for an operating-system failure: the file, what happened, what to do."""
    where = " -> ".join(str(f) for f in (error.filename, error.filename2) if f)
    hint = _OS_HINTS.get(error.errno or -1) or (error.strerror or str(error))
    return f"{where}: {hint}" if where else f"{error.strerror or type(error).__name__}: {hint}"


def _expected_failure(error: BaseException) -> str | None:
    """The one-line message of an expected failure, or None for anything else (a bug)."""
    from cnnlab.data import DataError
    from cnnlab.errors import UserError
    from cnnlab.training import TrainingDiverged

    if isinstance(error, DataError | UserError):
        return str(error)
    if isinstance(error, TrainingDiverged):
        return f"{error} Then start again with --overwrite."
    if isinstance(error, OSError):
        return _os_error_message(error)
    if type(error).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError, without importing torch here
        return f"out of GPU memory ({str(error).splitlines()[0][:160]}); use a smaller --batch-size or --device cpu"
    return None


def _debug() -> bool:
    ctx = click.get_current_context(silent=True)
    from_flag = bool(ctx is not None and (ctx.find_root().obj or {}).get("debug"))
    return from_flag or os.environ.get("CNNLAB_DEBUG", "") not in ("", "0")


@contextmanager
def _friendly_errors() -> Iterator[None]:
    """Every failure of a command as one line (exit 1) -- an expected one as its message, an unexpected one (a bug)
    with a pointer to ``--debug``; Ctrl-C as exit 130. With ``--debug`` the original exception propagates."""
    from cnnlab.training import TrainingDiverged
    from cnnlab.training.distributed import PeerFailed, launched_rank, let_main_fail_first

    rank = launched_rank()
    try:
        yield
    except click.UsageError:
        if rank:  # under torchrun every rank finds the same usage error: rank 0 says it
            let_main_fail_first()
            raise click.exceptions.Exit(2) from None
        raise
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except KeyboardInterrupt:
        if not rank:
            click.echo("cnnlab: interrupted (Ctrl-C)", err=True)
        raise click.exceptions.Exit(130) from None
    except Exception as error:
        if rank and isinstance(error, PeerFailed | TrainingDiverged):
            let_main_fail_first()  # rank 0 failed and says why, or every rank stopped at the same batch
            raise click.exceptions.Exit(1) from None
        if _debug():
            raise
        message = _expected_failure(error)
        if message is None:
            first = (str(error).strip().splitlines() or [""])[0][:300]
            message = (f"internal error: {type(error).__name__}: {first} -- a bug in cnnlab; run again with "
                       "cnnlab --debug ... for the traceback, and please report it")
        raise click.ClickException(f"rank {rank}: {message}" if rank else message) from None


# ------------------------------------------------------------------------------------- options from settings
def _inner_type(annotation: Any) -> tuple[Any, bool]:
    """``(type, optional)`` of a field annotation: ``int | None`` -> ``(int, True)``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False


def _sequence_parser(item: type, name: str, length: int | None) -> Callable[[Any, Any, Any], Any]:
    """A click callback turning ``"1,2,3"`` (or ``"1 2 3"``) into a tuple of ``item``."""
    def parse(_ctx: Any, _param: Any, text: str | None) -> tuple[Any, ...] | None:
        if text is None:
            return None
        if not isinstance(text, str):  # the field's default, already a tuple
            return tuple(text)
        parts = text.replace(",", " ").split()
        try:
            values = tuple(item(v) for v in parts)
        except ValueError:
            raise click.BadParameter(f"expected {item.__name__}s separated by commas, like '1,2', got {text!r}",
                                     param_hint=name) from None
        if not values or (length is not None and len(values) != length):
            raise click.BadParameter(f"expected {length or 'at least one'} value(s), got {text!r}", param_hint=name)
        return values
    return parse


def _click_option(field: dataclasses.Field[Any], annotation: Any, info: OptionInfo, *,
                  overrides: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The click option for one settings field; with ``overrides`` its default is None (= keep the base value)."""
    name = "--" + field.name.replace("_", "-")
    names = (name, *info.aliases, field.name)  # the last: the Python parameter name
    kind, optional = _inner_type(annotation)
    default = None if overrides else field.default
    shown: Any = not overrides
    choices = info.choice_list()
    kwargs: dict[str, Any] = {"help": info.help, "default": default}
    if kind is bool:
        return click.option(f"{name}/--no-{field.name.replace('_', '-')}", show_default=shown, **kwargs)
    if typing.get_origin(kind) is tuple:
        args = typing.get_args(kind)
        length = None if len(args) == 2 and args[1] is Ellipsis else len(args)
        if isinstance(default, tuple):
            kwargs["default"] = ",".join(map(str, default))
        metavar = info.metavar or (",".join(choices[:2]) + ",..." if choices else "A,B,...")
        return click.option(*names, type=str, callback=_sequence_parser(args[0], name, length), metavar=metavar,
                            show_default=shown and default is not None, **kwargs)
    click_type: Any
    if choices is not None:
        click_type = click.Choice(choices)
    elif kind in (int, float) and info.minimum is None and info.maximum is None:
        click_type = kind  # unbounded (a range without bounds would show "x<=None" in --help)
    elif kind is int:
        click_type = click.IntRange(min=info.minimum, max=info.maximum)  # type: ignore[arg-type]
    elif kind is float:
        click_type = click.FloatRange(min=info.minimum, max=info.maximum, min_open=info.min_open)
    elif kind is Path:
        click_type = click.Path(exists=True, path_type=Path)
    else:
        click_type = str
    return click.option(*names, type=click_type, metavar=info.metavar, show_default=shown and not optional,
                        **kwargs)


def settings_options(settings_type: type, *, overrides: bool = False) -> list[Callable[..., Any]]:
    """Click options for every CLI field of a settings dataclass (see :mod:`cnnlab.options`)."""
    hints = typing.get_type_hints(settings_type)
    decorators = []
    for field in dataclasses.fields(settings_type):
        info = option_info(field)
        if info is not None and info.cli:
            decorators.append(_click_option(field, hints[field.name], info, overrides=overrides))
    return decorators


def _make_settings(settings_type: type, values: dict[str, Any], base: Any = None) -> Any:
    """Settings from parsed options (``None`` = keep ``base``'s value); a bad value or combination is a usage
    error naming the option."""
    given = {k: v for k, v in values.items() if v is not None}
    from cnnlab.errors import DeviceUnavailable

    try:
        return dataclasses.replace(base, **given) if base is not None else settings_type(**given)
    except DeviceUnavailable as error:
        raise click.ClickException(str(error)) from error
    except (ValueError, TypeError) as error:
        raise click.UsageError(str(error)) from error


class RegistryChoice(click.Choice):
    """A choice among a registry's names, read when the command line is parsed (so registrations made after
    import count) rather than when this module is imported."""

    def __init__(self, names: Callable[[], list[str]]) -> None:
        self._names = names
        super().__init__([])

    @property  # type: ignore[override]
    def choices(self) -> list[str]:
        return self._names()

    @choices.setter
    def choices(self, value: Any) -> None:
        pass  # set by click.Choice.__init__; the names always come from the registry


# ---------------------------------------------------------------------------------------------- common options
def _set_data_dir(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None:
        ctx.ensure_object(dict)["data_dir"] = value
    return value


#: ``--data-dir`` also after the command name (``cnnlab train --data-dir X``), overriding the global one.
data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), expose_value=False,
                               callback=_set_data_dir, help="Data root (same as cnnlab --data-dir).")
out_option = click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
                          help="Output folder [default: runs/<command>-<time>].")
progress_option = click.option("--progress/--no-progress", default=True, show_default=True,
                               help="Show progress bars on stderr.")
overwrite_option = click.option("--overwrite", is_flag=True,
                                help="Replace the results of an earlier run in --out (removes them first).")


def _apply(decorators: list[Callable[..., Any]], fn: Callable[..., Any]) -> Callable[..., Any]:
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


# -------------------------------------------------------------------------------------------- experiment commands
def experiment_command(name: str) -> click.Command:
    """The ``cnnlab NAME`` command of registry entry ``name``: its settings as options, then run, figures,
    ``results.json`` and the section printed as text."""
    from cnnlab.registry import get_entry

    entry = get_entry(name)
    experiment = entry.experiment

    def callback(out: Path | None, progress: bool, overwrite: bool, train: bool = False, **values: Any) -> None:
        from cnnlab.experiments.base import Context
        from cnnlab.report import render_text

        settings = _make_settings(experiment.settings, values)
        with _claimed_out_dir(out, name, overwrite=overwrite) as out_dir:
            context = Context(out_dir, click.get_current_context().obj.get("data_dir"), progress=progress,
                              train_missing=train, overwrite=overwrite)
            result = experiment.run(settings, context)
            figures = entry.figures(result, out_dir)
            section = entry.section(result, figures)
            path = write_results(out_dir, {**result.to_dict(), "figures": {k: str(p) for k, p in figures.items()}})
        click.echo(render_text(section))
        lines = [f"figures: {', '.join(str(p) for p in figures.values())}"] if figures else []
        click.echo("\n" + "\n".join([*lines, f"results: {path}"]))

    options = [data_dir_option, *settings_options(experiment.settings), out_option, overwrite_option,
               progress_option]
    if experiment.uses_networks:
        options.append(click.option("--train", is_flag=True,
                                    help="Train the network now when --weights is not given (its recipe's settings)."))
    return click.command(name, help=experiment.summary)(_apply(options, callback))


class _LabGroup(click.Group):
    """The top-level group: the hand-written commands plus one generated command per registered experiment."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from cnnlab.registry import entries

        return sorted({*super().list_commands(ctx), *(e.name for e in entries() if e.command)})

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command with every failure turned into one line (see :func:`_friendly_errors`)."""
        with _friendly_errors():
            return super().invoke(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        from cnnlab.registry import entries

        if any(e.name == cmd_name and e.command for e in entries()):
            return experiment_command(cmd_name)
        return None


@click.group(cls=_LabGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="cnnlab")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="CNNLAB_DATA",
              help="Data root holding MNIST/raw and cifar-10-batches-py [default: $CNNLAB_DATA, else ./data].")
@click.option("--threads", default="auto", show_default=True, envvar="CNNLAB_THREADS", metavar="N|auto",
              help="CPU threads for torch, NumPy's BLAS and the NumPy engine. auto: the cores other processes "
                   "leave free right now (a thread pool on a core that another process uses slows everything down "
                   "many times over). [env: CNNLAB_THREADS]")
@click.option("--debug", is_flag=True, envvar="CNNLAB_DEBUG",
              help="Show the full traceback of a failure (for bug reports) [also: $CNNLAB_DEBUG=1].")
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None, threads: str, debug: bool) -> None:
    """cnnlab: convolutional networks from scratch, proven against PyTorch, and the classic experiments."""
    from cnnlab.threads import all_threads, resolve_threads
    from cnnlab.training.distributed import launched_size, share_of_cores

    if launched_size() > 1 and ctx.invoked_subcommand != "train":
        raise click.UsageError(f"torchrun started {launched_size()} processes, but only `cnnlab train` (torch engines) "
                               f"trains data-parallel; run `cnnlab {ctx.invoked_subcommand}` as one process")
    try:
        count = resolve_threads(threads)
        auto = threads.strip().lower() == "auto"  # under torchrun: the processes on this machine share the cores
        # held for this command only: cnnlab.cli.main called from Python leaves the process's settings as they were
        ctx.with_resource(all_threads(share_of_cores(count) if auto and count is not None else count))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--threads") from error
    ctx.ensure_object(dict)
    ctx.obj.setdefault("data_dir", data_dir)
    ctx.obj["debug"] = debug


# ------------------------------------------------------------------------------------------------------- train
def _recipe_choices() -> list[str]:
    from cnnlab.training import RECIPES

    return list(RECIPES)


def _train_options() -> list[Callable[..., Any]]:
    from cnnlab.training import TrainConfig

    return settings_options(TrainConfig, overrides=True)


def _train_config(recipe: str, out: Path | None, resume: bool, overwrite: bool, overrides: dict[str, Any]) -> Any:
    """The settings of this ``train``: the recipe's with the options applied, or -- with ``--resume`` -- the run's
    own (its ``config.json``), where only ``--epochs`` may grow; a conflicting option is a usage error naming the
    option and both values, and so is a run that torchrun's processes cannot share."""
    from cnnlab.training import get_recipe
    from cnnlab.training.distributed import check_distributable, launched_size
    from cnnlab.training.run import ResumeConflictError, resume_config

    if resume and out is None:
        raise click.UsageError("--resume needs --out pointing at the folder of the run to continue")
    if resume and overwrite:
        raise click.UsageError("--resume continues the run in --out, --overwrite replaces it: choose one")
    if not resume:
        config = _make_settings(type(get_recipe(recipe).config), overrides, base=get_recipe(recipe).config)
    else:
        assert out is not None
        try:
            config, _ = resume_config(out, overrides)
        except ResumeConflictError as error:
            raise click.UsageError(str(error)) from None
        explicit = click.get_current_context().get_parameter_source("recipe") is not ParameterSource.DEFAULT
        if explicit and get_recipe(recipe).config.model != config.model:
            raise click.UsageError(f"--recipe {recipe} trains a {get_recipe(recipe).config.model}, but the run in "
                                   f"{out} trains a {config.model}; drop --recipe to resume it")
    try:
        config.validate()
        check_distributable(config.engine, config.batch_size, launched_size())
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    return config


def _train_callback(recipe: str, out: Path | None, resume: bool, overwrite: bool, progress: bool,
                    seeds: tuple[int, ...] | None, **overrides: Any) -> None:
    from cnnlab.plots.curves import plot_history
    from cnnlab.plots.training import run_title
    from cnnlab.training import train_model
    from cnnlab.training.distributed import process_group

    if seeds is not None:
        _train_seeds(recipe, seeds, out, resume, overwrite, progress, overrides)
        return
    config = _train_config(recipe, out, resume, overwrite, overrides)
    # One process alone, unless torchrun started several: then rank 0 claims the folder and the others wait for it.
    with process_group(config.device) as world, world.main_holds(
            lambda: _claimed_out_dir(out, "train", overwrite=overwrite, resume=resume, resumable=True)) as claimed:
        shared = world.broadcast_text(str(claimed))  # rank 0's folder (the default one is named by the time)
        assert shared is not None
        out_dir = Path(shared)
        if world.is_main:
            ranks = f" on {world.size} processes ({world.device.type})" if world.distributed else ""
            click.echo(f"{'resuming' if resume else 'training'} {config.model} ({config.engine} engine) on "
                       f"{config.dataset}{ranks} -> {out_dir}", err=True)
        result = train_model(config, out_dir, root=click.get_current_context().obj.get("data_dir"),
                             resume=resume, progress=progress, world=world)
        if world.is_main:
            if result.history.epochs:
                result.files["curves"] = plot_history(result.history, out_dir / "curves.png",
                                                      title=run_title(result))
            result.files["results"] = write_results(out_dir, result.to_dict())
    if world.is_main:
        _print_training(result, config, out_dir)
    if result.history.interrupted:
        raise click.exceptions.Exit(130)


def _print_training(result: Any, config: Any, out_dir: Path) -> None:
    """The epoch table and the outcome of a finished (or interrupted) ``train``."""
    from cnnlab.report import text_table

    history = result.history
    rows = [[r.epoch, r.train_loss, r.train_acc, r.val_loss, r.val_acc, r.seconds] for r in history.records]
    click.echo(text_table(["epoch", "train loss", "train acc", "val loss", "val acc", "seconds"], rows))
    files = f"files: {', '.join(str(p) for p in result.files.values())}"
    if history.interrupted:
        kept = (f"model.pt and results.json hold epoch {history.epochs}, the last finished one"
                if history.epochs else "no epoch finished, so no model was saved")
        test = f"; its test accuracy {result.test_acc:.4f}" if result.test_acc is not None else ""
        click.echo(f"interrupted (Ctrl-C) after {history.epochs} of {config.epochs} epochs: {kept}{test}. Continue "
                   f"with: cnnlab train --resume --out {out_dir}\n{files}", err=True)
        return
    click.echo(f"test accuracy {result.test_acc:.4f} on {result.test_size} images; {result.parameters} parameters; "
               f"{result.seconds:.1f} s\n{files}")


def _seed_arguments(recipe: str | None, overrides: dict[str, Any], seed: int, folder: Path, *, progress: bool,
                    overwrite: bool, resume: bool) -> list[str]:
    """The ``cnnlab`` arguments of one seed's run: ``train`` with the options given (``--recipe`` only when it was
    given), ``--seed S --out OUT/seed-S``."""
    from cnnlab.options import cli_name

    args = ["train", *(["--recipe", recipe] if recipe is not None else [])]
    for name, value in overrides.items():
        if value is None or name == "seed":
            continue
        if isinstance(value, bool):
            args.append(cli_name(name) if value else f"--no-{cli_name(name)[2:]}")
        else:
            args += [cli_name(name), str(value)]
    args += ["--seed", str(seed), "--out", str(folder), "--progress" if progress else "--no-progress"]
    return args + (["--overwrite"] if overwrite else []) + (["--resume"] if resume else [])


def _seed_environment() -> dict[str, str]:
    """The environment of a seed's process: this one's, running this cnnlab (its package first on the path) with
    this process's thread count and ``--debug``."""
    import torch

    import cnnlab

    package_root = str(Path(cnnlab.__file__).resolve().parent.parent)
    path = os.pathsep.join([package_root, *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {**os.environ, "PYTHONPATH": path, "CNNLAB_THREADS": str(torch.get_num_threads())}
    if _debug():
        env["CNNLAB_DEBUG"] = "1"
    return env


def _run_process(argv: list[str], env: dict[str, str]) -> int:
    """Run ``argv`` and return its exit status; on Ctrl-C (which reaches it too) wait for it to save and stop."""
    process = subprocess.Popen(argv, env=env)
    try:
        return process.wait()
    except KeyboardInterrupt:
        return process.wait()


def _train_seeds(recipe: str, seeds: tuple[int, ...], out: Path | None, resume: bool, overwrite: bool,
                 progress: bool, overrides: dict[str, Any]) -> None:
    """``train --seeds``: one independent ``cnnlab train --seed S --out OUT/seed-S`` process per seed, one after the
    other, then ``OUT/results.json`` with every accuracy's mean and sample std over the seeds, and a table."""
    from cnnlab.formatting import Percent
    from cnnlab.report import text_table
    from cnnlab.training.distributed import launched_size
    from cnnlab.training.folders import earlier_run
    from cnnlab.training.seeds import ACCURACIES, final_accuracies, seed_folder, seed_spreads, seed_summary

    if launched_size() > 1:
        raise click.UsageError("--seeds starts one process per seed itself; under torchrun train one seed per launch "
                               "(--seed S --out OUT/seed-S)")
    if overrides.get("seed") is not None:
        raise click.UsageError("--seed and --seeds exclude each other: give the seeds to train with --seeds only")
    if resume and overwrite:
        raise click.UsageError("--resume continues the runs in --out, --overwrite replaces them: choose one")
    _train_config(recipe, None, False, overwrite, overrides)  # the options' usage errors before anything runs
    ctx = click.get_current_context()
    given_recipe = recipe if ctx.get_parameter_source("recipe") is not ParameterSource.DEFAULT else None
    data_dir = ctx.obj.get("data_dir")
    prefix = [sys.executable, "-m", "cnnlab", *(["--data-dir", str(data_dir)] if data_dir is not None else [])]
    env = _seed_environment()
    runs: dict[int, dict[str, Any]] = {}
    folders: dict[int, Path] = {}
    commands: dict[int, str] = {}
    with _claimed_out_dir(out, "train", overwrite=overwrite, resume=resume, resumable=True) as out_dir:
        for number, seed in enumerate(seeds, start=1):
            folders[seed] = folder = seed_folder(out_dir, seed)
            args = _seed_arguments(given_recipe, overrides, seed, folder, progress=progress, overwrite=overwrite,
                                   resume=resume and earlier_run(folder) is not None)
            commands[seed] = "cnnlab " + " ".join(shlex.quote(arg) for arg in args)
            click.echo(f"seed {seed} ({number} of {len(seeds)}): {commands[seed]}", err=True)
            status = _run_process([*prefix, *args], env)
            if status:
                again = f"continue with the same command and --resume (the finished seeds stay in {out_dir})"
                if status == 130:
                    click.echo(f"interrupted (Ctrl-C) at seed {seed}: {again}", err=True)
                    raise click.exceptions.Exit(130)
                raise click.ClickException(f"seed {seed} failed (exit status {status}; its message is above); {again}")
            runs[seed] = json.loads((folder / "results.json").read_text())
        path = write_results(out_dir, seed_summary(runs, folders, commands))
    spreads = seed_spreads(runs)
    rows: list[list[Any]] = []
    for seed, run in runs.items():
        accuracies = final_accuracies(run)
        rows.append([seed, *(None if (value := accuracies[key]) is None else Percent(value) for key in ACCURACIES)])
    rows.append([f"mean ± std ({len(runs)} seeds)",
                 *(spreads[key].describe() if key in spreads else None for key in ACCURACIES)])
    click.echo(text_table(["seed", *ACCURACIES.values()], rows))
    click.echo(f"results: {path}; the runs: {', '.join(str(folder) for folder in folders.values())}")


def _parse_seeds(_ctx: click.Context, _param: click.Parameter, text: str | None) -> tuple[int, ...] | None:
    from cnnlab.training.seeds import parse_seeds

    if text is None:
        return None
    try:
        return parse_seeds(text)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


seeds_option = click.option("--seeds", callback=_parse_seeds, metavar="S1,S2,...",
                            help="Repeat the training once per seed, each an independent process, and report every "
                                 "accuracy's mean ± std over them.")

train_command = click.command(
    "train", help="Train a seed network with any engine; writes model.pt, config.json, curves.png, results.json. "
                  "--resume continues a run with its own settings (only --epochs may grow; a one-cycle schedule is "
                  "then stretched over the new total); --overwrite replaces one. --seeds 0,1,2 trains one run per "
                  "seed into OUT/seed-S and summarises them in OUT/results.json. Under torchrun --nproc-per-node N "
                  "(torch engines) the N processes train one run data-parallel, with the global --batch-size shared "
                  "among them.",
)(_apply([
    data_dir_option,
    click.option("--recipe", default="mnist-seed", show_default=True, type=RegistryChoice(_recipe_choices),
                 help="Starting settings; the options below override them."),
    *_train_options(),
    seeds_option,
    click.option("--resume", is_flag=True, help="Continue the run in --out with its settings (--epochs may grow)."),
    out_option, overwrite_option, progress_option,
], _train_callback))
main.add_command(train_command)


# -------------------------------------------------------------------------------------------------------- data
def _dataset_choices() -> list[str]:
    from cnnlab.data import DATASETS

    return list(DATASETS)


@main.group("data")
def data_group() -> None:
    """Datasets: fetch, verify checksums, look at samples."""


dataset_argument = click.argument("dataset", type=RegistryChoice(_dataset_choices))


@data_group.command("download")
@data_dir_option
@dataset_argument
@click.option("--force", is_flag=True, help="Download again even if the files are present.")
@progress_option
@click.pass_context
def data_download(ctx: click.Context, dataset: str, force: bool, progress: bool) -> None:
    """Download DATASET's files (md5-verified) into the data root."""
    from cnnlab.data import download_dataset

    paths = download_dataset(dataset, ctx.obj["data_dir"], progress=progress, force=force)
    click.echo("\n".join(str(p) for p in paths))


@data_group.command("verify")
@data_dir_option
@dataset_argument
@click.pass_context
def data_verify(ctx: click.Context, dataset: str) -> None:
    """Check every file of DATASET: present, readable, md5 against the published value."""
    from cnnlab.data import verify_dataset

    checks = verify_dataset(dataset, ctx.obj["data_dir"])
    for check in checks:
        click.echo(f"{check.status:>10}  {check.path}: {check.message}")
    if not all(check.ok for check in checks):
        raise click.ClickException(f"{dataset}: some files are missing or unreadable (see above)")


@data_group.command("show")
@data_dir_option
@dataset_argument
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="train", show_default=True)
@click.option("-n", "count", type=click.IntRange(1, 200), default=24, show_default=True, help="Number of images.")
@out_option
@click.pass_context
def data_show(ctx: click.Context, dataset: str, split: str, count: int, out: Path | None) -> None:
    """A grid of the first N images with their class names (the assignment's plot_mnist)."""
    from cnnlab.data import load_dataset
    from cnnlab.plots.samples import plot_samples

    ds = load_dataset(dataset, split, ctx.obj["data_dir"], max_datapoints=count)
    with _claimed_out_dir(out, "data-show") as out_dir:
        path = plot_samples(ds.images, ds.labels, out_dir / f"{dataset}-{split}-samples.png",
                            class_names=ds.classes, n=len(ds), title=f"{dataset} {split}: first {len(ds)} images")
    click.echo(str(path))


# --------------------------------------------------------------------------------------------------------- run
def _part_choices() -> list[str]:
    from cnnlab.pipeline import part_names

    return list(part_names())


@main.command("run")
@data_dir_option
@click.option("--quick", is_flag=True, help="Small settings: a smoke run of every part (its numbers mean little).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**32 - 1))
@click.option("--seeds", callback=_parse_seeds, metavar="S1,S2,...",
              help="Train the training parts' recipes once per seed and report mean ± std; the other parts use the "
                   "first seed's networks (replaces --seed).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--only", "only", multiple=True, type=RegistryChoice(_part_choices), metavar="PART",
              help=f"Run only this part (repeatable): {', '.join(_part_choices())}.")
@out_option
@overwrite_option
@progress_option
@click.pass_context
def run_command(ctx: click.Context, quick: bool, seed: int, seeds: tuple[int, ...] | None, device: str,
                only: tuple[str, ...], out: Path | None, overwrite: bool, progress: bool) -> None:
    """The main job: every experiment of both assignments into one folder with a self-contained report.html."""
    from cnnlab.formatting import format_seconds
    from cnnlab.pipeline import PartOutcome, run_all

    if seeds is not None and ctx.get_parameter_source("seed") is not ParameterSource.DEFAULT:
        raise click.UsageError("--seed and --seeds exclude each other: with --seeds the first seed is the run's")

    def report_part(part: PartOutcome) -> None:
        line = f"[{part.status:>7}] {part.key}: {part.title} ({part.seconds:.1f} s)"
        if part.message:
            line += f": {part.message}"
        click.echo(line)

    with _claimed_out_dir(out, "run", overwrite=overwrite) as out_dir:
        click.echo(f"cnnlab run{' --quick' if quick else ''} -> {out_dir}")
        result = run_all(out_dir, root=ctx.obj["data_dir"], quick=quick, seed=seed, device=device,
                         progress=progress, only=only or None, on_part=report_part, overwrite=overwrite,
                         seeds=seeds or ())
        write_results(out_dir, result.to_dict())
    skipped = [p.key for p in result.parts if p.status == "skipped"]
    click.echo(f"\nreport: {result.report}\ntotal {format_seconds(result.seconds)}")
    if not result.ok:
        raise click.ClickException("some parts failed; see the report and errors.log")
    if skipped:
        raise click.ClickException(f"the report is incomplete: {len(skipped)} part(s) skipped because their data is "
                                   f"missing ({', '.join(skipped)}); the first skipped part above says which files, "
                                   "where, and how to get them")
