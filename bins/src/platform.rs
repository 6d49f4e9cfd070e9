//! All six services in one process.
