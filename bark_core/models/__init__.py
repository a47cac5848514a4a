"""The networks and how they are loaded: architecture configs, GPT / FineGPT and their KV cache, checkpoint
formats, the Hub and local folders, device and precision, and graphed decoding steps."""
