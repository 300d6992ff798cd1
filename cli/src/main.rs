//! `mobiquant`: the desktop command-line tool.
fn main() {}
