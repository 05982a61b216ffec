"""Images: the CIFAR-10 track (data, UNet, GPU training, FID/KID, diffusers teachers)
and the offline digits track that trains on a laptop CPU."""
