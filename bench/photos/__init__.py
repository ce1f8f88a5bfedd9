"""Masks removed from real photos: detect every face, align it to the frame the model was
trained on, inpaint it, and paste the result back into the photo (see :mod:`bench.photos.pipeline`)."""
