//! The open loop's clock: waits until a send time with microsecond
//! precision, inside a load thread's single-threaded runtime. It does not
//! decide the schedule (see `engine.rs`).
//!
//! Why a timerfd: tokio's timer wheel has 1 ms ticks and wakes a
//! `sleep_until` at the tick after its deadline, so a schedule kept by it
//! sends every request about a millisecond late (issue 36: 1.0–1.1 ms of
//! lag at p50, the whole of the reported latency against a fast target).
//! A timerfd is a kernel hrtimer without timer slack; registered with the
//! runtime's own epoll (`AsyncFd`) it wakes the load thread at the instant,
//! and the connection that sends is on that same thread, so nothing crosses
//! threads. The last [`SPIN`] (more when slots are far apart) before the
//! instant is spun rather than slept, which takes most of the wake-up path
//! (epoll, task poll) out of the lag.
//!
//! Measured before choosing (bench/pacing.rs, docs/benchmarks-history.md, "loadtest
//! vs oha, open-loop pacing"), lateness at 200 and 2,000 ticks/s on this
//! project's shared 2-core machine, the process under SCHED_FIFO so that the
//! other builds' load does not hide the clocks: tokio's sleep 1.27–1.53 ms
//! at p50; a sleep plus `yield_now` spin 1 µs, but 96 % of a core at
//! 2,000/s; a pacing thread (`nanosleep`, with or without a spin) handing
//! permits to the runtime 32–114 µs at p50 and 14–28 % of a core at
//! 2,000/s, the cross-thread hand-off costing both; the timerfd 28–68 µs
//! p50 at 0.5–5 %; the timerfd with a 20 µs spin 9–42 µs p50 and 149–193 µs
//! p99 at 0.5–5 %. That last one is kept, its spin grown to a hundredth of
//! the gap between slots (up to [`SPIN_MAX`]) when they are far apart.
//!
//! Where there is no timerfd (not Linux, or the call fails), the wait falls
//! back to tokio's timer and a short spin: correct, about as precise, and
//! costlier in CPU.

use std::time::{Duration, Instant};

/// How long before a send time the clock stops sleeping and spins, at
/// least: the runtime's own wake-up path.
pub const SPIN: Duration = Duration::from_micros(20);

/// The most it spins: slots far apart let the CPU go idle, and waking an
/// idle CPU took ~60 µs on the benchmark machine (the bare timerfd's p50 at
/// 200/s, docs/benchmarks.md); a spin of a hundredth of the gap between
/// slots covers that for at most 1 % of a core.
pub const SPIN_MAX: Duration = Duration::from_micros(100);

/// Fallback only: tokio's timer wakes up to a tick (1 ms) after its
/// deadline, so it is asked for this much earlier, and the rest is spun.
const WHEEL: Duration = Duration::from_micros(1_100);

/// A load thread's clock. Create it inside the thread's runtime.
pub struct Clock {
    /// How long before each instant it stops sleeping and spins.
    spin: Duration,
    #[cfg(target_os = "linux")]
    fd: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

impl Clock {
    /// A clock on a timerfd when the system has one, else on tokio's
    /// timer, for slots `gap` apart: it spins a hundredth of the gap
    /// before each, within [`SPIN`]..=[`SPIN_MAX`].
    pub fn new(gap: Duration) -> Clock {
        Clock {
            spin: (gap / 100).clamp(SPIN, SPIN_MAX),
            #[cfg(target_os = "linux")]
            fd: timerfd::open().ok(),
        }
    }

    /// Whether the precise (timerfd) clock is in use.
    #[cfg(test)]
    fn precise(&self) -> bool {
        #[cfg(target_os = "linux")]
        return self.fd.is_some();
        #[cfg(not(target_os = "linux"))]
        return false;
    }

    /// Returns at `at` (a few microseconds after it), or at once when it has passed.
    pub async fn until(&mut self, at: Instant) {
        let now = Instant::now();
        if at <= now {
            return;
        }
        let wake = at.checked_sub(self.spin).unwrap_or(at);
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            // Within the spin already: nothing to sleep.
            if wake <= now || timerfd::wait(fd, wake - now).await.is_ok() {
                spin_until(at);
                return;
            }
            // A timerfd that fails once is not trusted again.
            self.fd = None;
        }
        if let Some(early) = at.checked_sub(WHEEL)
            && early > Instant::now()
        {
            tokio::time::sleep_until(early.into()).await;
        }
        // Spun in slices, yielding between them, so that other tasks of
        // the thread (answers arriving) are not held up for a millisecond.
        while at.saturating_duration_since(Instant::now()) > self.spin {
            tokio::task::yield_now().await;
        }
        spin_until(at);
    }
}

fn spin_until(at: Instant) {
    while Instant::now() < at {
        std::hint::spin_loop();
    }
}

#[cfg(target_os = "linux")]
mod timerfd {
    use std::os::fd::OwnedFd;
    use std::time::Duration;

    use rustix::time::{
        Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
        timerfd_settime,
    };
    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;

    /// A non-blocking monotonic timerfd in the current runtime's epoll
    /// (the clock of `std::time::Instant` on Linux).
    pub fn open() -> std::io::Result<AsyncFd<OwnedFd>> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // SAFETY: `register` asks that the descriptor stay open and be the
        // same for the `AsyncFd`'s whole life: an `OwnedFd` is open until
        // dropped, the `AsyncFd` owns it (drops it last), and its
        // `as_raw_fd` always returns that one descriptor.
        unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)
    }

    /// Arms the timer `after` from now (one shot) and waits for it.
    pub async fn wait(fd: &AsyncFd<OwnedFd>, after: Duration) -> std::io::Result<()> {
        // A zero value would disarm the timer: at least 1 ns.
        let after = after.max(Duration::from_nanos(1));
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: Timespec {
                tv_sec: i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: after.subsec_nanos().into(),
            },
        };
        timerfd_settime(fd.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
        loop {
            let mut ready = fd.readable().await?;
            // The expiry count (8 bytes); EAGAIN: not yet, wait again.
            let mut buf = [0u8; 8];
            match rustix::io::read(fd.get_ref(), &mut buf) {
                Ok(_) => return Ok(()),
                Err(rustix::io::Errno::AGAIN) => ready.clear_ready(),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn waits_until_the_instant_and_not_before() {
        let mut clock = Clock::new(Duration::from_millis(1));
        assert_eq!(clock.spin, SPIN);
        assert_eq!(
            Clock::new(Duration::from_millis(5)).spin,
            Duration::from_micros(50)
        );
        assert_eq!(Clock::new(Duration::from_secs(1)).spin, SPIN_MAX);
        #[cfg(target_os = "linux")]
        assert!(clock.precise(), "a timerfd on Linux");
        for ms in [0u64, 1, 3] {
            let at = Instant::now() + Duration::from_millis(ms);
            clock.until(at).await;
            assert!(Instant::now() >= at, "returned before the instant");
        }
        // An instant in the past returns at once.
        let past = Instant::now();
        clock.until(past).await;
        // One within the spin is spun, and the timerfd is kept: losing it
        // there turned every later wait into a millisecond of spinning.
        let near = Instant::now() + SPIN / 2;
        clock.until(near).await;
        assert!(Instant::now() >= near);
        #[cfg(target_os = "linux")]
        assert!(clock.precise(), "the timerfd is still in use");
    }
}
