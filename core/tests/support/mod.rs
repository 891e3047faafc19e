//! Shared helpers for the store and cluster integration tests.
#![allow(dead_code)]

pub mod fake;
