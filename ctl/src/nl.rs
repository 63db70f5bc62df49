//! The netlink side of mapminctl: the generic netlink family "mapmint" (commands and
//! attribute numbers from `mapcore::genl`) and rtnetlink for creating and deleting
//! instances, both through neli's sockets; requests to "mapmint" are encoded here (a table's
//! worth of rules at a time). Refusals carry the kernel's extack message (NETLINK_EXT_ACK is
//! requested on every socket).

use std::cell::Cell;
use std::ffi::CString;
use std::fmt;

use mapcore::genl::{self, FAMILY_NAME, FAMILY_VERSION};
use neli::consts::genl::{CtrlAttr, CtrlCmd};
use neli::consts::nl::{GenlId, NlType, NlmF, Nlmsg, NlmsgerrAttr};
use neli::consts::rtnl::{Ifla, IflaInfo, RtAddrFamily, Rtm};
use neli::consts::socket::NlFamily;
use neli::genl::{AttrTypeBuilder, Genlmsghdr, GenlmsghdrBuilder, NlattrBuilder, NoUserHeader};
use neli::nl::{NlPayload, Nlmsghdr, NlmsghdrBuilder};
use neli::rtnl::{IfinfomsgBuilder, RtattrBuilder};
use neli::socket::synchronous::NlSocketHandle;
use neli::types::{Buffer, GenlBuffer, RtBuffer};
use neli::utils::Groups;
use neli::{FromBytesWithInput, Size, ToBytes};

/// A refused or failed netlink operation: the errno (positive) and the kernel's extack
/// message, if it sent one; or a failure without errno (the message says what).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NlError {
    pub errno: Option<i32>,
    pub message: Option<String>,
}

impl NlError {
    fn errno(errno: i32, message: Option<String>) -> Self {
        NlError { errno: Some(errno), message }
    }

    pub fn other(message: impl Into<String>) -> Self {
        NlError { errno: None, message: Some(message.into()) }
    }
}

impl fmt::Display for NlError {
    /// `MESSAGE (ENAME)`: the extack text, or the errno's description without one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.errno, &self.message) {
            (Some(errno), Some(message)) => write!(f, "{message} ({})", errno_name(errno)),
            (Some(errno), None) => write!(f, "{} ({})", strerror(errno), errno_name(errno)),
            (None, Some(message)) => f.write_str(message),
            (None, None) => f.write_str("netlink failure"),
        }
    }
}

/// The symbolic name of an errno, as `errno(1)` prints it.
pub fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOSPC => "ENOSPC",
        libc::ERANGE => "ERANGE",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::ENOBUFS => "ENOBUFS",
        _ => return format!("errno {errno}"),
    };
    name.to_string()
}

/// The C library's description of an errno, without Rust's " (os error N)".
pub fn strerror(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// One attribute of a request: a value, or attributes nested inside one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attr {
    Value(u16, Vec<u8>),
    Nested(u16, Vec<(u16, Vec<u8>)>),
    /// Whole attributes encoded already ([`put_attr`], [`put_nested`]): thousands of rules in
    /// one message, where an attribute each, or neli's builders, took most of `apply`'s time.
    Encoded(Vec<u8>),
}

/// Appends one attribute to a nested attribute's inside: a `struct nlattr` header, the value,
/// padding to 4 bytes.
pub fn put_attr(inside: &mut Vec<u8>, kind: u16, value: &[u8]) {
    inside.extend_from_slice(&((genl::NLA_HDRLEN + value.len()) as u16).to_ne_bytes());
    inside.extend_from_slice(&kind.to_ne_bytes());
    inside.extend_from_slice(value);
    inside.resize(inside.len().next_multiple_of(4), 0);
}

/// Appends a nested attribute to `out`: its header, what `fill` puts inside, its length.
pub fn put_nested(out: &mut Vec<u8>, kind: u16, fill: impl FnOnce(&mut Vec<u8>)) {
    let header = out.len();
    put_attr(out, kind | NLA_F_NESTED, &[]);
    fill(out);
    let len = u16::try_from(out.len() - header).unwrap_or(u16::MAX);
    out[header..header + 2].copy_from_slice(&len.to_ne_bytes());
}

/// The attributes of one received message: (type without flag bits, value).
pub type Attrs = Vec<(u16, Vec<u8>)>;

/// The value of the first attribute `kind` in `attrs`.
pub fn find(attrs: &[(u16, Vec<u8>)], kind: u16) -> Option<&[u8]> {
    attrs.iter().find(|(k, _)| *k == kind).map(|(_, v)| v.as_slice())
}

/// The attributes packed inside a nested attribute's value (bounds-checked by the core's walker).
pub fn nested(value: &[u8]) -> Attrs {
    genl::attributes(value).map(|(k, v)| (k, v.to_vec())).collect()
}

