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
//! ICMPv6 errors from IPv6-only routers inside the domain come out from [`DUMMY_IPV4`].
//!
//! A packet whose port cannot be read (a non-first fragment) is accepted where the address
//! alone decides (the address of a MAP CE already carries its PSID). Where the port must
//! choose the destination (a BR or a meshing CE sending to a shared IPv4 address), the PSID of
//! the datagram's first fragment is used, from a [`FragmentCache`]; without one, or when the
//! first fragment was not seen, the fragment is refused ([`DropReason::PortUnknown`]).

use core::cell::Cell;
use core::net::{Ipv4Addr, Ipv6Addr};
use core::sync::atomic::{AtomicU16, Ordering};

use super::config::{Config, Role};
use super::rule::{CeMapping, Mode, Rule};
use super::xlat::{self, AddressMap, DropReason, Flow4, Flow6, FlowKind, Options, Translated, Verdict};

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
/// fragment that overtakes its first one is refused ([`DropReason::PortUnknown`]). Not
/// thread-safe: one per device, used under its transmit lock.
pub struct FragmentCache {
    entries: [Cell<Option<(FragmentKey, u16)>>; FRAGMENT_CACHE_SIZE],
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct FragmentKey {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    id: u16,
}

impl FragmentCache {
    pub const fn new() -> Self {
        FragmentCache { entries: [const { Cell::new(None) }; FRAGMENT_CACHE_SIZE] }
    }

    fn slot(&self, key: &FragmentKey) -> Option<&Cell<Option<(FragmentKey, u16)>>> {
        let mix = u32::from(key.src) ^ u32::from(key.dst).rotate_left(16) ^ u32::from(key.id) ^ u32::from(key.proto);
        self.entries.get(mix as usize % FRAGMENT_CACHE_SIZE)
    }

    fn remember(&self, key: FragmentKey, psid: u16) {
        if let Some(slot) = self.slot(&key) {
            slot.set(Some((key, psid)));
        }
    }

    fn recall(&self, key: &FragmentKey) -> Option<u16> {
        match self.slot(key)?.get() {
            Some((k, psid)) if k == *key => Some(psid),
            _ => None,
        }
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
    /// The CE's own mapping (None for a BR).
    ce: Option<CeMapping>,
    /// IPv4 Identification source for translated packets that need one.
    ident: &'a AtomicU16,
    /// Where a BR follows fragmented datagrams to shared addresses (none: it cannot).
    fragments: Option<&'a FragmentCache>,
}

impl<'a> Domain<'a> {
    /// The domain of `config`; [`DropReason::NoMapping`] while it is incomplete.
    pub fn new(config: &'a Config, ident: &'a AtomicU16) -> Result<Self, DropReason> {
        if config.missing().is_some() {
            return Err(DropReason::NoMapping);
        }
        let ce = match config.role {
            Role::Ce => Some(config.ce_mapping().and_then(|m| m.ok()).ok_or(DropReason::NoMapping)?),
            Role::Br => None,
        };
        Ok(Domain { config, ce, ident, fragments: None })
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
        match self.config.mode {
            Mode::MapT => xlat::v4_to_v6(buf, start, len, self, opts),
            Mode::MapE => {
                let flow = xlat::inspect_v4(buf, start, len)?;
                let (src, dst) = self.encap_addresses(&flow)?;
                // Too big without DF: fragment the IPv4 packet (the caller does) rather than
                // the outer IPv6 one, so the peer needs no reassembly to decapsulate and
                // still sees the ports of every first fragment (RFC 7597 §8.3.1 allows both).
                if let Some((total, false)) = ipv4_length_and_df(buf, start) {
                    if opts.mtu6 != 0 && usize::from(total).saturating_add(40) > opts.mtu6 as usize {
                        let mtu = u16::try_from(opts.mtu6.saturating_sub(40)).unwrap_or(u16::MAX);
                        return Err(Verdict::Fragment { mtu });
                    }
                }
                let out = xlat::encapsulate(buf, start, len, src, dst, opts)?;
                Ok(Translated { start: out.start, len: out.len })
            }
        }
    }

    /// An IPv6 packet routed into the device: translated (MAP-T) or decapsulated (MAP-E) in
    /// place after the RFC 7597 §8.1 checks.
    pub fn from_v6(&self, buf: &mut [u8], start: usize, len: usize, opts: &Options) -> Result<Translated, Verdict> {
        match self.config.mode {
            Mode::MapT => xlat::v6_to_v4(buf, start, len, self, opts),
            Mode::MapE => {
                // A Packet Too Big about our own tunnel packets (RFC 2473 §7): tell the IPv4
                // sender the MTU that fits (`unsupported-protocol` for any other ICMPv6).
                if ipv6_next_header(buf, start) == Some(58) {
                    let ours = match &self.ce {
                        Some(ce) => ce.map_address,
                        None => self.config.br_address.ok_or(DropReason::NoMapping)?,
                    };
                    return xlat::tunnel_too_big(buf, start, len, ours, self.ident.fetch_add(1, Ordering::Relaxed));
                }
                let out = xlat::decapsulate(buf, start, len)?;
                self.check_decapsulated(out.outer_src, out.outer_dst, &out.inner)?;
                Ok(Translated { start: out.start, len: out.len })
            }
        }
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
                let rule = self.config.fmrs.lookup_ipv4(flow.dst, flow.dst_port).ok_or(DropReason::NoMapping)?;
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
                check_source(rule, outer_src, inner.src, inner.src_port, Mode::MapE)
            }
            None => {
                if outer_dst != br {
                    return Err(DropReason::NoMapping);
                }
                let rule = self.config.fmrs.lookup_ipv4(inner.src, inner.src_port).ok_or(DropReason::SourceMismatch)?;
                check_source(rule, outer_src, inner.src, inner.src_port, Mode::MapE)
            }
        }
    }

