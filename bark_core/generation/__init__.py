"""Bark's cascade as plain functions: sampling, the text, semantic, coarse and fine stages, the codec decode, a
batch of takes, streaming previews and long-form text."""