/// The kernel's refusal in an error message, with its extack text.
fn from_nlmsgerr<M>(err: &neli::err::Nlmsgerr<M>) -> NlError {
    let errno = -*err.error();
    let message = err
        .ext_ack()
        .iter()
        .find(|a| u16::from(a.nla_type().nla_type()) == u16::from(NlmsgerrAttr::Msg))
        .map(|a| {
            let bytes = a.nla_payload().as_ref();
            let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
            String::from_utf8_lossy(&bytes[..end]).trim().to_string()
        })
        .filter(|m| !m.is_empty());
    NlError::errno(errno, message)
}

fn socket_error(e: impl fmt::Display) -> NlError {
    NlError::other(format!("netlink socket: {e}"))
}

/// A netlink socket with extended acks on. neli's socket, not its router: the router's
/// conversion of error messages drops their extack attributes (neli 0.7.5).
struct Socket {
    handle: NlSocketHandle,
    seq: Cell<u32>,
}

impl Socket {
    fn open(family: NlFamily) -> Result<Self, NlError> {
        let handle = NlSocketHandle::connect(family, None, Groups::empty()).map_err(socket_error)?;
        handle.enable_ext_ack(true).map_err(socket_error)?;
        Ok(Socket { handle, seq: Cell::new(1) })
    }

    /// Sends one request and collects the payloads of its answers, until the kernel's
    /// acknowledgement, error, or the end of a dump. Refusals carry the extack message.
    fn transact<T, P>(&self, nl_type: T, flags: NlmF, payload: P) -> Result<Vec<P>, NlError>
    where
        T: NlType + fmt::Debug,
        P: Size + ToBytes + FromBytesWithInput<Input = usize> + fmt::Debug + Clone,
    {
        self.transact_as(nl_type, flags, payload)
    }

    /// [`Socket::transact`] with a request of one type (`Q`) and answers of another (`P`).
    fn transact_as<T, Q, P>(&self, nl_type: T, flags: NlmF, payload: Q) -> Result<Vec<P>, NlError>
    where
        T: NlType + fmt::Debug,
        Q: Size + ToBytes + fmt::Debug,
        P: Size + ToBytes + FromBytesWithInput<Input = usize> + fmt::Debug + Clone,
    {
        let seq = self.seq.get();
        self.seq.set(seq.wrapping_add(1));
        let request = NlmsghdrBuilder::default()
            .nl_type(nl_type)
            .nl_flags(flags | NlmF::REQUEST)
            .nl_seq(seq)
            .nl_pid(0)
            .nl_payload(NlPayload::Payload(payload))
            .build()
            .map_err(building)?;
        self.handle.send(&request).map_err(socket_error)?;
        let mut out = Vec::new();
        // A dump whose source changed between two of its messages is marked (read to its end
        // all the same: the socket takes one dump at a time).
        let mut interrupted = false;
        let end = |out, interrupted| match interrupted {
            false => Ok(out),
            true => Err(NlError::errno(libc::EINTR, Some("the table changed during the dump".into()))),
        };
        loop {
            let (messages, _) = self.handle.recv::<T, P>().map_err(socket_error)?;
            for message in messages {
                let message: Nlmsghdr<T, P> = message.map_err(socket_error)?;
                if *message.nl_seq() != seq {
                    continue;
                }
                interrupted |= message.nl_flags().contains(NlmF::DUMP_INTR);
                let done = *message.nl_type() == T::from(u16::from(Nlmsg::Done));
                match message.nl_payload() {
                    NlPayload::Err(e) => return Err(from_nlmsgerr(e)),
                    NlPayload::DumpExtAck(e) if *e.error() != 0 => return Err(from_nlmsgerr(e)),
                    NlPayload::Ack(_) | NlPayload::DumpExtAck(_) => return end(out, interrupted),
                    NlPayload::Payload(_) if done => return end(out, interrupted),
                    NlPayload::Empty => return end(out, interrupted),
                    NlPayload::Payload(_) => {}
                }
                if let Some(payload) = message.get_payload() {
                    out.push(payload.clone());
                }
                if !message.nl_flags().contains(NlmF::MULTI) && !flags.contains(NlmF::ACK) {
                    return end(out, interrupted);
                }
            }
        }
    }
}

/// A connection to the generic netlink family "mapmint".
pub struct Genl {
    socket: Socket,
    family: u16,
}

type GenlMsg = Genlmsghdr<u8, u16, NoUserHeader>;

