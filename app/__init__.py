"""imagepipe: upload, process and deliver images on one laptop or on AWS, through one code path."""
