"""Generator, discriminator, the text-to-image GAN and the text-guided image editor."""

from tfcmgen.models.cross_modal_gan import CrossModalGAN
from tfcmgen.models.discriminator import Discriminator
from tfcmgen.models.generator import Generator
from tfcmgen.models.text_image_editor import TextImageEditor

__all__ = ["CrossModalGAN", "Discriminator", "Generator", "TextImageEditor"]
