//! Running blocking work without the GVL.
//!
//! Every network call goes through [`cancellable`]: the call runs on the core's blocking
//! runtime with the GVL released (`rb_thread_call_without_gvl2`), raced against a
//! [`Notify`] that Ruby's unblocking function pokes when the thread is interrupted
//! (`Thread#kill`, `Thread#raise`, Ctrl-C). An interrupted call is dropped — the core
//! discards its reply when it comes — and the pending interrupt is delivered to Ruby.

use std::ffi::c_void;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};

use magnus::{Error, Ruby};
use tokio::sync::Notify;

use crate::errors;

/// The closure and, once it ran, its outcome (a caught panic is `Err`).
struct Job<F, R> {
    f: Option<F>,
    out: Option<std::thread::Result<R>>,
}

unsafe extern "C" fn run_job<F: FnOnce() -> R, R>(data: *mut c_void) -> *mut c_void {
    // SAFETY: `data` is the `Job` that `without_gvl` keeps alive for the whole call.
    let job = unsafe { &mut *data.cast::<Job<F, R>>() };
    if let Some(f) = job.f.take() {
        job.out = Some(catch_unwind(AssertUnwindSafe(f)));
    }
    std::ptr::null_mut()
}

/// `run_job` for the closure type of `job` (which has no name to write).
fn runner_for<F: FnOnce() -> R, R>(
    _job: &Job<F, R>,
) -> unsafe extern "C" fn(*mut c_void) -> *mut c_void {
    run_job::<F, R>
}

unsafe extern "C" fn unblock(data: *mut c_void) {
    // SAFETY: `data` is the `Notify` that `without_gvl` keeps alive for the whole call.
    let notify = unsafe { &*data.cast::<Notify>() };
    notify.notify_one();
}

/// Runs `f` with the GVL released. `f` gets the notifier that fires when Ruby wants the
/// thread back; it must touch no Ruby object. `None`: interrupted before `f` ran.
fn without_gvl<R>(ruby: &Ruby, f: impl FnOnce(&Notify) -> R) -> Result<Option<R>, Error> {
    let notify = Notify::new();
    let notify_ref = &notify;
    let closure = move || f(notify_ref);
    let mut job = Job {
        f: Some(closure),
        out: None,
    };
    let runner = runner_for(&job);
    // SAFETY: both pointers outlive the call; `run_job` touches no Ruby object, and
    // `_gvl2` never raises (interrupts are left pending for `deliver_interrupts`).
    unsafe {
        rb_sys::rb_thread_call_without_gvl2(
            Some(runner),
            (&mut job as *mut Job<_, R>).cast(),
            Some(unblock),
            (&notify as *const Notify).cast_mut().cast(),
        );
    }
    match job.out {
        Some(Ok(r)) => Ok(Some(r)),
        Some(Err(_)) => Err(errors::base(
            ruby,
            "slotshift: internal error (a panic in the native extension was caught)",
        )),
        None => Ok(None),
    }
}

/// Runs `fut` (a core call) to completion without the GVL. When Ruby wakes the thread (the
/// unblocking function), the GVL is taken back to let Ruby deliver what is pending: a real
/// interrupt (kill, Interrupt, Thread#raise) raises and abandons the call; anything else
/// (a spurious wake-up) resumes the same call where it was.
pub(crate) fn cancellable<T, Fut>(ruby: &Ruby, fut: Fut) -> Result<T, Error>
where
    Fut: Future<Output = slotshift::Result<T>>,
{
    let mut fut = std::pin::pin!(fut);
    loop {
        let out = without_gvl(ruby, |notify| {
            slotshift::store::block_on(async {
                tokio::select! {
                    biased;
                    r = &mut fut => Some(r),
                    _ = notify.notified() => None,
                }
            })
        })?;
        match out {
            Some(Ok(Some(Ok(v)))) => return Ok(v),
            Some(Ok(Some(Err(e)))) | Some(Err(e)) => return Err(errors::from_core(ruby, &e)),
            Some(Ok(None)) | None => deliver_interrupts()?,
        }
    }
}

/// Lets Ruby raise what is pending for this thread (Interrupt, kill, Thread#raise).
fn deliver_interrupts() -> Result<(), Error> {
    // SAFETY: rb_thread_check_ints may raise; `protect` catches it and hands it back.
    magnus::rb_sys::protect(|| {
        unsafe { rb_sys::rb_thread_check_ints() };
        rb_sys::Qnil as rb_sys::VALUE
    })
    .map(|_| ())
}

/// Runs blocking work that cannot be abandoned (it is bounded by the store's timeouts)
/// without the GVL. If Ruby has something pending before it starts, that is delivered first
/// (raising for a real interrupt), then the work runs.
pub(crate) fn blocking<T>(
    ruby: &Ruby,
    f: impl FnOnce() -> slotshift::Result<T>,
) -> Result<T, Error> {
    let mut f = Some(f);
    loop {
        match without_gvl(ruby, |_| f.take().map(|f| f()))? {
            Some(Some(Ok(v))) => return Ok(v),
            Some(Some(Err(e))) => return Err(errors::from_core(ruby, &e)),
            Some(None) => return Err(errors::base(ruby, "slotshift: blocking work ran twice")),
            None => deliver_interrupts()?,
        }
    }
}
