//! `fogd`: Fog's operator binary (being built).

fn main() {}
