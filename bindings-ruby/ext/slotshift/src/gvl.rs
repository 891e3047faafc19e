//! Running blocking work without the GVL.
//!
//! Every network call goes through [`cancellable`]: the call runs on the calling thread (the
//! core's blocking API) with the GVL released (`rb_nogvl`), raced against the thread's
//! [`Interrupter`], which Ruby's unblocking function fires when the thread is interrupted
//! (`Thread#kill`, `Thread#raise`, Ctrl-C). An interrupted call is dropped — the core
//! discards its reply when it comes — and the pending interrupt is delivered to Ruby.
//!
//! The unblocking function is async-signal-safe (it writes one byte to a socket), and says so
//! (`RB_NOGVL_UBF_ASYNC_SAFE`): otherwise Ruby starts a thread for every call made from the
//! main thread of a single-threaded program, to run it outside the signal handler — about
//! as long as the round trip itself.

use std::ffi::c_void;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};

use magnus::{Error, Ruby};
use slotshift::store::Interrupter;

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
    // SAFETY: `data` is the `Interrupter` that `without_gvl` keeps alive for the whole call;
    // `interrupt` is async-signal-safe (this may run in a signal handler).
    let interrupter = unsafe { *data.cast::<Interrupter>() };
    interrupter.interrupt();
}

/// Runs `f` with the GVL released. `f` gets this thread's interrupter, which fires when Ruby
/// wants the thread back; it must touch no Ruby object. `None`: interrupted before `f` ran.
fn without_gvl<R>(ruby: &Ruby, f: impl FnOnce(Interrupter) -> R) -> Result<Option<R>, Error> {
    let interrupter =
        Interrupter::for_this_thread().map_err(|e| errors::from_core(ruby, &e.into()))?;
    let closure = move || f(interrupter);
    let mut job = Job {
        f: Some(closure),
        out: None,
    };
    let runner = runner_for(&job);
    // SAFETY: both pointers outlive the call; `run_job` touches no Ruby object, and
    // `INTR_FAIL` never raises (interrupts are left pending for `deliver_interrupts`).
    unsafe {
        rb_sys::rb_nogvl(
            Some(runner),
            (&mut job as *mut Job<_, R>).cast(),
            Some(unblock),
            (&interrupter as *const Interrupter).cast_mut().cast(),
            (rb_sys::RB_NOGVL_INTR_FAIL | rb_sys::RB_NOGVL_UBF_ASYNC_SAFE) as i32,
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
/// (a spurious wake-up) resumes the same call where it was. An abandoned call's reply may
/// still come, so the thread's connections are closed (as redis-rb disconnects after an
/// interrupted command): a killed thread holds no server connection open, and the thread's
/// next call starts on fresh ones.
pub(crate) fn cancellable<T, Fut>(ruby: &Ruby, fut: Fut) -> Result<T, Error>
where
    Fut: Future<Output = slotshift::Result<T>>,
{
    match drive(ruby, fut) {
        Driven::Done(out) => out,
        Driven::Interrupted(e) => {
            // `fut` is gone by now: closing the connections closes their sockets.
            slotshift::store::close_thread_connections();
            Err(e)
        }
    }
}

/// How [`drive`] ended.
enum Driven<T> {
    /// The call's outcome.
    Done(Result<T, Error>),
    /// Ruby interrupted the thread: the exception to raise.
    Interrupted(Error),
}

fn drive<T, Fut>(ruby: &Ruby, fut: Fut) -> Driven<T>
where
    Fut: Future<Output = slotshift::Result<T>>,
{
    let mut fut = std::pin::pin!(fut);
    loop {
        let out = without_gvl(ruby, |interrupter| {
            slotshift::store::block_on(async {
                // The interrupt first: a thread killed just as its reply arrives is still
                // treated as interrupted, so its connections are closed (a dead thread's
                // native thread may be kept for reuse, and its connections with it).
                tokio::select! {
                    biased;
                    _ = interrupter.wait() => None,
                    r = &mut fut => Some(r),
                }
            })
        });
        match out {
            Err(e) => return Driven::Done(Err(e)),
            Ok(Some(Ok(Some(Ok(v))))) => return Driven::Done(Ok(v)),
            Ok(Some(Ok(Some(Err(e))))) | Ok(Some(Err(e))) => {
                return Driven::Done(Err(errors::from_core(ruby, &e)))
            }
            Ok(Some(Ok(None))) | Ok(None) => {
                if let Err(e) = deliver_interrupts() {
                    return Driven::Interrupted(e);
                }
            }
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
