"""The ``cnnlab`` command line: parse, call the library, print a short summary. No logic lives here.

Each command writes ``results.json`` and its figures into its own output folder (``--out``, default
``runs/<command>-<time>``). Bad arguments are usage errors (exit 2); data and training problems print one clear
message (exit 1).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from cnnlab import __version__

ENGINE_CHOICES = ("torch", "torch-own", "numpy")


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_results(out_dir: Path, results: dict[str, Any]) -> Path:
    """``results.json`` in ``out_dir``: the machine-readable record of a command."""
    path = out_dir / "results.json"
    path.write_text(json.dumps(results, indent=2, default=_json_default) + "\n")
    return path


def _out_dir(out: Path | None, command: str) -> Path:
    path = out if out is not None else Path("runs") / f"{command}-{datetime.now():%Y%m%d-%H%M%S}"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _friendly_errors() -> Iterator[None]:
    """Turn the library's expected failures into one-line CLI errors (exit 1) instead of tracebacks."""
    from cnnlab.data import DataError
    from cnnlab.training import TrainingDiverged

    try:
        yield
    except (DataError, TrainingDiverged, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from error


def _int_list(text: str, name: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.replace(",", " ").split())
    except ValueError as error:
        raise click.BadParameter(f"expected integers like '28' or '28,20', got {text!r}", param_hint=name) from error
    if not values:
        raise click.BadParameter("expected at least one integer", param_hint=name)
    return values


def _float_list(text: str, name: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(",", " ").split()]
    except ValueError as error:
        raise click.BadParameter(f"expected numbers like '1,2,3', got {text!r}", param_hint=name) from error
    if not values:
        raise click.BadParameter("expected at least one number", param_hint=name)
    return values


def _scalar_or_tuple(values: tuple[int, ...]) -> int | tuple[int, ...]:
    return values[0] if len(values) == 1 else values


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows as aligned plain-text columns."""
    from cnnlab.report import format_value

    cells = [[str(c) for c in columns]] + [[format_value(v).replace("\n", "; ") for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _echo_tables(section: Any) -> None:
    """Print a report section's tables as text (the CLI shows what the report shows)."""
    for table in section.tables:
        if table.caption:
            click.echo(f"\n{table.caption}:")
        click.echo(_table(table.columns, table.rows))


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def _set_data_dir(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None:
        ctx.obj["data_dir"] = value
    return value


#: ``--data-dir`` also after the command name (``cnnlab train --data-dir X``), overriding the global one.
data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), expose_value=False,
                               callback=_set_data_dir, help="Data root (same as cnnlab --data-dir).")
out_option = click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
                          help="Output folder [default: runs/<command>-<time>].")
progress_option = click.option("--progress/--no-progress", default=True, show_default=True,
                               help="Show progress bars on stderr.")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="cnnlab")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="CNNLAB_DATA",
              help="Data root holding MNIST/raw and cifar-10-batches-py [default: $CNNLAB_DATA, else ./data].")
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None) -> None:
    """cnnlab: convolutional networks from scratch, proven against PyTorch, and the classic experiments."""
    ctx.obj = {"data_dir": data_dir}


