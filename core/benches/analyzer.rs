//! Analyzer benchmark (filled in below).
fn main() {}
