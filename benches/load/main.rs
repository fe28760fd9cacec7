//! The load harness: the guard against its peers, the login flows against the mock, and the
//! memory of 100,000 logins, in one run on one machine.
//!
//! ```text
//! cargo bench --bench load                   # every section (a few minutes)
//! cargo bench --bench load -- guard login    # only some: guard, login, memory
//! cargo bench --bench load -- inproc         # the guard's in-process estimate alone
//! ```
//!
//! 1. **guard**: the same handler bare (a), behind `WechatAuthLayer` with a valid session
//!    cookie (b), behind axum-login + tower-sessions `MemoryStore` logged in (c), on loopback
//!    ports of this process, driven in turn by `wrk` (rounds a → b → c), with req/s, p50/p99,
//!    the ratios b/a and b/c, and the guard's CPU per request.
//! 2. **login**: the mock WeChat and the app on loopback: website logins per second with N
//!    distinct users, upstream calls per first and repeat login (asserted), scan logins per
//!    second, and the time from the push to the waiting browser's answer.
//! 3. **memory**: the demo's app in a child process, 100,000 distinct mobile-app logins,
//!    its resident memory and store size as they go.
//!
//! Every number printed is measured in this run; counts that must be exact are asserted, and
//! the harness panics (non-zero exit) when one is wrong. Settings come from the environment
//! (`LOAD_*`, `LOGIN_*`, `MEMORY_*`; see each section). Everything listens on 127.0.0.1
//! only, every loop is bounded in count and time, and the harness stops by itself.
// The workspace lints apply to every target now, not only the libraries; in this binary `pub`
// items of its modules are crate-wide by construction.
#![allow(unreachable_pub)]

mod guard;
mod login;
mod memory;
mod redis;
mod trips;
mod util;
mod wrk;

use std::time::Instant;

fn main() {
    if memory::is_child() {
        memory::child_main();
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test --benches` runs bench binaries without `--bench`: nothing to do there.
        println!("the load harness runs with `cargo bench --bench load`");
        return;
    }
    let wanted: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let on = |name: &str| wanted.is_empty() || wanted.contains(&name);

    let started = Instant::now();
    println!("wechat-auth load harness");
    println!("started   {}", util::utc_now());
    println!("machine   {}", util::machine());
    println!("load avg  {} (1/5/15 min, before the run)", util::loadavg());

    let mut verdicts = Vec::new();
    if on("guard") {
        guard::run(&guard::Settings::from_env(), &mut verdicts);
    }
    if wanted.contains(&"inproc") && !wanted.contains(&"guard") {
        guard::run_in_process(&guard::Settings::from_env(), &mut verdicts);
    }
    if on("login") {
        login::run(&login::Settings::from_env(), &mut verdicts);
    }
    if on("memory") {
        memory::run(&memory::Settings::from_env(), &mut verdicts);
    }

    println!("\n== Targets\n");
    println!("{:<46}{:<14}{:<34}holds", "what", "target", "this run");
    for v in &verdicts {
        let holds = match v.holds {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        println!("{:<46}{:<14}{:<34}{holds}", v.what, v.target, v.measured);
    }
    println!(
        "\nfinished  {} after {:.0} s; load avg {} at the end",
        util::utc_now(),
        started.elapsed().as_secs_f64(),
        util::loadavg()
    );
}
