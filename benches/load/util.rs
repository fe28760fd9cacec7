//! Small tools the sections share: statistics, the process's CPU time and memory, the machine.

use std::{
    process::Command,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// The median of `values` (the mean of the middle two for an even count). `NaN` for none.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// The `p`-th percentile (0..=100) of `samples`, nearest rank. Zero for none.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut v = samples.to_vec();
    v.sort();
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The smallest and largest of `values`.
pub fn range(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// Milliseconds, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Microseconds, for printing.
pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// CPU time (user + system) this whole process has used so far, all threads, exited ones
/// included: `/proc/self/stat` fields 14 and 15, in clock ticks.
pub fn process_cpu() -> Duration {
    pid_cpu(None)
}

/// CPU time the calling thread has run, in nanoseconds (`/proc/thread-self/schedstat`, the
/// scheduler's own count): unlike wall time, it does not count the time the thread waited
/// while other processes ran, which on a busy machine is most of the noise.
pub fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) of this process's children that have been waited for (fields 16
/// and 17 of `/proc/self/stat`): how `wrk`'s CPU is measured.
pub fn children_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let rest = &stat[stat.rfind(')').expect("stat format") + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[13].parse::<u64>().unwrap() + fields[14].parse::<u64>().unwrap();
    Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64)
}

/// CPU time (user + system) of process `pid` (`None`: this one), as [`process_cpu`].
pub fn pid_cpu(pid: Option<u32>) -> Duration {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |p| format!("/proc/{p}/stat"),
    );
    let stat = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')').expect("stat format") + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): field N is fields[N - 3].
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64)
}

/// `getconf CLK_TCK` (100 on every Linux this runs on; asked, not assumed).
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`), `pid` `None` for this process.
pub fn status_kib(pid: Option<u32>, field: &str) -> u64 {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// What machine this is, for the report.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|x| x.1))
        .unwrap_or("unknown")
        .trim()
        .to_owned();
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{} CPUs ({model}), {:.1} GiB RAM, Linux {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        mem_kib as f64 / 1024.0 / 1024.0,
        kernel.trim()
    )
}

/// The 1/5/15-minute load average: how busy the machine was besides us.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Now, UTC, as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// An integer setting from the environment, else `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A multi-threaded tokio runtime with `workers` workers whose threads (blocking ones too) are
/// named `name` and live for the whole run, so [`CpuSplit`] can tell whose CPU is whose.
pub fn named_runtime(name: &str, workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(name)
        .thread_keep_alive(Duration::from_secs(24 * 3600))
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// CPU time this process's threads have run, split by thread name: the app's runtime
/// (threads named `app`), the mock's (`mock`) and everything else (the browsers' runtime, the
/// main thread). From `/proc/self/task/*/schedstat` (nanoseconds, the scheduler's own count)
/// and each thread's `comm`; threads that have exited are not counted, which is why the named
/// runtimes keep their threads for the whole run.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuSplit {
    pub app: Duration,
    pub mock: Duration,
    pub clients: Duration,
}

impl CpuSplit {
    /// Now.
    pub fn now() -> Self {
        let mut split = Self::default();
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return split;
        };
        for task in tasks.flatten() {
            let dir = task.path();
            let ns: u64 = std::fs::read_to_string(dir.join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse().ok())
                .unwrap_or(0);
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            let slot = match comm.trim_end() {
                "app" => &mut split.app,
                "mock" => &mut split.mock,
                _ => &mut split.clients,
            };
            *slot += Duration::from_nanos(ns);
        }
        split
    }

    /// What was used between `before` and now, per `cycles`, in microseconds: (app, mock,
    /// clients).
    pub fn per_cycle_since(before: Self, cycles: u64) -> (f64, f64, f64) {
        let now = Self::now();
        let per = |a: Duration, b: Duration| us(a.saturating_sub(b)) / cycles.max(1) as f64;
        (
            per(now.app, before.app),
            per(now.mock, before.mock),
            per(now.clients, before.clients),
        )
    }
}

/// A multi-threaded tokio runtime with one worker per CPU.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// One line of the final summary: a target and whether this run met it.
pub struct Verdict {
    pub what: String,
    pub target: String,
    pub measured: String,
    pub holds: Option<bool>,
}

impl Verdict {
    pub fn new(what: &str, target: &str, measured: String, holds: Option<bool>) -> Self {
        Self {
            what: what.to_owned(),
            target: target.to_owned(),
            measured,
            holds,
        }
    }
}

/// `LOAD_QUICK=1`: a shorter run of every section (fewer rounds, users and logins), for a
/// check that everything works; the documented figures come from the full run.
pub fn quick() -> bool {
    std::env::var("LOAD_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// [`env_u64`] whose default is `quick` under `LOAD_QUICK`, else `full`.
pub fn env_or_quick(name: &str, full: u64, quick_value: u64) -> u64 {
    env_u64(name, if quick() { quick_value } else { full })
}