impl Genl {
    /// Connects and resolves the family; fails with a hint when the module is not loaded.
    pub fn connect() -> Result<Self, NlError> {
        let socket = Socket::open(NlFamily::Generic)?;
        let name = NlattrBuilder::default()
            .nla_type(AttrTypeBuilder::default().nla_type(CtrlAttr::FamilyName).build().map_err(building)?)
            .nla_payload(FAMILY_NAME)
            .build()
            .map_err(building)?;
        let request = GenlmsghdrBuilder::<CtrlCmd, CtrlAttr, NoUserHeader>::default()
            .cmd(CtrlCmd::Getfamily)
            .version(2)
            .attrs(std::iter::once(name).collect::<GenlBuffer<_, _>>())
            .build()
            .map_err(building)?;
        let replies = match socket.transact(GenlId::Ctrl, NlmF::ACK, request) {
            Ok(replies) => replies,
            Err(e) if e.errno == Some(libc::ENOENT) => {
                return Err(NlError::other(format!(
                    "the generic netlink family '{FAMILY_NAME}' is not registered (is the mapmint module loaded?)"
                )))
            }
            Err(e) => return Err(e),
        };
        let family = replies
            .iter()
            .find_map(|reply| reply.attrs().get_attr_handle().get_attr_payload_as::<u16>(CtrlAttr::FamilyId).ok())
            .ok_or_else(|| NlError::other(format!("the kernel did not say the id of family '{FAMILY_NAME}'")))?;
        Ok(Genl { socket, family })
    }

    fn transact(&self, cmd: u8, flags: NlmF, attrs: &[Attr]) -> Result<Vec<Attrs>, NlError> {
        let replies: Vec<GenlMsg> = self.socket.transact_as(self.family, flags, Buffer::from(genl_request(cmd, attrs)))?;
        Ok(replies
            .iter()
            .map(|msg| {
                msg.attrs()
                    .iter()
                    .map(|a| (*a.nla_type().nla_type() & genl::NLA_TYPE_MASK, a.nla_payload().as_ref().to_vec()))
                    .collect()
            })
            .collect())
    }

    /// A change: sends the request and waits for the kernel's acknowledgement.
    pub fn change(&self, cmd: u8, attrs: &[Attr]) -> Result<(), NlError> {
        self.transact(cmd, NlmF::ACK, attrs).map(|_| ())
    }

    /// A `do` request with its replies (if any) and acknowledgement.
    pub fn get(&self, cmd: u8, attrs: &[Attr]) -> Result<Vec<Attrs>, NlError> {
        self.transact(cmd, NlmF::ACK, attrs)
    }

    /// A dump request: every reply message, until the kernel's DONE. A dump the kernel
    /// marks interrupted (the table changed between two of its messages, which could then
    /// show some rules twice and others not at all) is asked for again.
    pub fn dump(&self, cmd: u8, attrs: &[Attr]) -> Result<Vec<Attrs>, NlError> {
        const TRIES: usize = 10;
        let mut result = self.transact(cmd, NlmF::DUMP, attrs);
        for _ in 1..TRIES {
            match result {
                Err(NlError { errno: Some(libc::EINTR), .. }) => result = self.transact(cmd, NlmF::DUMP, attrs),
                _ => break,
            }
        }
        result
    }
}

/// The flag of a nested attribute's type (`NLA_F_NESTED`), which strict validation requires.
const NLA_F_NESTED: u16 = 1 << 15;
/// The size of the generic netlink header (`struct genlmsghdr`).
const GENL_HDRLEN: usize = 4;

/// A generic netlink request's payload: the genetlink header, then `attrs`, encoded here
/// rather than through neli's attribute builders, which copied every attribute into a
/// buffer of its own: a quarter of the time `apply` of 65,536 FMRs took in the test guest.
fn genl_request(cmd: u8, attrs: &[Attr]) -> Vec<u8> {
    let mut out = Vec::with_capacity(GENL_HDRLEN + attrs_bytes(attrs));
    out.extend_from_slice(&[cmd, FAMILY_VERSION, 0, 0]);
    for attr in attrs {
        match attr {
            Attr::Value(kind, value) => put_attr(&mut out, *kind, value),
            Attr::Encoded(encoded) => out.extend_from_slice(encoded),
            Attr::Nested(kind, inner) => put_nested(&mut out, *kind, |out| {
                for (k, v) in inner {
                    put_attr(out, *k, v);
                }
            }),
        }
    }
    out
}

/// How many bytes `attrs` take in a request, padding included.
pub fn attrs_bytes(attrs: &[Attr]) -> usize {
    let padded = |len: usize| (genl::NLA_HDRLEN + len).next_multiple_of(4);
    attrs
        .iter()
        .map(|attr| match attr {
            Attr::Value(_, value) => padded(value.len()),
            Attr::Encoded(encoded) => encoded.len(),
            Attr::Nested(_, inner) => padded(inner.iter().map(|(_, v)| padded(v.len())).sum()),
        })
        .sum()
}

