//! Filling a CE's port set through its NAPT (the port-set scenario), and the server that
//! tells each client which port, or echo identifier, it arrived from.
//!
//! ```text
//! mapmint-probe fill-server PORT LOG
//!     TCP and UDP on PORT: answer each connection or datagram with the 2-byte source port
//!     it came from, keep connections open until the peer closes; log "tcp|udp|icmp ADDR PORT"
//!     of each connection, datagram and echo request (its identifier) to LOG.
//! mapmint-probe fill-client tcp|udp|icmp HOST PORT MAX [OFFSET WAIT TARGET REOPEN]
//!     Open connections (send datagrams from new sockets, pings with new identifiers) to HOST
//!     PORT, keeping each open, until MAX succeeded or 3 in a row failed (the NAPT has no port
//!     left). Prints "opened N failed F retried R".
//!     TCP with OFFSET: then close the connections whose server-seen port lies in an odd
//!     range of PSID offset OFFSET (port >> (16 - OFFSET) odd, i.e. every second range), wait
//!     WAIT seconds for conntrack to forget them, and open new ones up to the count before or
//!     TARGET, whichever is lower, at most REOPEN attempts: prints "released R attempts A
//!     reopened K failed F retried T open N".
//! ```
//!
//! Eight attempts run at once. An attempt is what an application does: TCP's connect retransmits its SYN after 1 and 3
//! seconds, a UDP or ping client asks again after a second: 3 tries within 4 seconds. A try
//! the NAPT refuses (no free port found, or a full range chosen) is dropped silently, so an
//! attempt that succeeds only after a second is "retried": its first try was refused.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// How long one try waits for its answer.
const TRY_TIMEOUT: Duration = Duration::from_secs(1);
/// Tries per attempt (a UDP or ping client's; TCP's SYN retransmissions give the same in
/// `CONNECT_TIMEOUT`).
const TRIES: u32 = 3;
/// A TCP connect: SYNs at 0, 1 and 3 s.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(4);
/// Failures in a row that end a fill: the NAPT is out of ports.
const FAILURES_IN_A_ROW: u32 = 3;

/// Thousands of sockets stay open at once.
fn raise_file_limit() {
    let limit = libc::rlimit { rlim_cur: 65536, rlim_max: 65536 };
    // SAFETY: setrlimit reads the struct it is given; failure leaves the old limit.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
}

/// An IPv4 raw ICMP socket (it sees every ICMP packet the host receives).
fn raw_icmp() -> std::io::Result<OwnedFd> {
    // SAFETY: a plain socket(2) call; the descriptor is owned by the returned OwnedFd.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::IPPROTO_ICMP) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn recv(fd: RawFd, buf: &mut [u8], flags: i32) -> std::io::Result<usize> {
    // SAFETY: buf is valid for writes of its length.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// The internet checksum of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Waits until `fd` is readable or `timeout` passes.
fn readable(fd: RawFd, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as i32) > 0 }
}

pub fn server(port: u16, log_path: &str) -> std::io::Result<()> {
    raise_file_limit();
    let listener = TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port)))?;
    listener.set_nonblocking(true)?;
    let udp = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], port)))?;
    udp.set_nonblocking(true)?;
    let icmp = raw_icmp()?;
    let mut log = std::io::BufWriter::new(std::fs::OpenOptions::new().create(true).append(true).open(log_path)?);
    let mut conns: Vec<TcpStream> = Vec::new();
    let mut buf = [0u8; 2048];
    loop {
        let mut fds: Vec<libc::pollfd> = [listener.as_raw_fd(), udp.as_raw_fd(), icmp.as_raw_fd()]
            .into_iter()
            .chain(conns.iter().map(|c| c.as_raw_fd()))
            .map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 })
            .collect();
        // SAFETY: fds is a valid array of pollfd of that length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        // Closed connections go first (indexes of `conns` still match `fds`).
        for i in (0..conns.len()).rev() {
            if fds[3 + i].revents != 0 {
                match conns[i].read(&mut buf) {
                    Ok(0) | Err(_) => {
                        conns.swap_remove(i);
                    }
                    Ok(_) => {}
                }
            }
        }
        if fds[0].revents != 0 {
            loop {
                match listener.accept() {
                    Ok((mut stream, peer)) => {
                        let peer = v4_peer(peer);
                        writeln!(log, "tcp {} {}", peer.ip(), peer.port())?;
                        let _ = stream.write_all(&peer.port().to_be_bytes());
                        stream.set_nonblocking(true)?;
                        conns.push(stream);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
        if fds[1].revents != 0 {
            while let Ok((_, peer)) = udp.recv_from(&mut buf) {
                let peer = v4_peer(peer);
                writeln!(log, "udp {} {}", peer.ip(), peer.port())?;
                let _ = udp.send_to(&peer.port().to_be_bytes(), peer);
            }
        }
        if fds[2].revents != 0 {
            while let Ok(len) = recv(icmp.as_raw_fd(), &mut buf, libc::MSG_DONTWAIT) {
                let packet = &buf[..len];
                let ihl = usize::from(packet.first().copied().unwrap_or(0) & 0x0f) * 4;
                if let (Some(8), Some(id), Some(src)) =
                    (packet.get(ihl), packet.get(ihl + 4..ihl + 6), packet.get(12..16))
                {
                    let src = Ipv4Addr::new(src[0], src[1], src[2], src[3]);
                    writeln!(log, "icmp {src} {}", u16::from_be_bytes([id[0], id[1]]))?;
                }
            }
        }
        log.flush()?;
    }
}

fn v4_peer(peer: SocketAddr) -> SocketAddr {
    match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, |v4| SocketAddr::new(IpAddr::V4(v4), peer.port())),
        IpAddr::V4(_) => peer,
    }
}

