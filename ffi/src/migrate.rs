//! Diff and migrate between two clients: compare two deployments key by key, and copy what is
//! missing or different. Errors are in the migrate band (`SLOTSHIFT_RESULT_MIGRATE`).

use std::ffi::{c_char, CString};
use std::time::Duration;

use slotshift_core::migrate::{
    diff, diff_shared, migrate, migrate_shared, DiffMode, DiffOptions, DiffReport, MigrateOptions,
    MigrateReport, SharedOptions,
};
use slotshift_core::store::Store;

use crate::client::slotshift_client;
use crate::error::{fail_arg, fail_with, null, slotshift_error, slotshift_result};
use crate::ffi::{free_raw, ref_or_default, to_raw, try_mut, try_out, try_ref, try_str, Castable};
use crate::panic::guard;

/// Options for `slotshift_diff()`: a builder owned by the caller
/// (`slotshift_diff_options_free()`), not consumed by `slotshift_diff()`. Not safe for
/// concurrent mutation.
pub struct slotshift_diff_options {
    _private: [u8; 0],
}

impl Castable for slotshift_diff_options {
    type Rust = DiffOptions;
}

/// Options for `slotshift_migrate()`: a builder owned by the caller
/// (`slotshift_migrate_options_free()`), not consumed by `slotshift_migrate()`. Not safe for
/// concurrent mutation.
pub struct slotshift_migrate_options {
    _private: [u8; 0],
}

impl Castable for slotshift_migrate_options {
    type Rust = MigrateOptions;
}

/// What `slotshift_diff()` found. Owned by the caller (`slotshift_diff_report_free()`);
/// immutable, may be read from several threads.
pub struct slotshift_diff_report {
    _private: [u8; 0],
}

impl Castable for slotshift_diff_report {
    type Rust = JsonReport;
}

/// What `slotshift_migrate()` did. Owned by the caller (`slotshift_migrate_report_free()`);
/// immutable, may be read from several threads.
pub struct slotshift_migrate_report {
    _private: [u8; 0],
}

impl Castable for slotshift_migrate_report {
    type Rust = JsonReport;
}

/// What a diff or migrate report handle holds: its headline count and the JSON text, rendered
/// once.
pub(crate) struct JsonReport {
    count: u64,
    json: CString,
}

impl JsonReport {
    fn new(count: u64, json: String) -> JsonReport {
        JsonReport {
            count,
            json: CString::new(json.replace('\0', " ")).unwrap_or_default(),
        }
    }
}

/// Shared by the two options builders: the setters common to both.
trait FilterOptions {
    fn set_pattern(&mut self, pattern: Option<String>);
    fn set_type(&mut self, key_type: Option<String>);
    fn set_rate(&mut self, rate: Option<u64>);
    fn set_ttl_tolerance(&mut self, tolerance: Duration);
}

impl FilterOptions for DiffOptions {
    fn set_pattern(&mut self, pattern: Option<String>) {
        self.filter.pattern = pattern;
    }
    fn set_type(&mut self, key_type: Option<String>) {
        self.filter.key_type = key_type;
    }
    fn set_rate(&mut self, rate: Option<u64>) {
        self.rate = rate;
    }
    fn set_ttl_tolerance(&mut self, tolerance: Duration) {
        self.ttl_tolerance = tolerance;
    }
}

impl FilterOptions for MigrateOptions {
    fn set_pattern(&mut self, pattern: Option<String>) {
        self.filter.pattern = pattern;
    }
    fn set_type(&mut self, key_type: Option<String>) {
        self.filter.key_type = key_type;
    }
    fn set_rate(&mut self, rate: Option<u64>) {
        self.rate = rate;
    }
    fn set_ttl_tolerance(&mut self, tolerance: Duration) {
        self.ttl_tolerance = tolerance;
    }
}

