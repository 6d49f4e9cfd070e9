//! The all-in-one `marketprism` binary.
fn main() {}
