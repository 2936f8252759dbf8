// Curl module: see README architecture.
