//! deribit connector.