/// `Some(text)`, or `None` for a NULL pointer (the filter is cleared).
fn optional_text(p: *const c_char, what: &str) -> Result<Option<String>, slotshift_result> {
    if p.is_null() {
        return Ok(None);
    }
    try_str(p, what)
        .map(|s| Some(s.to_owned()))
        .map_err(|(code, _)| code)
}

fn set_match<O: FilterOptions>(o: Option<&mut O>, pattern: *const c_char) -> slotshift_result {
    let Some(o) = o else {
        return slotshift_result::NullParameter;
    };
    match optional_text(pattern, "pattern") {
        Ok(p) => {
            o.set_pattern(p);
            slotshift_result::Ok
        }
        Err(code) => code,
    }
}

fn set_type<O: FilterOptions>(o: Option<&mut O>, key_type: *const c_char) -> slotshift_result {
    let Some(o) = o else {
        return slotshift_result::NullParameter;
    };
    match optional_text(key_type, "key_type") {
        Ok(t) => {
            o.set_type(t);
            slotshift_result::Ok
        }
        Err(code) => code,
    }
}

fn set_rate<O: FilterOptions>(o: Option<&mut O>, keys_per_second: u64) -> slotshift_result {
    let Some(o) = o else {
        return slotshift_result::NullParameter;
    };
    o.set_rate((keys_per_second != 0).then_some(keys_per_second));
    slotshift_result::Ok
}

fn set_ttl_tolerance<O: FilterOptions>(o: Option<&mut O>, ms: u64) -> slotshift_result {
    let Some(o) = o else {
        return slotshift_result::NullParameter;
    };
    o.set_ttl_tolerance(Duration::from_millis(ms));
    slotshift_result::Ok
}

/// The JSON text of a report: `*json` points to `*len` bytes (NUL-terminated as well), owned by
/// the report.
fn report_json(
    r: Option<&JsonReport>,
    json: *mut *const c_char,
    len: *mut usize,
) -> slotshift_result {
    let (Some(r), Some(json), Some(len)) = (r, try_out(json), try_out(len)) else {
        return slotshift_result::NullParameter;
    };
    json.set(r.json.as_ptr());
    len.set(r.json.as_bytes().len());
    slotshift_result::Ok
}

// ---- diff ----

/// New diff options with the defaults: mode `full`, every key, both ways, TTL tolerance 1 s,
/// 3 re-check rounds, no rate limit. NULL only on a caught panic.
#[no_mangle]
pub extern "C" fn slotshift_diff_options_new() -> *mut slotshift_diff_options {
    guard(|| to_raw(DiffOptions::default()))
}

/// How deeply keys on both sides are compared: `mode` is `"full"` (type, TTL and value),
/// `"length"` (type, TTL and length) or `"outline"` (type and TTL). Another name gives
/// `SLOTSHIFT_RESULT_MIGRATE` with a detail naming it (when `err` is not NULL).
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_diff_options_set_mode(
    opts: *mut slotshift_diff_options,
    mode: *const c_char,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        const F: &str = "slotshift_diff_options_set_mode";
        let Some(o) = try_mut(opts) else {
            return null(err, F, "opts");
        };
        let name = match try_str(mode, "mode") {
            Ok(m) => m,
            Err(e) => return fail_arg(err, F, e),
        };
        match DiffMode::parse(name) {
            Ok(m) => {
                o.mode = m;
                slotshift_result::Ok
            }
            Err(e) => fail_with(err, &e),
        }
    })
}

/// Compares only keys matching the Redis glob `pattern` (NUL-terminated UTF-8; `SCAN … MATCH`),
/// on both sides. NULL clears the filter.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_diff_options_set_match(
    opts: *mut slotshift_diff_options,
    pattern: *const c_char,
) -> slotshift_result {
    guard(|| set_match(try_mut(opts), pattern))
}

/// Compares only keys of type `key_type` (`string`, `list`, `set`, `zset`, `hash`, `stream`;
/// `SCAN … TYPE`). NULL clears the filter.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_diff_options_set_type(
    opts: *mut slotshift_diff_options,
    key_type: *const c_char,
) -> slotshift_result {
    guard(|| set_type(try_mut(opts), key_type))
}