/// What became of one attempt.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// Answered at the first try.
    Opened,
    /// Answered at a later try: the first was refused.
    Retried,
    Failed,
}

/// One TCP connection and the port the server saw.
fn tcp_open(server: SocketAddr) -> (Attempt, Option<(TcpStream, u16)>) {
    let opened = (|| {
        let mut stream = TcpStream::connect_timeout(&server, CONNECT_TIMEOUT).ok()?;
        stream.set_read_timeout(Some(CONNECT_TIMEOUT)).ok()?;
        let mut port = [0u8; 2];
        stream.read_exact(&mut port).ok()?;
        Some((stream, u16::from_be_bytes(port)))
    })();
    match opened {
        None => (Attempt::Failed, None),
        Some(c) if syn_retransmitted(&c.0) => (Attempt::Retried, Some(c)),
        Some(c) => (Attempt::Opened, Some(c)),
    }
}

/// Whether the connection's SYN was sent more than once (the kernel's count, not a timing
/// guess that a busy machine would fool).
fn syn_retransmitted(stream: &TcpStream) -> bool {
    // SAFETY: tcp_info is plain data; getsockopt writes at most `len` bytes into it.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: a valid socket, and the buffer and length above.
    let rc = unsafe {
        libc::getsockopt(stream.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_INFO, (&mut info as *mut libc::tcp_info).cast(), &mut len)
    };
    rc == 0 && info.tcpi_total_retrans > 0
}

fn udp_open(server: SocketAddr) -> (Attempt, Option<UdpSocket>) {
    let Ok(socket) = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 0))) else { return (Attempt::Failed, None) };
    if socket.connect(server).is_err() || socket.set_read_timeout(Some(TRY_TIMEOUT)).is_err() {
        return (Attempt::Failed, None);
    }
    for try_ in 0..TRIES {
        let mut port = [0u8; 2];
        if socket.send(b"fill").is_ok() && socket.recv(&mut port).ok() == Some(2) {
            return (if try_ == 0 { Attempt::Opened } else { Attempt::Retried }, Some(socket));
        }
    }
    (Attempt::Failed, None)
}

/// Echo requests with identifier `id` until one is answered (on a raw socket of its own,
/// which sees every reply: several pings run at once).
fn ping(host: Ipv4Addr, id: u16) -> Attempt {
    let Ok(socket) = raw_icmp() else { return Attempt::Failed };
    let fd = socket.as_raw_fd();
    for try_ in 0..TRIES {
        if ping_once(fd, host, id) {
            return if try_ == 0 { Attempt::Opened } else { Attempt::Retried };
        }
    }
    Attempt::Failed
}

/// One echo request with identifier `id` and its reply.
fn ping_once(fd: RawFd, host: Ipv4Addr, id: u16) -> bool {
    let mut message = [8u8, 0, 0, 0, 0, 0, 0, 1, b'f', b'i', b'l', b'l'];
    message[4..6].copy_from_slice(&id.to_be_bytes());
    let sum = checksum(&message);
    message[2..4].copy_from_slice(&sum.to_be_bytes());
    let to = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr { s_addr: u32::from(host).to_be() },
        sin_zero: [0; 8],
    };
    // SAFETY: message and the address are valid for the lengths given.
    let sent = unsafe {
        libc::sendto(
            fd,
            message.as_ptr().cast(),
            message.len(),
            0,
            (&to as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return false;
    }
    let deadline = Instant::now() + TRY_TIMEOUT;
    let mut buf = [0u8; 2048];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if !readable(fd, left) {
            return false;
        }
        let Ok(len) = recv(fd, &mut buf, libc::MSG_DONTWAIT) else { continue };
        let packet = &buf[..len];
        let ihl = usize::from(packet.first().copied().unwrap_or(0) & 0x0f) * 4;
        if packet.get(ihl) == Some(&0) && packet.get(ihl + 4..ihl + 6) == Some(&id.to_be_bytes()[..]) {
            return true;
        }
    }
    false
}

/// Counts of a series of attempts.
#[derive(Default)]
struct Tally {
    opened: u32,
    failed: u32,
    retried: u32,
    /// Attempt numbers (from 1) that failed or were retried, for the log.
    refused_at: Vec<String>,
}

