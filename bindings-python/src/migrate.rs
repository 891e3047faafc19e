//! `diff()` and `migrate()`: the core's store-to-store compare and copy, and their reports.

use std::collections::HashMap;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use slotshift::migrate::{
    DiffKind, DiffMode, DiffOptions, KeyFilter, MigrateOptions, SharedOptions,
};

use crate::errors::to_py;
use crate::store::Store;

/// The report of a diff.
#[pyclass(module = "slotshift._slotshift", frozen)]
pub struct DiffReport {
    inner: slotshift::migrate::DiffReport,
}

#[pymethods]
impl DiffReport {
    /// The report as JSON text (the CLI's `diff --format json`).
    fn to_json(&self) -> String {
        self.inner.to_json()
    }

    /// The report as text.
    fn to_text(&self) -> String {
        self.inner.to_text()
    }

    /// Differences left after the re-check rounds, every kind together.
    #[getter]
    fn total_differences(&self) -> u64 {
        self.inner.total_differences()
    }

    /// Differences left per kind: `missing`, `extra`, `type`, `value`, `ttl`.
    #[getter]
    fn differences(&self) -> HashMap<&'static str, u64> {
        DiffKind::ALL
            .iter()
            .map(|k| (k.name(), self.inner.count(*k)))
            .collect()
    }

    /// Keys scanned on the source.
    #[getter]
    fn source_keys(&self) -> u64 {
        self.inner.source_keys
    }

    /// Keys scanned on the destination (the reverse pass).
    #[getter]
    fn destination_keys(&self) -> u64 {
        self.inner.destination_keys
    }

    /// Hash slots where the reverse pass checked each destination key on the source (where
    /// the destination's keys were not those the forward pass found there).
    #[getter]
    fn reverse_exact_slots(&self) -> u64 {
        self.inner.reverse_exact_slots
    }

    /// False when the diff was cancelled.
    #[getter]
    fn complete(&self) -> bool {
        self.inner.complete
    }
}

/// The report of a migration.
#[pyclass(module = "slotshift._slotshift", frozen)]
pub struct MigrateReport {
    inner: slotshift::migrate::MigrateReport,
}

#[pymethods]
impl MigrateReport {
    /// The report as JSON text (the CLI's `migrate --format json`).
    fn to_json(&self) -> String {
        self.inner.to_json()
    }

    /// The report as text.
    fn to_text(&self) -> String {
        self.inner.to_text()
    }

    /// Keys written to the destination (restored and rewritten; would-be copies in a dry run).
    #[getter]
    fn copied(&self) -> u64 {
        self.inner.copied()
    }

    /// Keys scanned on the source.
    #[getter]
    fn keys_scanned(&self) -> u64 {
        self.inner.keys_scanned
    }

    /// Keys already equal on the destination (not copied).
    #[getter]
    fn equal(&self) -> u64 {
        self.inner.equal
    }

    /// True when nothing was written.
    #[getter]
    fn dry_run(&self) -> bool {
        self.inner.dry_run
    }

    /// False when the migration was cancelled.
    #[getter]
    fn complete(&self) -> bool {
        self.inner.complete
    }

    /// The closing diff's report, when one ran.
    #[getter]
    fn final_diff(&self) -> Option<DiffReport> {
        self.inner
            .final_diff
            .clone()
            .map(|inner| DiffReport { inner })
    }
}

/// The key filter from the keyword arguments.
fn filter(
    py: Python<'_>,
    r#match: Option<String>,
    key_type: Option<String>,
    slots: Option<&str>,
) -> PyResult<KeyFilter> {
    let mut f = KeyFilter::default();
    f.pattern = r#match;
    f.key_type = key_type;
    if let Some(s) = slots {
        f.slots = Some(KeyFilter::parse_slots(s).map_err(|e| to_py(py, e))?);
    }
    Ok(f)
}

/// The shared job `coordinator=` and `job=` ask for (both or neither).
pub(crate) fn shared_job(
    coordinator: Option<&Store>,
    job: Option<String>,
) -> PyResult<Option<(slotshift::store::Store, SharedOptions)>> {
    match (coordinator, job) {
        (Some(c), Some(job)) => Ok(Some((c.core()?, SharedOptions::new(job)))),
        (None, None) => Ok(None),
        _ => Err(PyValueError::new_err(
            "coordinator= and job= go together: the coordinator keeps the job of that name",
        )),
    }
}

/// Compares the keys of `source` and `destination`.
#[pyfunction]
#[pyo3(signature = (source, destination, *, mode="full", r#match=None, key_type=None,
    slots=None, rate=None, ttl_tolerance_ms=1000, reverse=true, coordinator=None, job=None))]
#[allow(clippy::too_many_arguments)]
pub fn diff(
    py: Python<'_>,
    source: &Store,
    destination: &Store,
    mode: &str,
    r#match: Option<String>,
    key_type: Option<String>,
    slots: Option<&str>,
    rate: Option<u64>,
    ttl_tolerance_ms: u64,
    reverse: bool,
    coordinator: Option<&Store>,
    job: Option<String>,
) -> PyResult<DiffReport> {
    let mut opts = DiffOptions::default();
    opts.mode = DiffMode::parse(mode).map_err(|e| to_py(py, e))?;
    opts.filter = filter(py, r#match, key_type, slots)?;
    opts.rate = rate;
    opts.ttl_tolerance = Duration::from_millis(ttl_tolerance_ms);
    opts.reverse = reverse;
    let (src, dst) = (source.core()?, destination.core()?);
    let shared = shared_job(coordinator, job)?;
    let report = py
        .detach(|| match &shared {
            Some((c, s)) => slotshift::migrate::diff_shared(&src, &dst, c, &opts, s),
            None => slotshift::migrate::diff(&src, &dst, &opts),
        })
        .map_err(|e| to_py(py, e))?;
    Ok(DiffReport { inner: report })
}

/// Copies the keys of `source` that are missing or different on `destination`.
#[pyfunction]
#[pyo3(signature = (source, destination, *, r#match=None, key_type=None, slots=None,
    rate=None, dry_run=false, ttl_tolerance_ms=1000, delete_extra=false, missing_only=false,
    coordinator=None, job=None))]
#[allow(clippy::too_many_arguments)]
pub fn migrate(
    py: Python<'_>,
    source: &Store,
    destination: &Store,
    r#match: Option<String>,
    key_type: Option<String>,
    slots: Option<&str>,
    rate: Option<u64>,
    dry_run: bool,
    ttl_tolerance_ms: u64,
    delete_extra: bool,
    missing_only: bool,
    coordinator: Option<&Store>,
    job: Option<String>,
) -> PyResult<MigrateReport> {
    let mut opts = MigrateOptions::default();
    opts.filter = filter(py, r#match, key_type, slots)?;
    opts.rate = rate;
    opts.dry_run = dry_run;
    opts.ttl_tolerance = Duration::from_millis(ttl_tolerance_ms);
    opts.delete_extra = delete_extra;
    opts.missing_only = missing_only;
    let (src, dst) = (source.core()?, destination.core()?);
    let shared = shared_job(coordinator, job)?;
    let report = py
        .detach(|| match &shared {
            Some((c, s)) => slotshift::migrate::migrate_shared(&src, &dst, c, &opts, s),
            None => slotshift::migrate::migrate(&src, &dst, &opts),
        })
        .map_err(|e| to_py(py, e))?;
    Ok(MigrateReport { inner: report })
}
