//! nlprobe: sends the mapmint generic netlink family what a netlink library would not —
//! wrong attribute types and sizes, truncated and overlong attributes, unknown commands,
//! wrong nesting, oversize values, broken headers — and checks that each one is refused
//! with an error (and, where the kernel words one, an extack message), over a raw socket
//! with every byte packed here on purpose.
//!
//! Usage:
//!   nlprobe malformed IFNAME      the fixed list of malformed requests against IFNAME
//!   nlprobe fuzz IFNAME [N] [SEED]  N randomly mutated valid requests (default 3000)
//!   nlprobe owners IFNAME         FMRs staged by one socket: not another's, and gone with it
//!   nlprobe bystander IFNAME SECONDS [OTHER]
//!                                 for SECONDS, an FMR added to and deleted from IFNAME's
//!                                 (big) table back and forth, while the controller is asked
//!                                 for a family (and an FMR added to and deleted from the
//!                                 mapmint device OTHER): each must answer in under half a
//!                                 table build
//!   nlprobe staged-moved IFNAME NETNS COUNT [contended]
//!                                 COUNT FMRs staged on IFNAME (vmalloc'ed: VmallocUsed
//!                                 grows), then IFNAME moved to the namespace NETNS while the
//!                                 socket stays open: the staging is freed with the move
//!                                 (contended: while another socket changes IFNAME's table,
//!                                 which holds its control mutex as the move runs)
//!   nlprobe dump-replaced IFNAME CONF
//!                                 a RULE_GET dump of IFNAME (a table of several messages)
//!                                 during which IFNAME is deleted and added again with its
//!                                 index, configured by `mapminctl apply --config CONF`
//!
//! Prints one line per check, `PASS name: ...` or `FAIL name: why` (the guest scenario turns
//! them into results), and exits 1 if any failed.

use std::io;
use std::mem::size_of;
use std::net::Ipv6Addr;

use mapcore::genl::{self, attr, cmd, rule_attr, FAMILY_NAME};
use mapcore::{parse_rule_params, Ipv4Prefix, Ipv6Prefix};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_MULTI: u16 = 2;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLA_F_NESTED: u16 = 0x8000;
const NLMSGERR_ATTR_MSG: u16 = 1;
const SOL_NETLINK: i32 = 270;
const NETLINK_EXT_ACK: i32 = 11;

// --- packing, by hand on purpose

/// An attribute: header, value, padding to 4 bytes.
fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + value.len() + 3);
    out.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out
}

/// A nested attribute (NLA_F_NESTED set).
fn nest(kind: u16, inner: &[Vec<u8>]) -> Vec<u8> {
    nla(kind | NLA_F_NESTED, &inner.concat())
}

fn u32_attr(kind: u16, value: u32) -> Vec<u8> {
    nla(kind, &value.to_ne_bytes())
}

/// A whole message: nlmsghdr, genlmsghdr, attributes.
fn message(family: u16, flags: u16, seq: u32, command: u8, attrs: &[Vec<u8>]) -> Vec<u8> {
    let body = attrs.concat();
    let len = 16 + 4 + body.len();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&family.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&[command, genl::FAMILY_VERSION, 0, 0]);
    out.extend_from_slice(&body);
    out
}

fn rule_nest(kind: u16, text: &str) -> Vec<u8> {
    let params = parse_rule_params(text).expect("a rule text of the probe");
    let mut inner = Vec::new();
    genl::rule_attributes(&params, |k, v| inner.push(nla(k, v)));
    nest(kind, &inner)
}

fn v6_prefix(text: &str) -> Vec<u8> {
    genl::encode_ipv6_prefix(Ipv6Prefix::parse(text).unwrap()).to_vec()
}

// --- the socket

struct Socket {
    fd: i32,
}

/// What the kernel answered to one request.
#[derive(Debug, Default)]
struct Answer {
    /// NLMSG_ERROR's code (0: acknowledged) or a dump's DONE code; None: no ack nor done.
    error: Option<i32>,
    /// The extack message, if any.
    extack: Option<String>,
    /// How many data messages came before it.
    replies: usize,
    /// No answer at all within the timeout.
    silent: bool,
}

impl Answer {
    fn describe(&self) -> String {
        if self.silent {
            return "no answer".into();
        }
        let mut text = match self.error {
            Some(0) => "acknowledged".to_string(),
            Some(e) => format!("errno {}", errno_name(-e)),
            None => "no ack".to_string(),
        };
        if self.replies > 0 {
            text.push_str(&format!(", {} replies", self.replies));
        }
        if let Some(m) = &self.extack {
            text.push_str(&format!(", extack '{m}'"));
        }
        text
    }
}

fn errno_name(errno: i32) -> String {
    match errno {
        libc::EPERM => "EPERM".into(),
        libc::ENOENT => "ENOENT".into(),
        libc::ENOMEM => "ENOMEM".into(),
        libc::EEXIST => "EEXIST".into(),
        libc::ENODEV => "ENODEV".into(),
        libc::EINVAL => "EINVAL".into(),
        libc::ENOSPC => "ENOSPC".into(),
        libc::ERANGE => "ERANGE".into(),
        libc::EMSGSIZE => "EMSGSIZE".into(),
        libc::EOPNOTSUPP => "EOPNOTSUPP".into(),
        other => format!("{other}"),
    }
}

impl Socket {
    /// A socket bound to a port the kernel picks.
    fn open() -> io::Result<Socket> {
        Socket::open_at(0)
    }

    /// A socket bound to netlink port `portid` (0: one the kernel picks).
    fn open_at(portid: u32) -> io::Result<Socket> {
        // SAFETY: plain socket calls on a descriptor this struct owns; every pointer passed
        // points at a live local of the stated size.
        unsafe {
            let fd = libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_GENERIC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let socket = Socket { fd };
            let one: i32 = 1;
            if libc::setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, (&one as *const i32).cast(), 4) < 0 {
                return Err(io::Error::last_os_error());
            }
            let timeout = libc::timeval { tv_sec: 0, tv_usec: 500_000 };
            if libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                size_of::<libc::timeval>() as u32,
            ) < 0
            {
                return Err(io::Error::last_os_error());
            }
            let big: i32 = 1 << 20;
            libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, (&big as *const i32).cast(), 4);
            let mut addr: libc::sockaddr_nl = std::mem::zeroed();
            addr.nl_family = libc::AF_NETLINK as u16;
            addr.nl_pid = portid;
            if libc::bind(fd, (&addr as *const libc::sockaddr_nl).cast(), size_of::<libc::sockaddr_nl>() as u32) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(socket)
        }
    }

    fn send(&self, bytes: &[u8]) -> io::Result<()> {
        // SAFETY: the destination is a zeroed sockaddr_nl (the kernel); `bytes` is live.
        unsafe {
            let mut addr: libc::sockaddr_nl = std::mem::zeroed();
            addr.nl_family = libc::AF_NETLINK as u16;
            let sent = libc::sendto(
                self.fd,
                bytes.as_ptr().cast(),
                bytes.len(),
                0,
                (&addr as *const libc::sockaddr_nl).cast(),
                size_of::<libc::sockaddr_nl>() as u32,
            );
            if sent < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// One datagram, or None after the timeout.
    fn recv(&self) -> io::Result<Option<Vec<u8>>> {
        let mut buf = vec![0u8; 1 << 17];
        // SAFETY: `buf` is live and as long as stated.
        let n = unsafe { libc::recv(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) => Ok(None),
                _ => Err(e),
            };
        }
        buf.truncate(n as usize);
        Ok(Some(buf))
    }

    /// Sends `bytes` (whose sequence number is `seq`) and collects the answer to it; answers
    /// to other sequence numbers (earlier requests that timed out) are skipped.
    fn ask(&self, bytes: &[u8], seq: u32) -> io::Result<(Answer, Vec<Vec<u8>>)> {
        self.send(bytes)?;
        let mut answer = Answer::default();
        let mut payloads = Vec::new();
        loop {
            let Some(datagram) = self.recv()? else {
                answer.silent = answer.replies == 0 && answer.error.is_none();
                return Ok((answer, payloads));
            };
            for (kind, flags, got_seq, msg) in messages(&datagram) {
                if got_seq != seq {
                    continue;
                }
                match kind {
                    NLMSG_ERROR | NLMSG_DONE => {
                        let code = msg.get(16..20).map_or(0, |b| i32::from_ne_bytes(b.try_into().unwrap()));
                        answer.error = Some(code);
                        answer.extack = extack_message(msg, kind, flags);
                        return Ok((answer, payloads));
                    }
                    _ => {
                        answer.replies += 1;
                        payloads.push(msg.get(20..).unwrap_or(&[]).to_vec());
                        if flags & NLM_F_MULTI == 0 && bytes_flags(bytes) & NLM_F_ACK == 0 {
                            return Ok((answer, payloads));
                        }
                    }
                }
            }
        }
    }
}