impl Tally {
    fn add(&mut self, attempt: Attempt) {
        let number = self.opened + self.failed + 1;
        match attempt {
            Attempt::Opened => self.opened += 1,
            Attempt::Retried => {
                self.opened += 1;
                self.retried += 1;
                self.refused_at.push(format!("{number}r"));
            }
            Attempt::Failed => {
                self.failed += 1;
                self.refused_at.push(format!("{number}f"));
            }
        }
    }

    /// "opened N failed F retried R" (the attempts refused at first go to stderr).
    fn report(&self, what: &str) -> String {
        if !self.refused_at.is_empty() {
            let shown: Vec<&str> = self.refused_at.iter().take(30).map(String::as_str).collect();
            eprintln!("{what}: refused at first (r: retried, f: failed), attempt numbers: {}", shown.join(" "));
        }
        format!("{what} {} failed {} retried {}", self.opened, self.failed, self.retried)
    }
}

/// Attempts in flight at once: the waits of refused tries overlap (a fill of 2000 would
/// otherwise spend most of its time in them).
const WORKERS: usize = 8;

/// What the workers of [`run`] share.
struct Shared<T> {
    tally: Tally,
    kept: Vec<T>,
    in_flight: u32,
    in_a_row: u32,
}

/// Runs `attempt` on [`WORKERS`] threads, keeping what succeeded, while `more(kept, started)`
/// holds (`started`: attempts made or in flight) and fewer than 3 attempts in a row failed.
fn run<T: Send>(
    kept: Vec<T>,
    more: impl Fn(usize, u32) -> bool + Sync,
    attempt: impl Fn() -> (Attempt, Option<T>) + Sync,
) -> (Tally, Vec<T>) {
    let shared = std::sync::Mutex::new(Shared { tally: Tally::default(), kept, in_flight: 0, in_a_row: 0 });
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| loop {
                {
                    let mut s = shared.lock().unwrap();
                    let started = s.tally.opened + s.tally.failed + s.in_flight;
                    if s.in_a_row >= FAILURES_IN_A_ROW || !more(s.kept.len() + s.in_flight as usize, started) {
                        return;
                    }
                    s.in_flight += 1;
                }
                let (result, item) = attempt();
                let mut s = shared.lock().unwrap();
                s.in_flight -= 1;
                s.in_a_row = if result == Attempt::Failed { s.in_a_row + 1 } else { 0 };
                s.tally.add(result);
                s.kept.extend(item);
            });
        }
    });
    let s = shared.into_inner().unwrap();
    (s.tally, s.kept)
}

/// Attempts until `max` are open or 3 failed in a row.
fn fill<T: Send>(max: u32, attempt: impl Fn() -> (Attempt, Option<T>) + Sync) -> (Tally, Vec<T>) {
    run(Vec::new(), |open, _| open < max as usize, attempt)
}

pub fn client(args: &[&str]) -> Result<(), Option<std::io::Error>> {
    let (proto, host, port, max, release) = match args {
        [proto, host, port, max] => (*proto, *host, *port, *max, None),
        [proto, host, port, max, offset, wait, target, reopen] => {
            (*proto, *host, *port, *max, Some((*offset, *wait, *target, *reopen)))
        }
        _ => return Err(None),
    };
    let host: Ipv4Addr = host.parse().map_err(|_| None)?;
    let port: u16 = port.parse().map_err(|_| None)?;
    let max: u32 = max.parse().map_err(|_| None)?;
    let server = SocketAddr::new(IpAddr::V4(host), port);
    raise_file_limit();
    match (proto, release) {
        ("tcp", release) => {
            let (tally, conns) = fill(max, || tcp_open(server));
            println!("{}", tally.report("opened"));
            if let Some((offset, wait, target, reopen)) = release {
                let number = |text: &str| text.parse::<u32>().map_err(|_| None);
                let (offset, wait, target, reopen) = (number(offset)?, number(wait)?, number(target)?, number(reopen)?);
                if !(1..=15).contains(&offset) {
                    return Err(None);
                }
                let before = conns.len();
                let mut conns = conns;
                conns.retain(|(_, port)| (u32::from(*port) >> (16 - offset)).is_multiple_of(2));
                let released = before - conns.len();
                std::thread::sleep(Duration::from_secs(u64::from(wait)));
                let goal = before.min(target as usize);
                let (again, conns) = run(conns, |open, started| open < goal && started < reopen, || tcp_open(server));
                let attempts = again.opened + again.failed;
                println!("released {released} attempts {attempts} {} open {}", again.report("reopened"), conns.len());
            }
        }
        ("udp", None) => {
            let (tally, _sockets) = fill(max, || udp_open(server));
            println!("{}", tally.report("opened"));
        }
        ("icmp", None) => {
            let id = std::sync::atomic::AtomicU16::new(0);
            let (tally, _) = fill(max, || {
                let id = id.fetch_add(1, std::sync::atomic::Ordering::Relaxed).wrapping_add(1);
                (ping(host, id), None::<()>)
            });
            println!("{}", tally.report("opened"));
        }
        _ => return Err(None),
    }
    Ok(())
}
