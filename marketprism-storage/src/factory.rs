//! Stores chosen by URL scheme.