/// The netlink messages of a datagram: (type, flags, sequence number, the whole message),
/// up to the first whose length does not fit.
fn messages(datagram: &[u8]) -> impl Iterator<Item = (u16, u16, u32, &[u8])> {
    let mut rest = datagram;
    std::iter::from_fn(move || {
        let len = u32::from_ne_bytes(rest.get(0..4)?.try_into().unwrap()) as usize;
        if len < 16 || len > rest.len() {
            return None;
        }
        let kind = u16::from_ne_bytes(rest[4..6].try_into().unwrap());
        let flags = u16::from_ne_bytes(rest[6..8].try_into().unwrap());
        let seq = u32::from_ne_bytes(rest[8..12].try_into().unwrap());
        let msg = &rest[..len];
        rest = &rest[((len + 3) & !3).min(rest.len())..];
        Some((kind, flags, seq, msg))
    })
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours.
        unsafe { libc::close(self.fd) };
    }
}

fn bytes_flags(msg: &[u8]) -> u16 {
    msg.get(6..8).map_or(0, |b| u16::from_ne_bytes(b.try_into().unwrap()))
}

/// NLMSGERR_ATTR_MSG of an error or done message.
fn extack_message(msg: &[u8], kind: u16, flags: u16) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    // After the header and the code: the request (whole, or its header if capped), then TLVs.
    let mut at = 20;
    if kind == NLMSG_ERROR {
        let echoed = msg.get(20..24).map_or(16, |b| u32::from_ne_bytes(b.try_into().unwrap()) as usize);
        at += if flags & NLM_F_CAPPED != 0 { 16 } else { (echoed + 3) & !3 };
    }
    let tlvs = msg.get(at..)?;
    genl::attributes(tlvs).find(|(k, _)| *k == NLMSGERR_ATTR_MSG).map(|(_, v)| {
        let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
        String::from_utf8_lossy(&v[..end]).into_owned()
    })
}

/// The id of the generic netlink family `name`, from the controller (CTRL_CMD_GETFAMILY).
fn family_id(socket: &Socket, name: &str) -> Result<u16, String> {
    let mut msg = message(GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, 1, CTRL_CMD_GETFAMILY, &[]);
    msg[17] = 2; // the controller's version
    let name_attr = [name.as_bytes(), b"\0"].concat();
    msg.extend_from_slice(&nla(CTRL_ATTR_FAMILY_NAME, &name_attr));
    let len = msg.len() as u32;
    msg[0..4].copy_from_slice(&len.to_ne_bytes());
    let (answer, payloads) = socket.ask(&msg, 1).map_err(|e| e.to_string())?;
    for payload in payloads {
        // The controller's reply, after its genlmsghdr: attributes.
        if let Some((_, id)) = genl::attributes(&payload).find(|(k, _)| *k == CTRL_ATTR_FAMILY_ID) {
            if let Ok(id) = <[u8; 2]>::try_from(id) {
                return Ok(u16::from_ne_bytes(id));
            }
        }
    }
    Err(format!("no family '{name}': {}", answer.describe()))
}

fn ifindex(name: &str) -> Result<u32, String> {
    let c_name = std::ffi::CString::new(name).map_err(|_| "bad name".to_string())?;
    // SAFETY: a valid NUL-terminated string.
    match unsafe { libc::if_nametoindex(c_name.as_ptr()) } {
        0 => Err(format!("no interface {name}")),
        i => Ok(i),
    }
}

// --- the checks

/// What a malformed request must get.
enum Expect {
    /// This errno (positive).
    Errno(i32),
    /// Some error, whichever.
    AnyError,
    /// The kernel drops it silently or acknowledges it without acting (the scenario checks
    /// that the configuration did not change).
    NoEffect,
}

struct Probe {
    socket: Socket,
    family: u16,
    seq: u32,
    failures: usize,
}

impl Probe {
    fn next_seq(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    fn msg(&mut self, flags: u16, command: u8, attrs: &[Vec<u8>]) -> (Vec<u8>, u32) {
        let seq = self.next_seq();
        (message(self.family, flags, seq, command, attrs), seq)
    }

    /// RULE_ADD or RULE_DEL (`command`) of the FMR `rule` on device `index`: the kernel's answer.
    fn change_fmr(&mut self, command: u8, index: u32, rule: &str) -> Result<Answer, String> {
        let attrs = [u32_attr(attr::IFINDEX, index), nla(attr::RULE_KIND, &[genl::RULE_KIND_FMR]), rule_nest(attr::RULE, rule)];
        let (m, s) = self.msg(REQ_ACK, command, &attrs);
        self.socket.ask(&m, s).map(|(answer, _)| answer).map_err(|e| e.to_string())
    }

    fn check(&mut self, name: &str, bytes: &[u8], seq: u32, expect: Expect) {
        let (answer, _) = match self.socket.ask(bytes, seq) {
            Ok(a) => a,
            Err(e) => {
                self.fail(name, &format!("socket: {e}"));
                return;
            }
        };
        let ok = match expect {
            Expect::Errno(errno) => answer.error == Some(-errno),
            Expect::AnyError => matches!(answer.error, Some(e) if e < 0),
            Expect::NoEffect => answer.silent || answer.error == Some(0) || matches!(answer.error, Some(e) if e < 0),
        } && (answer.replies == 0);
        if ok {
            println!("PASS {name}: {}", answer.describe());
        } else {
            let wanted = match expect {
                Expect::Errno(e) => errno_name(e),
                Expect::AnyError => "an error".into(),
                Expect::NoEffect => "no effect".into(),
            };
            self.fail(name, &format!("expected {wanted}, got {}", answer.describe()));
        }
    }

    /// A request that must work (so that the refusals around it mean something).
    fn check_ok(&mut self, name: &str, bytes: &[u8], seq: u32, replies: usize) {
        match self.socket.ask(bytes, seq) {
            Ok((answer, _)) if answer.error == Some(0) && answer.replies == replies => {
                println!("PASS {name}: {}", answer.describe())
            }
            Ok((answer, _)) => self.fail(name, &format!("expected {replies} replies and success, got {}", answer.describe())),
            Err(e) => self.fail(name, &format!("socket: {e}")),
        }
    }

    fn fail(&mut self, name: &str, why: &str) {
        self.failures += 1;
        println!("FAIL {name}: {why}");
    }
}

const BMR: &str = "2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0";
const REQ_ACK: u16 = NLM_F_REQUEST | NLM_F_ACK;

fn malformed(probe: &mut Probe, index: u32) {
    use Expect::*;
    let ifx = || u32_attr(attr::IFINDEX, index);
    let bmr_kind = || nla(attr::RULE_KIND, &[genl::RULE_KIND_BMR]);
    let fmr_kind = || nla(attr::RULE_KIND, &[genl::RULE_KIND_FMR]);

    // Controls: well-formed requests work, so the packing below is right but for the flaw.
    let (m, s) = probe.msg(REQ_ACK, cmd::DEV_GET, &[ifx()]);
    probe.check_ok("control: well-formed DEV_GET answers", &m, s, 1);
    let (m, s) = probe.msg(NLM_F_REQUEST | NLM_F_DUMP, cmd::RULE_GET, &[ifx()]);
    match probe.socket.ask(&m, s) {
        Ok((a, _)) if a.error == Some(0) => println!("PASS control: well-formed RULE_GET dump answers: {}", a.describe()),
        Ok((a, _)) => probe.fail("control: well-formed RULE_GET dump answers", &a.describe()),
        Err(e) => probe.fail("control: well-formed RULE_GET dump answers", &e.to_string()),
    }

    // Commands.
    for (name, command) in [("unknown command 99", 99u8), ("command 0", 0), ("the command after the last one", cmd::MAX + 1), ("command 255", 255)] {
        let (m, s) = probe.msg(REQ_ACK, command, &[ifx()]);
        probe.check(name, &m, s, Errno(libc::EOPNOTSUPP));
    }
    let (m, s) = probe.msg(NLM_F_REQUEST | NLM_F_DUMP, cmd::RULE_ADD, &[ifx()]);
    probe.check("dump of a do-only command (RULE_ADD)", &m, s, Errno(libc::EOPNOTSUPP));
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_GET, &[ifx()]);
    probe.check("do of a dump-only command (RULE_GET)", &m, s, Errno(libc::EOPNOTSUPP));
    let (mut m, s) = probe.msg(REQ_ACK, cmd::RULE_FLUSH, &[ifx()]);
    m[18] = 1;
    probe.check("genlmsghdr.reserved set (RULE_FLUSH)", &m, s, Errno(libc::EINVAL));
    let (mut m, s) = probe.msg(REQ_ACK, cmd::RULE_FLUSH, &[ifx()]);
    m[6..8].copy_from_slice(&(REQ_ACK | 0x20).to_ne_bytes());
    probe.check("reserved nlmsg flag set (RULE_FLUSH)", &m, s, Errno(libc::EINVAL));
    let (mut m, s) = probe.msg(NLM_F_ACK, cmd::RULE_FLUSH, &[ifx()]);
    m[6..8].copy_from_slice(&NLM_F_ACK.to_ne_bytes());
    probe.check("RULE_FLUSH without NLM_F_REQUEST is not run", &m, s, NoEffect);

