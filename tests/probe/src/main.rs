//! Traffic endpoints for mapmint's guest tests, where busybox has no UDP client or server and
//! nothing that records the peers a server sees. std, plus etherparse and libc for packet-socket injection.
//!
//! ```text
//! mapmint-probe udp-echo [ADDR:]PORT               # echo datagrams on ADDR:PORT (default [::],
//!                                                  # which takes IPv4 too); replies leave from
//!                                                  # the bound address, so bind the one clients
//!                                                  # expect when the host has several
//! mapmint-probe udp-ask [--bind ADDR:PORT] [--timeout SECS] HOST PORT MESSAGE
//!                                                  # send one datagram, print the reply
//!                                                  # (an ICMP error: "Connection refused")
//! mapmint-probe udp-log [ADDR:]PORT FILE           # log "ADDR PORT LENGTH" of each datagram
//! mapmint-probe udp-send HOST PORT LENGTH          # send one datagram of LENGTH bytes
//! mapmint-probe tcp-log PORT FILE [mss]            # accept connections, log "ADDR PORT" of each
//!                                                  # (and the connection's TCP_MAXSEG)
//! mapmint-probe tcp-many HOST PORT COUNT [mss]     # open and close COUNT connections (printing
//!                                                  # "mss N", each one's TCP_MAXSEG)
//! mapmint-probe tcp-sink PORT FILE                # accept one connection, write what it
//!                                                  # brings to FILE
//! mapmint-probe tcp-source HOST PORT FILE          # send FILE over one connection
//! mapmint-probe tcp-serve PORT FILE RATE           # accept one connection, send FILE over it
//!                                                  # at RATE bytes per second, close (FILE -:
//!                                                  # zeros until the peer closes)
//! mapmint-probe tcp-fetch HOST PORT FILE           # connect, write what arrives to FILE
//! mapmint-probe inject DEV SRC:PORT DST:PORT LO-HI [df]
//!                                                  # write one UDP packet of each IP length
//!                                                  # LO..=HI straight into DEV with an AF_PACKET
//!                                                  # socket (no route attached), DF if asked
//! mapmint-probe inject-offloaded DEV SRC:PORT DST:PORT transport|tunnel|outer-header:SRC6,DST6
//!                                                  # write one IPv4 UDP packet into DEV with a
//!                                                  # checksum left to offload (see offload.rs)
//! mapmint-probe checksums DEV tcp|udp PORT SECONDS # check the checksums of a flow's packets on
//!                                                  # DEV for SECONDS or until SIGINT, offloaded
//!                                                  # ones finished as a NIC would; print
//!                                                  # "packets N offloaded O gso G bad B"
//! mapmint-probe fill-server PORT LOG | fill-client tcp|udp|icmp HOST PORT MAX [OFFSET WAIT TARGET REOPEN]
//!                                                  # fill a CE's port set (see fill.rs)
//! mapmint-probe hostile DEV V4SRC:PORT V4DST:PORT [V6SRC]:PORT [V6DST]:PORT COUNT SEED
//!                                                  # write malformed packets derived from that
//!                                                  # flow into DEV (see hostile.rs), at least
//!                                                  # COUNT; print "written N refused M"
//! ```
//! DEV may be `IFNAME@MAC` for an Ethernet device: the frames go to MAC (a veth's peer, which
//! then receives them as its own).
//! Exit status: 0 on success, 1 when the network said no (timeout, refused), 2 on bad usage.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::time::Duration;

mod fill;
mod hostile;
mod offload;