# ---------------------------------------------------------------------------------------------- conv-output, xcorr1d
@main.command("conv-output")
@click.option("--input", "input_size", help="Input size per dimension, e.g. 28 or 32,20.")
@click.option("--kernel", "kernel_size", help="Kernel size per dimension, e.g. 5 or 3,5.")
@click.option("--stride", default="1", show_default=True, help="Stride per dimension.")
@click.option("--padding", default="0", show_default=True, help="Zero padding per side, per dimension.")
@click.option("--dilation", default="1", show_default=True, help="Dilation per dimension.")
@out_option
def conv_output_command(input_size: str | None, kernel_size: str | None, stride: str, padding: str, dilation: str,
                        out: Path | None) -> None:
    """Output size of a convolution, O = floor((I + 2P - D(K-1) - 1)/S) + 1, and the seed's table of examples."""
    from cnnlab.experiments import conv_output

    if (input_size is None) != (kernel_size is None):
        raise click.UsageError("give both --input and --kernel (or neither, for the table of examples)")
    args = {}
    if input_size is not None:
        args = {name: _scalar_or_tuple(_int_list(text, f"--{name.split('_')[0]}")) for name, text in
                (("input_size", input_size), ("kernel_size", kernel_size), ("stride", stride), ("padding", padding),
                 ("dilation", dilation))}
    try:
        result = conv_output.run(**args)
    except (ValueError, TypeError) as error:
        raise click.UsageError(str(error)) from error
    out_dir = _out_dir(out, "conv-output")
    write_results(out_dir, result.to_dict())
    click.echo(f"formula: {result.formula}")
    if result.query is not None:
        query = result.query
        answer = " x ".join(map(str, query.output_size)) if query.possible else f"impossible: {query.error}"
        click.echo(f"\nyour geometry: output {answer}\n")
    _echo_tables(conv_output.section(result))
    click.echo(f"\nresults: {out_dir / 'results.json'}")


@main.command("xcorr1d")
@click.option("--x", "x", default="1,2,3,4", show_default=True, help="Input vector.")
@click.option("--w", "w", default="2,1,3", show_default=True, help="Kernel (not flipped: cross-correlation).")
@click.option("--b", "b", default=1.0, show_default=True, type=float, help="Scalar bias.")
@click.option("--y", "y", default="2,4", show_default=True, help="Targets, one per output.")
@click.option("--lr", default=0.01, show_default=True, type=float, help="Learning rate of the update.")
@click.option("--stride", default=1, show_default=True, type=int, help="Stride (no padding).")
@out_option
def xcorr1d_command(x: str, w: str, b: float, y: str, lr: float, stride: int, out: Path | None) -> None:
    """Seed 004's pen-and-paper task: 1-D cross-correlation forward, loss, backward, update, second forward."""
    from cnnlab.experiments import xcorr1d

    try:
        result = xcorr1d.worked_example(_float_list(x, "--x"), _float_list(w, "--w"), b, _float_list(y, "--y"), lr,
                                        stride)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    out_dir = _out_dir(out, "xcorr1d")
    figures = xcorr1d.save_figures(result, out_dir)
    write_results(out_dir, {**result.to_dict(), "figures": figures})
    for step in result.steps:
        click.echo(f"{step.name:>8}  {step.formula} = {step.value:g}")
    click.echo(f"\nloss {result.loss:g} -> {result.loss_new:g} after one step (autograd agrees to "
               f"{result.torch_max_abs_diff:.1e})\nresults: {out_dir / 'results.json'}")


# ------------------------------------------------------------------------------------------------------------- train
@main.command("train")
@data_dir_option
@click.option("--recipe", default="mnist-seed", show_default=True,
              type=click.Choice(["mnist-seed", "mnist-better", "mlp-seed", "cifar-lenet"]),
              help="Starting settings; the options below override them.")
@click.option("--model", type=click.Choice(["lenet", "mnist-cnn", "mnist-mlp"]), help="Network (sets the dataset).")
@click.option("--engine", type=click.Choice(ENGINE_CHOICES), help="Layer family: torch.nn, own torch, or NumPy.")
@click.option("--epochs", type=click.IntRange(min=1))
@click.option("--batch-size", type=click.IntRange(min=1))
@click.option("--optimizer", type=click.Choice(["sgd", "adam"]))
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="Learning rate (peak lr for onecycle).")
@click.option("--momentum", type=click.FloatRange(min=0, max=1))
@click.option("--weight-decay", type=click.FloatRange(min=0))
@click.option("--schedule", type=click.Choice(["none", "onecycle"]))
@click.option("--normalization", type=click.Choice(["unit", "standard"]), help="[0,1] pixels or per-channel z-score.")
@click.option("--augment/--no-augment", default=None, help="Random crop (pad 4) and horizontal flip.")
@click.option("--max-datapoints", type=click.IntRange(min=1), help="Use only the first N training images.")
@click.option("--val-source", type=click.Choice(["holdout", "test"]), help="CIFAR-10: validate on a holdout or test.")
@click.option("--seed", type=int)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--conv-algorithm", type=click.Choice(["im2col", "loops2", "naive"]),
              help="Own Conv2d algorithm (engines torch-own and numpy).")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint in --out.")
