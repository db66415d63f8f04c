"""Training for every layer family: the loop (``fit`` / ``evaluate`` / ``predict``, :class:`History`), the run
settings (:class:`TrainConfig` and named recipes), a whole run into a folder (:func:`train_model`) that it owns
(:mod:`cnnlab.training.folders`), code-free checkpoints (:mod:`cnnlab.training.checkpoints`), data-parallel runs
under torchrun (:mod:`cnnlab.training.distributed`) and the spread of repeated runs over seeds
(:mod:`cnnlab.training.seeds`)."""

from cnnlab.training.checkpoints import CHECKPOINT_NAME, CheckpointError, load_checkpoint
from cnnlab.training.config import AUGMENTATIONS, RECIPES, Recipe, TrainConfig, get_recipe, recipe
from cnnlab.training.distributed import PeerFailed, World, process_group
from cnnlab.training.folders import FolderInUseError, RunExistsError, claim_folder
from cnnlab.training.loop import EpochRecord, History, TrainingDiverged, evaluate, fit, predict, resolve_device
from cnnlab.training.run import (
    ResumeConflictError,
    RunFilesError,
    TrainResult,
    load_data,
    load_trained,
    read_config,
    resume_config,
    train_model,
    training_kit,
)
from cnnlab.training.seeds import Spread, seed_spreads, spread

__all__ = ["AUGMENTATIONS", "CHECKPOINT_NAME", "RECIPES", "CheckpointError", "EpochRecord", "FolderInUseError",
           "History", "PeerFailed", "Recipe", "ResumeConflictError", "RunExistsError", "RunFilesError", "Spread",
           "TrainConfig", "TrainResult", "TrainingDiverged", "World", "claim_folder", "evaluate", "fit", "get_recipe",
           "load_checkpoint", "load_data", "load_trained", "predict", "process_group", "read_config", "recipe",
           "resolve_device", "resume_config", "seed_spreads", "spread", "train_model", "training_kit"]
