//! Work shared with threads beside the backend. PostgreSQL's backend is one
//! thread: the threads here never call into it (no memory context, no
//! SPI, no error reporting, no interrupt processing), block every signal so
//! the backend's handlers keep running on the backend's own thread, and are
//! all joined before the call returns. The backend takes its share of the
//! work and, between items and while it waits, watches for a cancel: when
//! one is pending, the other threads stop after their current item and the
//! backend raises it.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::pg::interrupts;

/// Threads beside the backend at most, whatever the machine has.
const MOST_THREADS_BESIDE: usize = 7;

/// How often the waiting backend looks for a cancel.
const WATCH_EVERY: Duration = Duration::from_millis(2);

/// Threads to run beside the backend: one fewer than the cores, so the
/// backend's own thread has one.
fn threads_beside() -> usize {
    std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .saturating_sub(1)
        .min(MOST_THREADS_BESIDE)
}

/// Block every signal on the calling thread.
fn block_signals() {
    // SAFETY: a zeroed sigset_t filled by sigfillset, then applied to this
    // thread only; pthread_sigmask is safe to call from any thread.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
    }
}

/// Run `work` on every item, on the backend and on threads beside it; the
/// items `backend_only` picks (large ones, whose work a cancel must be able
/// to stop within) only on the backend, where interrupts are checked as the
/// work goes. Returns once every item is done, or raises a pending cancel.
pub fn for_each<T: Sync>(items: &[T], backend_only: impl Fn(&T) -> bool, work: impl Fn(&T) + Sync) {
    let shared: Vec<&T> = items.iter().filter(|item| !backend_only(item)).collect();
    let beside = threads_beside().min(shared.len().saturating_sub(1));
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let take_shared = || {
        while !stop.load(Ordering::Relaxed) {
            let Some(item) = shared.get(next.fetch_add(1, Ordering::Relaxed)) else {
                break;
            };
            work(item);
        }
    };
    std::thread::scope(|scope| {
        let (done, finished) = mpsc::channel::<()>();
        for _ in 0..beside {
            let done = done.clone();
            let take_shared = &take_shared;
            scope.spawn(move || {
                block_signals();
                interrupts::mark_beside_the_backend();
                take_shared();
                let _ = done.send(());
            });
        }
        for item in items.iter().filter(|item| backend_only(item)) {
            if interrupts::pending() {
                break;
            }
            work(item);
        }
        while !stop.load(Ordering::Relaxed) && !interrupts::pending() {
            let Some(item) = shared.get(next.fetch_add(1, Ordering::Relaxed)) else {
                break;
            };
            work(item);
        }
        let mut waiting = beside;
        while waiting > 0 {
            if interrupts::pending() {
                stop.store(true, Ordering::Relaxed);
            }
            match finished.recv_timeout(WATCH_EVERY) {
                Ok(()) => waiting -= 1,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    });
    interrupts::check();
}
