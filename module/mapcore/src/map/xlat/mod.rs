//! The per-packet engine: RFC 7915 IPv4/IPv6 header translation (MAP-T, RFC 7599) and
//! RFC 7597 MAP-E encapsulation and decapsulation, in place on a caller's buffer.
//!
//! # Buffer contract
//! Every function takes `buf: &mut [u8]` and the packet's position `buf[start..start + len]`,
//! and returns where the result lies ([`Translated`]). The bytes before `start` are headroom:
//! IPv4 -> IPv6 grows the headers (20 bytes, 28 with a Fragment header, 40 for an ICMP error
//! whose embedded packet grows too, 40 for MAP-E) and writes them *in front of* the packet, so
//! the payload never moves; IPv6 -> IPv4 shrinks them and the result starts later. The kernel
//! calls these on `skb->data` with `skb_headroom` bytes before it, then `skb_push`/`skb_pull`s
//! by the difference of the starts and trims to the returned length.
//!
//! Work is bounded by the packet (at most one pass over it for a checksum, at most
//! [`MAX_EXTENSION_HEADERS`] IPv6 extension headers). Nothing allocates, nothing panics:
//! all access is bounds-checked (`get`), arithmetic is checked or provably bounded.
//!
//! **On `Err`, the buffer is unchanged**: every check, including the [`AddressMap`] calls, runs
//! before the first write, so the caller can still answer an ICMP error about the original
//! packet ([`Verdict::Reply`]).
//!
//! # Address selection
//! The engine does not choose addresses: it asks an [`AddressMap`] (the MAP rules, RFC 6052, a
//! test double...) for every header it writes, giving it the addresses and the transport
//! identity as a [`Flow4`] / [`Flow6`].
//!
//! # TTL / hop limit
//! See [`TtlMode`]: the device layer, which sees each packet forwarded twice by the kernel
//! (once as IPv4, once as IPv6), uses [`TtlMode::Restore`] so that one box costs one hop.
//!
//! # Fragments
//! IPv4 fragments and IPv6 Fragment headers are translated into each other (RFC 7915 §4.1,
//! §5.1): identification (low 16 bits <-> 32 bits with the high half zero), offset and
//! more-fragments. Only a first fragment carries the transport header: its TCP/UDP checksum is
//! adjusted incrementally (the pseudo-header length is the same in both families). A non-first
//! fragment has no ports: the engine gives the [`AddressMap`] `None` ports and never invents
//! one, so the PSID check (RFC 7597 §8.1) on a non-first fragment is the map's decision; see
//! [`Flow4::src_port`]. Fragmented ICMP is dropped ([`DropReason::FragmentedIcmp`]): its
//! checksum covers the whole message (and for ICMPv6 a pseudo-header whose length field is the
//! reassembled length), which a stateless translator cannot see. So is a fragmented IPv4 UDP
//! datagram with a zero checksum ([`DropReason::FragmentedUdpZeroChecksum`], RFC 7915 §4.5).
//!
//! # MTU
//! [`Options::mtu6`] / [`Options::mtu4`] are the largest packets the caller can send out on
//! either side (0: no check). A translated packet that would not fit gives
//! [`Verdict::Reply`] with [`IcmpReply::FragmentationNeeded`] (IPv4 input with DF) or
//! [`IcmpReply::PacketTooBig`] (IPv6 input), or [`Verdict::Fragment`] (IPv4 input without DF:
//! fragment the IPv4 packet to that size and call again per fragment). See
//! [`encapsulate`] for MAP-E (RFC 7597 §8.3.1).
//!
//! # Offloads: packets only partly in the buffer
//! The `*_shaped` variants take a [`Shape`]: a kernel's GSO super-packet, or a packet whose
//! payload lies in page fragments, has only its headers in the buffer. TCP and UDP translate
//! from the headers alone (the checksum update depends on the pseudo-header only, RFC 1624),
//! and keep a CHECKSUM_PARTIAL seed a seed; the MTU applies to each segment of a GSO packet.
//! What needs every byte (ICMP, a UDP checksum to compute, a headers read past the bytes
//! given) answers [`Verdict::NeedWhole`].

// Packet data must never panic the kernel: no indexing that can fail, no unwrap, no
// arithmetic that can overflow (checked, saturating or provably bounded with a wrapping op).
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

