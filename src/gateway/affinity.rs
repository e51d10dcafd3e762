//! Pinning serving worker threads to CPUs (`server.pin_workers`).
//!
//! Why: each worker is a single-threaded runtime whose connections, relays
//! and upstream sockets all live on it. Left alone, the scheduler moves
//! such a thread between CPUs as other processes wake, and its caches
//! follow it cold. Pinned, worker `i` stays on the `i`-th CPU the process
//! may use (in turn, when there are more workers than CPUs). On this
//! project's noisy 2-core bench machine that made no difference the noise
//! let one see (median 1.04× req/s on SQLite, 0.98× on PostgreSQL, as
//! with nginx's `worker_cpu_affinity`; docs/benchmarks-history.md, "Session 17"),
//! so it is off by default: it is for hosts or cpusets of the gateway's
//! own, where the machine's other work does not crowd the pinned CPUs.
//!
//! The CPUs come from the process's own affinity mask, so a cpuset or
//! `taskset` given to the gateway is respected.

/// The CPUs this process may run on, in increasing order.
#[cfg(target_os = "linux")]
pub fn allowed_cpus() -> std::io::Result<Vec<usize>> {
    // SAFETY: `cpu_set_t` is plain bits (all-zero is the empty set), and
    // `sched_getaffinity` writes at most `size_of::<cpu_set_t>()` bytes
    // into it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw mut set) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let max = usize::try_from(libc::CPU_SETSIZE).unwrap_or(0);
    // SAFETY: `CPU_ISSET` reads one bit of the set; every index is below
    // CPU_SETSIZE.
    Ok((0..max)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Pins the calling thread to `cpu`.
#[cfg(target_os = "linux")]
pub fn pin_current_thread(cpu: usize) -> std::io::Result<()> {
    // SAFETY: as above; `CPU_SET` sets one bit below CPU_SETSIZE (checked
    // first), and `sched_setaffinity(0, …)` applies to the calling thread.
    if cpu >= usize::try_from(libc::CPU_SETSIZE).unwrap_or(0) {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    unsafe { libc::CPU_SET(cpu, &mut set) };
    let rc = unsafe {
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw const set)
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn allowed_cpus() -> std::io::Result<Vec<usize>> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

#[cfg(not(target_os = "linux"))]
pub fn pin_current_thread(_cpu: usize) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

/// Which CPU worker `index` goes to: the allowed ones in turn.
pub fn cpu_for(index: usize, allowed: &[usize]) -> Option<usize> {
    if allowed.is_empty() {
        None
    } else {
        Some(allowed[index % allowed.len()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_take_the_allowed_cpus_in_turn() {
        let allowed = [2, 5, 7];
        let cpus: Vec<_> = (0..5).map(|i| cpu_for(i, &allowed)).collect();
        assert_eq!(cpus, [Some(2), Some(5), Some(7), Some(2), Some(5)]);
        assert_eq!(cpu_for(0, &[]), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_pinned_thread_runs_on_its_cpu_only() {
        let allowed = allowed_cpus().expect("the affinity mask");
        assert!(!allowed.is_empty());
        let last = *allowed.last().expect("a CPU");
        let seen = std::thread::spawn(move || {
            pin_current_thread(last).expect("pinned");
            allowed_cpus().expect("the thread's mask")
        })
        .join()
        .expect("the pinned thread");
        assert_eq!(seen, [last]);
        // The rest of the process is untouched.
        assert_eq!(allowed_cpus().expect("the mask"), allowed);
    }
}