    // Headers.
    let (mut m, s) = probe.msg(REQ_ACK, cmd::RULE_FLUSH, &[]);
    m.truncate(18);
    m[0..4].copy_from_slice(&18u32.to_ne_bytes());
    probe.check("message shorter than the genetlink header", &m, s, Errno(libc::EINVAL));
    let (mut m, s) = probe.msg(REQ_ACK, cmd::RULE_FLUSH, &[ifx()]);
    let long = (m.len() + 64) as u32;
    m[0..4].copy_from_slice(&long.to_ne_bytes());
    probe.check("nlmsg_len beyond the datagram", &m, s, NoEffect);
    let (mut m, s) = probe.msg(REQ_ACK, cmd::RULE_FLUSH, &[ifx()]);
    m.extend_from_slice(&[0xab, 0xcd]);
    let len = m.len() as u32;
    m[0..4].copy_from_slice(&len.to_ne_bytes());
    probe.check("2 stray bytes after the attributes", &m, s, Errno(libc::EINVAL));

    // Attribute sizes and types.
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_FLUSH, &[nla(attr::IFINDEX, &[1, 0])]);
    probe.check("IFINDEX of 2 bytes", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_FLUSH, &[nla(attr::IFINDEX, &u64::from(index).to_ne_bytes())]);
    probe.check("IFINDEX of 8 bytes", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_FLUSH, &[]);
    probe.check("RULE_FLUSH without IFINDEX", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::DEV_GET, &[]);
    probe.check("DEV_GET without IFINDEX", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_FLUSH, &[u32_attr(attr::IFINDEX, 1)]);
    probe.check("IFINDEX of lo (not a mapmint device)", &m, s, Errno(libc::ENODEV));
    for bad in [0u32, 0x7fff_ffff, 0x8000_0000, u32::MAX] {
        let (m, s) = probe.msg(REQ_ACK, cmd::RULE_FLUSH, &[u32_attr(attr::IFINDEX, bad)]);
        probe.check(&format!("IFINDEX {bad:#x}"), &m, s, Errno(libc::ENODEV));
    }
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_FLUSH, &[ifx(), nla(attr::MAX + 1, &[0; 4])]);
    probe.check("attribute type above the family's maximum", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_FLUSH, &[ifx(), nla(0x3fff, &[])]);
    probe.check("attribute type 0x3fff", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_FLUSH, &[ifx(), nla(0, &[0; 4])]);
    probe.check("attribute type 0", &m, s, Errno(libc::EINVAL));
    for (name, kind, value) in [
        ("IFNAME (replies only) in a request", attr::IFNAME, b"mapmint\0".to_vec()),
        ("CE_PSID (replies only) in a request", attr::CE_PSID, vec![0, 0]),
        ("STATS (replies only) in a request", attr::STATS, vec![]),
        ("MISSING (replies only) in a request", attr::MISSING, b"x\0".to_vec()),
    ] {
        let (m, s) = probe.msg(REQ_ACK, cmd::DEV_SET, &[ifx(), nla(kind, &value)]);
        probe.check(name, &m, s, Errno(libc::EINVAL));
    }
    let (m, s) = probe.msg(REQ_ACK, cmd::DEV_SET, &[ifx(), nla(attr::ROLE, &[2])]);
    probe.check("ROLE 2 (above its maximum)", &m, s, Errno(libc::ERANGE));
    let (m, s) = probe.msg(REQ_ACK, cmd::DEV_SET, &[ifx(), nla(attr::MODE, &[0xff])]);
    probe.check("MODE 255", &m, s, Errno(libc::ERANGE));
    let (m, s) = probe.msg(REQ_ACK, cmd::DEV_SET, &[ifx(), nla(attr::CLEAR, &[0xff])]);
    probe.check("CLEAR with unknown bits", &m, s, Errno(libc::ERANGE));
    let (m, s) = probe.msg(REQ_ACK, cmd::DEV_SET, &[ifx(), nla(attr::ROLE, &[0, 0, 0, 0])]);
    probe.check("ROLE of 4 bytes", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::DEV_SET, &[ifx(), nla(attr::ROLE, &[])]);
    probe.check("ROLE of 0 bytes", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::DEV_SET, &[ifx(), nla(attr::END_USER_PREFIX, &[0x20; 16])]);
    probe.check("END_USER_PREFIX of 16 bytes", &m, s, Errno(libc::ERANGE));
    let mut prefix = v6_prefix("2001:db8:ce:11b::/64");
    prefix[16] = 129;
    let (m, s) = probe.msg(REQ_ACK, cmd::DEV_SET, &[ifx(), nla(attr::END_USER_PREFIX, &prefix)]);
    probe.check("END_USER_PREFIX of length 129", &m, s, Errno(libc::EINVAL));
    prefix[16] = 255;
    let (m, s) = probe.msg(REQ_ACK, cmd::DEV_SET, &[ifx(), nla(attr::DMR, &prefix)]);
    probe.check("DMR of length 255", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::DEV_SET, &[ifx(), nla(attr::IPV4_ADDRESS, &[192, 0, 2, 8, 33])]);
    probe.check("IPV4_ADDRESS of length 33", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::DEV_SET, &[ifx(), nla(attr::BR_ADDRESS, &Ipv6Addr::LOCALHOST.octets()[..15])]);
    probe.check("BR_ADDRESS of 15 bytes", &m, s, Errno(libc::ERANGE));
    let (m, s) = probe.msg(REQ_ACK, cmd::DEV_SET, &[ifx(), nla(attr::ICMP_SOURCE_POOL, &[198, 51, 100, 16])]);
    probe.check("ICMP_SOURCE_POOL of 4 bytes", &m, s, Errno(libc::ERANGE));
    let (m, s) = probe.msg(REQ_ACK, cmd::DEV_SET, &[ifx(), nla(attr::ICMP_SOURCE_POOL, &[198, 51, 100, 16, 33])]);
    probe.check("ICMP_SOURCE_POOL of length 33", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::DEV_SET, &[ifx(), nla(attr::ICMP_SOURCE_POOL, &[198, 51, 100, 17, 28])]);
    probe.check("ICMP_SOURCE_POOL with host bits", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::DEV_SET, &[ifx(), u32_attr(attr::MTU, 70_000)]);
    probe.check("MTU 70000 (above 65535)", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::DEV_SET, &[ifx(), u32_attr(attr::MTU, u32::MAX)]);
    probe.check("MTU 0xffffffff", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::DEV_SET, &[ifx(), nla(attr::MTU, &[0xdc, 0x05])]);
    probe.check("MTU of 2 bytes", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::DEV_SET, &[ifx(), nla(attr::END_USER_PREFIX, &vec![0x55; 65_000])]);
    probe.check("END_USER_PREFIX of 65000 bytes", &m, s, Errno(libc::ERANGE));

    // Truncated attributes.
    let mut cut = u32_attr(attr::IFINDEX, index);
    cut[0..2].copy_from_slice(&40u16.to_ne_bytes());
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_FLUSH, &[cut]);
    probe.check("attribute longer than the message", &m, s, Errno(libc::EINVAL));
    let mut short = u32_attr(attr::IFINDEX, index);
    short[0..2].copy_from_slice(&2u16.to_ne_bytes());
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_FLUSH, &[short]);
    probe.check("attribute length below its header", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_FLUSH, &[ifx(), vec![8, 0, 1]]);
    probe.check("3-byte attribute header at the end", &m, s, Errno(libc::EINVAL));
    let rule = rule_nest(attr::RULE, BMR);
    let mut truncated = rule.clone();
    truncated.truncate(20);
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_ADD, &[ifx(), bmr_kind(), truncated]);
    probe.check("RULE whose length covers more than the message", &m, s, Errno(libc::EINVAL));

    // Nesting.
    let mut flat = rule.clone();
    flat[2..4].copy_from_slice(&attr::RULE.to_ne_bytes());
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_ADD, &[ifx(), bmr_kind(), flat]);
    probe.check("RULE without NLA_F_NESTED", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_ADD, &[ifx(), nla(attr::RULE_KIND | NLA_F_NESTED, &[0]), rule.clone()]);
    probe.check("RULE_KIND flagged as nested", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_ADD, &[ifx(), nest(attr::RULE_KIND, &[nla(1, &[0])]), rule.clone()]);
    probe.check("RULE_KIND holding attributes", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_ADD, &[ifx(), bmr_kind(), nest(attr::RULE, std::slice::from_ref(&rule))]);
    probe.check("RULE inside RULE", &m, s, Errno(libc::EINVAL));
    let inner_v6 = nest(rule_attr::IPV6_PREFIX, &[nla(1, &v6_prefix("2001:db8:ce::/51"))]);
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_ADD, &[ifx(), bmr_kind(), nest(attr::RULE, &[inner_v6])]);
    probe.check("RULE's IPv6 prefix as a nest", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_ADD, &[ifx(), bmr_kind(), nest(attr::RULE, &[nla(rule_attr::MAX + 1, &[1])])]);
    probe.check("unknown attribute inside RULE", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_ADD, &[ifx(), bmr_kind(), nest(attr::RULE, &[])]);
    probe.check("empty RULE", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_ADD, &[ifx(), bmr_kind(), nest(attr::RULE, &[vec![0xde, 0xad]])]);
    probe.check("RULE holding 2 garbage bytes", &m, s, Errno(libc::ERANGE));
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_ADD, &[ifx(), bmr_kind()]);
    probe.check("RULE_ADD without RULE", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_ADD, &[ifx(), rule.clone()]);
    probe.check("RULE_ADD without RULE_KIND", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_ADD, &[ifx(), nla(attr::RULE_KIND, &[2]), rule.clone()]);
    probe.check("RULE_KIND 2", &m, s, Errno(libc::ERANGE));
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_ADD, &[ifx(), bmr_kind(), rule_nest(attr::BMR, BMR)]);
    probe.check("the rule in BMR instead of RULE", &m, s, Errno(libc::EINVAL));

    // Rule attributes: sizes, missing ones, values.
    let v6 = || nla(rule_attr::IPV6_PREFIX, &v6_prefix("2001:db8:ce::/51"));
    let v4 = || nla(rule_attr::IPV4_PREFIX, &genl::encode_ipv4_prefix(Ipv4Prefix::parse("192.0.2.0/24").unwrap()));
    let ea = || nla(rule_attr::EA_LEN, &[13]);
    // Sizes the policy checks (NLA_POLICY_EXACT_LEN, NLA_FLAG): ERANGE.
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("rule FORWARDING flag with a value", vec![v6(), v4(), ea(), nla(rule_attr::FORWARDING, &[1])]),
        ("rule IPv4 prefix of 4 bytes", vec![v6(), nla(rule_attr::IPV4_PREFIX, &[192, 0, 2, 0]), ea()]),
        ("rule IPv6 prefix of 18 bytes", vec![nla(rule_attr::IPV6_PREFIX, &[0; 18]), v4(), ea()]),
    ];
    for (name, inner) in cases {
        let (m, s) = probe.msg(REQ_ACK, cmd::RULE_ADD, &[ifx(), fmr_kind(), nest(attr::RULE, &inner)]);
        probe.check(name, &m, s, Errno(libc::ERANGE));
    }
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("rule without IPv4 prefix", vec![v6(), ea()]),
        ("rule without IPv6 prefix", vec![v4(), ea()]),
        ("rule without EA-bits length", vec![v6(), v4()]),
        ("rule EA_LEN of 2 bytes", vec![v6(), v4(), nla(rule_attr::EA_LEN, &[13, 0])]),
        ("rule PSID of 1 byte", vec![v6(), v4(), ea(), nla(rule_attr::PSID, &[1])]),
        ("rule PSID of 4 bytes", vec![v6(), v4(), ea(), nla(rule_attr::PSID, &[1, 0, 0, 0])]),
        ("rule IPv4 prefix length 40", vec![v6(), nla(rule_attr::IPV4_PREFIX, &[192, 0, 2, 0, 40]), ea()]),
        ("rule EA-bits length 255", vec![v6(), v4(), nla(rule_attr::EA_LEN, &[255])]),
        ("rule PSID offset 255", vec![v6(), v4(), ea(), nla(rule_attr::PSID_OFFSET, &[255])]),
        ("rule PSID 0xffff with PSID length 16", vec![v6(), v4(), nla(rule_attr::EA_LEN, &[8]), nla(rule_attr::PSID_LEN, &[16]), nla(rule_attr::PSID, &0xffffu16.to_ne_bytes())]),
    ];
    for (name, inner) in cases {
        let (m, s) = probe.msg(REQ_ACK, cmd::RULE_ADD, &[ifx(), fmr_kind(), nest(attr::RULE, &inner)]);
        probe.check(name, &m, s, Errno(libc::EINVAL));
    }
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_DEL, &[ifx(), fmr_kind(), nest(attr::RULE, &[v4()])]);
    probe.check("RULE_DEL without the IPv6 prefix", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::RULE_DEL, &[ifx(), fmr_kind(), nest(attr::RULE, &[nla(rule_attr::IPV6_PREFIX, &[0xff; 17])])]);
    probe.check("RULE_DEL with a malformed IPv6 prefix", &m, s, Errno(libc::EINVAL));

    // CONFIG_SET: incomplete, contradictory, oversize.
    let (m, s) = probe.msg(REQ_ACK, cmd::CONFIG_SET, &[ifx(), nla(attr::ROLE, &[0])]);
    probe.check("CONFIG_SET without MODE", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::CONFIG_SET, &[ifx(), nla(attr::ROLE, &[0]), nla(attr::MODE, &[0])]);
    probe.check("CONFIG_SET incomplete (no end-user prefix)", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::CONFIG_SET, &[
        ifx(),
        nla(attr::ROLE, &[1]),
        nla(attr::MODE, &[0]),
        rule_nest(attr::BMR, BMR),
        rule_nest(attr::FMR, BMR),
        nla(attr::DMR, &v6_prefix("64:ff9b::/96")),
    ]);
    probe.check("CONFIG_SET of a BR with a BMR", &m, s, Errno(libc::EINVAL));
    let br_with = |extra: Vec<u8>| {
        vec![ifx(), nla(attr::ROLE, &[1]), nla(attr::MODE, &[0]), rule_nest(attr::FMR, BMR), nla(attr::DMR, &v6_prefix("64:ff9b::/96")), extra]
    };
    let (m, s) = probe.msg(REQ_ACK, cmd::CONFIG_SET, &br_with(nla(attr::PORT_MAPPING, &[1])));
    probe.check("CONFIG_SET of a BR with port mapping", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::CONFIG_SET, &br_with(nla(attr::PORT_MAPPING, &[2])));
    probe.check("PORT_MAPPING 2", &m, s, Errno(libc::ERANGE));
    let (m, s) = probe.msg(REQ_ACK, cmd::CONFIG_SET, &br_with(nla(attr::PORT_MAPPING, &[1, 0])));
    probe.check("PORT_MAPPING of 2 bytes", &m, s, Errno(libc::EINVAL));
    // FMRs in chunks (FMRS_STAGE): over the limit, a bad chunk, and CONFIG_SET without a
    // staging; each refusal drops what was staged, and the device keeps its table (the
    // scenario checks that).
    let stage = |start: bool, fmrs: &[Vec<u8>]| {
        let mut attrs = vec![ifx()];
        if start {
            attrs.push(nla(attr::FMRS_STAGE_START, &[]));
        }
        attrs.extend_from_slice(fmrs);
        attrs
    };
    let one = rule_nest(attr::FMR, "2001:db8:ff00::/40 10.99.0.0/16 ea-len 16");
    let (m, s) = probe.msg(REQ_ACK, cmd::FMRS_STAGE, &stage(false, std::slice::from_ref(&one)));
    probe.check("FMRS_STAGE without FMRS_STAGE_START", &m, s, Errno(libc::ENOENT));
    let staged = |probe: &mut Probe| {
        let (m, s) = probe.msg(REQ_ACK, cmd::CONFIG_SET, &[ifx(), nla(attr::ROLE, &[1]), nla(attr::MODE, &[0]), nla(attr::DMR, &v6_prefix("64:ff9b::/96")), nla(attr::FMRS_STAGED, &[])]);
        (m, s)
    };
    let (m, s) = staged(probe);
    probe.check("CONFIG_SET with FMRS_STAGED, nothing staged", &m, s, Errno(libc::ENOENT));
    let chunk = vec![one.clone(); 2048];
    let mut all_taken = true;
    for n in 0..genl::MAX_FMRS / chunk.len() {
        let (m, s) = probe.msg(REQ_ACK, cmd::FMRS_STAGE, &stage(n == 0, &chunk));
        if !matches!(probe.socket.ask(&m, s), Ok((a, _)) if a.error == Some(0)) {
            all_taken = false;
        }
    }
    if all_taken {
        println!("PASS FMRS_STAGE takes {} FMRs in chunks of {}", genl::MAX_FMRS, chunk.len());
    } else {
        probe.fail("FMRS_STAGE takes the most FMRs an instance holds", "a chunk was refused");
    }
    let (m, s) = probe.msg(REQ_ACK, cmd::FMRS_STAGE, &stage(false, std::slice::from_ref(&one)));
    probe.check(&format!("FMRS_STAGE of FMR {} (one too many)", genl::MAX_FMRS + 1), &m, s, Errno(libc::ENOSPC));
    let (m, s) = staged(probe);
    probe.check("CONFIG_SET with FMRS_STAGED after the refused chunk (staging dropped)", &m, s, Errno(libc::ENOENT));
    let (m, s) = probe.msg(REQ_ACK, cmd::FMRS_STAGE, &stage(true, &[one.clone(), nest(attr::FMR, &[nla(rule_attr::EA_LEN, &[8])])]));
    probe.check("FMRS_STAGE with a rule that is not one", &m, s, Errno(libc::EINVAL));
    let (m, s) = staged(probe);
    probe.check("CONFIG_SET with FMRS_STAGED after the bad chunk (staging dropped)", &m, s, Errno(libc::ENOENT));
    // Staged FMRs that conflict: refused when the table is built, named by position.
    let (m, s) = probe.msg(REQ_ACK, cmd::FMRS_STAGE, &stage(true, &[one.clone(), one.clone()]));
    probe.check_ok("FMRS_STAGE of two equal FMRs (checked when the table is built)", &m, s, 0);
    let (m, s) = staged(probe);
    probe.check("CONFIG_SET of staged FMRs with one IPv6 prefix twice", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(REQ_ACK, cmd::CONFIG_SET, &[
        ifx(),
        nla(attr::ROLE, &[1]),
        nla(attr::MODE, &[0]),
        nla(attr::FMR, &[1, 2, 3, 4]),
        nla(attr::DMR, &v6_prefix("64:ff9b::/96")),
    ]);
    probe.check("CONFIG_SET with an FMR that is not a nest", &m, s, Errno(libc::EINVAL));

    // Dumps.
    let (m, s) = probe.msg(NLM_F_REQUEST | NLM_F_DUMP, cmd::RULE_GET, &[]);
    probe.check("RULE_GET dump without IFINDEX", &m, s, AnyError);
    let (m, s) = probe.msg(NLM_F_REQUEST | NLM_F_DUMP, cmd::RULE_GET, &[u32_attr(attr::IFINDEX, 1)]);
    probe.check("RULE_GET dump of lo", &m, s, AnyError);
    let (m, s) = probe.msg(NLM_F_REQUEST | NLM_F_DUMP, cmd::RULE_GET, &[nla(attr::IFINDEX, &[1])]);
    probe.check("RULE_GET dump with a 1-byte IFINDEX", &m, s, Errno(libc::EINVAL));
    let (m, s) = probe.msg(NLM_F_REQUEST | NLM_F_DUMP, cmd::DEV_GET, &[nla(attr::MAX + 1, &[0; 4])]);
    probe.check("DEV_GET dump with an unknown attribute", &m, s, Errno(libc::EINVAL));
}