mod icmp;
mod ipv4;
mod ipv6;
mod mape;
mod ports;
mod to4;
mod to6;
mod wire;

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

pub use mape::{
    decapsulate, decapsulate_shaped, decapsulate_unmarked, encapsulate, encapsulate_inspected, encapsulate_shaped, encapsulated_size, forward_ipv4,
    inspect_for_encapsulation, inspect_v4, inspect_v4_shaped, tunnel_too_big, Decapsulated, Encapsulated, Inspected4,
};
pub use ports::{map_ports, PortDirection, PortUndo};
pub use to4::{v6_to_v4, v6_to_v4_shaped};
pub use to6::{v4_to_v6, v4_to_v6_shaped};

/// The most IPv6 extension headers walked before the packet is dropped.
pub const MAX_EXTENSION_HEADERS: usize = 8;

/// The largest translated ICMPv6 error (RFC 7915 §4.2, the IPv6 minimum MTU, RFC 8200 §5).
pub const ICMP6_ERROR_MAX: usize = 1280;

/// The largest translated ICMPv4 error (RFC 1812 §4.3.2.3).
pub const ICMP4_ERROR_MAX: usize = 576;

/// IP protocol numbers used here.
pub mod proto {
    /// IPv6 Hop-by-Hop Options.
    pub const HOPOPT: u8 = 0;
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// IGMP.
    pub const IGMP: u8 = 2;
    /// IPv4 encapsulation (MAP-E, RFC 2473).
    pub const IPV4: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 Routing header.
    pub const ROUTING: u8 = 43;
    /// IPv6 Fragment header.
    pub const FRAGMENT: u8 = 44;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 Destination Options.
    pub const DSTOPTS: u8 = 60;
}

/// Why a packet was dropped. Every variant has a stable [`index`](DropReason::index) below
/// [`DropReason::COUNT`], for per-reason counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// `start + len` does not lie inside the buffer.
    BadBuffer,
    /// The packet is shorter than its headers or its stated length. For a packet only partly
    /// in the buffer (see [`Shape`]): the bytes at hand stop short, nothing was written, and
    /// the caller may try again with more of it.
    Truncated,
    /// The IP version field is not the one expected.
    BadVersion,
    /// IPv4: IHL below 5, header longer than the packet or than the total length.
    BadHeaderLength,
    /// A length field is inconsistent (IPv4 total length below the header, IPv6 payload length
    /// of 0 i.e. a jumbogram, a result longer than 65535 bytes).
    BadLength,
    /// The IPv4 header checksum is wrong.
    BadHeaderChecksum,
    /// The checksum of an ICMP error is wrong (errors are checksummed anew, so a corrupt one
    /// would otherwise come out valid).
    BadChecksum,
    /// Not enough headroom before `start` for the longer headers.
    NoHeadroom,
    /// A protocol the translator does not carry (IGMP, RFC 7915 §4.1; MAP-E: not IPv4 inside).
    UnsupportedProtocol,
    /// An ICMP type or code with no translation (RFC 7915 §4.2, §5.2: silently dropped).
    UntranslatableIcmp,
    /// An ICMP error whose embedded packet is itself an ICMP error.
    NestedIcmpError,
    /// The packet embedded in an ICMP error is unusable (wrong version, too short).
    BadEmbeddedPacket,
    /// A fragmented ICMP or ICMPv6 message (see the module documentation).
    FragmentedIcmp,
    /// A fragmented IPv4 UDP datagram with a zero checksum (RFC 7915 §4.5).
    FragmentedUdpZeroChecksum,
    /// An IPv6 UDP datagram with a zero checksum (RFC 8200 §8.1).
    UdpZeroChecksum,
    /// More than [`MAX_EXTENSION_HEADERS`] IPv6 extension headers.
    TooManyExtensionHeaders,
    /// An extension header after a Fragment header (in the fragmentable part).
    ExtensionHeaderAfterFragment,
    /// MAP-E decapsulation of an IPv6 fragment: reassemble first.
    OuterFragment,
    /// The address map has no mapping for this flow.
    NoMapping,
    /// The address map refused the port (RFC 7597 §8.1: not in this CE's port set).
    PortNotAllowed,
    /// The address map refused the source (RFC 7597 §8.1: spoofed or inconsistent).
    SourceMismatch,
    /// The address map needs a port the packet does not show (a non-first fragment).
    PortUnknown,
    /// No route: for the translated packet, or for an IPv4 packet that must be fragmented
    /// first (fragmentation takes its MTU from the packet's route, which a packet written by
    /// a packet socket, or redirected by tc or bpf, does not carry).
    NoRoute,
    /// A bug guard that should never trigger.
    Internal,
    /// The kernel could not allocate what the packet needed: its headers made private, its
    /// segments, a checksum computed in software (the kernel side's allocations: the
    /// translator itself never allocates).
    NoMemory,
    /// The packet's offload metadata does not fit its headers: the kernel refused to cut its
    /// segments or to compute its offloaded checksum (a packet socket's virtio-net header can
    /// claim anything).
    BadOffload,
}

