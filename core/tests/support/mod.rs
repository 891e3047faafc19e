//! Shared helpers for the store and cluster integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod fake;