/// FMRs staged in chunks belong to the socket that staged them: another socket's CONFIG_SET
/// can neither take them nor drop them, and they end when their socket closes, so that a
/// socket bound to the same port afterwards finds none (its CONFIG_SET would otherwise install
/// rules it never sent).
fn owners(probe: &mut Probe, index: u32) {
    use Expect::*;
    const PORT_A: u32 = 0x6d6d_0001;
    const PORT_B: u32 = 0x6d6d_0002;
    let ifx = || u32_attr(attr::IFINDEX, index);
    let stage_one = |probe: &mut Probe| {
        let fmr = rule_nest(attr::FMR, "2001:db8:ff00::/40 10.99.0.0/16 ea-len 16");
        probe.msg(REQ_ACK, cmd::FMRS_STAGE, &[ifx(), nla(attr::FMRS_STAGE_START, &[]), fmr])
    };
    let take_staged = |probe: &mut Probe| {
        probe.msg(REQ_ACK, cmd::CONFIG_SET, &[
            ifx(),
            nla(attr::ROLE, &[1]),
            nla(attr::MODE, &[0]),
            nla(attr::DMR, &v6_prefix("64:ff9b::/96")),
            nla(attr::FMRS_STAGED, &[]),
        ])
    };
    let at = |portid: u32| -> Option<Probe> {
        match Socket::open_at(portid) {
            Ok(socket) => Some(Probe { socket, family: probe.family, seq: 1000, failures: 0 }),
            Err(e) => {
                println!("FAIL owners: a socket at port {portid:#x}: {e}");
                None
            }
        }
    };
    let (Some(mut a), Some(mut b)) = (at(PORT_A), at(PORT_B)) else {
        probe.failures += 1;
        return;
    };
    let (m, s) = stage_one(&mut a);
    a.check_ok("socket A stages an FMR", &m, s, 0);
    let (m, s) = take_staged(&mut b);
    b.check("socket B's CONFIG_SET with FMRS_STAGED: B staged nothing", &m, s, Errno(libc::ENOENT));
    let (m, s) = take_staged(&mut a);
    a.check_ok("socket A's CONFIG_SET with FMRS_STAGED after B's: A's FMRs are still there", &m, s, 0);
    let (m, s) = stage_one(&mut a);
    a.check_ok("socket A stages an FMR again", &m, s, 0);
    probe.failures += a.failures + b.failures;
    drop(a);
    let Some(mut again) = at(PORT_A) else {
        probe.failures += 1;
        return;
    };
    let (m, s) = take_staged(&mut again);
    again.check("a new socket at A's port after A closed: A's staging ended with it", &m, s, Errno(libc::ENOENT));
    probe.failures += again.failures;
}

