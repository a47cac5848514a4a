"""What one generation runs on: the models, codec and tokenizer, where they run, and how (`Engine`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..models.model import GPT, FineGPT
from ..models.runtime import Runtime
from .sampling import StageGenerators, stage_generators
from .settings import check_seed


@dataclass(frozen=True, eq=False)
class Engine:
    """The parts every stage function of a generation takes, made once by `BarkPipeline`; nothing per request.

    graphs: how decoding steps run (`graphs.Decoder`). row_exact (exact mode): one generator per take drawn in the
    reference's order, and the rows of a batch of takes computed one at a time (`kernels.by_row`), so that every
    take is token-identical to the reference's single generation.
    """

    text_model: GPT
    coarse_model: GPT
    fine_model: FineGPT
    codec: torch.nn.Module
    tokenizer: object
    runtime: Runtime
    graphs: str = "off"
    row_exact: bool = True

    def make_generator(self, seed: int) -> torch.Generator:
        """One generator on the runtime's device, seeded by `seed`."""
        return torch.Generator(device=self.runtime.device).manual_seed(check_seed(seed))

    def make_generators(self, seed: int) -> StageGenerators:
        """The random generators of the take seeded by `seed`: one for every stage in exact mode (the reference's
        order), one per stage otherwise (`sampling.StageGenerators`)."""
        return stage_generators(check_seed(seed), self.runtime.device, split=not self.row_exact)