fn usage() -> ExitCode {
    eprintln!(
        "usage: mapmint-probe udp-echo [ADDR:]PORT | udp-ask [--bind ADDR:PORT] [--timeout SECS] HOST PORT MESSAGE \
         | udp-log [ADDR:]PORT FILE | udp-send HOST PORT LENGTH | tcp-log PORT FILE [mss] | tcp-many HOST PORT COUNT [mss] \
         | tcp-sink PORT FILE | tcp-source HOST PORT FILE | tcp-serve PORT FILE RATE | tcp-fetch HOST PORT FILE | inject DEV SRC:PORT DST:PORT LO-HI [df] \
         | inject-offloaded DEV SRC:PORT DST:PORT transport|tunnel|outer-header:SRC6,DST6 | checksums DEV tcp|udp PORT SECONDS \
         | fill-server PORT LOG | fill-client tcp|udp|icmp HOST PORT MAX [OFFSET WAIT TARGET REOPEN] \
         | hostile DEV V4SRC:PORT V4DST:PORT [V6SRC]:PORT [V6DST]:PORT COUNT SEED"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match words.as_slice() {
        ["udp-echo", addr] => listen_addr(addr).ok_or(None).and_then(|a| udp_echo(a).map_err(Some)),
        ["udp-ask", rest @ ..] => udp_ask(rest),
        ["udp-log", addr, file] => listen_addr(addr).ok_or(None).and_then(|a| udp_log(a, file).map_err(Some)),
        ["udp-send", host, port, length] => match (host.parse(), port.parse(), length.parse()) {
            (Ok(h), Ok(p), Ok(l)) => udp_send(h, p, l).map_err(Some),
            _ => Err(None),
        },
        ["tcp-log", port, file, rest @ ..] if matches!(rest, [] | ["mss"]) => {
            port.parse().map_err(|_| None).and_then(|p| tcp_log(p, file, !rest.is_empty()).map_err(Some))
        }
        ["tcp-many", host, port, count, rest @ ..] if matches!(rest, [] | ["mss"]) => {
            match (host.parse(), port.parse(), count.parse()) {
                (Ok(h), Ok(p), Ok(c)) => tcp_many(h, p, c, !rest.is_empty()).map_err(Some),
                _ => Err(None),
            }
        }
        ["tcp-sink", port, file] => port.parse().map_err(|_| None).and_then(|p| tcp_sink(p, file).map_err(Some)),
        ["tcp-source", host, port, file] => match (host.parse(), port.parse()) {
            (Ok(h), Ok(p)) => tcp_source(h, p, file).map_err(Some),
            _ => Err(None),
        },
        ["tcp-serve", port, file, rate] => match (port.parse(), rate.parse()) {
            (Ok(p), Ok(r)) => tcp_serve(p, file, r).map_err(Some),
            _ => Err(None),
        },
        ["tcp-fetch", host, port, file] => match (host.parse(), port.parse()) {
            (Ok(h), Ok(p)) => tcp_fetch(h, p, file).map_err(Some),
            _ => Err(None),
        },
        ["inject", dev, src, dst, sizes, rest @ ..] => inject(dev, src, dst, sizes, rest),
        ["inject-offloaded", dev, src, dst, kind] => offload::inject(dev, src, dst, kind),
        ["checksums", dev, protocol, port, seconds] => offload::capture(dev, protocol, port, seconds),
        ["fill-server", port, log] => port.parse().map_err(|_| None).and_then(|p| fill::server(p, log).map_err(Some)),
        ["fill-client", rest @ ..] => fill::client(rest),
        ["hostile", dev, v4_src, v4_dst, v6_src, v6_dst, count, seed] => {
            hostile(dev, [v4_src, v4_dst, v6_src, v6_dst], count, seed)
        }
        _ => Err(None),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(None) => usage(),
        Err(Some(e)) => {
            eprintln!("mapmint-probe: {e}");
            ExitCode::from(1)
        }
    }
}

/// A dual-stack socket address for the wildcard: IPv6 sockets accept IPv4 too on Linux.
fn any(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::from([0u16; 8]), port)
}

/// `PORT` (the wildcard) or `ADDR:PORT`.
fn listen_addr(text: &str) -> Option<SocketAddr> {
    text.parse().ok().or_else(|| text.parse().ok().map(any))
}

fn udp_echo(addr: SocketAddr) -> std::io::Result<()> {
    let socket = UdpSocket::bind(addr)?;
    let mut buf = [0u8; 65536];
    loop {
        let (len, peer) = socket.recv_from(&mut buf)?;
        socket.send_to(&buf[..len], peer)?;
    }
}