/// At most `keys_per_second` keys per second, both passes together; 0: no limit (default).
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_diff_options_set_rate(
    opts: *mut slotshift_diff_options,
    keys_per_second: u64,
) -> slotshift_result {
    guard(|| set_rate(try_mut(opts), keys_per_second))
}

/// TTLs that differ by at most `ms` milliseconds are equal, and a key missing on one side whose
/// other copy expires within `ms` is not a difference. Default 1000.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_diff_options_set_ttl_tolerance_ms(
    opts: *mut slotshift_diff_options,
    ms: u64,
) -> slotshift_result {
    guard(|| set_ttl_tolerance(try_mut(opts), ms))
}

/// Frees diff options. NULL is a no-op.
#[no_mangle]
pub extern "C" fn slotshift_diff_options_free(opts: *mut slotshift_diff_options) {
    guard(|| free_raw(opts))
}

/// Compares `source` with `destination` key by key, both ways: keys missing on the destination,
/// extra keys on it, and keys whose type, value or TTL differ (re-checked a few rounds, so
/// writes in flight converge away). `opts` may be NULL (the defaults). On success `*out` is the
/// report (owned). The same store on both sides, bad options and refused reads give
/// `SLOTSHIFT_RESULT_MIGRATE`. Blocks for the whole comparison.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_diff(
    source: *const slotshift_client,
    destination: *const slotshift_client,
    opts: *const slotshift_diff_options,
    out: *mut *mut slotshift_diff_report,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        let run = |src: &Store, dst: &Store, o: &DiffOptions| diff(src, dst, o);
        transfer(
            "slotshift_diff",
            [source, destination],
            opts,
            out,
            err,
            run,
            diffs,
        )
    })
}

/// `slotshift_diff()` as one process of the shared job `job` (NUL-terminated UTF-8: letters,
/// digits, `.`, `_`, `-`) kept in `coordinator` (a client of any Redis; the destination will
/// do). Processes, on this machine or others, that give the same job name to the same
/// coordinator share the comparison: each leases slot ranges from it, and every one gets the
/// merged report of every range once all are done (docs/migrate.md, "One job, several
/// processes"). A process whose settings differ from the job's gets `SLOTSHIFT_RESULT_MIGRATE`.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_diff_shared(
    source: *const slotshift_client,
    destination: *const slotshift_client,
    coordinator: *const slotshift_client,
    job: *const c_char,
    opts: *const slotshift_diff_options,
    out: *mut *mut slotshift_diff_report,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        const F: &str = "slotshift_diff_shared";
        let shared = match shared_job(F, coordinator, job, err) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let run = |src: &Store, dst: &Store, o: &DiffOptions| {
            diff_shared(src, dst, shared.0, o, &shared.1)
        };
        transfer(F, [source, destination], opts, out, err, run, diffs)
    })
}

/// The coordinator and the job's options, or the error to return.
pub(crate) fn shared_job<'a>(
    function: &str,
    coordinator: *const slotshift_client,
    job: *const c_char,
    err: *mut *mut slotshift_error,
) -> Result<(&'a Store, SharedOptions), slotshift_result> {
    let Some(c) = try_ref(coordinator) else {
        return Err(null(err, function, "coordinator"));
    };
    match try_str(job, "job") {
        Ok(name) => Ok((c, SharedOptions::new(name))),
        Err(e) => Err(fail_arg(err, function, e)),
    }
}

/// A diff report's handle: its differences and JSON.
fn diffs(report: DiffReport) -> JsonReport {
    JsonReport::new(report.total_differences(), report.to_json())
}

/// A migrate report's handle: the keys it copied and its JSON.
fn copies(report: MigrateReport) -> JsonReport {
    JsonReport::new(report.copied(), report.to_json())
}

