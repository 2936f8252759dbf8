// S3 module: see README architecture.
