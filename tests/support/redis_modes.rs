//! The kinds of Redis the harness starts (`WECHAT_TEST_REDIS`): a plain server, a TLS
//! server with a CA of its own (made with rcgen), or a three-node Redis Cluster formed
//! with `CLUSTER ADDSLOTSRANGE` / `CLUSTER MEET` (no `redis-cli` needed).

use std::{
    env, fs,
    net::TcpListener,
    path::{Path, PathBuf},
    process::Child,
    time::{Duration, Instant},
};

use super::{Resp, raw_command};

/// Which Redis the Redis tests run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One server, plain TCP (the default).
    Plain,
    /// One server; the store speaks TLS (`rediss://`) and trusts the harness's CA.
    Tls,
    /// A Redis Cluster of three primaries, 0 replicas.
    Cluster,
}

impl Mode {
    /// `WECHAT_TEST_REDIS`: `tls`, `cluster`, anything else (or unset) is plain.
    pub fn from_env() -> Self {
        match env::var("WECHAT_TEST_REDIS").as_deref() {
            Ok("tls") => Self::Tls,
            Ok("cluster") => Self::Cluster,
            _ => Self::Plain,
        }
    }
}

/// One `redis-server` process of the harness.
pub struct Node {
    /// The plain TCP port (the harness's own commands).
    pub port: u16,
    /// The TLS port the store uses (TLS mode).
    pub tls_port: Option<u16>,
    /// The Cluster bus port (by default Redis takes the port + 10000, which may not exist).
    pub bus_port: Option<u16>,
    pub dir: PathBuf,
    pub child: Option<Child>,
}

/// A port nobody listens on, below Linux's ephemeral range (32768–60999): a port the kernel
/// handed out with `bind(0)` and released can be taken again by any outgoing connection of a
/// test running beside this one before redis-server binds it (seen in CI as "Address already
/// in use" on a Cluster node). Each process walks its own stretch of 20000–32767 and never
/// hands out one port twice.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_700;
    let start = std::process::id().wrapping_mul(2_654_435_761) % SPAN;
    for _ in 0..SPAN {
        let port = (LOW + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The nodes of a fresh server in `dir`.
pub fn nodes(mode: Mode, dir: &Path) -> Vec<Node> {
    let count = if mode == Mode::Cluster { 3 } else { 1 };
    (0..count)
        .map(|i| {
            let dir = if count == 1 {
                dir.to_path_buf()
            } else {
                dir.join(format!("node-{i}"))
            };
            fs::create_dir_all(&dir).expect("create the node's directory");
            Node {
                port: free_port(),
                tls_port: (mode == Mode::Tls).then(free_port),
                bus_port: (mode == Mode::Cluster).then(free_port),
                dir,
                child: None,
            }
        })
        .collect()
}

/// What the store is given: `redis://…/0`, `rediss://…/0`, or the Cluster's three seeds.
pub fn url(mode: Mode, nodes: &[Node]) -> String {
    match mode {
        Mode::Plain => format!("redis://127.0.0.1:{}/0", nodes[0].port),
        Mode::Tls => format!(
            "rediss://127.0.0.1:{}/0",
            nodes[0].tls_port.expect("a TLS port")
        ),
        Mode::Cluster => nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// The extra `redis-server` arguments of `mode` (`ca_dir` holds the TLS files).
pub fn server_args(mode: Mode, node: &Node, ca_dir: Option<&Path>) -> Vec<String> {
    match mode {
        Mode::Plain => Vec::new(),
        Mode::Tls => {
            let dir = ca_dir.expect("TLS files");
            let file = |name: &str| dir.join(name).display().to_string();
            vec![
                "--tls-port".into(),
                node.tls_port.expect("a TLS port").to_string(),
                "--tls-cert-file".into(),
                file("server.pem"),
                "--tls-key-file".into(),
                file("server.key"),
                "--tls-ca-cert-file".into(),
                file("ca.pem"),
                "--tls-auth-clients".into(),
                "no".into(),
            ]
        }
        Mode::Cluster => vec![
            "--cluster-enabled".into(),
            "yes".into(),
            "--cluster-config-file".into(),
            node.dir.join("nodes.conf").display().to_string(),
            "--cluster-node-timeout".into(),
            "2000".into(),
            "--cluster-port".into(),
            node.bus_port.expect("a bus port").to_string(),
        ],
    }
}

/// A CA and a server certificate for `127.0.0.1` / `localhost` signed by it, written to
/// `dir` (`ca.pem`, `server.pem`, `server.key`); the CA's PEM and path.
pub fn write_certificates(dir: &Path) -> (Vec<u8>, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

    let ca_key = KeyPair::generate().expect("a CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "wechat-auth test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).expect("the CA certificate");

    let server_key = KeyPair::generate().expect("a server key");
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("server params");
    params
        .distinguished_name
        .push(DnType::CommonName, "redis test server");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server = params
        .signed_by(&server_key, &issuer)
        .expect("the server certificate");

    let ca_pem = ca.pem();
    let ca_path = dir.join("ca.pem");
    fs::write(&ca_path, &ca_pem).expect("write ca.pem");
    fs::write(dir.join("server.pem"), server.pem()).expect("write server.pem");
    fs::write(dir.join("server.key"), server_key.serialize_pem()).expect("write server.key");
    (ca_pem.into_bytes(), ca_path)
}

fn command(addr: &str, args: &[&str]) -> Resp {
    raw_command(addr, &[args.iter().map(|a| (*a).to_owned()).collect()])
        .unwrap_or_else(|e| panic!("{args:?} on {addr}: {e}"))
}

/// Splits the 16384 slots over the nodes and introduces them to each other (`buses`: each
/// node's Cluster bus port, which `CLUSTER MEET` must be told as it is not port + 10000).
pub fn form_cluster(addrs: &[String], buses: &[u16]) {
    let per = 16384 / addrs.len();
    for (i, addr) in addrs.iter().enumerate() {
        let first = i * per;
        let last = if i + 1 == addrs.len() {
            16383
        } else {
            first + per - 1
        };
        let reply = command(
            addr,
            &[
                "CLUSTER",
                "ADDSLOTSRANGE",
                &first.to_string(),
                &last.to_string(),
            ],
        );
        assert_eq!(reply, Resp::Simple("OK".into()), "ADDSLOTSRANGE on {addr}");
    }
    for (addr, bus) in addrs.iter().zip(buses).skip(1) {
        let (host, port) = addr.rsplit_once(':').expect("host:port");
        let bus = bus.to_string();
        let reply = command(&addrs[0], &["CLUSTER", "MEET", host, port, &bus]);
        assert_eq!(reply, Resp::Simple("OK".into()), "CLUSTER MEET {addr}");
    }
}

/// Waits until every node sees the whole Cluster healthy.
pub fn wait_for_cluster(addrs: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let healthy = addrs.iter().all(|addr| {
            raw_command(addr, &[vec!["CLUSTER".into(), "INFO".into()]])
                .ok()
                .and_then(|r| r.text())
                .is_some_and(|info| {
                    info.contains("cluster_state:ok")
                        && info.contains("cluster_slots_ok:16384")
                        && info.contains(&format!("cluster_known_nodes:{}", addrs.len()))
                })
        });
        if healthy {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the Redis Cluster on {addrs:?} did not become healthy within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
