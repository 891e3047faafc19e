//! The keyspace analyzer: patterns, memory, types and TTLs of a whole deployment, as a report.

use std::ffi::{c_char, CString};

use slotshift_core::analyzer::{analyze, AnalyzeOptions, Report};
use slotshift_core::migrate::analyze_shared;
use slotshift_core::store::Store;

use crate::client::slotshift_client;
use crate::error::{fail_with, null, slotshift_error, slotshift_result};
use crate::ffi::{
    free_raw, ref_or_default, to_raw, try_bytes, try_mut, try_out, try_ref, try_str, Castable,
};
use crate::migrate::shared_job;
use crate::panic::guard;

/// Options for `slotshift_analyze()`: a builder owned by the caller
/// (`slotshift_analyze_options_free()`), not consumed by `slotshift_analyze()`. Not safe for
/// concurrent mutation.
pub struct slotshift_analyze_options {
    _private: [u8; 0],
}

impl Castable for slotshift_analyze_options {
    type Rust = AnalyzeOptions;
}

/// The analyzer's report. Owned by the caller (`slotshift_report_free()`); immutable, may be
/// read from several threads.
pub struct slotshift_report {
    _private: [u8; 0],
}

/// What a report handle holds: the key count and the JSON text, rendered once.
pub(crate) struct ReportData {
    keys: u64,
    json: CString,
}

impl Castable for slotshift_report {
    type Rust = ReportData;
}

/// New analyzer options with the defaults (SCAN COUNT 1000, every key, sample keys masked).
/// NULL only on a caught panic.
#[no_mangle]
pub extern "C" fn slotshift_analyze_options_new() -> *mut slotshift_analyze_options {
    guard(|| to_raw(AnalyzeOptions::default()))
}

/// Analyzes only keys matching the Redis glob `pattern` (`len` bytes; `SCAN … MATCH`).
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_analyze_options_set_match(
    opts: *mut slotshift_analyze_options,
    pattern: *const u8,
    len: usize,
) -> slotshift_result {
    guard(|| {
        let (Some(o), Some(p)) = (try_mut(opts), try_bytes(pattern, len)) else {
            return slotshift_result::NullParameter;
        };
        o.match_pattern = Some(p.to_vec());
        slotshift_result::Ok
    })
}

/// Analyzes only keys of type `key_type` (NUL-terminated: `string`, `hash`, …).
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_analyze_options_set_type(
    opts: *mut slotshift_analyze_options,
    key_type: *const c_char,
) -> slotshift_result {
    guard(|| {
        let Some(o) = try_mut(opts) else {
            return slotshift_result::NullParameter;
        };
        match try_str(key_type, "key_type") {
            Ok(t) => {
                o.key_type = Some(t.to_owned());
                slotshift_result::Ok
            }
            Err((code, _)) => code,
        }
    })
}

/// `SCAN … COUNT` and the keys probed per pipeline (checked by `slotshift_analyze()`).
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_analyze_options_set_count(
    opts: *mut slotshift_analyze_options,
    count: usize,
) -> slotshift_result {
    guard(|| {
        let Some(o) = try_mut(opts) else {
            return slotshift_result::NullParameter;
        };
        o.count = count;
        slotshift_result::Ok
    })
}

/// Shows sample keys in clear instead of as keyed digests.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_analyze_options_set_show_keys(
    opts: *mut slotshift_analyze_options,
    show: bool,
) -> slotshift_result {
    guard(|| {
        let Some(o) = try_mut(opts) else {
            return slotshift_result::NullParameter;
        };
        o.show_keys = show;
        slotshift_result::Ok
    })
}

/// Frees analyzer options. NULL is a no-op.
#[no_mangle]
pub extern "C" fn slotshift_analyze_options_free(opts: *mut slotshift_analyze_options) {
    guard(|| free_raw(opts))
}

/// Scans every master `client` reaches and reports, per key pattern, keys, memory, types and
/// TTLs. `opts` may be NULL (the defaults). On success `*out` is the report (owned).
/// `SLOTSHIFT_RESULT_ANALYZER` for bad options. Blocks for the whole scan.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_analyze(
    client: *const slotshift_client,
    opts: *const slotshift_analyze_options,
    out: *mut *mut slotshift_report,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        let run = |store: &Store, o: &AnalyzeOptions| analyze(store, o);
        analysis("slotshift_analyze", client, opts, out, err, run)
    })
}

/// `slotshift_analyze()` as one process of the shared job `job` (NUL-terminated UTF-8:
/// letters, digits, `.`, `_`, `-`) kept in `coordinator` (a client of any Redis; the analyzed
/// deployment will do). Processes, on this machine or others, that give the same job name to
/// the same coordinator share the walk: each leases slot ranges from it, and every one gets
/// the merged report once all ranges are done (docs/analyzer.md). A process whose options
/// differ from the job's gets `SLOTSHIFT_RESULT_MIGRATE` (shared jobs report as migrations do).
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_analyze_shared(
    client: *const slotshift_client,
    coordinator: *const slotshift_client,
    job: *const c_char,
    opts: *const slotshift_analyze_options,
    out: *mut *mut slotshift_report,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        const F: &str = "slotshift_analyze_shared";
        let (coordinator, shared) = match shared_job(F, coordinator, job, err) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let run =
            |store: &Store, o: &AnalyzeOptions| analyze_shared(store, coordinator, o, &shared);
        analysis(F, client, opts, out, err, run)
    })
}

/// What both analyzer entry points do: checks the client and `out`, takes the defaults for
/// NULL options, runs `run` and hands its report to C.
fn analysis(
    function: &str,
    client: *const slotshift_client,
    opts: *const slotshift_analyze_options,
    out: *mut *mut slotshift_report,
    err: *mut *mut slotshift_error,
    run: impl FnOnce(&Store, &AnalyzeOptions) -> slotshift_core::Result<Report>,
) -> slotshift_result {
    let Some(store) = try_ref(client) else {
        return null(err, function, "client");
    };
    let Some(out) = try_out(out) else {
        return null(err, function, "out");
    };
    let mut defaults = None;
    let opts = ref_or_default(opts, &mut defaults);
    match run(store, opts) {
        Ok(report) => {
            let json = CString::new(report.to_json().replace('\0', " ")).unwrap_or_default();
            out.set(to_raw(ReportData {
                keys: report.total.keys,
                json,
            }));
            slotshift_result::Ok
        }
        Err(e) => fail_with(err, &e),
    }
}

/// The number of keys the report covers (0 for NULL).
#[no_mangle]
pub extern "C" fn slotshift_report_keys(report: *const slotshift_report) -> u64 {
    guard(|| try_ref(report).map_or(0, |r| r.keys))
}

/// The report as JSON: `*json` points to `*len` bytes (NUL-terminated as well), **owned by the
/// report**, valid until `slotshift_report_free()`.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_report_json(
    report: *const slotshift_report,
    json: *mut *const c_char,
    len: *mut usize,
) -> slotshift_result {
    guard(|| {
        let (Some(r), Some(json), Some(len)) = (try_ref(report), try_out(json), try_out(len))
        else {
            return slotshift_result::NullParameter;
        };
        json.set(r.json.as_ptr());
        len.set(r.json.as_bytes().len());
        slotshift_result::Ok
    })
}

/// Frees a report. NULL is a no-op.
#[no_mangle]
pub extern "C" fn slotshift_report_free(report: *mut slotshift_report) {
    guard(|| free_raw(report))
}
