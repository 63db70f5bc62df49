//! The DHCPv6 S46 options (RFC 7598) parser on byte-exact encodings built here from the RFC's
//! figures (the section of each is named), and every malformed shape refused with its offset.

use std::net::{Ipv4Addr, Ipv6Addr};

use mapcore::s46::{code, ContainerKind, PortParams, S46ErrorKind, S46Options};
use mapcore::{Ipv4Prefix, Ipv6Prefix, Rule};

/// One option: code (2), length (2), data (RFC 8415 §21.1).
fn opt(code: u16, data: &[u8]) -> Vec<u8> {
    let mut out = code.to_be_bytes().to_vec();
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// S46_RULE (RFC 7598 §4.1, Figure 1): flags, ea-len, prefix4-len, ipv4-prefix (4 bytes),
/// prefix6-len, ipv6-prefix in ceil(prefix6-len / 8) bytes, then sub-options.
fn rule(forwarding: bool, ea_len: u8, v4: &str, len4: u8, v6: &str, len6: u8, subs: &[u8]) -> Vec<u8> {
    let mut d = vec![u8::from(forwarding), ea_len, len4];
    d.extend_from_slice(&v4.parse::<Ipv4Addr>().unwrap().octets());
    d.push(len6);
    d.extend_from_slice(&v6.parse::<Ipv6Addr>().unwrap().octets()[..usize::from(len6).div_ceil(8)]);
    d.extend_from_slice(subs);
    opt(code::S46_RULE, &d)
}

/// S46_PORTPARAMS (RFC 7598 §4.5, Figure 5): offset, psid-len, PSID left-aligned in 16 bits.
fn portparams(offset: u8, psid_len: u8, left_aligned_psid: u16) -> Vec<u8> {
    let mut d = vec![offset, psid_len];
    d.extend_from_slice(&left_aligned_psid.to_be_bytes());
    opt(code::S46_PORTPARAMS, &d)
}

/// S46_BR (RFC 7598 §4.2, Figure 2).
fn br(addr: &str) -> Vec<u8> {
    opt(code::S46_BR, &addr.parse::<Ipv6Addr>().unwrap().octets())
}

/// S46_DMR (RFC 7598 §4.3, Figure 3): dmr-prefix6-len, then ceil(len / 8) bytes.
fn dmr(v6: &str, len: u8) -> Vec<u8> {
    let mut d = vec![len];
    d.extend_from_slice(&v6.parse::<Ipv6Addr>().unwrap().octets()[..usize::from(len).div_ceil(8)]);
    opt(code::S46_DMR, &d)
}

fn v6p(s: &str) -> Ipv6Prefix {
    Ipv6Prefix::parse(s).unwrap()
}

fn v4p(s: &str) -> Ipv4Prefix {
    Ipv4Prefix::parse(s).unwrap()
}

fn container(kind: u16, subs: &[Vec<u8>]) -> Vec<u8> {
    opt(kind, &subs.concat())
}

#[test]
fn map_t_container_rfc7598_section_4_7() {
    // OPTION_S46_CONT_MAPT (§4.7, Figure 8): a rule, its port parameters and the one DMR.
    let bytes = container(code::S46_CONT_MAPT, &[
        rule(true, 13, "192.0.2.0", 24, "2001:db8:ce::", 51, &portparams(6, 0, 0)),
        dmr("64:ff9b::", 96),
    ]);
    // The sizes RFC 7598 gives: the /51 prefix in 7 bytes (rule length 8 + 7 + 8), a /96 DMR
    // in 12 (option length 13).
    assert_eq!(bytes.len(), 4 + (4 + 15 + 8) + (4 + 13));
    let options = S46Options::parse(&bytes).unwrap();
    let containers: Vec<_> = options.containers().collect();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(c.kind, ContainerKind::MapT);
    let rules: Vec<_> = c.rules().collect();
    assert_eq!(rules.len(), 1);
    let r = rules[0];
    assert!(r.forwarding, "F is the low bit of flags");
    assert_eq!((r.ea_len, r.ipv4_prefix, r.ipv6_prefix), (13, v4p("192.0.2.0/24"), v6p("2001:db8:ce::/51")));
    assert_eq!(r.port_params, Some(PortParams { offset: 6, psid_len: 0, psid: 0 }));
    assert_eq!(r.offset, 4, "the rule option starts after the container's header");
    assert_eq!(c.dmr(), Some(v6p("64:ff9b::/96")));
    assert_eq!(c.brs().count(), 0);
    // The rule as the core takes it.
    let rule = Rule::new(r.params()).unwrap();
    assert_eq!(rule.to_string(), "2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 6 forwarding");
}

#[test]
fn map_e_container_of_rfc7597_appendix_a_example_1_rfc7598_section_4_6() {
    // OPTION_S46_CONT_MAPE (§4.6, Figure 7): RFC 7597 Appendix A's rule (2001:db8::/40,
    // 192.0.2.0/24, EA 16, offset 6) and two BRs (may repeat, §4.2).
    let bytes = container(code::S46_CONT_MAPE, &[
        rule(false, 16, "192.0.2.0", 24, "2001:db8::", 40, &portparams(6, 8, 0)),
        br("2001:db8:ffff::1"),
        br("2001:db8:ffff::2"),
    ]);
    let options = S46Options::parse(&bytes).unwrap();
    let c = options.containers().next().unwrap();
    assert_eq!(c.kind, ContainerKind::MapE);
    let brs: Vec<Ipv6Addr> = c.brs().collect();
    assert_eq!(brs, ["2001:db8:ffff::1".parse::<Ipv6Addr>().unwrap(), "2001:db8:ffff::2".parse().unwrap()]);
    let r = c.rules().next().unwrap();
    assert!(!r.forwarding);
    // The EA bits carry the PSID (16 > 8 suffix bits): no explicit PSID for the core.
    let params = r.params();
    assert_eq!((params.psid_offset, params.psid_len, params.psid), (Some(6), None, None));
    let rule = Rule::new(params).unwrap();
    let ce = rule.ce_mapping(v6p("2001:db8:12:3400::/56")).unwrap();
    assert_eq!((ce.ipv4, ce.psid()), (v4p("192.0.2.18/32"), 0x34), "RFC 7597 A example 1: 192.0.2.18, PSID 0x34");
}

#[test]
fn lw4o6_container_with_left_aligned_psid_rfc7598_sections_4_4_4_5_4_8() {
    // OPTION_S46_CONT_LW (§4.8): a V4V6BIND (§4.4) with PORTPARAMS; PSID 0x34 of 8 bits
    // travels left-aligned as 0x3400 (§4.5), PSID 3 of 4 bits as 0x3000.
    let mut bind = vec![192, 0, 2, 1, 56];
    bind.extend_from_slice(&"2001:db8:12:3400::".parse::<Ipv6Addr>().unwrap().octets()[..7]);
    bind.extend_from_slice(&portparams(6, 8, 0x3400));
    let bytes = container(code::S46_CONT_LW, &[opt(code::S46_V4V6BIND, &bind), br("2001:db8:ffff::1")]);
    let c = S46Options::parse(&bytes).unwrap().containers().next().unwrap();
    let b = c.v4v6bind().unwrap();
    assert_eq!(b.ipv4, Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(b.bind_prefix, v6p("2001:db8:12:3400::/56"));
    assert_eq!(b.port_params, Some(PortParams { offset: 6, psid_len: 8, psid: 0x34 }));
    let small = container(code::S46_CONT_MAPE, &[
        rule(false, 0, "198.51.100.7", 32, "2001:db8:7::", 48, &portparams(4, 4, 0x3000)),
        br("2001:db8:ffff::1"),
    ]);
    let r = S46Options::parse(&small).unwrap().containers().next().unwrap().rules().next().unwrap();
    assert_eq!(r.port_params, Some(PortParams { offset: 4, psid_len: 4, psid: 3 }));
    // EA length 0 on a /32: the PSID is explicit for the core.
    let params = r.params();
    assert_eq!((params.psid_offset, params.psid_len, params.psid), (Some(4), Some(4), Some(3)));
}

#[test]
fn several_containers_priority_and_unknown_options_rfc8026() {
    // A Reply's options: a client id (skipped), MAP-E, MAP-T, then S46_PRIORITY (RFC 8026 §4)
    // preferring MAP-T; an unknown sub-option inside a rule is skipped too.
    let bytes = [
        opt(1, &[0, 3, 0, 1, 2, 4, 6, 8, 10, 12]),
        container(code::S46_CONT_MAPE, &[
            rule(false, 16, "192.0.2.0", 24, "2001:db8::", 40, &opt(4242, &[1, 2, 3])),
            br("2001:db8:ffff::1"),
        ]),
        container(code::S46_CONT_MAPT, &[rule(true, 13, "192.0.2.0", 24, "2001:db8:ce::", 51, &[]), dmr("64:ff9b::", 96)]),
        opt(code::S46_PRIORITY, &[0, 95, 0, 94]),
    ]
    .concat();
    let options = S46Options::parse(&bytes).unwrap();
    let kinds: Vec<_> = options.containers().map(|c| c.kind).collect();
    assert_eq!(kinds, [ContainerKind::MapE, ContainerKind::MapT]);
    assert_eq!(options.priority().collect::<Vec<_>>(), [95, 94]);
    assert_eq!(options.containers().next().unwrap().rules().next().unwrap().port_params, None);
}

#[test]
fn reserved_prefix_bits_are_ignored_rfc7598_section_4_1() {
    // "bits in the prefix after prefix6-len ... MUST be ignored by the receiver": the 7th byte
    // of a /51 carries 3 prefix bits and 5 reserved ones; prefix4 bits past 24 likewise.
    let mut bytes = container(code::S46_CONT_MAPT, &[
        rule(false, 13, "192.0.2.77", 24, "2001:db8:ce::", 51, &[]),
        dmr("64:ff9b::", 96),
    ]);
    bytes[4 + 4 + 8 + 6] |= 0x1f; // the reserved low bits of the prefix's last byte
    let r = S46Options::parse(&bytes).unwrap().containers().next().unwrap().rules().next().unwrap();
    assert_eq!(r.ipv6_prefix, v6p("2001:db8:ce::/51"));
    assert_eq!(r.ipv4_prefix, v4p("192.0.2.0/24"));
}

/// The error of `bytes`: (offset, kind).
fn refused(bytes: &[u8]) -> (usize, S46ErrorKind) {
    let e = S46Options::parse(bytes).expect_err("should be refused");
    assert!(!e.to_string().is_empty());
    (e.offset, e.kind)
}

#[test]
fn malformed_options_are_refused_with_their_offset() {
    let mapt = |subs: &[Vec<u8>]| container(code::S46_CONT_MAPT, subs);
    let good_rule = || rule(false, 13, "192.0.2.0", 24, "2001:db8:ce::", 51, &[]);
    let good_dmr = || dmr("64:ff9b::", 96);

    // A header cut short, and a length past the end (its offset: the length field).
    assert_eq!(refused(&[0, 95, 0]), (0, S46ErrorKind::TruncatedHeader));
    let mut long = mapt(&[good_rule(), good_dmr()]);
    long[3] += 1;
    assert_eq!(refused(&long).0, 2);
    assert!(matches!(refused(&long).1, S46ErrorKind::LengthPastEnd { code: 95, .. }));
    // A sub-option overrunning its container: at the sub-option's own length field.
    let mut inner = mapt(&[good_rule(), good_dmr()]);
    inner[4 + 3] += 30;
    assert_eq!(refused(&inner).0, 4 + 2);

    // prefix4-len above 32 (at the field: container 4 + rule header 4 + 2).
    let bytes = mapt(&[rule(false, 13, "192.0.2.0", 33, "2001:db8:ce::", 51, &[]), good_dmr()]);
    assert_eq!(refused(&bytes), (10, S46ErrorKind::Ipv4PrefixTooLong(33)));
    // prefix6-len above 128 (its bytes would be 17: build by hand).
    let mut d = vec![0, 13, 24, 192, 0, 2, 0, 129];
    d.extend_from_slice(&[0; 17]);
    assert_eq!(refused(&mapt(&[opt(code::S46_RULE, &d), good_dmr()])), (15, S46ErrorKind::Ipv6PrefixTooLong(129)));
    // ea-len above 48.
    let bytes = mapt(&[rule(false, 49, "192.0.2.0", 24, "2001:db8:ce::", 51, &[]), good_dmr()]);
    assert_eq!(refused(&bytes), (9, S46ErrorKind::EaLenTooLong(49)));
    // A rule shorter than its 8 fixed bytes, and one whose prefix bytes are missing.
    assert!(matches!(
        refused(&mapt(&[opt(code::S46_RULE, &[0, 13, 24, 192, 0, 2, 0]), good_dmr()])),
        (6, S46ErrorKind::BadLength { code: 89, length: 7, .. })
    ));
    assert!(matches!(
        refused(&mapt(&[opt(code::S46_RULE, &[0, 13, 24, 192, 0, 2, 0, 51, 0x20, 0x01]), good_dmr()])),
        (6, S46ErrorKind::BadLength { code: 89, length: 10, .. })
    ));

    // PORTPARAMS of 3 and 5 bytes, offset 16, offset + psid-len 17, a PSID past its length.
    for data in [&[6u8, 8, 0x34][..], &[6, 8, 0x34, 0, 0]] {
        let bytes = mapt(&[rule(false, 13, "192.0.2.0", 24, "2001:db8:ce::", 51, &opt(code::S46_PORTPARAMS, data)), good_dmr()]);
        let (offset, kind) = refused(&bytes);
        assert_eq!(offset, 4 + 4 + 15 + 2, "{data:?}");
        assert!(matches!(kind, S46ErrorKind::BadLength { code: 93, .. }), "{kind:?}");
    }
    let pp_at = 4 + 4 + 15 + 4;
    let with_pp = |pp: Vec<u8>| mapt(&[rule(false, 13, "192.0.2.0", 24, "2001:db8:ce::", 51, &pp), good_dmr()]);
    assert_eq!(refused(&with_pp(portparams(16, 0, 0))), (pp_at, S46ErrorKind::BadPortParams { offset: 16, psid_len: 0 }));
    assert_eq!(refused(&with_pp(portparams(6, 11, 0))), (pp_at, S46ErrorKind::BadPortParams { offset: 6, psid_len: 11 }));
    assert_eq!(
        refused(&with_pp(portparams(6, 8, 0x3401))),
        (pp_at + 2, S46ErrorKind::PsidPastLength { psid: 0x3401, psid_len: 8 })
    );

    // MAP-T with no DMR and with two; MAP-E without a BR or a rule; LW without a BR.
    let problem = |bytes: &[u8]| match refused(bytes) {
        (0, S46ErrorKind::Container { problem, .. }) => problem,
        other => panic!("{other:?}"),
    };
    assert!(problem(&mapt(&[good_rule()])).contains("no S46_DMR"));
    assert!(problem(&mapt(&[good_rule(), good_dmr(), good_dmr()])).contains("more than one S46_DMR"));
    assert!(problem(&mapt(&[good_dmr()])).contains("no S46_RULE"));
    assert!(problem(&container(code::S46_CONT_MAPE, &[good_rule()])).contains("no S46_BR"));
    assert!(problem(&container(code::S46_CONT_MAPE, &[br("2001:db8:ffff::1")])).contains("no S46_RULE"));
    assert!(problem(&container(code::S46_CONT_LW, &[])).contains("no S46_BR"));
    // A BR of 15 bytes, a DMR whose length byte disagrees with its size.
    assert!(matches!(
        refused(&container(code::S46_CONT_MAPE, &[good_rule(), opt(code::S46_BR, &[0; 15])])).1,
        S46ErrorKind::BadLength { code: 90, length: 15, .. }
    ));
    assert!(matches!(
        refused(&mapt(&[good_rule(), opt(code::S46_DMR, &[96, 0, 0x64, 0xff, 0x9b])])).1,
        S46ErrorKind::BadLength { code: 91, length: 5, .. }
    ));
    // S46_PRIORITY of an odd length.
    assert_eq!(refused(&opt(code::S46_PRIORITY, &[0, 95, 0])), (2, S46ErrorKind::BadPriority));
}

#[test]
fn a_hooks_container_payload_counts_offsets_from_its_first_byte() {
    // isc-dhcp-client and dhcpcd hand their hooks the container's data without its header.
    let whole = container(code::S46_CONT_MAPT, &[
        rule(false, 49, "192.0.2.0", 24, "2001:db8:ce::", 51, &[]),
        dmr("64:ff9b::", 96),
    ]);
    let e = S46Options::container_payload(ContainerKind::MapT, &whole[4..]).unwrap_err();
    assert_eq!((e.offset, e.kind), (5, S46ErrorKind::EaLenTooLong(49)));
    let good = container(code::S46_CONT_MAPT, &[
        rule(false, 13, "192.0.2.0", 24, "2001:db8:ce::", 51, &[]),
        dmr("64:ff9b::", 96),
    ]);
    let c = S46Options::container_payload(ContainerKind::MapT, &good[4..]).unwrap();
    assert_eq!(c.rules().next().unwrap().offset, 0);
}
