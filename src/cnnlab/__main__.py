"""``python -m cnnlab ...``: the command line, also for launchers (``torchrun --nproc-per-node N -m cnnlab train``)."""

from cnnlab.cli import main

if __name__ == "__main__":
    main(prog_name="cnnlab")
