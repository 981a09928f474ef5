"""GAN transfer: DCGAN-style generator and discriminator, transfer (fine-tune, FreezeD,
DiffAugment), scores (KID, FID, precision/recall/density/coverage) and sampling/export.

One file per concern; the long actions are jobs in engine/jobs/ (gan_train, gan_score,
gan_sample, gan_export), driven alike by `transfer-studio gan ...` and the Generate page.
"""