/// kB of vmalloc'ed memory in use (/proc/meminfo's VmallocUsed).
fn vmalloc_used_kb() -> Result<u64, String> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").map_err(|e| format!("/proc/meminfo: {e}"))?;
    meminfo
        .lines()
        .find_map(|line| line.strip_prefix("VmallocUsed:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmallocUsed in /proc/meminfo".to_string())
}

/// `count` FMRs staged on the device (a staging that big lives in vmalloc'ed memory), then the
/// device moved to the namespace `netns` while this socket stays open: no socket there can
/// finish the staging, none here reaches the device, so the move frees it. `contended`: while
/// another socket changes the device's table over and over (each change holds the device's
/// control mutex, then waits for the RTNL, which the move holds), so that the move finds the
/// mutex held: the staging is then freed as that change lets the mutex go.
fn staged_moved(probe: &mut Probe, index: u32, name: &str, netns: &str, count: usize, contended: bool) {
    const PER_MESSAGE: usize = 256;
    let fmr = rule_nest(attr::FMR, "2001:db8:ff00::/40 10.99.0.0/16 ea-len 16");
    let before = match vmalloc_used_kb() {
        Ok(kb) => kb,
        Err(e) => return probe.fail("staged-moved", &e),
    };
    let mut staged = 0;
    while staged < count {
        let chunk = PER_MESSAGE.min(count - staged);
        let mut attrs = vec![u32_attr(attr::IFINDEX, index)];
        if staged == 0 {
            attrs.push(nla(attr::FMRS_STAGE_START, &[]));
        }
        attrs.extend(std::iter::repeat_n(fmr.clone(), chunk));
        let (m, s) = probe.msg(REQ_ACK, cmd::FMRS_STAGE, &attrs);
        match probe.socket.ask(&m, s) {
            Ok((answer, _)) if answer.error == Some(0) => {}
            Ok((answer, _)) => return probe.fail("staged-moved", &format!("staging at {staged}: {}", answer.describe())),
            Err(e) => return probe.fail("staged-moved", &format!("socket: {e}")),
        }
        staged += chunk;
    }
    // (the staging's vector grew by doubling: at least the rules' own size)
    let rules_kb = (count * size_of::<mapcore::Rule>() / 1024) as u64;
    let Ok(with_staging) = vmalloc_used_kb() else { return probe.fail("staged-moved", "VmallocUsed") };
    if with_staging >= before + rules_kb {
        println!("PASS staged-moved: {count} FMRs staged, VmallocUsed {before} -> {with_staging} kB");
    } else {
        return probe.fail("staged-moved", &format!("{count} FMRs staged, VmallocUsed only {before} -> {with_staging} kB"));
    }
    let churn = contended.then(|| churn_until_gone(probe.family, index));
    if let Some((changer, changes)) = &churn {
        // under way before the move (or failed: said below)
        while changes.load(std::sync::atomic::Ordering::Relaxed) < 4 && !changer.is_finished() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    let moved = std::process::Command::new("ip").args(["link", "set", "dev", name, "netns", netns]).status();
    if !matches!(moved, Ok(status) if status.success()) {
        return probe.fail("staged-moved", &format!("ip link set dev {name} netns {netns}: {moved:?}"));
    }
    if let Some((changer, changes)) = churn {
        match changer.join() {
            Ok(Ok(())) => println!(
                "PASS staged-moved: {} table changes before and during the move, the last refused as the device left",
                changes.load(std::sync::atomic::Ordering::Relaxed)
            ),
            Ok(Err(e)) => return probe.fail("staged-moved", &format!("the table changes: {e}")),
            Err(_) => return probe.fail("staged-moved", "the changing thread panicked"),
        }
    }
    let Ok(after) = vmalloc_used_kb() else { return probe.fail("staged-moved", "VmallocUsed") };
    if after + rules_kb <= with_staging {
        println!("PASS staged-moved: the move to {netns} freed the staging (socket still open): VmallocUsed {with_staging} -> {after} kB");
    } else {
        probe.fail("staged-moved", &format!("the move kept the staging: VmallocUsed {with_staging} -> {after} kB"));
    }
}

/// From a socket of its own, an FMR added to and deleted from device `index`'s table back and
/// forth until the device is no longer in this namespace (ENODEV, the end it waits for); the
/// count of changes made so far beside it. (The FMR may be there already, from a churn that
/// the device's leaving cut between its two changes.)
fn churn_until_gone(
    family: u16,
    index: u32,
) -> (std::thread::JoinHandle<Result<(), String>>, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let changes = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&changes);
    let changer = std::thread::spawn(move || -> Result<(), String> {
        let socket = Socket::open().map_err(|e| format!("socket: {e}"))?;
        let mut changer = Probe { socket, family, seq: 7000, failures: 0 };
        loop {
            for command in [cmd::RULE_ADD, cmd::RULE_DEL] {
                let answer = changer.change_fmr(command, index, "2001:db8:fe00::/40 198.19.0.0/16 ea-len 16")?;
                match answer.error {
                    Some(0) => counted.fetch_add(1, Ordering::Relaxed),
                    Some(e) if e == -libc::EEXIST && command == cmd::RULE_ADD => 0,
                    Some(e) if e == -libc::ENODEV => return Ok(()),
                    _ => return Err(format!("command {command}: {}", answer.describe())),
                };
            }
        }
    });
    (changer, changes)
}

