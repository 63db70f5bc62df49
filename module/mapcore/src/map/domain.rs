//! One instance's view of its MAP domain: which addresses a packet gets, and which packets it
//! refuses (RFC 7597 §8.1), for a CE or a BR, in MAP-T or MAP-E. This is the glue between a
//! [`Config`] and the packet engine ([`super::xlat`]); the kernel's transmit path and
//! `mapminctl translate` both call [`Domain::from_v4`] and [`Domain::from_v6`] and nothing else.
//!
//! | | IPv4 -> IPv6 | IPv6 -> IPv4 |
//! |---|---|---|
//! | CE | source: ours, port in our set; destination: FMR (mesh), else DMR / BR | destination: our MAP address, port in our set; source: DMR / BR, or a CE an FMR derives |
//! | BR | destination: the CE an FMR derives from address and port; source: DMR | source: the CE an FMR derives, consistent with address and port; destination: DMR |
//!
//! ICMPv6 errors from IPv6-only routers inside the domain come out from an address of the
//! configured `icmp-source-pool` (RFC 6791), else from [`DUMMY_IPV4`].
//!
//! A packet whose port cannot be read (a non-first fragment) is accepted where the address
//! alone decides (the address of a MAP CE already carries its PSID). Where the port must
//! choose the destination (a BR or a meshing CE sending to a shared IPv4 address), the PSID of
//! the datagram's first fragment is used, from a [`FragmentCache`]; without one, or when the
//! first fragment was not seen, the fragment is refused ([`DropReason::PortUnknown`]).

use core::net::{Ipv4Addr, Ipv6Addr};
#[cfg(test)]
use core::ptr;
use core::sync::atomic::{fence, AtomicU16, AtomicU32, AtomicU64, Ordering};

use super::bits::{ipv6_halves, GOLDEN};
use super::config::{Config, PortMapping, Role};
use super::index::RuleIndex;
use super::portset::PortSet;
use super::prefix::Ipv4Prefix;
use super::rule::{CeMapping, Mode, Rule};
use super::xlat::{self, AddressMap, Decapsulated, DropReason, Flow4, Flow6, FlowKind, Options, PortDirection, Shape, Translated, Verdict};

/// The IPv4 dummy address (RFC 7600 §4.8, after RFC 6791): the source of an ICMPv6 error
/// from an IPv6-only router (a hop of the ISP's network, which has no IPv4 address), so that
/// traceroute and path MTU discovery still work through the domain. The packet the error
/// quotes must still be one of ours, which the engine checks as an ordinary flow.
pub const DUMMY_IPV4: Ipv4Addr = Ipv4Addr::new(192, 0, 0, 8);

/// How many fragmented datagrams a [`FragmentCache`] follows at once.
pub const FRAGMENT_CACHE_SIZE: usize = 64;

/// The PSIDs of the first fragments a BR has seen, so that the later fragments of the same
/// datagram, which carry no port, reach the same CE (RFC 7597 §8.3.3, fragment forwarding).
/// Direct-mapped by the datagram's identity; a newer datagram evicts an older one, and a
/// fragment that overtakes its first one is refused ([`DropReason::PortUnknown`]).
///
/// Safe for any number of concurrent users, without a lock that could spin: each slot is a
/// sequence lock of atomics whose writer gives up when another one holds it (the entry is
/// then not remembered), and whose reader treats a slot being written as a miss.
pub struct FragmentCache {
    slots: [FragmentSlot; FRAGMENT_CACHE_SIZE],
}

struct FragmentSlot {
    /// Odd while a writer fills the slot.
    seq: AtomicU32,
    /// Source and destination address.
    addrs: AtomicU64,
    /// [`FragmentSlot::VALID`], protocol, identification and PSID.
    rest: AtomicU64,
}

impl FragmentSlot {
    const VALID: u64 = 1 << 63;

    const fn new() -> Self {
        FragmentSlot { seq: AtomicU32::new(0), addrs: AtomicU64::new(0), rest: AtomicU64::new(0) }
    }

