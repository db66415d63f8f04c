"""The experiment contract, which every experiment follows:

- a **settings** dataclass whose fields describe themselves (:func:`cnnlab.options.option`), validated on
  construction (``ValueError`` naming the option), with an optional ``quick()`` returning smoke-test settings;
- ``run(settings, context) -> result``: the computation, returning a **result** dataclass with ``to_dict()``
  (JSON-ready, no big arrays); it reads data and trained networks through the :class:`Context` and never prints,
  draws or builds report text;
- figures (``cnnlab.plots``) and a report section (``cnnlab.report.sections``) are made *from* the result.

:class:`Experiment` bundles name, title and the two halves; :mod:`cnnlab.registry` binds each to its figures and
section, and the CLI and ``cnnlab run`` are generated from that registry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from cnnlab import data
from cnnlab.errors import UserError
from cnnlab.models import Model, get_family
from cnnlab.training import TrainConfig, TrainResult, get_recipe, load_trained, read_config, recipe, train_model


class Result(Protocol):
    """What every experiment returns: a dataclass that turns itself into JSON-ready data."""

    def to_dict(self) -> dict[str, Any]: ...


S = TypeVar("S")
R = TypeVar("R", bound=Result)


@dataclass(frozen=True)
class Experiment(Generic[S, R]):
    """One experiment: ``name`` (its command and part key), ``title`` (its report heading), a one-line ``summary``
    (its ``--help``), the settings type (its defaults are the assignments' settings) and ``run``."""

    name: str
    title: str
    summary: str
    settings: type[S]
    run: Callable[[S, Context], R]
    #: Whether it works on trained networks (then ``--weights`` / ``--train`` matter for it).
    uses_networks: bool = False


def quick_settings(settings: Any) -> Any:
    """``settings.quick()`` where the settings define it (smaller data, fewer repeats), else ``settings``."""
    quick = getattr(settings, "quick", None)
    return quick() if callable(quick) else settings


class MissingNetwork(UserError):
    """An experiment needs a trained network that was neither given (``--weights``) nor allowed to be trained."""


@dataclass(frozen=True)
class TrainedNetwork:
    """A trained network on disk: the run's folder and config, and its training result when trained just now."""

    folder: Path
    config: TrainConfig
    result: TrainResult | None = None

    def load(self, engine: str | None = None, conv_algorithm: str | None = None) -> Model:
        """The network built from ``engine``'s layers (default: the engine it was trained with)."""
        return load_trained(self.folder, engine or self.config.engine, conv_algorithm)[0]


@dataclass
class _Shared:
    """What every part of one run shares: loaded datasets (or the error loading them) and trained networks."""

    datasets: dict[tuple[Any, ...], data.Dataset] = field(default_factory=dict)
    #: Datasets found missing or broken: name -> the part that found out (later parts skip at once).
    missing: dict[str, str] = field(default_factory=dict)
    networks: dict[tuple[Any, ...], TrainedNetwork] = field(default_factory=dict)


@dataclass
class Context:
    """Where and how an experiment runs: its output folder, the data root, progress bars, whether it may train
    the networks it needs, and caches shared by every part of one run (datasets, trained networks).

    ``root`` is the run's top folder (trained networks go to ``root/<recipe>``); ``out_dir`` is this part's folder
    and ``part`` its name.
    """

    out_dir: Path
    data_root: Path | None = None
    progress: bool = False
    quick: bool = False
    train_missing: bool = False
    seed: int = 0
    device: str = "auto"
    root: Path | None = None
    part: str = ""
    #: Networks trained now may replace an earlier run in their folder (the command's ``--overwrite``).
    overwrite: bool = False
    _shared: _Shared = field(default_factory=_Shared, repr=False)

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        if self.root is None:
            self.root = self.out_dir

    def for_part(self, name: str) -> Context:
        """The context of one part of a run: its own folder ``root/name``, the same caches."""
        assert self.root is not None
        return dataclasses.replace(self, out_dir=self.root / name, part=name)

    def folder(self, *names: str) -> Path:
        """A folder inside ``out_dir`` (created)."""
        path = self.out_dir.joinpath(*names)
        path.mkdir(parents=True, exist_ok=True)
        return path

    # --- data -----------------------------------------------------------------------------------------------------
    def dataset(self, name: str, split: str, *, max_datapoints: int | None = None,
                val_source: str = "holdout") -> data.Dataset:
        """One split, loaded once per run. A dataset found missing stays missing: later parts get a short
        :class:`~cnnlab.data.DataError` pointing at the part that said what is missing and how to get it."""
        if name in self._shared.missing:
            raise data.DataError(f"the {name} files are not available; part '{self._shared.missing[name]}' above "
                                 "says what is missing and how to get it")
        key = (name, split, max_datapoints, val_source)
        if key not in self._shared.datasets:
            try:
                self._shared.datasets[key] = data.load_dataset(name, split, self.data_root,
                                                               max_datapoints=max_datapoints,
                                                               val_source=val_source, progress=self.progress)
            except data.DataError:
                self._shared.missing[name] = self.part or "loading the data"
                raise
        return self._shared.datasets[key]

    # --- trained networks -------------------------------------------------------------------------------------------
    def train(self, recipe_name: str, *, folder: str | None = None, **overrides: Any) -> TrainedNetwork:
        """Train ``recipe_name`` (made small when ``quick``) into ``root/<folder>`` (default ``root/<recipe>``), once
        per run and settings."""
        config = self._config(recipe_name, overrides)
        key = (recipe_name, tuple(sorted(config.to_dict().items())))
        if key not in self._shared.networks:
            assert self.root is not None
            arrays = {split: data.prepare(self.dataset(config.dataset, split, max_datapoints=config.max_datapoints,
                                                       val_source=config.val_source), config.normalization)
                      for split in data.SPLITS}
            result = train_model(config, self.root / (folder or recipe_name), arrays=arrays, progress=self.progress,
                                 overwrite=self.overwrite)
            self._shared.networks[key] = TrainedNetwork(result.out_dir, config, result)
        return self._shared.networks[key]

    def network(self, recipe_name: str, weights: Path | None = None, *, model: str | None = None,
                purpose: str = "this experiment", **overrides: Any) -> TrainedNetwork:
        """The network ``purpose`` needs: from ``weights`` (a ``cnnlab train`` run folder) when given, else the one
        of recipe ``recipe_name`` trained earlier in this run, else trained now if ``train_missing``.

        ``model``: the architecture it must be (a mismatching ``weights`` folder is a :class:`UserError`);
        ``overrides``: settings that differ from the recipe's when it is trained here (e.g. ``engine``).
        Raises :class:`MissingNetwork` saying how to produce it when none is available.
        """
        if weights is not None:
            try:
                config = read_config(weights)
            except (FileNotFoundError, ValueError) as error:
                raise UserError(f"--weights {weights}: {error}") from None
            if model is not None and config.model != model:
                raise UserError(f"--weights {weights}: that run trained a {config.model}, but {purpose} needs a "
                                f"{model} (e.g. cnnlab train --recipe {recipe_name})")
            return TrainedNetwork(Path(weights), config)
        config = self._config(recipe_name, overrides)
        cached = self._shared.networks.get((recipe_name, tuple(sorted(config.to_dict().items()))))
        if cached is not None:
            return cached
        if self.train_missing:
            return self.train(recipe_name, **overrides)
        raise MissingNetwork(
            f"{purpose} needs a trained network (recipe {recipe_name}): train one with `cnnlab train --recipe "
            f"{recipe_name} --out runs/{recipe_name}` and pass --weights runs/{recipe_name}, or add --train to "
            "train it now")

    def _config(self, recipe_name: str, overrides: Mapping[str, Any]) -> TrainConfig:
        base = get_recipe(recipe_name).config
        device = self.device if get_family(overrides.get("engine", base.engine)).autograd else None
        return recipe(recipe_name, quick=self.quick, **{"seed": self.seed, "device": device, **overrides})