/// While one socket changes a big table back and forth (RULE_ADD and RULE_DEL of one FMR: each
/// builds the whole table anew), another asks the generic netlink controller for a family's
/// id over and over, as every generic netlink program (of any family) does first. The
/// controller answers under genetlink's global mutex, which mapmint's handlers must not hold
/// while they build a table: each lookup must take less than half of one build. (With the
/// mutex held, a lookup waits for the rest of the build under way.) With `other`, the index
/// of another mapmint device, a rule is added to and deleted from that one's table in each
/// round too: each instance has its own control mutex, so those must not wait for the builds
/// either. Needs 2 CPUs: on one, a build delays every process by its CPU time anyway.
fn bystander(probe: &mut Probe, index: u32, seconds: u64, other: Option<u32>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    let family = probe.family;
    let stop = Arc::new(AtomicBool::new(false));
    let churning = Arc::clone(&stop);
    let churn = std::thread::spawn(move || -> Result<Vec<Duration>, String> {
        let socket = Socket::open().map_err(|e| format!("socket: {e}"))?;
        let mut changer = Probe { socket, family, seq: 5000, failures: 0 };
        let mut builds = Vec::new();
        while !churning.load(Ordering::Relaxed) {
            for command in [cmd::RULE_ADD, cmd::RULE_DEL] {
                let start = Instant::now();
                // (outside the big tables' 10.0.0.0/8 and fd00::/8)
                let answer = changer.change_fmr(command, index, "2001:db8:ff00::/40 198.18.0.0/16 ea-len 16")?;
                builds.push(start.elapsed());
                if answer.error != Some(0) {
                    return Err(format!("command {command}: {}", answer.describe()));
                }
            }
        }
        Ok(builds)
    });
    // The other device's changes, timed in a thread of their own (so that, were they to wait
    // for the builds, the controller's lookups would not wait with them).
    let other_stop = Arc::new(AtomicBool::new(false));
    let other_changing = Arc::clone(&other_stop);
    let other_changes = other.map(|other| {
        std::thread::spawn(move || -> Result<Vec<Duration>, String> {
            let socket = Socket::open().map_err(|e| format!("socket: {e}"))?;
            let mut changer = Probe { socket, family, seq: 9000, failures: 0 };
            let mut changes = Vec::new();
            while !other_changing.load(Ordering::Relaxed) {
                for command in [cmd::RULE_ADD, cmd::RULE_DEL] {
                    let start = Instant::now();
                    let answer = changer.change_fmr(command, other, "2001:db8:fe00::/40 198.19.0.0/16 ea-len 16")?;
                    changes.push(start.elapsed());
                    if answer.error != Some(0) {
                        return Err(format!("command {command}: {}", answer.describe()));
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(changes)
        })
    });
    let socket = match Socket::open() {
        Ok(socket) => socket,
        Err(e) => return probe.fail("bystander", &format!("socket: {e}")),
    };
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut lookups = Vec::new();
    let mut lookup_error = None;
    while Instant::now() < deadline && lookup_error.is_none() {
        let start = Instant::now();
        match family_id(&socket, "nlctrl") {
            Ok(_) => lookups.push(start.elapsed()),
            Err(e) => lookup_error = Some(e),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Both threads end before any result is judged: the big table's last change is undone.
    other_stop.store(true, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let others = other_changes.map(|changes| changes.join());
    let churned = churn.join();
    let mut others = match others {
        None => Vec::new(),
        Some(Ok(Ok(changes))) => changes,
        Some(Ok(Err(e))) => return probe.fail("bystander", &format!("the other device's changes: {e}")),
        Some(Err(_)) => return probe.fail("bystander", "the other device's thread panicked"),
    };
    let mut builds = match churned {
        Ok(Ok(builds)) => builds,
        Ok(Err(e)) => return probe.fail("bystander", &format!("the table changes: {e}")),
        Err(_) => return probe.fail("bystander", "the table changes' thread panicked"),
    };
    if let Some(e) = lookup_error {
        return probe.fail("bystander", &format!("the controller: {e}"));
    }
    builds.sort();
    lookups.sort();
    others.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let (Some(build), Some(slowest)) = (builds.get(builds.len() / 2), lookups.last()) else {
        return probe.fail("bystander", "no table change or no lookup finished");
    };
    let figures = format!(
        "{} lookups, slowest {:.1} ms, median {:.1} ms; {} table builds, median {:.1} ms",
        lookups.len(),
        ms(slowest),
        ms(&lookups[lookups.len() / 2]),
        builds.len(),
        ms(build)
    );
    println!("bystander: {figures}");
    let name = "bystander: another program's family lookup took under half a table build while tables were built";
    if builds.len() < 6 || lookups.len() < 20 {
        probe.fail(name, &format!("too few to tell: {figures}"));
    } else if slowest.as_secs_f64() * 2.0 >= build.as_secs_f64() {
        probe.fail(name, &figures);
    } else {
        println!("PASS {name}");
    }
    if other.is_none() {
        return;
    }
    let name = "bystander: another mapmint device's rule changes took under half a table build while tables were built";
    let Some(slowest) = others.last() else {
        return probe.fail(name, "no change of the other device finished");
    };
    let figures = format!(
        "{} changes, slowest {:.1} ms, median {:.1} ms; table builds, median {:.1} ms",
        others.len(),
        ms(slowest),
        ms(&others[others.len() / 2]),
        ms(build)
    );
    println!("bystander, other device: {figures}");
    if others.len() < 20 {
        probe.fail(name, &format!("too few to tell: {figures}"));
    } else if slowest.as_secs_f64() * 2.0 >= build.as_secs_f64() {
        probe.fail(name, &figures);
    } else {
        println!("PASS {name}");
    }
}

/// A RULE_GET dump spanning several messages, during which the device is deleted and a new
/// one takes its name and index (configured by `mapminctl apply --config conf`): the messages
/// after the change must say that the dump was interrupted (NLM_F_DUMP_INTR), for the
/// requester to ask again, never silently continue with the other device's table.
fn dump_replaced(probe: &mut Probe, name: &str, index: u32, conf: &str) {
    const NLM_F_DUMP_INTR: u16 = 0x10;
    let run = |args: &[&str]| -> Result<(), String> {
        let out = std::process::Command::new(args[0]).args(&args[1..]).output().map_err(|e| format!("{}: {e}", args[0]))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("{}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
        }
    };
    let (m, _) = probe.msg(NLM_F_REQUEST | NLM_F_DUMP, cmd::RULE_GET, &[u32_attr(attr::IFINDEX, index)]);
    if let Err(e) = probe.socket.send(&m) {
        probe.fail("dump across a replaced device", &format!("send: {e}"));
        return;
    }
    let (mut datagrams, mut rules, mut interrupted, mut done, mut replaced) = (0, 0, false, None, false);
    while done.is_none() {
        let datagram = match probe.socket.recv() {
            Ok(Some(d)) => d,
            Ok(None) => break,
            Err(e) => {
                probe.fail("dump across a replaced device", &format!("recv: {e}"));
                return;
            }
        };
        datagrams += 1;
        for (kind, flags, _, msg) in messages(&datagram) {
            interrupted |= flags & NLM_F_DUMP_INTR != 0;
            match kind {
                NLMSG_DONE | NLMSG_ERROR => done = Some(msg.get(16..20).map_or(0, |b| i32::from_ne_bytes(b.try_into().unwrap()))),
                _ => rules += 1,
            }
        }
        // After the first part (the kernel has made the second already): the device changes.
        if !replaced {
            replaced = true;
            let index_text = index.to_string();
            let replace = run(&["ip", "link", "del", name])
                .and_then(|()| run(&["ip", "link", "add", "name", name, "index", &index_text, "type", "mapmint"]))
                .and_then(|()| run(&["mapminctl", "apply", "--config", conf, "dev", name]));
            if let Err(e) = replace {
                probe.fail("dump across a replaced device", &format!("replacing {name}: {e}"));
                return;
            }
        }
    }
    match done {
        Some(0) if datagrams >= 3 && interrupted => println!(
            "PASS a RULE_GET dump across a replaced device says it was interrupted: {rules} rules in {datagrams} messages, NLM_F_DUMP_INTR set"
        ),
        Some(0) if datagrams < 3 => {
            probe.fail("dump across a replaced device", &format!("the table took {datagrams} messages; the check needs 3 or more"))
        }
        Some(0) => probe.fail("dump across a replaced device", &format!("{rules} rules in {datagrams} messages, none marked NLM_F_DUMP_INTR")),
        Some(e) => probe.fail("dump across a replaced device", &format!("the dump ended with errno {}", errno_name(-e))),
        None => probe.fail("dump across a replaced device", "no NLMSG_DONE"),
    }
}

/// A tiny PRNG (xorshift64*), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Random mutations of valid requests: every answer must be an error, an ack or a reply,
/// and the family must still answer afterwards.
fn fuzz(probe: &mut Probe, index: u32, rounds: usize, seed: u64) {
    let ifx = u32_attr(attr::IFINDEX, index);
    let seeds: Vec<(u16, u8, Vec<Vec<u8>>)> = vec![
        (REQ_ACK, cmd::RULE_ADD, vec![ifx.clone(), nla(attr::RULE_KIND, &[1]), rule_nest(attr::RULE, "2001:db8:12:3400::/56 192.0.2.18/32 ea-len 0 psid-len 8 psid 52 forwarding")]),
        (REQ_ACK, cmd::RULE_ADD, vec![ifx.clone(), nla(attr::RULE_KIND, &[0]), rule_nest(attr::RULE, BMR)]),
        (REQ_ACK, cmd::RULE_DEL, vec![ifx.clone(), nla(attr::RULE_KIND, &[1]), nest(attr::RULE, &[nla(rule_attr::IPV6_PREFIX, &v6_prefix("2001:db8:12:3400::/56"))])]),
        (REQ_ACK, cmd::CONFIG_SET, vec![
            ifx.clone(),
            nla(attr::ROLE, &[0]),
            nla(attr::MODE, &[0]),
            nla(attr::END_USER_PREFIX, &v6_prefix("2001:db8:ce:11b::/64")),
            rule_nest(attr::BMR, BMR),
            rule_nest(attr::FMR, "2001:db8::/40 198.51.100.0/24 ea-len 16"),
            nla(attr::DMR, &v6_prefix("64:ff9b::/96")),
            u32_attr(attr::MTU, 1400),
        ]),
        (REQ_ACK, cmd::DEV_SET, vec![ifx.clone(), nla(attr::ROLE, &[1]), nla(attr::CLEAR, &[genl::CLEAR_ALL]), u32_attr(attr::MTU, 1300)]),
        (REQ_ACK, cmd::DEV_GET, vec![ifx.clone()]),
        (NLM_F_REQUEST | NLM_F_DUMP, cmd::RULE_GET, vec![ifx.clone()]),
        (NLM_F_REQUEST | NLM_F_DUMP, cmd::DEV_GET, vec![]),
        (REQ_ACK, cmd::RULE_FLUSH, vec![ifx.clone()]),
    ];
    let mut rng = Rng(seed | 1);
    let mut tally = Tally::default();
    for round in 0..rounds {
        // Every third request is random from the start: any command, any attribute tree.
        if round % 3 == 2 {
            let flags = [REQ_ACK, NLM_F_REQUEST | NLM_F_DUMP, REQ_ACK | NLM_F_DUMP][rng.below(3)];
            let command = rng.below(usize::from(cmd::MAX) + 3) as u8;
            let attrs = random_attrs(&mut rng, index, 0);
            let (m, s) = probe.msg(flags, command, &attrs);
            match probe.socket.ask(&m, s) {
                Ok((a, _)) => tally.count(&a, &m),
                Err(e) => {
                    probe.fail("fuzz", &format!("socket: {e}"));
                    return;
                }
            }
            continue;
        }
        let (flags, command, attrs) = &seeds[rng.below(seeds.len())];
        let (mut m, s) = probe.msg(*flags, *command, attrs);
        let mutations = 1 + rng.below(4);
        for _ in 0..mutations {
            if m.len() <= 16 {
                m.push(rng.next() as u8);
                continue;
            }
            match rng.below(6) {
                // Flip a byte past the netlink header (keep nlmsg_len and seq mostly sane).
                0 | 1 => {
                    let at = 16 + rng.below(m.len() - 16);
                    m[at] ^= 1 << rng.below(8);
                }
                2 => {
                    let at = 16 + rng.below(m.len() - 16);
                    m[at] = rng.next() as u8;
                }
                // Truncate, keeping nlmsg_len true to the datagram.
                3 => {
                    let keep = 16 + rng.below(m.len() - 15);
                    m.truncate(keep);
                }
                // Append garbage.
                4 => {
                    for _ in 0..rng.below(9) {
                        m.push(rng.next() as u8);
                    }
                }
                // Duplicate an attribute-sized chunk.
                _ => {
                    let at = 20 + rng.below(m.len().saturating_sub(20).max(1));
                    let end = (at + 4 + rng.below(24)).min(m.len());
                    let chunk = m.get(at..end).unwrap_or(&[]).to_vec();
                    m.extend_from_slice(&chunk);
                }
            }
        }
        let len = m.len() as u32;
        m[0..4].copy_from_slice(&len.to_ne_bytes());
        match probe.socket.ask(&m, s) {
            Ok((a, _)) => tally.count(&a, &m),
            Err(e) => {
                probe.fail("fuzz", &format!("socket: {e}"));
                return;
            }
        }
    }
    let Tally { errors, acks, replies, silent, refusals, mute, truncated_header } = tally;
    println!(
        "PASS fuzz: {rounds} mutated and random requests (seed {seed}): {errors} refused ({truncated_header} of them cut inside the genetlink header), {acks} acknowledged, {replies} answered, {silent} dropped"
    );
    // A refusal says why in extack text, or by an errno that says it on its own (a request
    // cut inside the genetlink header is counted as explained: the core refuses it silently).
    let mut unexplained = Vec::new();
    for (errno, (count, with_text)) in &refusals {
        println!("INFO fuzz: {} x{count}, {with_text} with extack text or cut in the header", errno_name(*errno));
        if with_text < count && !SELF_EXPLAINING.contains(errno) {
            unexplained.push(format!("{} ({} of {count})", errno_name(*errno), count - with_text));
        }
    }
    for example in &mute {
        println!("INFO fuzz: refused without a word: {example}");
    }
    if unexplained.is_empty() {
        println!("PASS fuzz: every refusal says why (extack text, or an errno that says it)");
    } else {
        probe.fail("fuzz: every refusal says why", &format!("refusals without extack text: {}", unexplained.join(", ")));
    }
    let (m, s) = probe.msg(REQ_ACK, cmd::DEV_GET, &[ifx]);
    probe.check_ok("fuzz: the family still answers DEV_GET", &m, s, 1);
}

/// What the fuzzer's requests got.
#[derive(Default)]
struct Tally {
    errors: usize,
    acks: usize,
    replies: usize,
    silent: usize,
    /// errno -> (refusals, refusals with extack text)
    refusals: std::collections::BTreeMap<i32, (usize, usize)>,
    /// A few requests refused without a word, in hex, to find where.
    mute: Vec<String>,
    /// Requests cut inside the genetlink header.
    truncated_header: usize,
}

/// Errnos that say enough on their own: no such command (from the genetlink core), not
/// allowed, no such device.
const SELF_EXPLAINING: [i32; 3] = [libc::EOPNOTSUPP, libc::EPERM, libc::ENODEV];

impl Tally {
    fn count(&mut self, a: &Answer, request: &[u8]) {
        match a.error {
            _ if a.silent => self.silent += 1,
            Some(e) if e < 0 => {
                self.errors += 1;
                let said = a.extack.as_deref().is_some_and(|t| !t.is_empty());
                let entry = self.refusals.entry(-e).or_default();
                entry.0 += 1;
                entry.1 += usize::from(said);
                // Shorter than netlink's and genetlink's headers: the genetlink core refuses
                // it (EINVAL, no text) before any family sees it.
                if request.len() < 20 {
                    self.truncated_header += 1;
                    entry.1 += usize::from(!said);
                }
                if !said && request.len() >= 20 && !SELF_EXPLAINING.contains(&-e) && self.mute.len() < 5 {
                    let hex: String = request.iter().map(|b| format!("{b:02x}")).collect();
                    self.mute.push(format!("{}: {hex}", errno_name(-e)));
                }
            }
            _ if a.replies > 0 => self.replies += 1,
            _ => self.acks += 1,
        }
    }
}

/// Random attributes: any type up to a few past the family's maximum, nested or not, of
/// every troublesome length; IFINDEX often true, so that requests reach the handlers.
fn random_attrs(rng: &mut Rng, index: u32, depth: usize) -> Vec<Vec<u8>> {
    let mut attrs = Vec::new();
    if depth == 0 && rng.below(4) != 0 {
        attrs.push(u32_attr(attr::IFINDEX, index));
    }
    for _ in 0..rng.below(6) {
        let kind = rng.below(usize::from(attr::MAX) + 4) as u16;
        if depth < 3 && rng.below(3) == 0 {
            attrs.push(nest(kind, &random_attrs(rng, index, depth + 1)));
            continue;
        }
        let len = [0, 1, 2, 3, 4, 5, 8, 16, 17, 20, 64][rng.below(11)];
        let value: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        attrs.push(nla(kind, &value));
    }
    attrs
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> ! {
        eprintln!("usage: nlprobe malformed IFNAME | nlprobe fuzz IFNAME [ROUNDS] [SEED] | nlprobe owners IFNAME | nlprobe bystander IFNAME SECONDS [OTHER] | nlprobe staged-moved IFNAME NETNS COUNT [contended] | nlprobe dump-replaced IFNAME CONF");
        std::process::exit(2)
    };
    let (Some(mode), Some(name)) = (args.get(1), args.get(2)) else { usage() };
    let index = ifindex(name).unwrap_or_else(|e| {
        println!("FAIL nlprobe: {e}");
        std::process::exit(1)
    });
    let socket = Socket::open().unwrap_or_else(|e| {
        println!("FAIL nlprobe: socket: {e}");
        std::process::exit(1)
    });
    let family = family_id(&socket, FAMILY_NAME).unwrap_or_else(|e| {
        println!("FAIL nlprobe: {e}");
        std::process::exit(1)
    });
    let mut probe = Probe { socket, family, seq: 100, failures: 0 };
    match mode.as_str() {
        "malformed" => malformed(&mut probe, index),
        "fuzz" => {
            let rounds = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(3000);
            let seed = args.get(4).and_then(|n| n.parse().ok()).unwrap_or(0x006d_6170_6d69_6e74);
            fuzz(&mut probe, index, rounds, seed);
        }
        "owners" => owners(&mut probe, index),
        "bystander" => match args.get(3).and_then(|n| n.parse().ok()) {
            Some(seconds) => {
                let other = args.get(4).map(|other| {
                    ifindex(other).unwrap_or_else(|e| {
                        println!("FAIL nlprobe: {e}");
                        std::process::exit(1)
                    })
                });
                bystander(&mut probe, index, seconds, other)
            }
            None => usage(),
        },
        "staged-moved" => match (args.get(3), args.get(4).and_then(|n| n.parse().ok()), args.get(5).map(String::as_str)) {
            (Some(netns), Some(count), None) => staged_moved(&mut probe, index, name, netns, count, false),
            (Some(netns), Some(count), Some("contended")) => staged_moved(&mut probe, index, name, netns, count, true),
            _ => usage(),
        },
        "dump-replaced" => match args.get(3) {
            Some(conf) => dump_replaced(&mut probe, name, index, conf),
            None => usage(),
        },
        _ => usage(),
    }
    std::process::exit(i32::from(probe.failures > 0));
}