    fn store(&self, key: &FragmentKey, psid: u16) {
        let seq = self.seq.load(Ordering::Relaxed);
        if seq & 1 == 1 || self.seq.compare_exchange(seq, seq.wrapping_add(1), Ordering::Acquire, Ordering::Relaxed).is_err() {
            return;
        }
        fence(Ordering::Release);
        self.addrs.store(key.addrs(), Ordering::Relaxed);
        self.rest.store(Self::VALID | key.rest() | u64::from(psid), Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    fn load(&self, key: &FragmentKey) -> Option<u16> {
        let seq = self.seq.load(Ordering::Acquire);
        let addrs = self.addrs.load(Ordering::Relaxed);
        let rest = self.rest.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if seq & 1 == 1 || self.seq.load(Ordering::Relaxed) != seq {
            return None;
        }
        let wanted = Self::VALID | key.rest();
        (addrs == key.addrs() && rest & !0xffff == wanted).then_some(rest as u16)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct FragmentKey {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    id: u16,
}

impl FragmentKey {
    fn addrs(&self) -> u64 {
        u64::from(u32::from(self.src)) << 32 | u64::from(u32::from(self.dst))
    }

    /// Protocol and identification, above the 16 bits of a PSID.
    fn rest(&self) -> u64 {
        u64::from(self.proto) << 32 | u64::from(self.id) << 16
    }
}

impl FragmentCache {
    pub const fn new() -> Self {
        FragmentCache { slots: [const { FragmentSlot::new() }; FRAGMENT_CACHE_SIZE] }
    }

    fn slot(&self, key: &FragmentKey) -> Option<&FragmentSlot> {
        let mix = u32::from(key.src) ^ u32::from(key.dst).rotate_left(16) ^ u32::from(key.id) ^ u32::from(key.proto);
        self.slots.get(mix as usize % FRAGMENT_CACHE_SIZE)
    }

    fn remember(&self, key: FragmentKey, psid: u16) {
        if let Some(slot) = self.slot(&key) {
            slot.store(&key, psid);
        }
    }

    fn recall(&self, key: &FragmentKey) -> Option<u16> {
        self.slot(key)?.load(key)
    }
}

impl Default for FragmentCache {
    fn default() -> Self {
        Self::new()
    }
}

/// A complete configuration, ready to map packets.
pub struct Domain<'a> {
    config: &'a Config,
    /// The FMRs' index (a BR's domain rules, a CE's mesh rules).
    fmrs: RuleIndex<'a>,
    /// The CE's own mapping (None for a BR), as published (borrowed: not copied per packet).
    ce: Option<&'a CeMapping>,
    /// IPv4 Identification source for translated packets that need one: the caller's own
    /// (per CPU, per thread), since it is advanced without a locked read-modify-write.
    ident: &'a AtomicU16,
    /// Where a BR follows fragmented datagrams to shared addresses (none: it cannot).
    fragments: Option<&'a FragmentCache>,
}

/// What the packet path derives from a configuration: whether it is complete, and a CE's own
/// mapping. A device computes it once when it publishes a configuration.
#[derive(Clone, Copy, Debug)]
pub struct Derived {
    ce: Result<Option<CeMapping>, DropReason>,
}

impl Derived {
    /// What the packet path needs to know of `config` with `fmrs` FMRs.
    pub fn of(config: &Config, fmrs: usize) -> Self {
        let ce = if config.missing(fmrs).is_some() {
            Err(DropReason::NoMapping)
        } else {
            match config.role {
                Role::Ce => config.ce_mapping().and_then(|m| m.ok()).map(Some).ok_or(DropReason::NoMapping),
                Role::Br => Ok(None),
            }
        };
        Derived { ce }
    }
}

impl<'a> Domain<'a> {
    /// The domain of `config` with the FMRs `fmrs`, given what [`Derived::of`] computed from
    /// them; [`DropReason::NoMapping`] while it is incomplete.
    pub fn with_derived(
        config: &'a Config,
        fmrs: RuleIndex<'a>,
        derived: &'a Derived,
        ident: &'a AtomicU16,
    ) -> Result<Self, DropReason> {
        let ce = derived.ce.as_ref().map_err(|reason| *reason)?.as_ref();
        Ok(Domain { config, fmrs, ce, ident, fragments: None })
    }

    /// Lets the domain follow fragmented datagrams in `cache` (a BR needs it to send the later
    /// fragments of a datagram for a shared IPv4 address to the right CE).
    pub fn with_fragment_cache(mut self, cache: &'a FragmentCache) -> Self {
        self.fragments = Some(cache);
        self
    }

    /// The CE that `rule` gives `flow`'s destination: by its port, or for the later fragments
    /// of a datagram, by the port its first fragment had.
    fn destination_ce(&self, rule: &Rule, flow: &Flow4, mode: Mode) -> Result<Ipv6Addr, DropReason> {
        let key = flow.fragment.map(|f| (f.first, FragmentKey { src: flow.src, dst: flow.dst, proto: flow.proto, id: f.id }));
        let psid = match (flow.dst_port, key) {
            (Some(port), _) => {
                let psid = rule.psid_for_port(port).map_err(|_| DropReason::PortNotAllowed)?;
                if let (Some((true, key)), Some(cache)) = (key, self.fragments) {
                    cache.remember(key, psid);
                }
                psid
            }
            // Without sharing, the address alone names the CE.
            (None, _) if rule.psid_len() == 0 => rule.explicit_psid().unwrap_or(0),
            (None, Some((false, key))) => {
                self.fragments.and_then(|cache| cache.recall(&key)).ok_or(DropReason::PortUnknown)?
            }
            (None, _) => return Err(DropReason::PortUnknown),
        };
        rule.map_address(flow.dst, psid, mode).map_err(|_| DropReason::NoMapping)
    }

    /// An IPv4 packet routed into the device: translated (MAP-T) or encapsulated (MAP-E) in
    /// place, see [`xlat::v4_to_v6`] and [`xlat::encapsulate`].
    pub fn from_v4(&self, buf: &mut [u8], start: usize, len: usize, opts: &Options) -> Result<Translated, Verdict> {
        self.from_v4_shaped(buf, start, &Shape::whole(len), opts)
    }

    /// [`from_v4`](Self::from_v4) for a packet that may lie only partly in the buffer.
    pub fn from_v4_shaped(&self, buf: &mut [u8], start: usize, shape: &Shape, opts: &Options) -> Result<Translated, Verdict> {
        let Some((own, set)) = self.mapped_ports() else {
            return self.v4_out(buf, start, shape, opts);
        };
        let undo = xlat::map_ports(buf, start, shape, &own, &set, PortDirection::Out)?;
        let result = self.v4_out(buf, start, shape, opts);
        // The caller quotes or fragments the packet as it came (the contract of `Err`).
        if result.is_err() {
            undo.undo(buf);
        }
        result
    }

    /// A CE's own address and port set when its ports are mapped (`port-mapping contiguous`
    /// with a shared set: without sharing the mapping is the identity).
    fn mapped_ports(&self) -> Option<(Ipv4Prefix, PortSet)> {
        let ce = self.ce.as_ref()?;
        (self.config.port_mapping == PortMapping::Contiguous && !ce.port_set.is_whole()).then_some((ce.ipv4, ce.port_set))
    }

    fn v4_out(&self, buf: &mut [u8], start: usize, shape: &Shape, opts: &Options) -> Result<Translated, Verdict> {
        match self.config.mode {
            Mode::MapT => xlat::v4_to_v6_shaped(buf, start, shape, self, opts),
            Mode::MapE => {
                // (the header read once, for the flow and for the encapsulation)
                let inspected = xlat::inspect_for_encapsulation(buf, start, shape)?;
                let (src, dst) = self.encap_addresses(inspected.flow())?;
                // Too big without DF: fragment the IPv4 packet (the caller does) rather than
                // the outer IPv6 one, so the peer needs no reassembly to decapsulate and
                // still sees the ports of every first fragment (RFC 7597 §8.3.1 allows both).
                let (size, df) = inspected.encapsulated_size(buf, start, shape)?;
                if !df && opts.mtu6 != 0 && size > opts.mtu6 as usize {
                    if shape.segment.is_some() {
                        return Err(Verdict::NeedWhole);
                    }
                    let mtu = u16::try_from(opts.mtu6.saturating_sub(40)).unwrap_or(u16::MAX);
                    return Err(Verdict::Fragment { mtu });
                }
                let out = xlat::encapsulate_inspected(buf, start, &inspected, size, src, dst, opts)?;
                Ok(Translated { start: out.start, len: out.len, header_len: 40 })
            }
        }
    }

    /// An IPv6 packet routed into the device: translated (MAP-T) or decapsulated (MAP-E) in
    /// place after the RFC 7597 §8.1 checks.
    pub fn from_v6(&self, buf: &mut [u8], start: usize, len: usize, opts: &Options) -> Result<Translated, Verdict> {
        self.from_v6_shaped(buf, start, &Shape::whole(len), opts)
    }

    /// [`from_v6`](Self::from_v6) for a packet that may lie only partly in the buffer. With
    /// mapped ports, the IPv4 result's ports are mapped too: an `Err` then may come after the
    /// buffer changed, but only as a [`Verdict::Drop`], whose caller quotes nothing (and as
    /// [`DropReason::Truncated`] only for a packet wholly in the buffer, not tried again).
    pub fn from_v6_shaped(&self, buf: &mut [u8], start: usize, shape: &Shape, opts: &Options) -> Result<Translated, Verdict> {
        let (out, decapsulated) = self.v6_in(buf, start, shape, opts)?;
        if let Some((own, set)) = self.mapped_ports() {
            // The payload did not move: the bytes at hand still end where they did.
            let present = start.saturating_add(shape.present.min(shape.len)).saturating_sub(out.start);
            let result = Shape { len: out.len, present, ..*shape };
            match xlat::map_ports(buf, out.start, &result, &own, &set, PortDirection::In) {
                Ok(_) => {}
                Err(Verdict::Drop(reason)) => return Err(Verdict::Drop(reason)),
                // A decapsulation needs the inner ports, not the checksum the mapping updates;
                // it has written nothing yet, so the caller can give more of the packet.
                Err(verdict) if decapsulated.is_some() => return Err(verdict),
                // The headers were all at hand for the translation.
                Err(_) => return Err(Verdict::Drop(DropReason::Internal)),
            }
        }
        if let Some(decapsulated) = decapsulated {
            decapsulated.mark_congestion(buf)?;
        }
        Ok(out)
    }

    /// The packet translated, or decapsulated with its congestion mark still to make (MAP-E:
    /// the one write, left until nothing else can fail).
    fn v6_in(&self, buf: &mut [u8], start: usize, shape: &Shape, opts: &Options) -> Result<(Translated, Option<Decapsulated>), Verdict> {
        match self.config.mode {
            Mode::MapT => Ok((xlat::v6_to_v4_shaped(buf, start, shape, self, opts)?, None)),
            Mode::MapE => {
                // A Packet Too Big about our own tunnel packets (RFC 2473 §7): tell the IPv4
                // sender the MTU that fits (`unsupported-protocol` for any other ICMPv6).
                if ipv6_next_header(buf, start) == Some(58) {
                    shape.require_whole()?;
                    let ours = match &self.ce {
                        Some(ce) => ce.map_address,
                        None => self.config.br_address.ok_or(DropReason::NoMapping)?,
                    };
                    let source = self.icmp_error_source(ipv6_source(buf, start).unwrap_or(Ipv6Addr::UNSPECIFIED));
                    let ident = self.ipv4_identification();
                    return Ok((xlat::tunnel_too_big(buf, start, shape.len, ours, source, ident)?, None));
                }
                let out = xlat::decapsulate_unmarked(buf, start, shape)?;
                self.check_decapsulated(out.outer_src, out.outer_dst, &out.inner)?;
                Ok((Translated { start: out.start, len: out.len, header_len: out.header_len }, Some(out)))
            }
        }
    }

    /// Whether an IPv6 packet to `dst` is addressed to this translator, as far as the
    /// destination tells: a CE's own MAP address (MAP-T: any address of its IPv4 prefix), a
    /// BR's DMR prefix (MAP-T) or its own address (MAP-E). What translate-on-receive takes
    /// before the stack routes a packet; the translation checks the rest.
    pub fn receives_v6(&self, dst: Ipv6Addr) -> bool {
        match (&self.ce, self.config.mode) {
            (Some(ce), Mode::MapE) => dst == ce.map_address,
            (Some(ce), Mode::MapT) => self.own_mapt_host(ce, dst).is_some(),
            (None, Mode::MapE) => self.config.br_address == Some(dst),
            (None, Mode::MapT) => self.config.dmr.as_ref().is_some_and(|dmr| dmr.extract(dst).is_ok()),
        }
    }

    /// Whether translate-on-receive takes the packet whose network header starts `header`
    /// (IPv6 if `ipv6`, else IPv4; at least its fixed header): one addressed to this
    /// translator ([`receives_v6`](Self::receives_v6), [`receives_v4`](Self::receives_v4)),
    /// and for MAP-E an IPv4-in-IPv6 packet straight after the IPv6 header. Anything else
    /// addressed to a MAP-E tunnel end (an ICMPv6 message, extension headers) is left to the
    /// stack: the address may be one of the host's own as well, and the device handles the
    /// rest of what the tunnel gets.
    pub fn takes_on_receive(&self, header: &[u8], ipv6: bool) -> bool {
        if ipv6 {
            let Some(dst) = header.get(24..40).and_then(|b| <[u8; 16]>::try_from(b).ok()) else {
                return false;
            };
            let tunnel = self.config.mode == Mode::MapE;
            (!tunnel || header.get(6) == Some(&IPV4_IN_IPV6)) && self.receives_v6(Ipv6Addr::from(dst))
        } else {
            let Some(dst) = header.get(16..20).and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
                return false;
            };
            self.receives_v4(Ipv4Addr::from(dst))
        }
    }

    /// Whether an IPv6 packet (its header first in `header`) delivered to the host at an
    /// address the instance's device holds is the instance's: a MAP-E tunnel end's, whatever
    /// follows the header (IPv4 inside, or an ICMPv6 error about a tunnel packet). MAP-T
    /// takes nothing there: a packet to a MAP-T address delivered locally is the host's.
    pub fn takes_on_delivery(&self, header: &[u8]) -> bool {
        let Some(dst) = header.get(24..40).and_then(|b| <[u8; 16]>::try_from(b).ok()) else {
            return false;
        };
        self.config.mode == Mode::MapE && header[0] >> 4 == 6 && self.receives_v6(Ipv6Addr::from(dst))
    }

    /// Whether the far tunnel end of the IPv6 packet whose header starts `header` is one this
    /// MAP-E instance exchanges packets with: a CE of its rules, or at a CE its BR. The far
    /// end is the source of an IPv4-in-IPv6 packet, and the destination of the tunnel packet
    /// an ICMPv6 error quotes (it was sent from here). What tells two instances with the same
    /// tunnel end apart (a BR's end shared by two domains); necessary for
    /// [`check_decapsulated`](Self::check_decapsulated) to pass, not sufficient.
    pub fn knows_tunnel_peer(&self, header: &[u8]) -> bool {
        let address = |at: usize| header.get(at..at + 16).and_then(|b| <[u8; 16]>::try_from(b).ok()).map(Ipv6Addr::from);
        let peer = match header.get(6) {
            Some(&IPV4_IN_IPV6) => address(8),
            // An error (type below 128) quoting an IPv6 header right after its own 8 bytes.
            Some(&ICMPV6) if header.get(40).is_some_and(|&kind| kind < 128) && header.get(48).is_some_and(|v| v >> 4 == 6) => {
                address(48 + 24)
            }
            _ => None,
        };
        let Some(peer) = peer else {
            return false;
        };
        match &self.ce {
            Some(_) => self.config.br_address == Some(peer) || self.fmr_for_ipv6(peer).is_some(),
            None => self.fmrs.lookup_ipv6(peer).is_some(),
        }
    }

    /// Whether an IPv4 packet to `dst` is addressed to this translator: at a BR, an address
    /// its rules give a CE (with shared addresses, one whose rule the address alone finds). A
    /// CE takes none: its outbound packets need the NAPT first.
    pub fn receives_v4(&self, dst: Ipv4Addr) -> bool {
        self.ce.is_none() && self.fmrs.lookup_ipv4(dst, None).is_some()
    }

    /// MAP-E outer (source, destination) for an IPv4 packet (RFC 7597 §7, §8).
    pub fn encap_addresses(&self, flow: &Flow4) -> Result<(Ipv6Addr, Ipv6Addr), DropReason> {
        let br = self.config.br_address.ok_or(DropReason::NoMapping)?;
        match &self.ce {
            Some(ce) => {
                self.check_own_source(ce, flow)?;
                let dst = match self.fmr_for_ipv4(flow.dst) {
                    Some(rule) => self.destination_ce(rule, flow, Mode::MapE)?,
                    None => br,
                };
                Ok((ce.map_address, dst))
            }
            None => {
                let rule = self.fmrs.lookup_ipv4(flow.dst, flow.dst_port).ok_or(DropReason::NoMapping)?;
                Ok((br, self.destination_ce(rule, flow, Mode::MapE)?))
            }
        }
    }

    /// RFC 7597 §8.1 for a decapsulated packet: the outer source must be the BR, or the CE the
    /// rules derive from the inner source address and port; a CE accepts only its own address
    /// and ports.
    pub fn check_decapsulated(&self, outer_src: Ipv6Addr, outer_dst: Ipv6Addr, inner: &Flow4) -> Result<(), DropReason> {
        let br = self.config.br_address.ok_or(DropReason::NoMapping)?;
        match &self.ce {
            Some(ce) => {
                if outer_dst != ce.map_address {
                    return Err(DropReason::NoMapping);
                }
                self.check_own_destination(ce, inner.dst, inner.dst_port)?;
                if outer_src == br {
                    return Ok(());
                }
                let rule = self.fmr_for_ipv4(inner.src).ok_or(DropReason::SourceMismatch)?;
                check_tunnel_source(rule, outer_src, inner.src, inner.src_port)
            }
            None => {
                if outer_dst != br {
                    return Err(DropReason::NoMapping);
                }
                let rule = self.fmrs.lookup_ipv4(inner.src, inner.src_port).ok_or(DropReason::SourceMismatch)?;
                check_tunnel_source(rule, outer_src, inner.src, inner.src_port)
            }
        }
    }

    /// The FMR for an IPv4 destination, from a CE's point of view (the BMR counts when it
    /// has the forwarding flag).
    fn fmr_for_ipv4(&self, addr: Ipv4Addr) -> Option<&Rule> {
        self.fmrs
            .lookup_ipv4(addr, None)
            .or_else(|| self.config.bmr.as_ref().filter(|b| b.forwarding() && b.ipv4_prefix().contains(addr)))
    }

    fn fmr_for_ipv6(&self, addr: Ipv6Addr) -> Option<&Rule> {
        self.fmrs
            .lookup_ipv6(addr)
            .or_else(|| self.config.bmr.as_ref().filter(|b| b.forwarding() && b.ipv6_prefix().contains(addr)))
    }

    /// The host of a CE's own IPv4 address or prefix whose MAP-T address `dst` is (erratum
    /// 5225: the full IPv4 address in the IID): for a CE of one address, the MAP address
    /// published with its configuration; for a prefix, one address per host, decoded.
    fn own_mapt_host(&self, ce: &CeMapping, dst: Ipv6Addr) -> Option<Ipv4Addr> {
        if ce.ipv4.len == 32 && dst == ce.map_address {
            return Some(ce.ipv4.addr);
        }
        let mine = self.config.bmr.as_ref()?.decode(dst, Mode::MapT).ok()?;
        (mine.psid == ce.psid() && ce.ipv4.contains(mine.ipv4)).then_some(mine.ipv4)
    }

    /// A CE sends only from its own address and ports (SNAT put them there).
    fn check_own_source(&self, ce: &CeMapping, flow: &Flow4) -> Result<(), DropReason> {
        if !ce.ipv4.contains(flow.src) {
            return Err(DropReason::SourceMismatch);
        }
        match flow.src_port {
            Some(port) if !ce.port_set.contains(port) => Err(DropReason::PortNotAllowed),
            _ => Ok(()),
        }
    }

    /// A CE receives only for its own address and ports.
    fn check_own_destination(&self, ce: &CeMapping, dst: Ipv4Addr, port: Option<u16>) -> Result<(), DropReason> {
        if !ce.ipv4.contains(dst) {
            return Err(DropReason::NoMapping);
        }
        match port {
            Some(port) if !ce.port_set.contains(port) => Err(DropReason::PortNotAllowed),
            _ => Ok(()),
        }
    }

    fn dmr_embed(&self, addr: Ipv4Addr) -> Result<Ipv6Addr, DropReason> {
        Ok(self.config.dmr.as_ref().ok_or(DropReason::NoMapping)?.embed(addr))
    }
}

/// IPv6's next header for IPv4 (RFC 2473).
const IPV4_IN_IPV6: u8 = 4;
const ICMPV6: u8 = 58;

/// The next header field of the IPv6 header at `buf[start..]`.
fn ipv6_next_header(buf: &[u8], start: usize) -> Option<u8> {
    buf.get(start..)?.get(6).copied()
}

/// RFC 7597 §8.1 for a MAP-E tunnel: the outer source `src6` must be the address `rule`
/// derives for the inner `src4` and `port` (none in a non-first fragment).
fn check_tunnel_source(rule: &Rule, src6: Ipv6Addr, src4: Ipv4Addr, port: Option<u16>) -> Result<(), DropReason> {
    match rule.decode_for_port(src6, port, Mode::MapE) {
        Some(d) if d.ce_ipv4.contains(src4) => Ok(()),
        _ => Err(DropReason::SourceMismatch),
    }
}

/// RFC 7597 §8.1 for a MAP-T source: the IPv4 address `src6` carries under `rule`, when `src6`
/// is exactly what the rule builds for it and `port` (none in a non-first fragment) lies in
/// the port set it carries.
fn mapt_source(rule: &Rule, src6: Ipv6Addr, port: Option<u16>) -> Result<Ipv4Addr, DropReason> {
    rule.decode_for_port(src6, port, Mode::MapT).map(|d| d.ipv4).ok_or(DropReason::SourceMismatch)
}

impl Domain<'_> {
    /// The source of an ICMPv4 error translated from `hop`, an IPv6 node without an IPv4
    /// form: an address of the `icmp-source-pool`, picked anew for each message (RFC 6791 §5
    /// recommends a random one, so that two hops of one traceroute seldom show the same
    /// address and look like a loop), else the dummy address of RFC 7600.
    fn icmp_error_source(&self, hop: Ipv6Addr) -> Ipv4Addr {
        let Some(pool) = self.config.icmp_source_pool else {
            return DUMMY_IPV4;
        };
        let host_mask = u32::MAX.checked_shr(u32::from(pool.len)).unwrap_or(0);
        // The hop's address mixed with the identification counter, which moves with every
        // packet translated: a different address for each message.
        let (hi, lo) = ipv6_halves(hop);
        let mixed = (hi ^ lo.rotate_left(29) ^ u64::from(self.ident.load(Ordering::Relaxed))).wrapping_mul(GOLDEN);
        Ipv4Addr::from((u32::from(pool.addr) & !host_mask) | ((mixed >> 32) as u32 & host_mask))
    }
}

/// The source address of the IPv6 packet at `start`.
fn ipv6_source(buf: &[u8], start: usize) -> Option<Ipv6Addr> {
    let bytes: [u8; 16] = buf.get(start.checked_add(8)?..start.checked_add(24)?)?.try_into().ok()?;
    Some(Ipv6Addr::from(bytes))
}

// Inlined (forced) into the translation: once a packet each, and the addresses went back
// through memory.
impl AddressMap for Domain<'_> {
    #[inline(always)]
    fn v4_to_v6(&self, flow: &Flow4) -> Result<(Ipv6Addr, Ipv6Addr), DropReason> {
        match &self.ce {
            Some(ce) => {
                self.check_own_source(ce, flow)?;
                let bmr = self.config.bmr.as_ref().ok_or(DropReason::NoMapping)?;
                // A CE of one IPv4 address sends from its MAP address (computed when the
                // configuration was published); one of a prefix from each host's own.
                let src = if ce.ipv4.len == 32 {
                    ce.map_address
                } else {
                    bmr.map_address(flow.src, ce.psid(), Mode::MapT).map_err(|_| DropReason::NoMapping)?
                };
                let dst = match self.fmr_for_ipv4(flow.dst) {
                    Some(rule) => self.destination_ce(rule, flow, Mode::MapT)?,
                    None => self.dmr_embed(flow.dst)?,
                };
                Ok((src, dst))
            }
            None => {
                let rule = self.fmrs.lookup_ipv4(flow.dst, flow.dst_port).ok_or(DropReason::NoMapping)?;
                let dst = self.destination_ce(rule, flow, Mode::MapT)?;
                Ok((self.dmr_embed(flow.src)?, dst))
            }
        }
    }

