"""Training for every layer family: the loop (``fit`` / ``evaluate`` / ``predict``, :class:`History`), the run
settings (:class:`TrainConfig` and named recipes), a whole run into a folder (:func:`train_model`) that it owns
(:mod:`cnnlab.training.folders`), and code-free checkpoints (:mod:`cnnlab.training.checkpoints`)."""

from cnnlab.training.checkpoints import CHECKPOINT_NAME, CheckpointError, load_checkpoint
from cnnlab.training.config import AUGMENTATIONS, RECIPES, Recipe, TrainConfig, get_recipe, recipe
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

__all__ = ["AUGMENTATIONS", "CHECKPOINT_NAME", "RECIPES", "CheckpointError", "EpochRecord", "FolderInUseError",
           "History", "Recipe", "ResumeConflictError", "RunExistsError", "RunFilesError", "TrainConfig",
           "TrainResult", "TrainingDiverged", "claim_folder", "evaluate", "fit", "get_recipe", "load_checkpoint",
           "load_data", "load_trained", "predict", "read_config", "recipe", "resolve_device", "resume_config",
           "train_model", "training_kit"]
