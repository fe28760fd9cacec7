//! Headless Chromium for end-to-end tests: finds Chromium and chromedriver, runs chromedriver
//! on a free loopback port and hands out a fantoccini client driving a fresh profile.
//!
//! Finding them (design §7): `CHROMIUM` / `CHROMEDRIVER` name the executables when set;
//! otherwise `chromium` and `chromedriver` are looked up on `PATH`. When either is missing,
//! [`Browser::find`] prints one line saying so and the test returns (passes) — except under
//! `CI=true`, where a missing browser fails the test. A variable that is set but does not name
//! an executable always fails: someone asked for that browser.
#![allow(dead_code, unreachable_pub)]

use std::{
    env, fs,
    io::Write as _,
    net::TcpListener,
    os::unix::{fs::PermissionsExt as _, process::CommandExt as _},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use fantoccini::{Client, ClientBuilder};
use futures_util::FutureExt as _;

/// Longest any single page transition may take in Chromium.
pub const STEP: Duration = Duration::from_secs(10);

/// Longest any one WebDriver command may wait for a page load or a script (the session's
/// `pageLoad` and `script` timeouts).
pub const COMMAND_LIMIT: Duration = Duration::from_secs(30);

/// The mock WeChat page's "以 … 身份同意（approve as alice）" link, by its class and its text.
pub const APPROVE_ALICE: &str =
    "//a[contains(concat(' ', @class, ' '), ' approve ') and contains(., 'approve as alice）')]";

/// Waits (at most [`STEP`]) until the browser is on `url`; returns the page's source.
pub async fn lands_on(client: &Client, url: &str) -> String {
    let want = url::Url::parse(url).unwrap();
    if let Err(e) = client.wait().at_most(STEP).for_url(&want).await {
        let here = client.current_url().await.map(|u| u.to_string());
        panic!("not on {url}: {e}; at {here:?}");
    }
    client.source().await.unwrap()
}

/// Runs `flow` in a fresh headless Chromium; returns (the test passes) without one, as
/// [`Browser::find`] says. Whatever happens in the flow, the WebDriver session (and so
/// Chromium) is ended first, then the driver guard kills what is left and removes the
/// profile; a panic in the flow is the test's.
pub async fn in_chromium<F, Fut>(flow: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    in_chromium_with(|_| {}, flow).await;
}

/// [`in_chromium`] with `tweak` applied to the session's capabilities first (see
/// [`Browser::launch_with`]).
pub async fn in_chromium_with<F, Fut>(tweak: impl FnOnce(&mut serde_json::Value), flow: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(found) = Browser::find() else {
        return;
    };
    let (driver, client) = found.launch_with(tweak).await;
    let outcome = std::panic::AssertUnwindSafe(flow(client.clone()))
        .catch_unwind()
        .await;
    let _ = client.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Where Chromium and chromedriver are.
#[derive(Debug, Clone)]
pub struct Browser {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

/// Whether this is a CI run (`CI=true`), where a missing browser is a failure.
pub fn in_ci() -> bool {
    env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}

impl Browser {
    /// Finds Chromium and chromedriver. `None` (after one line on stderr) means: skip this
    /// test. Panics under `CI=true` instead of returning `None`.
    pub fn find() -> Option<Browser> {
        let chromium = locate("CHROMIUM", "chromium");
        let chromedriver = locate("CHROMEDRIVER", "chromedriver");
        match (chromium, chromedriver) {
            (Some(chromium), Some(chromedriver)) => Some(Browser {
                chromium,
                chromedriver,
            }),
            (chromium, chromedriver) => {
                let missing: Vec<&str> = [
                    chromium.is_none().then_some("chromium"),
                    chromedriver.is_none().then_some("chromedriver"),
                ]
                .into_iter()
                .flatten()
                .collect();
                let missing = format!("{} not found", missing.join(" and "));
                assert!(
                    !in_ci(),
                    "real browser test: {missing}, and CI=true needs them (Debian: chromium, chromium-driver)"
                );
                // Straight to stderr: the test harness would swallow eprintln! of a passing test.
                let _ = writeln!(
                    std::io::stderr(),
                    "real browser test skipped: {missing} (PATH, or CHROMIUM / CHROMEDRIVER)"
                );
                None
            }
        }
    }

    /// Starts chromedriver on a free loopback port and opens a headless Chromium session on
    /// a fresh profile. Everything is torn down when the returned guard drops.
    pub async fn launch(&self) -> (ChromeDriver, Client) {
        self.launch_with(|_| {}).await
    }

    /// [`launch`](Self::launch), with `tweak` applied to the capabilities first: e.g.
    /// `caps["goog:chromeOptions"]["excludeSwitches"] = ["disable-popup-blocking"]` (a switch
    /// chromedriver adds by default), or `caps["pageLoadStrategy"] = "none"`.
    pub async fn launch_with(
        &self,
        tweak: impl FnOnce(&mut serde_json::Value),
    ) -> (ChromeDriver, Client) {
        let driver = ChromeDriver::start(&self.chromedriver).await;
        let client = driver.connect(&self.chromium, tweak).await;
        (driver, client)
    }
}

/// `var` if set (it must name an executable), else `name` on `PATH`.
fn locate(var: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = env::var_os(var).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            is_executable(&path),
            "{var}={} does not name an executable",
            path.display()
        );
        return Some(path);
    }
    let dirs = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&dirs)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Cargo's scratch directory for integration tests (`target/tmp`).
pub fn target_tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// The target directory (`target/`), for artefacts people may want to look at.
pub fn target_dir() -> PathBuf {
    let tmp = target_tmp();
    tmp.parent().map(Path::to_path_buf).unwrap_or(tmp)
}

/// A running chromedriver (in its own process group, with the Chromium it starts) and the
/// temporary profile directory; killed and removed on drop.
pub struct ChromeDriver {
    child: Child,
    pub url: String,
    pub user_data_dir: PathBuf,
    pub log: PathBuf,
}

impl ChromeDriver {
    async fn start(chromedriver: &Path) -> ChromeDriver {
        let unique = format!(
            "{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        let scratch = target_tmp();
        let user_data_dir = scratch.join(format!("chromium-profile-{unique}"));
        fs::create_dir_all(&user_data_dir).expect("create the Chromium profile directory");
        let log = scratch.join(format!("chromedriver-{unique}.log"));

        // A port nobody holds right now; chromedriver binds it a moment later.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that drop can end Chromium along with it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver.display()));
        let mut driver = ChromeDriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            user_data_dir,
            log,
        };
        driver.wait_ready(Duration::from_secs(10)).await;
        driver
    }

    /// Polls `GET /status` until chromedriver says it is ready.
    async fn wait_ready(&mut self, within: Duration) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .no_proxy()
            .build()
            .unwrap();
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "chromedriver exited ({status}) before answering /status; log: {}",
                    self.log.display()
                );
            }
            if let Ok(res) = http.get(format!("{}/status", self.url)).send().await
                && let Ok(body) = res.json::<serde_json::Value>().await
                && body["value"]["ready"] == true
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer {}/status within {within:?}; log: {}",
                self.url,
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A WebDriver session: headless Chromium on the temporary profile, with `tweak` applied
    /// to the capabilities last. No page load or script may take longer than
    /// [`COMMAND_LIMIT`], so a browser that stops answering fails its test in seconds, not
    /// after chromedriver's default of 300 s per command.
    async fn connect(&self, chromium: &Path, tweak: impl FnOnce(&mut serde_json::Value)) -> Client {
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-quic".to_owned(),
            "--window-size=1000,800".to_owned(),
            format!("--user-data-dir={}", self.user_data_dir.display()),
        ];
        let limit = u64::try_from(COMMAND_LIMIT.as_millis()).unwrap_or(u64::MAX);
        let mut caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
            "timeouts": { "pageLoad": limit, "script": limit, "implicit": 0 },
        });
        tweak(&mut caps);
        let serde_json::Value::Object(caps) = caps else {
            panic!("capabilities must stay a JSON object");
        };
        ClientBuilder::rustls()
            .expect("rustls connector")
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "opening a Chromium session through {}: {e}; log: {}",
                    self.url,
                    self.log.display()
                )
            })
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and any Chromium it left behind (a session that was
        // closed properly has already ended its browser). Only processes this guard started.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.user_data_dir);
        // Keep chromedriver's log only when the test failed, for whoever reads the failure.
        if !std::thread::panicking() {
            let _ = fs::remove_file(&self.log);
        }
    }
}
