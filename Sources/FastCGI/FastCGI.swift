// FastCGI module: see README architecture.
