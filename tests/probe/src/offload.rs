//! Checksum offload seen from outside: packets written with a checksum left to offload, and a
//! capture that finishes such checksums as a NIC would and then checks every TCP and UDP
//! checksum of a flow. A receiver on a veth never checks a checksum left to offload
//! (CHECKSUM_PARTIAL counts as verified), so a wrong one would go unseen end to end.
//!
//! Both use the packet socket's virtio-net header (PACKET_VNET_HDR): on a write, it asks for
//! the offload (NEEDS_CSUM at csum_start, csum_offset); on a read, it says where one is left.

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use etherparse::checksum::Sum16BitWords;

use crate::PacketSocket;

/// struct virtio_net_hdr: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset (a
/// packet socket's is in the host's byte order).
const VNET_HDR_LEN: usize = 10;
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const PACKET_VNET_HDR: libc::c_int = 15;

fn enable_vnet_header(fd: &OwnedFd) -> std::io::Result<()> {
    set_int_option(fd, libc::SOL_PACKET, PACKET_VNET_HDR, 1)
}

/// The folded ones'-complement sum of an IPv4 pseudo-header.
fn ipv4_pseudo(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: usize) -> Sum16BitWords {
    Sum16BitWords::new()
        .add_4bytes(src.octets())
        .add_4bytes(dst.octets())
        .add_2bytes([0, protocol])
        .add_2bytes((len as u16).to_be_bytes())
}