fn udp_ask(args: &[&str]) -> Result<(), Option<std::io::Error>> {
    let mut bind: Option<SocketAddr> = None;
    let mut timeout = 2u64;
    let mut rest = args;
    loop {
        match rest {
            ["--bind", addr, tail @ ..] => {
                bind = Some(addr.parse().map_err(|_| None)?);
                rest = tail;
            }
            ["--timeout", secs, tail @ ..] => {
                timeout = secs.parse().map_err(|_| None)?;
                rest = tail;
            }
            _ => break,
        }
    }
    let [host, port, message] = rest else { return Err(None) };
    let host: IpAddr = host.parse().map_err(|_| None)?;
    let port: u16 = port.parse().map_err(|_| None)?;
    let local = bind.unwrap_or_else(|| match host {
        IpAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        IpAddr::V6(_) => any(0),
    });
    let socket = UdpSocket::bind(local)?;
    socket.set_read_timeout(Some(Duration::from_secs(timeout.max(1))))?;
    // Connected, so that an ICMP port unreachable comes back as "Connection refused".
    socket.connect((host, port))?;
    socket.send(message.as_bytes())?;
    let mut buf = [0u8; 65536];
    let len = socket.recv(&mut buf)?;
    std::io::stdout().write_all(&buf[..len])?;
    println!();
    Ok(())
}

/// The peer as written in logs: an IPv4 peer of a dual-stack socket shows as ::ffff:a.b.c.d.
fn peer_text(peer: SocketAddr) -> String {
    let ip = match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    format!("{ip} {}", peer.port())
}

fn udp_log(addr: SocketAddr, file: &str) -> std::io::Result<()> {
    let socket = UdpSocket::bind(addr)?;
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(file)?;
    let mut buf = [0u8; 65536];
    loop {
        let (len, peer) = socket.recv_from(&mut buf)?;
        writeln!(log, "{} {len}", peer_text(peer))?;
        log.flush()?;
    }
}

/// One datagram of `length` bytes; larger than the path MTU, the IP layer fragments it.
fn udp_send(host: IpAddr, port: u16, length: usize) -> std::io::Result<()> {
    let local: SocketAddr = match host {
        IpAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        IpAddr::V6(_) => any(0),
    };
    let socket = UdpSocket::bind(local)?;
    let payload: Vec<u8> = (0..length).map(|i| i as u8).collect();
    socket.send_to(&payload, (host, port))?;
    Ok(())
}

/// The connection's current send MSS (TCP_MAXSEG): what the peer's SYN allowed, less options.
fn tcp_maxseg(stream: &TcpStream) -> std::io::Result<i32> {
    use std::os::fd::AsRawFd;
    let mut mss: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid socket, and an int-sized buffer with its length.
    let rc = unsafe { libc::getsockopt(stream.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_MAXSEG, (&mut mss as *mut libc::c_int).cast(), &mut len) };
    if rc == 0 { Ok(mss) } else { Err(std::io::Error::last_os_error()) }
}

fn tcp_log(port: u16, file: &str, with_mss: bool) -> std::io::Result<()> {
    let listener = TcpListener::bind(any(port))?;
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(file)?;
    for stream in listener.incoming() {
        let mut stream = stream?;
        if with_mss {
            writeln!(log, "{} {}", peer_text(stream.peer_addr()?), tcp_maxseg(&stream)?)?;
        } else {
            writeln!(log, "{}", peer_text(stream.peer_addr()?))?;
        }
        log.flush()?;
        let _ = stream.write_all(b"ok\n");
    }
    Ok(())
}

fn tcp_many(host: IpAddr, port: u16, count: u32, print_mss: bool) -> std::io::Result<()> {
    for _ in 0..count {
        let mut stream = TcpStream::connect_timeout(&SocketAddr::new(host, port), Duration::from_secs(3))?;
        if print_mss {
            println!("mss {}", tcp_maxseg(&stream)?);
        }
        stream.set_read_timeout(Some(Duration::from_secs(3)))?;
        let mut reply = [0u8; 3];
        stream.read_exact(&mut reply)?;
    }
    Ok(())
}

