"""Where the models run: "put this model on the device while I use it" (`Runtime.using`)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True, eq=False)
class Runtime:
    """The device the models run on, whether they wait on the CPU between uses, and which run under bf16 autocast.

    device: where every stage computes. offload: models stay on the CPU and move to `device` only while used, one
    at a time (for accelerators too small to hold all four). bf16: the models whose weights are bf16 or that run
    their products in bf16 (`loading.weights_format`): they run under bf16 autocast, as the reference does on GPUs
    that support it.
    """

    device: torch.device
    offload: bool = False
    bf16: tuple[torch.nn.Module, ...] = ()
    # With offload, one stage at a time owns the accelerator. Reentrant: streaming runs its preview's fine model
    # and codec inside the coarse stage.
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def autocast_dtype(self, model: torch.nn.Module) -> torch.dtype | None:
        """The dtype `model` runs under autocast (torch.bfloat16), or None: as it is."""
        return torch.bfloat16 if any(model is m for m in self.bf16) else None

    @contextlib.contextmanager
    def using(self, model: torch.nn.Module) -> Iterator[None]:
        """Run `model` in the block: on the device (moved there for the block and back to the CPU after it when
        offloading), under its autocast."""
        with self._lock if self.offload else contextlib.nullcontext():
            if self.offload:
                model.to(self.device)
            try:
                dtype = self.autocast_dtype(model)
                with torch.autocast(self.device.type, dtype=dtype) if dtype else contextlib.nullcontext():
                    yield
            finally:
                if self.offload:
                    model.to("cpu")
                    if self.device.type == "cuda":
                        torch.cuda.empty_cache()