impl DropReason {
    /// Number of variants.
    pub const COUNT: usize = 26;

    /// All variants, in [`index`](DropReason::index) order.
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::BadBuffer,
        DropReason::Truncated,
        DropReason::BadVersion,
        DropReason::BadHeaderLength,
        DropReason::BadLength,
        DropReason::BadHeaderChecksum,
        DropReason::BadChecksum,
        DropReason::NoHeadroom,
        DropReason::UnsupportedProtocol,
        DropReason::UntranslatableIcmp,
        DropReason::NestedIcmpError,
        DropReason::BadEmbeddedPacket,
        DropReason::FragmentedIcmp,
        DropReason::FragmentedUdpZeroChecksum,
        DropReason::UdpZeroChecksum,
        DropReason::TooManyExtensionHeaders,
        DropReason::ExtensionHeaderAfterFragment,
        DropReason::OuterFragment,
        DropReason::NoMapping,
        DropReason::PortNotAllowed,
        DropReason::SourceMismatch,
        DropReason::PortUnknown,
        DropReason::NoRoute,
        DropReason::Internal,
        DropReason::NoMemory,
        DropReason::BadOffload,
    ];

    /// A dense index in `0..COUNT`.
    pub fn index(self) -> usize {
        self as usize
    }

    /// A short kebab-case name for counters and logs.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::BadBuffer => "bad-buffer",
            DropReason::Truncated => "truncated",
            DropReason::BadVersion => "bad-version",
            DropReason::BadHeaderLength => "bad-header-length",
            DropReason::BadLength => "bad-length",
            DropReason::BadHeaderChecksum => "bad-header-checksum",
            DropReason::BadChecksum => "bad-checksum",
            DropReason::NoHeadroom => "no-headroom",
            DropReason::UnsupportedProtocol => "unsupported-protocol",
            DropReason::UntranslatableIcmp => "untranslatable-icmp",
            DropReason::NestedIcmpError => "nested-icmp-error",
            DropReason::BadEmbeddedPacket => "bad-embedded-packet",
            DropReason::FragmentedIcmp => "fragmented-icmp",
            DropReason::FragmentedUdpZeroChecksum => "fragmented-udp-zero-checksum",
            DropReason::UdpZeroChecksum => "udp-zero-checksum",
            DropReason::TooManyExtensionHeaders => "too-many-extension-headers",
            DropReason::ExtensionHeaderAfterFragment => "extension-header-after-fragment",
            DropReason::OuterFragment => "outer-fragment",
            DropReason::NoMapping => "no-mapping",
            DropReason::PortNotAllowed => "port-not-allowed",
            DropReason::SourceMismatch => "source-mismatch",
            DropReason::PortUnknown => "port-unknown",
            DropReason::NoRoute => "no-route",
            DropReason::Internal => "internal",
            DropReason::NoMemory => "no-memory",
            DropReason::BadOffload => "bad-offload",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An ICMP error the caller should send back to the source of the (unchanged) input packet,
/// in the input's own family, then drop the packet. The caller must follow the usual rules
/// (never about an ICMP error, rate limits): the kernel's `icmp_send`/`icmpv6_send` do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpReply {
    /// TTL or hop limit exhausted ([`TtlMode::Decrement`] only): ICMPv4 Time Exceeded
    /// (11/0) or ICMPv6 Time Exceeded (3/0).
    TimeExceeded,
    /// IPv4 input with DF set that does not fit: ICMPv4 Destination Unreachable,
    /// Fragmentation Needed (3/4) with this next-hop MTU (RFC 1191).
    FragmentationNeeded {
        /// The largest IPv4 packet that fits after translation or encapsulation.
        mtu: u16,
    },
    /// IPv4 input with an unexpired source route option (RFC 7915 §4.1): ICMPv4 Destination
    /// Unreachable, Source Route Failed (3/5).
    SourceRouteFailed,
    /// IPv6 input that does not fit: ICMPv6 Packet Too Big (2/0) with this MTU (≥ 1280).
    PacketTooBig {
        /// The largest IPv6 packet that fits after translation.
        mtu: u32,
    },
    /// IPv6 input with a Routing header whose Segments Left is not zero (RFC 7915 §5.1):
    /// ICMPv6 Parameter Problem, erroneous header field (4/0), pointing at that field.
    ParameterProblem {
        /// Offset of the erroneous field from the start of the IPv6 header.
        pointer: u32,
    },
}

