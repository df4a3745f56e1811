"""Generator, discriminator and the text-to-image GAN with its train_step."""

from tfcmgen.models.cross_modal_gan import CrossModalGAN
from tfcmgen.models.discriminator import Discriminator
from tfcmgen.models.generator import Generator

__all__ = ["CrossModalGAN", "Discriminator", "Generator"]
