"""What latent-diffusion codecs share: loading a diffusers backbone and its content hash
(``backbone``), the noise processes and deterministic samplers (``noise``), how many steps a
strength below 1 runs (``strength``), LoRA adapters on a denoiser (``lora``), the embedded
backbone the pipeline trains itself (``embedded``: its autoencoder in ``patch_vae``, its material
in ``material``); the tests' tiny untrained backbones are tests/tiny_backbones.py. Codecs keep only their own
parts in their packages (an INR and its encoder loop, latent codecs, adapters, a bitstream)."""
