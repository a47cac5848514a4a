"""The networks and how they are loaded: architecture configs, GPT / FineGPT, their kernels and KV cache, checkpoint
formats, the Hub and local folders, weight formats, the runtime that puts them on the device, graphed decoding."""