/// A UDP datagram (header and `payload`) over IPv4, its checksum complete.
fn udp_datagram(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut udp = Vec::with_capacity(len);
    udp.extend_from_slice(&src.port().to_be_bytes());
    udp.extend_from_slice(&dst.port().to_be_bytes());
    udp.extend_from_slice(&(len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let check = ipv4_pseudo(*src.ip(), *dst.ip(), 17, len).add_slice(&udp).to_ones_complement_with_no_zero();
    udp[6..8].copy_from_slice(&check.to_ne_bytes());
    udp
}

/// An IPv4 header with its checksum, in front of `payload`.
fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 20];
    header[0] = 0x45;
    header[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    header[8] = 64;
    header[9] = protocol;
    header[12..16].copy_from_slice(&src.octets());
    header[16..20].copy_from_slice(&dst.octets());
    let check = Sum16BitWords::new().add_slice(&header).ones_complement();
    header[10..12].copy_from_slice(&check.to_ne_bytes());
    [&header[..], payload].concat()
}

/// `inject-offloaded DEV SRC:PORT DST:PORT transport|tunnel|outer-header:SRC6,DST6`: one IPv4
/// UDP packet written into DEV with a checksum left to offload. `transport`: the UDP checksum,
/// holding the seed a socket leaves (the pseudo-header's sum). `tunnel`: as a UDP tunnel sends
/// (FOU: an IPv4 packet in UDP), the inner UDP checksum left to offload and the outer one
/// complete for the packet as it will be (local checksum offload). `outer-header`: the packet,
/// its checksums complete, in an IPv4-in-IPv6 header from SRC6 to DST6 (MAP-E), with an
/// offload inside that outer header, which a decapsulation removes.
pub fn inject(dev: &str, src: &str, dst: &str, kind: &str) -> Result<(), Option<std::io::Error>> {
    let src: SocketAddrV4 = src.parse().map_err(|_| None)?;
    let dst: SocketAddrV4 = dst.parse().map_err(|_| None)?;
    let data: Vec<u8> = (0..64u8).collect();
    if let Some(outer) = kind.strip_prefix("outer-header:") {
        let (src6, dst6) = outer.split_once(',').ok_or(None)?;
        let (src6, dst6): (Ipv6Addr, Ipv6Addr) = (src6.parse().map_err(|_| None)?, dst6.parse().map_err(|_| None)?);
        let inner = ipv4_packet(*src.ip(), *dst.ip(), 17, &udp_datagram(src, dst, &data));
        let mut header = [0u8; 40];
        header[0] = 0x60;
        header[4..6].copy_from_slice(&(inner.len() as u16).to_be_bytes());
        header[6] = 4; // IPv4
        header[7] = 64;
        header[8..24].copy_from_slice(&src6.octets());
        header[24..40].copy_from_slice(&dst6.octets());
        // an offload from byte 24 (the kernel takes none before 20, the least network header),
        // written at 30: inside the outer header's destination address
        return write_offloaded(dev, &[&header[..], &inner].concat(), 24, 6, true);
    }
    let (packet, csum_start) = match kind {
        "transport" => {
            let mut packet = ipv4_packet(*src.ip(), *dst.ip(), 17, &udp_datagram(src, dst, &data));
            let seed = !ipv4_pseudo(*src.ip(), *dst.ip(), 17, 8 + data.len()).ones_complement();
            packet[26..28].copy_from_slice(&seed.to_ne_bytes());
            (packet, 20)
        }
        "tunnel" => {
            let (inner_src, inner_dst) = (SocketAddrV4::new([10, 99, 0, 1].into(), 4000), SocketAddrV4::new([10, 99, 0, 2].into(), 4001));
            let inner = ipv4_packet(*inner_src.ip(), *inner_dst.ip(), 17, &udp_datagram(inner_src, inner_dst, &data));
            let mut packet = ipv4_packet(*src.ip(), *dst.ip(), 17, &udp_datagram(src, dst, &inner));
            // the outer checksum covers the inner one as the offload will write it
            let seed = !ipv4_pseudo(*inner_src.ip(), *inner_dst.ip(), 17, 8 + data.len()).ones_complement();
            packet[20 + 8 + 20 + 6..][..2].copy_from_slice(&seed.to_ne_bytes());
            (packet, 20 + 8 + 20)
        }
        _ => return Err(None),
    };
    write_offloaded(dev, &packet, csum_start, 6, false)
}

/// Writes `packet` (IPv6 if `ipv6`) into DEV with its checksum left to offload: the sum from
/// `csum_start` on, written `csum_offset` bytes further. DEV@MAC: an Ethernet device, the
/// frame to MAC.
fn write_offloaded(dev: &str, packet: &[u8], csum_start: u16, csum_offset: u16, ipv6: bool) -> Result<(), Option<std::io::Error>> {
    // (a virtio-net header needs SOCK_RAW, which writes the link-layer header too)
    let socket = PacketSocket::open_as(dev, libc::SOCK_RAW)?;
    enable_vnet_header(&socket.fd)?;
    let link_header: Vec<u8> = match socket.link_dst {
        Some(dst) => {
            let ethertype: u16 = if ipv6 { 0x86dd } else { 0x0800 };
            [&dst[..], &[2, 0, 0, 0, 0, 1], &ethertype.to_be_bytes()].concat()
        }
        None => Vec::new(),
    };
    let mut header = [0u8; VNET_HDR_LEN];
    header[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    header[6..8].copy_from_slice(&(csum_start + link_header.len() as u16).to_ne_bytes());
    header[8..10].copy_from_slice(&csum_offset.to_ne_bytes());
    socket.send(&[&header[..], &link_header, packet].concat(), ipv6)?;
    Ok(())
}

/// What a capture saw of one flow.
#[derive(Default)]
struct Tally {
    packets: u64,
    offloaded: u64,
    gso: u64,
    bad: Vec<String>,
}

/// Set by SIGINT or SIGTERM: the capture ends and reports.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn stop(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// `checksums DEV tcp|udp PORT SECONDS`: reads DEV's packets for SECONDS (or until SIGINT or
/// SIGTERM) and checks the checksum of each TCP or UDP packet to or from PORT (over IPv4,
/// IPv6, or IPv4 in IPv6), after finishing a checksum left to offload as a NIC would; a GSO
/// packet is checked as the one packet it is before segmentation. Prints "ready" once it
/// sees every packet, then "packets N offloaded O gso G bad B dropped D" (D: packets the
/// socket had no room for, unchecked). A packet of the device the virtio-net header cannot
/// describe (a GSO type it has no name for) counts as bad, of whichever flow.
pub fn capture(dev: &str, protocol: &str, port: &str, seconds: &str) -> Result<(), Option<std::io::Error>> {
    // First: a background job of a non-interactive shell starts with SIGINT ignored, and the
    // caller may stop the capture as soon as it said it is ready.
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic; no SA_RESTART, so recv returns EINTR.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
    let protocol = match protocol {
        "tcp" => 6,
        "udp" => 17,
        _ => return Err(None),
    };
    let port: u16 = port.parse().map_err(|_| None)?;
    let seconds: u64 = seconds.parse().map_err(|_| None)?;
    let name = std::ffi::CString::new(dev).map_err(|_| None)?;
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(Some(std::io::Error::last_os_error()));
    }
    // (SOCK_RAW, which a virtio-net header needs, reads the link-layer header too)
    let link_header = match device_type(dev)? {
        libc::ARPHRD_ETHER => 14,
        libc::ARPHRD_NONE => 0,
        other => return Err(Some(std::io::Error::other(format!("{dev}: link type {other}, not Ethernet")))),
    };
    // Protocol 0 receives nothing until the bind names the protocol and the device at once
    // (a socket of every protocol would see other devices' packets until then).
    // SAFETY: plain socket(2).
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    if fd < 0 {
        return Err(Some(std::io::Error::last_os_error()));
    }
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    enable_vnet_header(&fd)?;
    // room for a transfer's GSO packets while this process waits for the CPU
    set_int_option(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 16 << 20)?;
    let timeout = libc::timeval { tv_sec: 0, tv_usec: 200_000 };
    // SAFETY: setsockopt with a timeval of its size.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        )
    };
    if r < 0 {
        return Err(Some(std::io::Error::last_os_error()));
    }
    // SAFETY: all-zero is a valid sockaddr_ll; family, protocol and index set below.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    addr.sll_ifindex = ifindex as i32;
    // SAFETY: the address is valid for its length.
    if unsafe { libc::bind(fd.as_raw_fd(), (&addr as *const libc::sockaddr_ll).cast(), std::mem::size_of::<libc::sockaddr_ll>() as u32) } < 0 {
        return Err(Some(std::io::Error::last_os_error()));
    }
    println!("ready");
    std::io::stdout().flush().map_err(Some)?;

    let end = Instant::now() + Duration::from_secs(seconds);
    let mut buf = vec![0u8; VNET_HDR_LEN + 65_536 + 256];
    let mut tally = Tally::default();
    // After the end, what is queued still counts: read without waiting until none is left.
    let mut draining = false;
    loop {
        if !draining && (Instant::now() >= end || STOP.load(Ordering::Relaxed)) {
            draining = true;
        }
        let flags = libc::MSG_TRUNC | if draining { libc::MSG_DONTWAIT } else { 0 };
        // SAFETY: the buffer is valid for its length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) if draining => break,
                Some(libc::EAGAIN | libc::EINTR) => continue,
                Some(libc::EINVAL) => {
                    tally.bad.push("a packet the virtio-net header cannot describe".into());
                    continue;
                }
                _ => return Err(Some(e)),
            }
        }
        let n = n as usize;
        if n > buf.len() || n < VNET_HDR_LEN + link_header {
            tally.bad.push(format!("a packet of {n} bytes, beyond the buffer"));
            continue;
        }
        let (header, frame) = buf[..n].split_at_mut(VNET_HDR_LEN);
        if link_header == 14 && !matches!(frame[12..14], [0x08, 0x00] | [0x86, 0xdd]) {
            continue;
        }
        // (csum_start counts from the frame's start)
        let mut header: [u8; VNET_HDR_LEN] = header.try_into().expect("split at its length");
        let start = u16::from_ne_bytes([header[6], header[7]]).saturating_sub(link_header as u16);
        header[6..8].copy_from_slice(&start.to_ne_bytes());
        check_packet(&header, &mut frame[link_header..], protocol, port, &mut tally);
    }
    println!(
        "packets {} offloaded {} gso {} bad {} dropped {}",
        tally.packets,
        tally.offloaded,
        tally.gso,
        tally.bad.len(),
        socket_drops(&fd)?
    );
    for bad in tally.bad.iter().take(5) {
        eprintln!("mapmint-probe: {bad}");
    }
    Ok(())
}

