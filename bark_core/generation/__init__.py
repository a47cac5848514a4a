"""Bark's cascade as plain functions over an `Engine`: settings, sampling, the semantic, coarse and fine stages, the
codec decode, a batch of takes, streaming previews and long-form text."""
