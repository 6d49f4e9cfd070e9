//! The data-storage-service HTTP API.