/// The interface index of `name` in the caller's network namespace.
pub fn ifindex(name: &str) -> Result<u32, NlError> {
    let no_such = || NlError::errno(libc::ENODEV, Some(format!("no interface named '{name}'")));
    let c_name = CString::new(name).map_err(|_| no_such())?;
    // SAFETY: `c_name` is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    if index == 0 {
        return Err(no_such());
    }
    Ok(index)
}

fn building(e: impl fmt::Display) -> NlError {
    NlError::other(format!("building the request: {e}"))
}

/// Creates a mapmint instance `name` (RTM_NEWLINK with IFLA_INFO_KIND "mapmint"), as
/// `ip link add NAME type mapmint` does.
pub fn link_add(name: &str) -> Result<(), NlError> {
    let socket = Socket::open(NlFamily::Route)?;
    let mut info = RtBuffer::<IflaInfo, Buffer>::new();
    info.push(RtattrBuilder::default().rta_type(IflaInfo::Kind).rta_payload("mapmint\0").build().map_err(building)?);
    let mut attrs = RtBuffer::<Ifla, Buffer>::new();
    attrs.push(RtattrBuilder::default().rta_type(Ifla::Ifname).rta_payload(format!("{name}\0")).build().map_err(building)?);
    attrs.push(RtattrBuilder::default().rta_type(Ifla::Linkinfo).rta_payload(info).build().map_err(building)?);
    let msg = IfinfomsgBuilder::default().ifi_family(RtAddrFamily::Unspecified).rtattrs(attrs).build().map_err(building)?;
    socket.transact(Rtm::Newlink, NlmF::ACK | NlmF::CREATE | NlmF::EXCL, msg).map(|_| ())
}

/// Deletes the interface with index `index` (RTM_DELLINK).
pub fn link_del(index: u32) -> Result<(), NlError> {
    let socket = Socket::open(NlFamily::Route)?;
    let index = i32::try_from(index).map_err(|_| NlError::errno(libc::ENODEV, None))?;
    let msg = IfinfomsgBuilder::default()
        .ifi_family(RtAddrFamily::Unspecified)
        .ifi_index(index)
        .build()
        .map_err(building)?;
    socket.transact(Rtm::Dellink, NlmF::ACK, msg).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_like_the_issue_asks() {
        let e = NlError::errno(libc::EINVAL, Some("EA-bits length 99 is longer than 48".into()));
        assert_eq!(e.to_string(), "EA-bits length 99 is longer than 48 (EINVAL)");
        let e = NlError::errno(libc::EPERM, None);
        assert_eq!(e.to_string(), "Operation not permitted (EPERM)");
        assert_eq!(errno_name(9999), "errno 9999");
    }

    /// The attributes of a request, walked back with the flags of their types.
    fn walk(payload: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        let mut rest = payload;
        while rest.len() >= 4 {
            let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
            out.push((u16::from_ne_bytes([rest[2], rest[3]]), rest[4..len].to_vec()));
            rest = &rest[len.next_multiple_of(4).min(rest.len())..];
        }
        out
    }

    #[test]
    fn requests_carry_the_header_and_flag_nested_attributes() {
        let attrs = [
            Attr::Value(1, vec![1, 0, 0, 0]),
            Attr::Nested(12, vec![(3, vec![13]), (7, vec![])]),
            Attr::Value(2, vec![5, 6, 7]),
        ];
        let request = genl_request(9, &attrs);
        assert_eq!(request[..4], [9, FAMILY_VERSION, 0, 0]);
        assert_eq!(request.len(), GENL_HDRLEN + attrs_bytes(&attrs));
        assert_eq!(request.len() % 4, 0);
        let walked = walk(&request[4..]);
        assert_eq!(walked.len(), 3);
        assert_eq!(walked[0], (1, vec![1, 0, 0, 0]));
        assert_eq!(walked[1].0, 12 | NLA_F_NESTED);
        assert_eq!(nested(&walked[1].1), vec![(3, vec![13]), (7, vec![])]);
        assert_eq!(walked[2], (2, vec![5, 6, 7]));
    }

    #[test]
    fn encoded_attributes_are_sent_as_they_are() {
        let inner = vec![(3, vec![13]), (7, vec![]), (9, vec![1, 2, 3, 4, 5])];
        let mut encoded = Vec::new();
        put_attr(&mut encoded, 1, &[1, 0, 0, 0]);
        put_nested(&mut encoded, 12, |out| {
            for (k, v) in &inner {
                put_attr(out, *k, v);
            }
        });
        let encoded = [Attr::Encoded(encoded)];
        let built = [Attr::Value(1, vec![1, 0, 0, 0]), Attr::Nested(12, inner)];
        assert_eq!(genl_request(1, &encoded), genl_request(1, &built));
        assert_eq!(attrs_bytes(&encoded), attrs_bytes(&built));
    }
}