impl IcmpReply {
    /// The ICMP (for IPv4 input) or ICMPv6 (for IPv6 input) type, code, and the 32-bit
    /// "rest of header" word (MTU or pointer, as `icmp_send`'s `info`).
    pub fn type_code_info(self) -> (u8, u8, u32) {
        match self {
            IcmpReply::TimeExceeded => (0, 0, 0),
            IcmpReply::FragmentationNeeded { mtu } => (3, 4, u32::from(mtu)),
            IcmpReply::SourceRouteFailed => (3, 5, 0),
            IcmpReply::PacketTooBig { mtu } => (2, 0, mtu),
            IcmpReply::ParameterProblem { pointer } => (4, 0, pointer),
        }
    }

    /// As [`type_code_info`](Self::type_code_info), with Time Exceeded resolved for the
    /// input family (`ipv6`: the input was IPv6).
    pub fn for_family(self, ipv6: bool) -> (u8, u8, u32) {
        match (self, ipv6) {
            (IcmpReply::TimeExceeded, false) => (11, 0, 0),
            (IcmpReply::TimeExceeded, true) => (3, 0, 0),
            (other, _) => other.type_code_info(),
        }
    }
}

/// What to do with a packet that was not translated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Drop it and count it under this reason.
    Drop(DropReason),
    /// Drop it and answer this ICMP error to its source.
    Reply(IcmpReply),
    /// IPv4 input without DF that does not fit after translation: fragment the IPv4 packet so
    /// that no fragment exceeds `mtu` bytes (e.g. `ip_do_fragment`) and translate each one.
    Fragment {
        /// The largest IPv4 fragment that fits.
        mtu: u16,
    },
    /// The [`Shape`] given holds too little of the packet for this work (ICMP, a UDP checksum
    /// to compute, headers past the bytes given), or is a GSO packet the other family cannot
    /// carry whole: call again with the whole packet (a GSO packet: with each segment). The
    /// buffer is unchanged.
    NeedWhole,
}

/// How a packet lies in the caller's buffer: the `*_shaped` entry points take it instead of
/// a plain length (which is [`Shape::whole`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// The packet's length.
    pub len: usize,
    /// How many of its bytes the buffer holds from `start` (at most `len`): the headers at
    /// least. The rest is neither read nor written.
    pub present: usize,
    /// The TCP or UDP checksum field holds a pseudo-header seed for checksum offload (Linux
    /// CHECKSUM_PARTIAL), not a checksum: it is updated as a seed (uncomplemented).
    pub partial_checksum: bool,
    /// A GSO super-packet cut into segments of this many payload bytes: the MTU applies to
    /// each segment (its headers plus this), not to the whole.
    pub segment: Option<usize>,
}

impl Shape {
    /// A whole, ordinary packet of `len` bytes.
    pub const fn whole(len: usize) -> Self {
        Shape { len, present: len, partial_checksum: false, segment: None }
    }

    /// Every byte is in the buffer.
    pub fn is_whole(&self) -> bool {
        self.present >= self.len
    }

    /// Bytes of the buffer to look at.
    fn visible(&self) -> usize {
        self.present.min(self.len)
    }

    /// The packet's end in the buffer, or its headers' end when only they are there.
    fn visible_end(&self, start: usize, end: usize) -> usize {
        end.min(start.saturating_add(self.visible()))
    }

    /// [`Verdict::NeedWhole`] unless the packet is whole and its checksums are real ones
    /// (work that reads or computes checksums over every byte).
    pub fn require_whole(&self) -> Result<(), Verdict> {
        if self.is_whole() && !self.partial_checksum {
            Ok(())
        } else {
            Err(Verdict::NeedWhole)
        }
    }

