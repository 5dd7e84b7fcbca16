"""skelact_models: the desktop side of skelact.

Datasets (NTU RGB+D, PKU-MMD, synthetic), the preprocessing shared with the device (spec v1), the STARS/MAMP
transformer and HCN encoders, their training recipes, evaluation protocols and ONNX export helpers.
"""

__version__ = "0.1.0"