fn tcp_sink(port: u16, file: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind(any(port))?;
    let (mut stream, _) = listener.accept()?;
    let mut out = std::fs::File::create(file)?;
    std::io::copy(&mut stream, &mut out)?;
    Ok(())
}

fn tcp_source(host: IpAddr, port: u16, file: &str) -> std::io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&SocketAddr::new(host, port), Duration::from_secs(3))?;
    std::io::copy(&mut std::fs::File::open(file)?, &mut stream)?;
    stream.shutdown(std::net::Shutdown::Write)?;
    // Wait for the peer to close: everything was received.
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest)?;
    Ok(())
}

/// A download that takes a while: FILE (`-`: zeros without end, until the peer goes) in 1/10 s
/// portions of RATE bytes per second.
fn tcp_serve(port: u16, file: &str, rate: usize) -> std::io::Result<()> {
    let listener = TcpListener::bind(any(port))?;
    let (mut stream, _) = listener.accept()?;
    let portion = (rate / 10).max(1);
    let data = if file == "-" { vec![0; portion] } else { std::fs::read(file)? };
    let chunks = data.chunks(portion).map(Some).chain(std::iter::repeat(None));
    let start = std::time::Instant::now();
    for (i, chunk) in chunks.enumerate() {
        let chunk = match chunk {
            Some(chunk) => chunk,
            None if file == "-" => &data[..],
            None => break,
        };
        let due = Duration::from_millis(100 * i as u64);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        stream.write_all(chunk)?;
    }
    Ok(())
}

fn tcp_fetch(host: IpAddr, port: u16, file: &str) -> std::io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&SocketAddr::new(host, port), Duration::from_secs(3))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut out = std::fs::File::create(file)?;
    std::io::copy(&mut stream, &mut out)?;
    Ok(())
}

/// `inject`: UDP packets written below the IP layer, as a packet socket, tc or bpf redirect
/// deliver them to a device: no route, no socket, whatever shape the writer chose.
fn inject(dev: &str, src: &str, dst: &str, sizes: &str, rest: &[&str]) -> Result<(), Option<std::io::Error>> {
    let src: SocketAddr = src.parse().map_err(|_| None)?;
    let dst: SocketAddr = dst.parse().map_err(|_| None)?;
    let (lo, hi) = sizes.split_once('-').unwrap_or((sizes, sizes));
    let (lo, hi): (usize, usize) = (lo.parse().map_err(|_| None)?, hi.parse().map_err(|_| None)?);
    let df = match rest {
        [] => false,
        ["df"] => true,
        _ => return Err(None),
    };
    let socket = PacketSocket::open(dev)?;
    for size in lo..=hi {
        let packet = udp_packet(src, dst, size, df).ok_or(None)?;
        socket.send(&packet, matches!(src, SocketAddr::V6(_)))?;
    }
    Ok(())
}

/// `hostile`: the malformed packets of hostile.rs written into `dev`. A write the kernel
/// refuses (longer than the device's MTU allows) is counted apart: the device never saw it.
fn hostile(dev: &str, addrs: [&str; 4], count: &str, seed: &str) -> Result<(), Option<std::io::Error>> {
    let [v4_src, v4_dst, v6_src, v6_dst] = addrs;
    let flows = hostile::Flows {
        v4_src: v4_src.parse().map_err(|_| None)?,
        v4_dst: v4_dst.parse().map_err(|_| None)?,
        v6_src: v6_src.parse().map_err(|_| None)?,
        v6_dst: v6_dst.parse().map_err(|_| None)?,
    };
    let count: usize = count.parse().map_err(|_| None)?;
    let seed: u64 = seed.parse().map_err(|_| None)?;
    let socket = PacketSocket::open(dev)?;
    let (mut written, mut refused) = (0u64, 0u64);
    for packet in hostile::packets(&flows, count, &mut hostile::Rng::new(seed)) {
        match socket.send(&packet.bytes, packet.ipv6) {
            Ok(()) => written += 1,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMSGSIZE | libc::EINVAL)) => refused += 1,
            Err(e) => return Err(Some(e)),
        }
    }
    println!("written {written} refused {refused}");
    Ok(())
}

