//! Hosts for multi-host tests: a network namespace per host with its own address on a
//! bridge (veth pairs), all removed when dropped, and Postgres (which listens on loopback)
//! reachable from the hosts through a forwarder on the bridge. Needs root and `ip`
//! (iproute2); where namespaces cannot be made the test fails, it does not skip.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    net::{Ipv4Addr, SocketAddr},
    process::{Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
};

use tokio::net::{TcpListener, TcpStream};

use super::Service;

pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| {
        panic!("this test makes network namespaces with `ip` (iproute2), which fails: {e}")
    });
    assert!(
        out.status.success(),
        "ip {args:?} failed (this test needs root and network namespaces): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The bridge and one namespace per named host; removed when dropped.
pub struct Hosts {
    tag: String,
    pub bridge_ip: Ipv4Addr,
    names: Vec<&'static str>,
    ips: Vec<Ipv4Addr>,
}

impl Hosts {
    /// Hosts named `names` (at most 200), on a /24 of their own.
    pub fn new(names: &[&'static str]) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let pid = std::process::id();
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let tag = format!("f{}{}", pid % 100_000, seq);
        let subnet = 20 + ((pid + seq * 37) % 200) as u8;
        let hosts = Self {
            tag: tag.clone(),
            bridge_ip: Ipv4Addr::new(10, 231, subnet, 1),
            names: names.to_vec(),
            ips: (0..names.len())
                .map(|i| Ipv4Addr::new(10, 231, subnet, 10 + i as u8))
                .collect(),
        };
        let br = hosts.bridge();
        ip(&["link", "add", &br, "type", "bridge"]);
        ip(&[
            "addr",
            "add",
            &format!("{}/24", hosts.bridge_ip),
            "dev",
            &br,
        ]);
        ip(&["link", "set", &br, "up"]);
        for (i, addr) in hosts.ips.iter().enumerate() {
            let ns = hosts.ns_at(i);
            let (outer, inner) = (format!("{tag}h{i}"), format!("{tag}n{i}"));
            ip(&["netns", "add", &ns]);
            ip(&[
                "link", "add", &outer, "type", "veth", "peer", "name", &inner,
            ]);
            ip(&["link", "set", &inner, "netns", &ns]);
            ip(&["link", "set", &outer, "master", &br, "up"]);
            ip(&[
                "netns",
                "exec",
                &ns,
                "ip",
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                &inner,
            ]);
            ip(&["netns", "exec", &ns, "ip", "link", "set", &inner, "up"]);
            ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
        }
        hosts
    }

    fn bridge(&self) -> String {
        format!("{}br", self.tag)
    }

    fn index(&self, host: &str) -> usize {
        self.names
            .iter()
            .position(|n| *n == host)
            .unwrap_or_else(|| panic!("no host {host}"))
    }

    fn ns_at(&self, i: usize) -> String {
        format!("{}-{}", self.tag, self.names[i])
    }

    /// The namespace of `host`.
    pub fn ns(&self, host: &str) -> String {
        self.ns_at(self.index(host))
    }

    /// `host`'s address.
    pub fn ip(&self, host: &str) -> Ipv4Addr {
        self.ips[self.index(host)]
    }

    /// `host`'s address with `port`.
    pub fn addr(&self, host: &str, port: u16) -> SocketAddr {
        SocketAddr::from((self.ip(host), port))
    }

    /// `http://` `host`'s address with `port`.
    pub fn url(&self, host: &str, port: u16) -> String {
        format!("http://{}", self.addr(host, port))
    }

    /// `fogd args` on `host`, its stderr read as a [`Service`].
    pub fn start(
        &self,
        host: &str,
        name: &'static str,
        args: &[String],
        env: &[(&str, &str)],
    ) -> Service {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns(host), env!("CARGO_BIN_EXE_fogd")])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Service::from_child(name, command.spawn().unwrap())
    }

    /// Postgres for the hosts: a forwarder on the bridge to the server of `db_url`, run on
    /// `runtime`. Returns the URL the hosts use.
    pub fn forward_postgres(&self, runtime: &tokio::runtime::Runtime, db_url: &str) -> String {
        let pg: tokio_postgres::Config = db_url.parse().unwrap();
        let pg_host = match &pg.get_hosts()[0] {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            other => {
                panic!("FOG_TEST_POSTGRES_URL names a host this test cannot forward: {other:?}")
            }
        };
        let target: SocketAddr = format!("{pg_host}:{}", pg.get_ports()[0]).parse().unwrap();
        let listener = runtime
            .block_on(TcpListener::bind((self.bridge_ip, 0)))
            .unwrap();
        let forwarded = listener.local_addr().unwrap();
        runtime.spawn(forward(listener, target));
        format!(
            "postgres://{}@{forwarded}/{}",
            pg.get_user().unwrap_or("postgres"),
            pg.get_dbname().unwrap()
        )
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for i in 0..self.names.len() {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns_at(i)])
                .status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge()])
            .status();
    }
}

/// Forwards connections to `listener` to `target`.
async fn forward(listener: TcpListener, target: SocketAddr) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}
