"""Random checkpoints in Bark's real file formats and fidelity measures between precisions, for tests,
benchmarks and offline demos. Nothing here is a trained model."""
