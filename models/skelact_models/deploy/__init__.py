"""The deployment pipeline's Python half: export, quantize and validate a checkpoint for the device.

`cargo xtask export|quantize|validate|pipeline` drive these modules through `python -m skelact_models deploy ...`;
the bundle itself is written by the Rust side (`cargo xtask bundle`, with `skelact-runtime`'s `BundleWriter`), so
the format has one implementation. Everything a step produces lands in one model directory (default
`models/build/<model>/`) described by `model.json` (see `description.py`).
"""
