//! The engine's clock: the system clock, moved once at start-up by
//! `krl serve --clock` (a testing aid). Every time reading of the process
//! (`time:now()`, event times, schedules, the Twilio outbox, MQTT queue
//! ids, registration stamps) goes through [`now_ms`], so they all agree.
//! Uses: nothing of this crate.

use std::sync::atomic::{AtomicI64, Ordering};

/// How far the engine's clock is ahead of the system clock, in ms: 0
/// unless `krl serve --clock` set it ([`set_clock`]).
static CLOCK_OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// The system clock, ms since the Unix epoch.
fn system_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// Makes the engine's clock read `start_ms` (ms since the Unix epoch)
/// now and advance in real time from there (`krl serve --clock`, a
/// testing aid): every [`now_ms`] of the process follows it, so
/// `time:now()`, event times, schedules and the outbox agree.
pub fn set_clock(start_ms: i64) {
    let offset = start_ms - system_ms() as i64;
    CLOCK_OFFSET_MS.store(offset, Ordering::Relaxed);
}

/// The engine's clock, ms since the Unix epoch: the system clock, moved
/// by `krl serve --clock` if it was given.
pub fn now_ms() -> f64 {
    system_ms() + CLOCK_OFFSET_MS.load(Ordering::Relaxed) as f64
}
