// Supervisor module: see README architecture.