    #[inline(always)]
    fn v6_to_v4(&self, flow: &Flow6) -> Result<(Ipv4Addr, Ipv4Addr), DropReason> {
        let dmr = self.config.dmr.as_ref().ok_or(DropReason::NoMapping)?;
        match &self.ce {
            Some(ce) => {
                let mine = self.own_mapt_host(ce, flow.dst).ok_or(DropReason::NoMapping)?;
                self.check_own_destination(ce, mine, flow.dst_port)?;
                let src = match (dmr.extract(flow.src), self.fmr_for_ipv6(flow.src)) {
                    (Ok(src), _) => src,
                    // A meshing CE: its address must match an FMR and its own port.
                    (Err(_), Some(rule)) => mapt_source(rule, flow.src, flow.src_port)?,
                    (Err(_), None) if flow.kind == FlowKind::IcmpError => self.icmp_error_source(flow.src),
                    (Err(_), None) => return Err(DropReason::SourceMismatch),
                };
                Ok((src, mine))
            }
            None => {
                let dst = dmr.extract(flow.dst).map_err(|_| DropReason::NoMapping)?;
                let Some(rule) = self.fmrs.lookup_ipv6(flow.src) else {
                    return match flow.kind {
                        FlowKind::IcmpError => Ok((self.icmp_error_source(flow.src), dst)),
                        _ => Err(DropReason::SourceMismatch),
                    };
                };
                Ok((mapt_source(rule, flow.src, flow.src_port)?, dst))
            }
        }
    }

