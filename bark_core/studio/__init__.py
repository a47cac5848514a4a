"""What the app needs, free of Gradio: one request's logic, the shared model registry, reproducibility bundles,
Evaluate grids and token plots."""