@out_option
@progress_option
@click.pass_context
def train_command(ctx: click.Context, recipe: str, out: Path | None, resume: bool, progress: bool,
                  **overrides: Any) -> None:
    """Train a seed network with either engine; writes model.pt, curves.png, results.json."""
    from cnnlab.experiments import train

    if resume and out is None:
        raise click.UsageError("--resume needs --out pointing at the folder of the run to continue")
    try:
        config = train.recipe(recipe, **overrides)
        config.validate()
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    out_dir = _out_dir(out, "train")
    click.echo(f"training {config.model} ({config.engine} engine) on {config.dataset} -> {out_dir}", err=True)
    with _friendly_errors():
        result = train.train_model(config, out_dir, root=ctx.obj["data_dir"], resume=resume, progress=progress)
    write_results(out_dir, result.to_dict())
    history = result.history
    rows = [[r.epoch, r.train_loss, r.train_acc, r.val_loss, r.val_acc, r.seconds] for r in history.records]
    click.echo(_table(["epoch", "train loss", "train acc", "val loss", "val acc", "seconds"], rows))
    if history.interrupted:
        click.echo(f"interrupted: {history.epochs} finished epochs kept (resume with --resume --out {out_dir})")
    click.echo(f"test accuracy {result.test_acc:.4f} on {result.test_size} images; {result.parameters} parameters; "
               f"{result.seconds:.1f} s\nfiles: {', '.join(str(p) for p in result.files.values())}")


# ----------------------------------------------------------------------------------------- featuremaps, equivariance
weights_option = click.option(
    "--weights", type=click.Path(exists=True, path_type=Path),
    help="Folder of a 'cnnlab train' run (model.pt + config.json) [default: train the CIFAR-10 LeNet first].")


def _trained_network(ctx: click.Context, weights: Path | None, epochs: int, out_dir: Path, progress: bool) -> tuple:
    """The network in ``weights``, or a LeNet trained now with the cifar-lenet recipe for ``epochs`` epochs."""
    from cnnlab.experiments import train

    if weights is None:
        click.echo(f"no --weights given: training the CIFAR-10 LeNet for {epochs} epochs first", err=True)
        config = train.recipe("cifar-lenet", epochs=epochs)
        with _friendly_errors():
            result = train.train_model(config, out_dir / "lenet", root=ctx.obj["data_dir"], progress=progress)
        click.echo(f"trained: test accuracy {result.test_acc:.4f}", err=True)
        weights = result.out_dir
    with _friendly_errors():
        return train.load_trained(weights)


@main.command("compare")
@data_dir_option
@weights_option
@click.option("--epochs", type=click.IntRange(min=1), default=5, show_default=True,
              help="Epochs of the LeNet trained when no --weights are given.")
@click.option("--n-first", type=click.IntRange(min=1), default=20, show_default=True,
              help="Test images of the seed's short accuracy check.")