fn set_int_option(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> std::io::Result<()> {
    // SAFETY: setsockopt with an int option value of its size.
    let r = unsafe {
        libc::setsockopt(fd.as_raw_fd(), level, name, (&value as *const libc::c_int).cast(), std::mem::size_of::<libc::c_int>() as u32)
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The packets the socket dropped for want of room (PACKET_STATISTICS).
fn socket_drops(fd: &OwnedFd) -> std::io::Result<u32> {
    let mut stats = libc::tpacket_stats { tp_packets: 0, tp_drops: 0 };
    let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: getsockopt into a tpacket_stats of its size.
    let r = unsafe {
        libc::getsockopt(fd.as_raw_fd(), libc::SOL_PACKET, libc::PACKET_STATISTICS, (&mut stats as *mut libc::tpacket_stats).cast(), &mut len)
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(stats.tp_drops)
}

/// The device's link type (ARPHRD_*), from sysfs.
fn device_type(dev: &str) -> std::io::Result<u16> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{dev}/type"))?;
    text.trim().parse().map_err(|_| std::io::Error::other(format!("{dev}: link type {text:?}")))
}

/// Where the flow's transport header lies: its offset, the pseudo-header's sum, and whether
/// it is over IPv4 (where UDP may go without a checksum); None for a packet of another flow
/// (or a fragment).
fn locate(packet: &[u8], protocol: u8, port: u16) -> Option<(usize, Sum16BitWords, bool)> {
    match packet.first()? >> 4 {
        4 => {
            let ihl = usize::from(packet[0] & 0xf) * 4;
            let total = usize::from(u16::from_be_bytes(packet.get(2..4)?.try_into().ok()?));
            let fragment = u16::from_be_bytes(packet.get(6..8)?.try_into().ok()?) & 0x3fff != 0;
            if *packet.get(9)? != protocol || fragment || ihl < 20 || total < ihl || total > packet.len() {
                return None;
            }
            let src = Ipv4Addr::from(<[u8; 4]>::try_from(&packet[12..16]).ok()?);
            let dst = Ipv4Addr::from(<[u8; 4]>::try_from(&packet[16..20]).ok()?);
            let ports = packet.get(ihl..ihl + 4)?;
            let (sport, dport) = (u16::from_be_bytes([ports[0], ports[1]]), u16::from_be_bytes([ports[2], ports[3]]));
            (sport == port || dport == port).then(|| (ihl, ipv4_pseudo(src, dst, protocol, total - ihl), true))
        }
        6 => {
            let payload = usize::from(u16::from_be_bytes(packet.get(4..6)?.try_into().ok()?));
            if packet.len() < 40 + payload {
                return None;
            }
            match packet[6] {
                // IPv4 in IPv6 (MAP-E): the inner packet's flow
                4 => locate(&packet[40..40 + payload], protocol, port).map(|(at, sum, v4)| (40 + at, sum, v4)),
                next if next == protocol => {
                    let ports = packet.get(40..44)?;
                    let (sport, dport) = (u16::from_be_bytes([ports[0], ports[1]]), u16::from_be_bytes([ports[2], ports[3]]));
                    let sum = Sum16BitWords::new()
                        .add_slice(&packet[8..40])
                        .add_4bytes((payload as u32).to_be_bytes())
                        .add_4bytes([0, 0, 0, protocol]);
                    (sport == port || dport == port).then_some((40, sum, false))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn check_packet(header: &[u8], packet: &mut [u8], protocol: u8, port: u16, tally: &mut Tally) {
    let Some((at, pseudo, over_ipv4)) = locate(packet, protocol, port) else { return };
    tally.packets += 1;
    let flags = header[0];
    if header[1] != 0 {
        tally.gso += 1;
    }
    if flags & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 {
        tally.offloaded += 1;
        // what the NIC does: the sum from csum_start to the end, written at csum_offset
        let start = usize::from(u16::from_ne_bytes([header[6], header[7]]));
        let field = start + usize::from(u16::from_ne_bytes([header[8], header[9]]));
        if field + 2 > packet.len() {
            tally.bad.push(format!("checksum offload at {start}+{} beyond {} bytes", field - start, packet.len()));
            return;
        }
        let sum = Sum16BitWords::new().add_slice(&packet[start..]).ones_complement();
        packet[field..field + 2].copy_from_slice(&sum.to_ne_bytes());
    }
    // The transport header and payload, as long as its network header says (a received frame
    // may carry link padding behind).
    let end = match packet[0] >> 4 {
        4 if at == usize::from(packet[0] & 0xf) * 4 => usize::from(u16::from_be_bytes([packet[2], packet[3]])),
        _ => packet.len().min(40 + usize::from(u16::from_be_bytes([packet[4], packet[5]]))),
    };
    let l4 = &packet[at..end];
    let check_at = if protocol == 6 { 16 } else { 6 };
    if l4.len() < check_at + 2 {
        tally.bad.push(format!("a transport header of {} bytes", l4.len()));
        return;
    }
    if protocol == 17 && over_ipv4 && l4[6..8] == [0, 0] {
        return; // IPv4 UDP without a checksum
    }
    if pseudo.add_slice(l4).ones_complement() != 0 {
        tally.bad.push(format!(
            "{} bytes (transport at {at}, {}): checksum {:04x} does not add up",
            packet.len(),
            if flags & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 { "finished from its offload" } else { "complete" },
            u16::from_be_bytes([l4[check_at], l4[check_at + 1]])
        ));
    }
}
