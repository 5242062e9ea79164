"""Networks only: nn.Modules and pure functions. No I/O, device choice or downloads here."""

from vidcolor.models.adain import ReferenceStats, adain, mean_std
from vidcolor.models.transfer import TransferNet
from vidcolor.models.unet import ColorizerNet
from vidcolor.models.vgg import VGGEncoder

__all__ = ["ColorizerNet", "ReferenceStats", "TransferNet", "VGGEncoder", "adain", "mean_std"]
