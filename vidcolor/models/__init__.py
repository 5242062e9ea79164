"""Networks only: nn.Modules and pure functions. No I/O, device choice or downloads here.
May import only the root leaves config and color. Importing it imports torch (its main classes are re-exported).
"""

from vidcolor.models.adain import ReferenceStats, adain, mean_std
from vidcolor.models.transfer import TransferNet
from vidcolor.models.unet import ColorizerNet
from vidcolor.models.vgg import VGGEncoder

__all__ = ["ColorizerNet", "ReferenceStats", "TransferNet", "VGGEncoder", "adain", "mean_std"]