/// What every diff and migrate entry point does: checks the two clients and `out`, takes
/// the defaults for NULL options, runs `run` and hands its report to C as `report` makes it.
fn transfer<O: Castable, H: Castable<Rust = JsonReport>, R>(
    function: &str,
    [source, destination]: [*const slotshift_client; 2],
    opts: *const O,
    out: *mut *mut H,
    err: *mut *mut slotshift_error,
    run: impl FnOnce(&Store, &Store, &O::Rust) -> slotshift_core::Result<R>,
    report: fn(R) -> JsonReport,
) -> slotshift_result
where
    O::Rust: Default,
{
    let Some(src) = try_ref(source) else {
        return null(err, function, "source");
    };
    let Some(dst) = try_ref(destination) else {
        return null(err, function, "destination");
    };
    let Some(out) = try_out(out) else {
        return null(err, function, "out");
    };
    let mut defaults = None;
    let opts = ref_or_default(opts, &mut defaults);
    match run(src, dst, opts) {
        Ok(r) => {
            out.set(to_raw(report(r)));
            slotshift_result::Ok
        }
        Err(e) => fail_with(err, &e),
    }
}

/// The number of differences left after the re-check rounds (0 for NULL).
#[no_mangle]
pub extern "C" fn slotshift_diff_report_differences(report: *const slotshift_diff_report) -> u64 {
    guard(|| try_ref(report).map_or(0, |r| r.count))
}

/// The diff report as JSON (`complete`, `mode`, `source_keys`, `destination_keys`,
/// `differences` per kind, `mismatches`, …): `*json` points to `*len` bytes (NUL-terminated as
/// well), **owned by the report**, valid until `slotshift_diff_report_free()`.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_diff_report_json(
    report: *const slotshift_diff_report,
    json: *mut *const c_char,
    len: *mut usize,
) -> slotshift_result {
    guard(|| report_json(try_ref(report), json, len))
}

/// Frees a diff report. NULL is a no-op.
#[no_mangle]
pub extern "C" fn slotshift_diff_report_free(report: *mut slotshift_diff_report) {
    guard(|| free_raw(report))
}

// ---- migrate ----

/// New migrate options with the defaults: every key, compare before copying, verify, TTL
/// tolerance 1 s, no rate limit, a final diff, not a dry run. NULL only on a caught panic.
#[no_mangle]
pub extern "C" fn slotshift_migrate_options_new() -> *mut slotshift_migrate_options {
    guard(|| to_raw(MigrateOptions::default()))
}

/// Copies only keys matching the Redis glob `pattern` (NUL-terminated UTF-8; `SCAN … MATCH`).
/// NULL clears the filter.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_migrate_options_set_match(
    opts: *mut slotshift_migrate_options,
    pattern: *const c_char,
) -> slotshift_result {
    guard(|| set_match(try_mut(opts), pattern))
}

/// Copies only keys of type `key_type` (`string`, `list`, `set`, `zset`, `hash`, `stream`).
/// NULL clears the filter.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_migrate_options_set_type(
    opts: *mut slotshift_migrate_options,
    key_type: *const c_char,
) -> slotshift_result {
    guard(|| set_type(try_mut(opts), key_type))
}

/// At most `keys_per_second` keys per second; 0: no limit (default).
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_migrate_options_set_rate(
    opts: *mut slotshift_migrate_options,
    keys_per_second: u64,
) -> slotshift_result {
    guard(|| set_rate(try_mut(opts), keys_per_second))
}

/// TTL tolerance of the comparisons, in milliseconds, as in
/// `slotshift_diff_options_set_ttl_tolerance_ms()`. Default 1000.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_migrate_options_set_ttl_tolerance_ms(
    opts: *mut slotshift_migrate_options,
    ms: u64,
) -> slotshift_result {
    guard(|| set_ttl_tolerance(try_mut(opts), ms))
}