    fn ipv4_identification(&self) -> u16 {
        // The counter is the caller's own (the kernel's per-CPU state, used with bottom halves
        // off): a load and a store, not a locked read-modify-write on every packet.
        let id = self.ident.load(Ordering::Relaxed);
        self.ident.store(id.wrapping_add(1), Ordering::Relaxed);
        id
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    extern crate std;
    use super::*;

    fn key(id: u16) -> FragmentKey {
        from_host(id, 56)
    }

    fn from_host(id: u16, host: u8) -> FragmentKey {
        FragmentKey { src: Ipv4Addr::new(203, 0, 113, host), dst: Ipv4Addr::new(192, 0, 2, 8), proto: 17, id }
    }

    /// The PSID each datagram's first fragment had, in the tests below.
    fn psid_of(id: u16, host: u8) -> u16 {
        id.rotate_left(7) ^ u16::from(host) << 4
    }

    #[test]
    fn fragment_cache_recalls_what_it_remembered_and_evicts_by_slot() {
        let cache = FragmentCache::new();
        assert_eq!(cache.recall(&key(1)), None);
        cache.remember(key(1), 27);
        assert_eq!(cache.recall(&key(1)), Some(27));
        assert_eq!(cache.recall(&FragmentKey { proto: 6, ..key(1) }), None, "another protocol");
        assert_eq!(cache.recall(&FragmentKey { src: Ipv4Addr::new(203, 0, 113, 57), ..key(1) }), None);
        // A newer datagram in the same slot evicts the older one.
        let rival = (2..=u16::MAX).find(|&id| ptr::eq(cache.slot(&key(id)).unwrap(), cache.slot(&key(1)).unwrap())).unwrap();
        cache.remember(key(rival), 3);
        assert_eq!(cache.recall(&key(1)), None);
        assert_eq!(cache.recall(&key(rival)), Some(3));
    }

    /// Writers and readers on several threads at once (the device transmits on every CPU):
    /// a reader gets the PSID that was remembered for its datagram, or nothing, never another.
    #[test]
    fn fragment_cache_under_concurrent_writers_and_readers_never_answers_a_wrong_psid() {
        let cache = FragmentCache::new();
        let answered = std::sync::atomic::AtomicU64::new(0);
        let writing = std::sync::atomic::AtomicU32::new(2);
        std::thread::scope(|scope| {
            for thread in 0..4u16 {
                let (cache, answered, writing) = (&cache, &answered, &writing);
                scope.spawn(move || {
                    // Two writers and two readers over the same 256 datagrams, the same 16
                    // identifications from 16 hosts: slots collide, entries are evicted and
                    // rewritten while being read, and a torn read would mix two hosts'.
                    // Readers go on while a writer does (the scheduler may run them first).
                    let mut round = 0u32;
                    while round < 200_000 || (thread >= 2 && writing.load(Ordering::Relaxed) > 0) {
                        let (id, host) = ((round % 16) as u16, (round / 16 % 16) as u8);
                        if thread < 2 {
                            cache.remember(from_host(id, host), psid_of(id, host));
                        } else if let Some(psid) = cache.recall(&from_host(id, host)) {
                            assert_eq!(psid, psid_of(id, host), "datagram {id} from host {host}");
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        round = round.wrapping_add(1);
                    }
                    if thread < 2 {
                        writing.fetch_sub(1, Ordering::Relaxed);
                    }
                });
            }
        });
        assert!(answered.load(Ordering::Relaxed) > 0, "readers found remembered datagrams");
    }
}
