// API module: see README architecture.
