//! Drives a server with `wrk` (the Debian package) and reads its report.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// One `wrk` run.
#[derive(Debug, Clone)]
pub struct Run {
    pub requests: u64,
    pub rps: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// CPU time this process (the servers) used during the run.
    pub server_cpu: Duration,
    /// CPU time `wrk` used.
    pub client_cpu: Duration,
}

impl Run {
    /// Server CPU per request.
    pub fn cpu_per_request(&self) -> Duration {
        self.server_cpu.div_f64(self.requests.max(1) as f64)
    }

    /// `wrk`'s CPU per request.
    pub fn client_cpu_per_request(&self) -> Duration {
        self.client_cpu.div_f64(self.requests.max(1) as f64)
    }
}

/// Where `wrk` is: `$WRK`, else the first `wrk` on `PATH`.
pub fn find() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WRK") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("wrk"))
            .find(|p| p.is_file())
    })
}

/// Load settings, the same for every variant.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub threads: u64,
    pub connections: u64,
    pub duration: Duration,
}

/// Runs `wrk` against `url` with `header` (if any) and returns what it measured. Panics when
/// a response was not 2xx/3xx or a socket failed: the numbers would not mean what they say.
pub fn run(wrk: &PathBuf, load: Load, url: &str, header: Option<&str>) -> Run {
    let mut cmd = Command::new(wrk);
    cmd.arg(format!("-t{}", load.threads))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", load.duration.as_secs().max(1)))
        .arg("--timeout")
        .arg("2s")
        .arg("--latency");
    if let Some(h) = header {
        cmd.arg("-H").arg(h);
    }
    cmd.arg(url).stdout(Stdio::piped()).stderr(Stdio::piped());
    let cpu_before = crate::util::process_cpu();
    let children_before = crate::util::children_cpu();
    let mut child = cmd.spawn().expect("start wrk");
    // wrk stops by itself after -d; never wait for it much longer than that.
    let deadline = Instant::now() + load.duration + Duration::from_secs(15);
    loop {
        if child.try_wait().expect("wait for wrk").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("wrk did not stop within its duration + 15 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let server_cpu = crate::util::process_cpu().saturating_sub(cpu_before);
    let out = child.wait_with_output().expect("wrk output");
    let client_cpu = crate::util::children_cpu().saturating_sub(children_before);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "wrk failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut run = parse(&text).unwrap_or_else(|| panic!("unreadable wrk report:\n{text}"));
    run.server_cpu = server_cpu;
    run.client_cpu = client_cpu;
    run
}

/// Reads `wrk --latency`'s report.
fn parse(text: &str) -> Option<Run> {
    if let Some(line) = text
        .lines()
        .find(|l| l.contains("Non-2xx or 3xx responses"))
    {
        panic!("the server answered errors, so this is no measurement: {line}\n{text}");
    }
    if let Some(line) = text.lines().find(|l| l.contains("Socket errors")) {
        let bad = ["connect", "read", "write", "timeout"].iter().any(|k| {
            line.split(',')
                .filter_map(|p| {
                    p.trim()
                        .trim_start_matches("Socket errors:")
                        .trim()
                        .split_once(' ')
                })
                .any(|(name, n)| name == *k && n.trim() != "0")
        });
        assert!(!bad, "wrk saw socket errors: {line}\n{text}");
    }
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))?
        .trim()
        .parse()
        .ok()?;
    let pct = |p: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(p))
            .and_then(|v| duration(v.trim()))
    };
    Some(Run {
        requests,
        rps,
        p50: pct("50%")?,
        p99: pct("99%")?,
        server_cpu: Duration::ZERO,
        client_cpu: Duration::ZERO,
    })
}

/// `123.45us`, `1.20ms`, `2.00s` → a duration.
fn duration(v: &str) -> Option<Duration> {
    let (num, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60.0)
    } else {
        return None;
    };
    Some(Duration::from_secs_f64(num.parse::<f64>().ok()? * scale))
}