    /// The largest packet this one makes on the wire once its `whole_len`-byte result goes
    /// out, for the MTU check: that result, or for a GSO packet one segment: `network`
    /// bytes of new network headers, the transport header at the start of `l4` (`proto_`,
    /// what each segment repeats) and the segment size. A GSO packet of another transport
    /// needs segmenting first ([`Verdict::NeedWhole`]).
    fn largest(&self, whole_len: usize, network: usize, proto_: u8, l4: &[u8]) -> Result<usize, Verdict> {
        let Some(segment) = self.segment else {
            return Ok(whole_len);
        };
        let transport = match proto_ {
            proto::TCP => usize::from(wire::u8_at(l4, 12)? >> 4).saturating_mul(4),
            proto::UDP => 8,
            _ => return Err(Verdict::NeedWhole),
        };
        Ok(network.saturating_add(transport).saturating_add(segment).min(whole_len))
    }
}

/// The new value of a TCP/UDP checksum field `old` when the sum of the pseudo-header's
/// covered words goes from `removed` to `added`: a checksum (RFC 1624) or, for checksum
/// offload, a pseudo-header seed, which is the uncomplemented sum. Inlined (forced): small,
/// and every TCP and UDP packet's.
#[inline(always)]
fn adjust_checksum(old: u16, removed: u64, added: u64, partial: bool) -> u16 {
    if partial {
        !wire::adjust(!old, removed, added)
    } else {
        wire::adjust(old, removed, added)
    }
}

impl From<DropReason> for Verdict {
    fn from(r: DropReason) -> Self {
        Verdict::Drop(r)
    }
}

/// Where the translated packet lies in the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translated {
    /// Index of its first byte (the new network header).
    pub start: usize,
    /// Its length.
    pub len: usize,
    /// The length of its network header, extension headers included: where its transport
    /// header (or, in MAP-E, the IPv4 packet inside) starts, from `start`.
    pub header_len: usize,
}

/// How the TTL / hop limit is written.
///
/// RFC 7915 makes the translator a router: it decrements (and answers Time Exceeded at 1),
/// which is [`TtlMode::Decrement`], the default. But mapmint's device layer translates
/// *between* two kernel forwardings: an IPv4 packet is forwarded (TTL - 1) into the device,
/// translated, and the IPv6 packet is forwarded again (hop limit - 1) out of the box. With
/// [`TtlMode::Restore`] the translation adds back the hop the first forwarding took, so the
/// packet leaves the box exactly one hop lower than it arrived, and a packet that arrives with
/// TTL 1 is still answered Time Exceeded (by the first forwarding). Locally generated packets
/// (never forwarded before the device) leave one hop *higher* than sent, which is harmless.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TtlMode {
    /// New = old - 1; old ≤ 1 gives [`IcmpReply::TimeExceeded`]. A standalone translator.
    #[default]
    Decrement,
    /// New = old. The translator is invisible; the box costs two hops.
    Keep,
    /// New = old + 1 (at most 255): undoes the forwarding before the device, so a box that
    /// forwards twice costs one hop in total. What mapmint's device uses.
    Restore,
}

/// Translation options (per device; they do not change per packet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// TTL / hop limit handling.
    pub ttl: TtlMode,
    /// Copy the IPv4 TOS into the IPv6 Traffic Class and back (RFC 7915 §4.1 default); when
    /// false, write zero.
    pub copy_tos: bool,
    /// Largest IPv6 packet that may come out (0: no check).
    pub mtu6: u32,
    /// Largest IPv4 packet that may come out (0: no check).
    pub mtu4: u32,
    /// MAP-E: the hop limit of the outer IPv6 header.
    pub encap_hop_limit: u8,
}

impl Default for Options {
    fn default() -> Self {
        Options { ttl: TtlMode::Decrement, copy_tos: true, mtu6: 0, mtu4: 0, encap_hop_limit: 64 }
    }
}

/// Which header of a packet a flow describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowKind {
    /// The header of an ordinary packet.
    Packet,
    /// The outer header of an ICMP error. Its source may be any router (RFC 6791: a map may
    /// answer a pool address for an untranslatable one); the ports are those of the embedded
    /// packet, swapped so that they read in this header's direction (`src_port` is the
    /// embedded packet's destination port, which belongs to this header's source).
    IcmpError,
    /// The packet embedded in an ICMP error, **reversed**: `src`/`dst` and the ports are
    /// swapped so the flow reads like an ordinary packet travelling the same way as the error
    /// (the embedded packet went the other way). The engine writes the map's answer back
    /// swapped.
    Embedded,
}

