//! `analyze()`: the keyspace analyzer over a store, and its `Report`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use slotshift::analyzer::AnalyzeOptions;

use crate::convert;
use crate::errors::to_py;
use crate::store::Store;

/// The analyzer's report.
#[pyclass(module = "slotshift._slotshift", frozen)]
pub struct Report {
    inner: slotshift::analyzer::Report,
}

#[pymethods]
impl Report {
    /// The report as JSON text (the CLI's `--format json`).
    fn to_json(&self) -> String {
        self.inner.to_json()
    }

    /// The report as a text table.
    fn to_text(&self) -> String {
        self.inner.to_text()
    }

    /// The report as CSV.
    fn to_csv(&self, py: Python<'_>) -> PyResult<String> {
        self.inner.to_csv().map_err(|e| to_py(py, e.into()))
    }

    /// The report as a standalone HTML page.
    fn to_html(&self) -> String {
        self.inner.to_html()
    }

    /// Keys analysed.
    #[getter]
    fn keys(&self) -> u64 {
        self.inner.total.keys
    }

    /// Memory of every key analysed, in bytes (`MEMORY USAGE` sums).
    #[getter]
    fn memory(&self) -> u64 {
        self.inner.total.memory.total
    }

    /// False when the scan was cancelled.
    #[getter]
    fn complete(&self) -> bool {
        self.inner.complete
    }

    /// The patterns, largest memory first.
    #[getter]
    fn patterns(&self) -> Vec<String> {
        self.inner
            .patterns
            .iter()
            .map(|p| p.pattern.clone())
            .collect()
    }
}

/// Analyses the deployment behind `store`.
#[pyfunction]
#[pyo3(signature = (store, *, r#match=None, key_type=None, count=1000, samples=None, rate=None,
    rules=None, show_keys=false, top=10, digest_key=None, coordinator=None, job=None))]
#[allow(clippy::too_many_arguments)]
pub fn analyze(
    py: Python<'_>,
    store: &Store,
    r#match: Option<&Bound<'_, PyAny>>,
    key_type: Option<String>,
    count: i64,
    samples: Option<u32>,
    rate: Option<u64>,
    rules: Option<String>,
    show_keys: bool,
    top: usize,
    digest_key: Option<String>,
    coordinator: Option<&Store>,
    job: Option<String>,
) -> PyResult<Report> {
    let mut opts = AnalyzeOptions::default();
    if count < 1 {
        return Err(PyValueError::new_err(format!(
            "count must be a positive integer, got {count}"
        )));
    }
    opts.count = count as usize;
    if let Some(m) = r#match {
        opts.match_pattern = Some(convert::key_bytes(m, "match")?.into_owned());
    }
    opts.key_type = key_type;
    opts.samples = samples;
    if rate == Some(0) {
        return Err(PyValueError::new_err(
            "rate must be a positive number of keys per second",
        ));
    }
    opts.rate = rate;
    if let Some(text) = rules {
        opts.rules =
            slotshift::analyzer::parse_rules(&text, "rules").map_err(|e| to_py(py, e.into()))?;
    }
    opts.show_keys = show_keys;
    opts.top = top;
    opts.digest_key = digest_key;
    let core = store.core()?;
    let shared = crate::migrate::shared_job(coordinator, job)?;
    let report = py
        .detach(|| match &shared {
            Some((c, s)) => slotshift::migrate::analyze_shared(&core, c, &opts, s),
            None => slotshift::analyzer::analyze(&core, &opts),
        })
        .map_err(|e| to_py(py, e))?;
    Ok(Report { inner: report })
}