/// A UDP packet from `src` to `dst` whose IP packet is `size` bytes, with DF set if `df` (IPv4).
fn udp_packet(src: SocketAddr, dst: SocketAddr, size: usize, df: bool) -> Option<Vec<u8>> {
    use etherparse::{IpHeaders, IpNumber, Ipv4Header, Ipv6FlowLabel, Ipv6Header, PacketBuilder};
    let (ip, header_len) = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let payload = u16::try_from(size.checked_sub(20)?).ok()?;
            let mut header = Ipv4Header::new(payload, 64, IpNumber::UDP, s.octets(), d.octets()).ok()?;
            header.dont_fragment = df;
            header.identification = size as u16;
            (IpHeaders::Ipv4(header, Default::default()), 20 + 8)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let header = Ipv6Header {
                traffic_class: 0,
                flow_label: Ipv6FlowLabel::ZERO,
                payload_length: u16::try_from(size.checked_sub(40)?).ok()?,
                next_header: IpNumber::UDP,
                hop_limit: 64,
                source: s.octets(),
                destination: d.octets(),
            };
            (IpHeaders::Ipv6(header, Default::default()), 40 + 8)
        }
        _ => return None,
    };
    let payload: Vec<u8> = (0..size.checked_sub(header_len)?).map(|i| i as u8).collect();
    let builder = PacketBuilder::ip(ip).udp(src.port(), dst.port());
    let mut packet = Vec::with_capacity(size);
    builder.write(&mut packet, &payload).ok()?;
    Some(packet)
}

/// An AF_PACKET SOCK_DGRAM socket bound to nothing, sending to one device.
struct PacketSocket {
    fd: std::os::fd::OwnedFd,
    ifindex: i32,
    /// The link-layer destination, for an Ethernet device.
    link_dst: Option<[u8; 6]>,
}

/// `aa:bb:cc:dd:ee:ff`.
fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let bytes: Vec<u8> = text.split(':').map(|b| u8::from_str_radix(b, 16).ok()).collect::<Option<_>>()?;
    bytes.try_into().ok()
}

impl PacketSocket {
    /// `dev` is an interface name, or `IFNAME@MAC`.
    fn open(dev: &str) -> std::io::Result<Self> {
        Self::open_as(dev, libc::SOCK_DGRAM)
    }

    /// A socket of `kind`: SOCK_RAW writes the link-layer header too (none on a mapmint
    /// device), and may carry a virtio-net header.
    fn open_as(dev: &str, kind: libc::c_int) -> std::io::Result<Self> {
        use std::os::fd::FromRawFd;
        let (dev, link_dst) = match dev.split_once('@') {
            Some((name, mac)) => (name, Some(parse_mac(mac).ok_or(std::io::ErrorKind::InvalidInput)?)),
            None => (dev, None),
        };
        let name = std::ffi::CString::new(dev).map_err(|_| std::io::ErrorKind::InvalidInput)?;
        // SAFETY: a NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: plain socket(2); protocol 0 receives nothing.
        let fd = unsafe { libc::socket(libc::AF_PACKET, kind, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        Ok(PacketSocket { fd: unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }, ifindex: ifindex as i32, link_dst })
    }

    fn send(&self, packet: &[u8], ipv6: bool) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let protocol = if ipv6 { libc::ETH_P_IPV6 } else { libc::ETH_P_IP } as u16;
        // SAFETY: all-zero is a valid sockaddr_ll; the fields that matter are set below.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = protocol.to_be();
        addr.sll_ifindex = self.ifindex;
        if let Some(mac) = self.link_dst {
            addr.sll_halen = 6;
            addr.sll_addr[..6].copy_from_slice(&mac);
        }
        // SAFETY: the buffer and the address are valid for the lengths given.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if sent < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}