/// An IPv4 packet as the [`AddressMap`] sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow4 {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// The protocol whose ports are given: the packet's own (`6`, `17`, `1`...), or for
    /// [`FlowKind::IcmpError`] the embedded packet's.
    pub proto: u8,
    /// Source port, ICMP echo identifier, or `None` when the packet shows none: a non-first
    /// fragment, a protocol without ports, an embedded packet cut short.
    ///
    /// A non-first fragment never carries the transport header, so the engine cannot read
    /// a port and does not guess one: it passes `None` and leaves the decision to the map.
    /// Where the address alone decides (a CE receiving IPv6 fragments addressed to its MAP
    /// address, whose interface identifier already carries the PSID), the map can accept;
    /// where the port is needed to choose the destination (a BR sending to a shared IPv4
    /// address), it must answer [`DropReason::PortUnknown`] unless a layer above reassembles
    /// or remembers the first fragment (RFC 7597 §8.3.3).
    pub src_port: Option<u16>,
    /// Destination port or ICMP echo identifier (see `src_port`).
    pub dst_port: Option<u16>,
    /// Which header this is.
    pub kind: FlowKind,
    /// For an IPv4 fragment: its identification and whether it is the first one, so that a
    /// map can remember the first fragment's ports for the others (RFC 7597 §8.3.3).
    pub fragment: Option<Fragment4>,
}

/// The fragment identity of an IPv4 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment4 {
    /// The IPv4 Identification.
    pub id: u16,
    /// Offset 0: it carries the transport header.
    pub first: bool,
}

/// An IPv6 packet as the [`AddressMap`] sees it (see [`Flow4`]; `proto` is an IPv6 next
/// header, `58` for ICMPv6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow6 {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// The upper-layer protocol whose ports are given.
    pub proto: u8,
    /// Source port or ICMPv6 echo identifier.
    pub src_port: Option<u16>,
    /// Destination port or ICMPv6 echo identifier.
    pub dst_port: Option<u16>,
    /// Which header this is.
    pub kind: FlowKind,
}

/// The address selection the engine delegates: the MAP rules (BMR/FMR/DMR, RFC 7597 §5,
/// RFC 7599 §5), an RFC 6052 prefix, or a test double.
///
/// Each method is called at most twice per packet (outer header, and the embedded packet of
/// an ICMP error, presented reversed, see [`FlowKind::Embedded`]), before anything is written.
/// A map that validates (RFC 7597 §8.1: destination is ours, port in our set, source
/// consistent with the rules) returns a [`DropReason`] to refuse.
pub trait AddressMap {
    /// The IPv6 (source, destination) for this IPv4 header.
    fn v4_to_v6(&self, flow: &Flow4) -> Result<(Ipv6Addr, Ipv6Addr), DropReason>;
    /// The IPv4 (source, destination) for this IPv6 header.
    fn v6_to_v4(&self, flow: &Flow6) -> Result<(Ipv4Addr, Ipv4Addr), DropReason>;
    /// An IPv4 Identification for a translated packet with DF clear and no Fragment header
    /// (RFC 7915 §5.1, RFC 6864: it may be fragmented later, so it needs a fresh value);
    /// e.g. a per-CPU counter or `get_random_u16()`.
    fn ipv4_identification(&self) -> u16;
}

/// TTL rule shared by both directions.
fn next_hop_limit(old: u8, mode: TtlMode) -> Result<u8, Verdict> {
    match mode {
        TtlMode::Decrement => match old.checked_sub(1) {
            Some(n) if n > 0 => Ok(n),
            _ => Err(Verdict::Reply(IcmpReply::TimeExceeded)),
        },
        TtlMode::Keep => Ok(old),
        TtlMode::Restore => Ok(old.saturating_add(1)),
    }
}

/// `buf[start..start + len]`, or `BadBuffer`.
fn packet(buf: &[u8], start: usize, len: usize) -> Result<&[u8], DropReason> {
    let end = start.checked_add(len).ok_or(DropReason::BadBuffer)?;
    buf.get(start..end).ok_or(DropReason::BadBuffer)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests;