@click.option("--naive/--no-naive", default=True, show_default=True,
              help="Include the slow reference algorithm (timed on batches of at most 20).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@out_option
@progress_option
@click.pass_context
def compare_command(ctx: click.Context, weights: Path | None, epochs: int, n_first: int, naive: bool, device: str,
                    out: Path | None, progress: bool) -> None:
    """Seed 000 tasks 2.1-3.2: own Linear/Conv2d and LeNet vs torch.nn — differences, accuracy, inference time."""
    from cnnlab import data
    from cnnlab.experiments import compare

    out_dir = _out_dir(out, "compare")
    model, config = _trained_network(ctx, weights, epochs, out_dir, progress)
    if config.model != "lenet":
        raise click.UsageError(f"compare needs a LeNet run (cnnlab train --recipe cifar-lenet), got {config.model}")
    with _friendly_errors():
        test = data.load_dataset("cifar10", "test", ctx.obj["data_dir"], progress=progress)
    x, y = data.prepare(test, config.normalization)
    result = compare.run_compare(model.state_dict(), x, y, n_first=n_first,
                                 algorithms=("naive", "im2col") if naive else ("im2col",), device=device)
    write_results(out_dir, result.to_dict())
    click.echo(compare.format_table(result))
    click.echo(f"\nresults: {out_dir / 'results.json'}")


@main.command("featuremaps")
@data_dir_option
@weights_option
@click.option("--epochs", type=click.IntRange(min=1), default=5, show_default=True,
              help="Epochs of the LeNet trained when no --weights are given.")
@click.option("--images", "n_images", type=click.IntRange(1, 10), default=3, show_default=True)
@click.option("--channels", type=click.IntRange(min=1), default=5, show_default=True, help="Channels per layer.")
@click.option("--seed", type=int, default=0, show_default=True, help="Picks the test images.")
@out_option
@progress_option
@click.pass_context
def featuremaps_command(ctx: click.Context, weights: Path | None, epochs: int, n_images: int, channels: int,
                        seed: int, out: Path | None, progress: bool) -> None:
    """Seed 000 task 3.3: feature maps after every conv and pooling layer, and the first-layer filters."""
    from cnnlab import data
    from cnnlab.experiments import featuremaps
    from cnnlab.plots.featuremaps import save_figures

    out_dir = _out_dir(out, "featuremaps")
    model, config = _trained_network(ctx, weights, epochs, out_dir, progress)
    with _friendly_errors():
        test = data.load_dataset(config.dataset, "test", ctx.obj["data_dir"], progress=progress)
    chosen = featuremaps.choose_images(test.labels, n=n_images, seed=seed)
    x, _ = data.prepare(test, config.normalization)
    result = featuremaps.feature_maps(model, x[chosen], n_channels=channels, labels=test.labels[chosen],
                                      class_names=test.classes, display=test.images[chosen], model_name=config.model)
    figures = save_figures(result, out_dir)
    write_results(out_dir, {**result.to_dict(), "figures": figures})
    _echo_tables(featuremaps.section(result, figures))
    click.echo("\nfigures: " + ", ".join(str(p) for p in figures.values()))


@main.command("equivariance")
@data_dir_option
@click.option("--engine", type=click.Choice(ENGINE_CHOICES), default="numpy", show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.01, show_default=True)
@click.option("--max-datapoints", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Training images (the first N of the training split).")
@click.option("--max-shift", type=click.IntRange(min=0, max=14), default=6, show_default=True,
              help="Largest shift of the accuracy curves, in pixels.")
@click.option("--augmented-mlp/--no-augmented-mlp", default=True, show_default=True,
              help="Also train an MLP with random shifts.")
@click.option("--seed", type=int, default=0, show_default=True)
@out_option
@progress_option
@click.pass_context
def equivariance_command(ctx: click.Context, engine: str, epochs: int, batch_size: int, lr: float,
                         max_datapoints: int, max_shift: int, augmented_mlp: bool, seed: int, out: Path | None,
                         progress: bool) -> None:
    """Seed 004 task 6: MLP vs CNN on MNIST digits shifted 2 px right and down, and how equivariant each layer is."""
    from cnnlab.experiments import equivariance
    from cnnlab.plots.equivariance import save_figures

    data_dir = ctx.obj["data_dir"]
    settings = equivariance.EquivarianceSettings(
        engine=engine, epochs=epochs, batch_size=batch_size, lr=lr, max_datapoints=max_datapoints,
        max_shift=max_shift, augmented_mlp=augmented_mlp, seed=seed, data_root=str(data_dir) if data_dir else None)
    out_dir = _out_dir(out, "equivariance")
    with _friendly_errors():
        result = equivariance.run_equivariance(settings, progress=progress, download=True)
    figures = save_figures(result, out_dir)
    write_results(out_dir, {**result.to_dict(), "figures": figures})
    _echo_tables(equivariance.section(result, figures))
    for question, answer in result.answers:
        click.echo(f"\nQ: {question}\nA: {answer}")
    click.echo("\nfigures: " + ", ".join(str(p) for p in figures.values()))


# -------------------------------------------------------------------------------------------------------------- data
@main.group("data")
def data_group() -> None:
    """Datasets: fetch, verify checksums, look at samples."""


dataset_argument = click.argument("dataset", type=click.Choice(["mnist", "cifar10"]))


@data_group.command("download")
@data_dir_option
@dataset_argument
@click.option("--force", is_flag=True, help="Download again even if the files are present.")
@progress_option
@click.pass_context
def data_download(ctx: click.Context, dataset: str, force: bool, progress: bool) -> None:
    """Download DATASET's files (md5-verified) into the data root."""
    from cnnlab.data import download_dataset

    with _friendly_errors():
        paths = download_dataset(dataset, ctx.obj["data_dir"], progress=progress, force=force)
    click.echo("\n".join(str(p) for p in paths))


@data_group.command("verify")
@data_dir_option
@dataset_argument
@click.pass_context
def data_verify(ctx: click.Context, dataset: str) -> None:
    """Check every file of DATASET: present, readable, md5 against the published value."""
    from cnnlab.data import verify_dataset

    with _friendly_errors():
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
    """A grid of the first N images with their class names (the seed's plot_mnist)."""
    from cnnlab.data import load_dataset
    from cnnlab.plots.samples import plot_samples

    with _friendly_errors():
        ds = load_dataset(dataset, split, ctx.obj["data_dir"], max_datapoints=count)
    out_dir = _out_dir(out, "data-show")
    path = plot_samples(ds.images, ds.labels, out_dir / f"{dataset}-{split}-samples.png", class_names=ds.classes,
                        title=f"{dataset} {split}: first {len(ds)} images")
    click.echo(str(path))


# --------------------------------------------------------------------------------------------------------------- run
@main.command("run")
@data_dir_option
@click.option("--quick", is_flag=True, help="Small settings: a smoke run of every part in under 2 minutes.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--only", "only", multiple=True, metavar="PART",
              help="Run only this part (repeatable): xcorr1d, mnist_data, conv_output, engine_check, mnist_training, "
                   "equivariance, cifar_data, cifar_training, compare, featuremaps.")
@out_option
@progress_option
@click.pass_context
def run_command(ctx: click.Context, quick: bool, seed: int, device: str, only: tuple[str, ...], out: Path | None,
                progress: bool) -> None:
    """The main job: every experiment of both seeds into one folder with a self-contained report.html."""
    from cnnlab.pipeline import PART_KEYS, run_all

    unknown = sorted(set(only) - set(PART_KEYS))
    if unknown:
        raise click.BadParameter(f"unknown parts {unknown}; choose from {', '.join(PART_KEYS)}", param_hint="--only")

    out_dir = _out_dir(out, "run")
    click.echo(f"cnnlab run{' --quick' if quick else ''} -> {out_dir}")

    def report_part(part: Any) -> None:
        line = f"[{part.status:>7}] {part.title} ({part.seconds:.1f} s)"
        if part.message:
            line += f": {part.message}"
        click.echo(line)

    result = run_all(out_dir, root=ctx.obj["data_dir"], quick=quick, seed=seed, device=device, progress=progress,
                     only=only or None, on_part=report_part)
    write_results(out_dir, result.to_dict())
    skipped = [p.title for p in result.parts if p.status == "skipped"]
    click.echo(f"\nreport: {result.report}\ntotal {result.seconds:.0f} s"
               + (f"; skipped (data missing): {', '.join(skipped)}" if skipped else ""))
    if not result.ok:
        raise click.ClickException("some parts failed; see the report and errors.log")