    /// The FMR for an IPv4 destination, from a CE's point of view (the BMR counts when it
    /// has the forwarding flag).
    fn fmr_for_ipv4(&self, addr: Ipv4Addr) -> Option<&Rule> {
        self.config
            .fmrs
            .lookup_ipv4(addr, None)
            .or_else(|| self.config.bmr.as_ref().filter(|b| b.forwarding() && b.ipv4_prefix().contains(addr)))
    }

    fn fmr_for_ipv6(&self, addr: Ipv6Addr) -> Option<&Rule> {
        self.config
            .fmrs
            .lookup_ipv6(addr)
            .or_else(|| self.config.bmr.as_ref().filter(|b| b.forwarding() && b.ipv6_prefix().contains(addr)))
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
        Ok(self.config.dmr.ok_or(DropReason::NoMapping)?.embed(addr))
    }
}

/// The next header field of the IPv6 header at `buf[start..]`.
fn ipv6_next_header(buf: &[u8], start: usize) -> Option<u8> {
    buf.get(start..)?.get(6).copied()
}

/// The total length and DF bit of the IPv4 header at `buf[start..]` (already validated by
/// the engine when this is called).
fn ipv4_length_and_df(buf: &[u8], start: usize) -> Option<(u16, bool)> {
    let header = buf.get(start..)?.get(..8)?;
    let total = u16::from_be_bytes([*header.get(2)?, *header.get(3)?]);
    Some((total, header.get(6)? & 0x40 != 0))
}

/// RFC 7597 §8.1: `src6` must be the address `rule` derives for `src4` and `port`. Without a
/// port (a non-first fragment) the address must still decode to `src4`.
fn check_source(rule: &Rule, src6: Ipv6Addr, src4: Ipv4Addr, port: Option<u16>, mode: Mode) -> Result<(), DropReason> {
    let ok = match port {
        Some(port) => rule.owns(src6, src4, port, mode),
        None => rule.decode(src6, mode).is_ok_and(|d| match mode {
            Mode::MapE => d.ce_ipv4.contains(src4),
            Mode::MapT => d.ipv4 == src4,
        }),
    };
    if ok {
        Ok(())
    } else {
        Err(DropReason::SourceMismatch)
    }
}

impl AddressMap for Domain<'_> {
    fn v4_to_v6(&self, flow: &Flow4) -> Result<(Ipv6Addr, Ipv6Addr), DropReason> {
        match &self.ce {
            Some(ce) => {
                self.check_own_source(ce, flow)?;
                let bmr = self.config.bmr.as_ref().ok_or(DropReason::NoMapping)?;
                let src = bmr.map_address(flow.src, ce.psid(), Mode::MapT).map_err(|_| DropReason::NoMapping)?;
                let dst = match self.fmr_for_ipv4(flow.dst) {
                    Some(rule) => self.destination_ce(rule, flow, Mode::MapT)?,
                    None => self.dmr_embed(flow.dst)?,
                };
                Ok((src, dst))
            }
            None => {
                let rule = self.config.fmrs.lookup_ipv4(flow.dst, flow.dst_port).ok_or(DropReason::NoMapping)?;
                let dst = self.destination_ce(rule, flow, Mode::MapT)?;
                Ok((self.dmr_embed(flow.src)?, dst))
            }
        }
    }

    fn v6_to_v4(&self, flow: &Flow6) -> Result<(Ipv4Addr, Ipv4Addr), DropReason> {
        let dmr = self.config.dmr.ok_or(DropReason::NoMapping)?;
        match &self.ce {
            Some(ce) => {
                let bmr = self.config.bmr.as_ref().ok_or(DropReason::NoMapping)?;
                // Our MAP-T address (erratum 5225: the full IPv4 address in the IID).
                let mine = bmr.decode(flow.dst, Mode::MapT).map_err(|_| DropReason::NoMapping)?;
                if mine.psid != ce.psid() || !ce.ipv4.contains(mine.ipv4) {
                    return Err(DropReason::NoMapping);
                }
                self.check_own_destination(ce, mine.ipv4, flow.dst_port)?;
                let src = match (dmr.extract(flow.src), self.fmr_for_ipv6(flow.src)) {
                    (Ok(src), _) => src,
                    // A meshing CE: its address must match an FMR and its own port.
                    (Err(_), Some(rule)) => {
                        let peer = rule.decode(flow.src, Mode::MapT).map_err(|_| DropReason::SourceMismatch)?;
                        check_source(rule, flow.src, peer.ipv4, flow.src_port, Mode::MapT)?;
                        peer.ipv4
                    }
                    (Err(_), None) if flow.kind == FlowKind::IcmpError => DUMMY_IPV4,
                    (Err(_), None) => return Err(DropReason::SourceMismatch),
                };
                Ok((src, mine.ipv4))
            }
            None => {
                let dst = dmr.extract(flow.dst).map_err(|_| DropReason::NoMapping)?;
                let Some(rule) = self.config.fmrs.lookup_ipv6(flow.src) else {
                    return match flow.kind {
                        FlowKind::IcmpError => Ok((DUMMY_IPV4, dst)),
                        _ => Err(DropReason::SourceMismatch),
                    };
                };
                let peer = rule.decode(flow.src, Mode::MapT).map_err(|_| DropReason::SourceMismatch)?;
                check_source(rule, flow.src, peer.ipv4, flow.src_port, Mode::MapT)?;
                Ok((peer.ipv4, dst))
            }
        }
    }

    fn ipv4_identification(&self) -> u16 {
        self.ident.fetch_add(1, Ordering::Relaxed)
    }
}