/// `true`: write nothing on the destination, only report what would be copied.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_migrate_options_set_dry_run(
    opts: *mut slotshift_migrate_options,
    dry_run: bool,
) -> slotshift_result {
    guard(|| set_flag(opts, |o| &mut o.dry_run, dry_run))
}

/// `true`: write only keys the destination lacks and keep what it has (`RESTORE` without
/// `REPLACE`): the backfill under dual-write, where the destination's copy is the newer.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_migrate_options_set_missing_only(
    opts: *mut slotshift_migrate_options,
    missing_only: bool,
) -> slotshift_result {
    guard(|| set_flag(opts, |o| &mut o.missing_only, missing_only))
}

/// Sets the flag `field` picks in migrate options.
fn set_flag(
    opts: *mut slotshift_migrate_options,
    field: fn(&mut MigrateOptions) -> &mut bool,
    value: bool,
) -> slotshift_result {
    let Some(o) = try_mut(opts) else {
        return slotshift_result::NullParameter;
    };
    *field(o) = value;
    slotshift_result::Ok
}

/// Frees migrate options. NULL is a no-op.
#[no_mangle]
pub extern "C" fn slotshift_migrate_options_free(opts: *mut slotshift_migrate_options) {
    guard(|| free_raw(opts))
}

/// Copies what is missing or different from `source` to `destination` (`DUMP` / `RESTORE`,
/// TTLs kept), verifies it, and by default ends with a full diff. `opts` may be NULL (the
/// defaults). On success `*out` is the report (owned). The same store on both sides, a
/// read-only destination, bad options and refused copies give `SLOTSHIFT_RESULT_MIGRATE`.
/// Blocks for the whole copy.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_migrate(
    source: *const slotshift_client,
    destination: *const slotshift_client,
    opts: *const slotshift_migrate_options,
    out: *mut *mut slotshift_migrate_report,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        let run = |src: &Store, dst: &Store, o: &MigrateOptions| migrate(src, dst, o);
        transfer(
            "slotshift_migrate",
            [source, destination],
            opts,
            out,
            err,
            run,
            copies,
        )
    })
}

/// `slotshift_migrate()` as one process of the shared job `job` kept in `coordinator`, as
/// `slotshift_diff_shared()` shares a diff: each process copies the slot ranges it leases,
/// and every one gets the merged report. The options' rate is this process's.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_migrate_shared(
    source: *const slotshift_client,
    destination: *const slotshift_client,
    coordinator: *const slotshift_client,
    job: *const c_char,
    opts: *const slotshift_migrate_options,
    out: *mut *mut slotshift_migrate_report,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        const F: &str = "slotshift_migrate_shared";
        let shared = match shared_job(F, coordinator, job, err) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let run = |src: &Store, dst: &Store, o: &MigrateOptions| {
            migrate_shared(src, dst, shared.0, o, &shared.1)
        };
        transfer(F, [source, destination], opts, out, err, run, copies)
    })
}

/// The number of keys written on the destination (restored + rewritten); for a dry run, the
/// number that would have been written. 0 for NULL.
#[no_mangle]
pub extern "C" fn slotshift_migrate_report_copied(report: *const slotshift_migrate_report) -> u64 {
    guard(|| try_ref(report).map_or(0, |r| r.count))
}

/// The migrate report as JSON (`complete`, `dry_run`, `keys_scanned`, `restored`, `rewritten`,
/// `equal`, `final_diff`, …): `*json` points to `*len` bytes (NUL-terminated as well), **owned
/// by the report**, valid until `slotshift_migrate_report_free()`.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_migrate_report_json(
    report: *const slotshift_migrate_report,
    json: *mut *const c_char,
    len: *mut usize,
) -> slotshift_result {
    guard(|| report_json(try_ref(report), json, len))
}

/// Frees a migrate report. NULL is a no-op.
#[no_mangle]
pub extern "C" fn slotshift_migrate_report_free(report: *mut slotshift_migrate_report) {
    guard(|| free_raw(report))
}
