//! okx connector.
