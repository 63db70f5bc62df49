//! `mapminctl translate`: the MAP core, offline, on captured packets.
//!
//! Reads packets from a pcap, pcapng or raw-IP file, runs each through the same
//! [`Domain::from_v4`] / [`Domain::from_v6`] the kernel module calls, writes what comes out
//! (pcap with LINKTYPE_RAW, or raw IP) and prints one verdict line per input packet. See
//! [`AFTER_HELP`] for the formats and exit codes; the README section "Checking parameters
//! offline: mapminctl translate" says the same.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicU16;
use std::time::Duration;

use clap::{Args, ValueEnum};
use crate::config_file::ConfigFile;
use mapcore::domain::{Domain, FragmentCache};
use mapcore::xlat::{IcmpReply, Options, TtlMode, Verdict};
use mapcore::Mode;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapParser, PcapWriter};
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};
use serde_json::{json, Map, Value};

/// `--help` text after the options: formats, verdict lines, exit codes.
pub const AFTER_HELP: &str = "\
Input (detected by its first bytes):
  pcap     link types RAW (101), IPV4 (228), IPV6 (229), ETHERNET (1; IPv4/IPv6 ethertypes,
           802.1Q/802.1ad tags skipped, other ethertypes get a 'skipped' verdict),
           LINUX_SLL (113), LINUX_SLL2 (276); any other link type is an error
  pcapng   the same link types, per interface
  raw IP   one or more IPv4/IPv6 packets back to back, split by their own length fields
           (the first must be whole; a length that cannot be used makes the rest one packet)
Each packet goes IPv4 -> IPv6 (Domain::from_v4) or IPv6 -> IPv4 (from_v6) by its version.

Output: OUT gets the packets that come out (pcap, LINKTYPE_RAW, input timestamps kept; or
--format raw: back to back). Without OUT no packets are written. Verdicts go to stdout, or
to stderr when OUT is '-' (the packets use stdout). IN '-' reads stdin.

Verdict lines (N counts input packets from 1; SUMMARY is 'SRC -> DST PROTO ...', e.g.
'udp 55296 -> 80', 'icmp type 8 code 0 id 7', 'ipip 192.0.2.8 -> ...' for MAP-E, then
'fragment offset O' for a fragment):
  N translated ipv4->ipv6 SUMMARY-OF-OUTPUT (LEN bytes)        MAP-T (also ipv6->ipv4)
  N encapsulated ipv4->ipv6 SUMMARY-OF-OUTPUT (LEN bytes)      MAP-E
  N decapsulated ipv6->ipv4 SUMMARY-OF-OUTPUT (LEN bytes)      MAP-E
  N dropped REASON ipv4|ipv6 SUMMARY-OF-INPUT (LEN bytes)      e.g. port-not-allowed, source-mismatch
  N icmp-reply KIND [mtu M|pointer P] ipv4|ipv6 SUMMARY-OF-INPUT (LEN bytes)
                   KIND: time-exceeded, fragmentation-needed, source-route-failed,
                   packet-too-big, parameter-problem (sent back in the input's family)
                   With --icmp-errors the error itself goes to OUT: to the input's source, from
                   --icmp-source4 (default 192.0.0.8, RFC 7600) or --icmp-source6 (default the
                   instance's own address: a CE's MAP address, a MAP-E BR's; a MAP-T BR has
                   none), quoting the input as far as 576 (ICMPv4) or 1280 (ICMPv6) bytes allow
  N fragment mtu M ipv4 SUMMARY-OF-INPUT (LEN bytes)           IPv4 without DF that needs
                   fragmenting to M bytes before translation (only with --mtu6/--mtu4)
  N skipped WHY (LEN bytes)                                    not IP: 'ethertype 0x0806', ...
With -j, one JSON object per line instead (packet, verdict, direction, reason, input, output...).

TTL: --ttl decrement (default; a standalone RFC 7915 translator), keep, or restore (what
the module does, adding back the hop its first forwarding took). MAP-E leaves the inner
TTL alone.

Exit status: 0 when every packet was read (drops included: the verdicts say so; with
--strict, 1 if any packet was not translated), 1 when the input or output fails (unreadable,
not pcap/pcapng/raw IP, truncated pcap: the packets before the damage are still processed),
2 for a bad or incomplete configuration (one line: FILE: line N: what).

Example:
  mapminctl translate --config ce.conf capture.pcap out.pcap
  tcpdump -w - -i lan | mapminctl translate --config ce.conf - - | tcpdump -r - -n";

/// Arguments of `mapminctl translate`.
#[derive(Args, Debug)]
pub struct TranslateArgs {
    /// Configuration file, in the syntax of `mapminctl apply` (role, mode, bmr, fmr, dmr, br...).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Input: pcap, pcapng or raw IP packets; '-' for stdin.
    #[arg(value_name = "IN")]
    pub input: String,
    /// Output for the packets that come out; '-' for stdout (verdicts then go to stderr).
    #[arg(value_name = "OUT")]
    pub output: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Pcap)]
    pub format: Format,
    /// TTL / hop limit handling of MAP-T translation.
    #[arg(long, value_enum, default_value_t = TtlArg::Decrement)]
    pub ttl: TtlArg,
    /// Largest IPv6 packet that may come out (0: no limit); larger ones get an ICMP verdict.
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub mtu6: u32,
    /// Largest IPv4 packet that may come out (0: no limit).
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub mtu4: u32,
    /// Write the ICMP errors the device would send back (time-exceeded, fragmentation-needed,
    /// packet-too-big, ...) to OUT as packets, after their verdict.
    #[arg(long)]
    pub icmp_errors: bool,
    /// Source of the ICMPv4 errors --icmp-errors writes (the kernel's come from the box's own
    /// address, which a capture does not tell).
    #[arg(long, value_name = "ADDR", default_value_t = mapcore::domain::DUMMY_IPV4)]
    pub icmp_source4: Ipv4Addr,
    /// Source of the ICMPv6 errors --icmp-errors writes (default: the instance's own address).
    #[arg(long, value_name = "ADDR")]
    pub icmp_source6: Option<Ipv6Addr>,
    /// Exit 1 if any packet was not translated.
    #[arg(long)]
    pub strict: bool,
    /// One JSON object per verdict line.
    #[arg(short = 'j', long)]
    pub json: bool,
}

/// `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// pcap, LINKTYPE_RAW (101).
    Pcap,
    /// IP packets back to back.
    Raw,
}

/// `--ttl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TtlArg {
    /// TTL - 1, Time Exceeded at 1 (RFC 7915).
    Decrement,
    /// Unchanged.
    Keep,
    /// TTL + 1 (the module, which sits between two forwardings).
    Restore,
}

impl From<TtlArg> for TtlMode {
    fn from(t: TtlArg) -> TtlMode {
        match t {
            TtlArg::Decrement => TtlMode::Decrement,
            TtlArg::Keep => TtlMode::Keep,
            TtlArg::Restore => TtlMode::Restore,
        }
    }
}

/// Headroom before each packet: the core writes longer headers in front (40 bytes at most).
const HEADROOM: usize = 64;

/// Runs the subcommand; prints errors as `mapminctl: translate: ...`.
pub fn run(args: &TranslateArgs, json: bool) -> ExitCode {
    match translate(args, args.json || json) {
        Ok(code) => code,
        Err(Failure(code, message)) => {
            eprintln!("mapminctl: translate: {message}");
            ExitCode::from(code)
        }
    }
}

/// A failure: exit code and message.
struct Failure(u8, String);

fn translate(args: &TranslateArgs, json: bool) -> Result<ExitCode, Failure> {
    let file = args.config.display();
    let text = std::fs::read_to_string(&args.config).map_err(|e| Failure(1, format!("{file}: {e}")))?;
    let config = ConfigFile::parse(&text).map_err(|e| Failure(2, format!("{file}: {e}")))?;
    let input = read_input(&args.input)?;
    let (frames, damage) = frames(&input).map_err(|e| Failure(1, format!("{}: {e}", args.input)))?;

    let to_stdout = args.output.as_deref() == Some("-");
    let mut packets: Option<PacketSink> = match args.output.as_deref() {
        None => None,
        Some("-") => Some(PacketSink::new(Box::new(io::stdout().lock()), args.format)),
        Some(path) => {
            let file = File::create(path).map_err(|e| Failure(1, format!("{path}: {e}")))?;
            Some(PacketSink::new(Box::new(file), args.format))
        }
    }
    .transpose()
    .map_err(|e| Failure(1, format!("{}: {e}", args.output.as_deref().unwrap_or("-"))))?;
    let mut verdicts: Box<dyn Write> =
        if to_stdout { Box::new(io::stderr().lock()) } else { Box::new(BufWriter::new(io::stdout().lock())) };

    let opts = Options { ttl: args.ttl.into(), mtu6: args.mtu6, mtu4: args.mtu4, ..Options::default() };
    let ident = AtomicU16::new(0);
    // As the device does: a BR sends later fragments where their first one went.
    let fragments = FragmentCache::new();
    let domain = config
        .domain(&ident)
        .map_err(|_| Failure(2, format!("{file}: the configuration is incomplete")))?
        .with_fragment_cache(&fragments);
    // The ICMPv6 errors' source: given, or the instance's own IPv6 address.
    let own6 = match config.config.ce_mapping() {
        Some(Ok(ce)) => Some(ce.map_address),
        _ => config.config.br_address,
    };
    let icmp_source6 = args.icmp_source6.or(own6);
    if args.icmp_errors && args.output.is_none() {
        return Err(Failure(2, "--icmp-errors writes the errors to OUT: give one".into()));
    }
    if args.icmp_errors && icmp_source6.is_none() {
        return Err(Failure(2, "--icmp-errors: this instance has no IPv6 address of its own (a MAP-T BR): give --icmp-source6".into()));
    }
    let out_name = args.output.as_deref().unwrap_or("-").to_string();
    let write_failed = |e: io::Error| Failure(1, format!("{out_name}: {e}"));
    let mut all_translated = true;
    for (index, frame) in frames.iter().enumerate() {
        let number = index + 1;
        let outcome = process(&domain, config.config.mode, &frame.data, &opts);
        if let Outcome::Translated { packet, .. } = &outcome {
            if let Some(sink) = packets.as_mut() {
                sink.write(frame.timestamp, packet).map_err(&write_failed)?;
            }
        } else {
            all_translated = false;
        }
        if let (Outcome::Reply { reply, .. }, FrameData::Ip(input), Some(sink), true) =
            (&outcome, &frame.data, packets.as_mut(), args.icmp_errors)
        {
            if let Some(error) = icmp_error(*reply, input, args.icmp_source4, icmp_source6) {
                sink.write(frame.timestamp, &error).map_err(&write_failed)?;
            }
        }
        let line = if json { outcome.json(number).to_string() } else { outcome.text(number) };
        writeln!(verdicts, "{line}").map_err(|e| Failure(1, format!("verdicts: {e}")))?;
    }
    if let Some(sink) = packets {
        sink.finish().map_err(&write_failed)?;
    }
    verdicts.flush().map_err(|e| Failure(1, format!("verdicts: {e}")))?;
    if let Some(damage) = damage {
        return Err(Failure(1, format!("{}: {damage}", args.input)));
    }
    Ok(if args.strict && !all_translated { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn read_input(name: &str) -> Result<Vec<u8>, Failure> {
    let mut data = Vec::new();
    let result = if name == "-" {
        io::stdin().lock().read_to_end(&mut data).map(|_| ())
    } else {
        File::open(name).and_then(|mut f| f.read_to_end(&mut data)).map(|_| ())
    };
    result.map_err(|e| Failure(1, format!("{name}: {e}")))?;
    Ok(data)
}

/// Where translated packets go.
struct PacketSink {
    kind: SinkKind,
}

enum SinkKind {
    Pcap(PcapWriter<BufWriter<Box<dyn Write>>>),
    Raw(BufWriter<Box<dyn Write>>),
}

impl PacketSink {
    fn new(out: Box<dyn Write>, format: Format) -> io::Result<Self> {
        let out = BufWriter::new(out);
        match format {
            Format::Raw => Ok(PacketSink { kind: SinkKind::Raw(out) }),
            Format::Pcap => {
                let header = PcapHeader {
                    version_major: 2,
                    version_minor: 4,
                    ts_correction: 0,
                    ts_accuracy: 0,
                    snaplen: 262_144,
                    datalink: DataLink::RAW,
                    ts_resolution: TsResolution::MicroSecond,
                    endianness: Endianness::Little,
                };
                PcapWriter::with_header(out, header)
                    .map(|w| PacketSink { kind: SinkKind::Pcap(w) })
                    .map_err(pcap_io_error)
            }
        }
    }

    fn write(&mut self, timestamp: Duration, packet: &[u8]) -> io::Result<()> {
        match &mut self.kind {
            SinkKind::Raw(out) => out.write_all(packet),
            SinkKind::Pcap(w) => {
                let len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
                w.write_packet(&PcapPacket::new(timestamp, len, packet)).map(|_| ()).map_err(pcap_io_error)
            }
        }
    }

    fn finish(self) -> io::Result<()> {
        match self.kind {
            SinkKind::Raw(mut out) => out.flush(),
            SinkKind::Pcap(w) => w.into_writer().flush(),
        }
    }
}

fn pcap_io_error(e: PcapError) -> io::Error {
    match e {
        PcapError::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// One input packet: its timestamp and its network-layer bytes, or why it has none.
#[derive(Debug)]
pub struct Frame {
    pub timestamp: Duration,
    pub data: FrameData,
}

/// An input packet's content.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameData {
    /// An IP packet (possibly followed by link padding, which the core ignores).
    Ip(Vec<u8>),
    /// Not an IP packet: why, and the length of the frame.
    Skipped(String, usize),
}

/// Splits an input file into packets. Errors that leave nothing to read are `Err`; damage
/// after some packets (a truncated record) is returned beside the packets read before it.
pub fn frames(input: &[u8]) -> Result<(Vec<Frame>, Option<String>), String> {
    match input.get(..4) {
        Some(
            [0xa1, 0xb2, 0xc3, 0xd4] | [0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d] | [0x4d, 0x3c, 0xb2, 0xa1],
        ) => pcap_frames(input),
        Some([0x0a, 0x0d, 0x0d, 0x0a]) => pcapng_frames(input),
        _ => match input.first() {
            None => Ok((Vec::new(), None)),
            Some(_) if looks_like_ip(input) => Ok((raw_frames(input), None)),
            Some(_) => Err(format!(
                "not a pcap, pcapng or raw IP file (it starts with {})",
                input.iter().take(4).map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
            )),
        },
    }
}

/// Whether the input starts with a whole IPv4 or IPv6 packet (its length field fits), which
/// is what tells a raw IP file from anything else.
fn looks_like_ip(input: &[u8]) -> bool {
    match input.first().map(|b| b >> 4) {
        Some(4) => {
            let ihl = input.first().map_or(0, |b| usize::from(b & 0x0f) * 4);
            be16(input, 2).map(usize::from).is_some_and(|n| ihl >= 20 && n >= ihl && n <= input.len())
        }
        Some(6) => be16(input, 4).map(usize::from).is_some_and(|n| n > 0 && n + 40 <= input.len()),
        _ => false,
    }
}

/// Back-to-back IP packets split by their length fields; a packet whose length field cannot
/// be used (too small, past the end, not IP) takes the rest of the input, and the core says
/// what is wrong with it.
fn raw_frames(input: &[u8]) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let len = match rest.first().map(|b| b >> 4) {
            Some(4) => be16(rest, 2).map(usize::from).filter(|&n| n >= 20),
            Some(6) => be16(rest, 4).map(usize::from).filter(|&n| n > 0).map(|n| n + 40),
            _ => None,
        }
        .filter(|&n| n <= rest.len())
        .unwrap_or(rest.len());
        let (packet, tail) = rest.split_at(len);
        out.push(Frame { timestamp: Duration::ZERO, data: FrameData::Ip(packet.to_vec()) });
        rest = tail;
    }
    out
}

fn pcap_frames(input: &[u8]) -> Result<(Vec<Frame>, Option<String>), String> {
    let (mut rest, parser) = PcapParser::new(input).map_err(|e| match e {
        PcapError::IncompleteBuffer => "truncated pcap file header".to_string(),
        other => format!("bad pcap file header: {other}"),
    })?;
    let header = parser.header();
    let linktype = u32::from(header.datalink);
    if link_supported(linktype).is_none() {
        return Err(format!("unsupported pcap link type {linktype} ({SUPPORTED_LINKS})"));
    }
    let mut out = Vec::new();
    while !rest.is_empty() {
        let number = out.len() + 1;
        match parser.next_raw_packet(rest) {
            Ok((tail, raw)) => {
                let frac = match header.ts_resolution {
                    TsResolution::MicroSecond => u64::from(raw.ts_frac).saturating_mul(1000),
                    TsResolution::NanoSecond => u64::from(raw.ts_frac),
                };
                let timestamp = Duration::from_secs(u64::from(raw.ts_sec)) + Duration::from_nanos(frac);
                out.push(Frame { timestamp, data: network_layer(linktype, &raw.data) });
                rest = tail;
            }
            Err(PcapError::IncompleteBuffer) => {
                return Ok((
                    out,
                    Some(format!("truncated pcap: packet {number}'s record runs past the end of the file")),
                ))
            }
            Err(other) => return Ok((out, Some(format!("bad pcap record {number}: {other}")))),
        }
    }
    Ok((out, None))
}

fn pcapng_frames(input: &[u8]) -> Result<(Vec<Frame>, Option<String>), String> {
    let (mut rest, mut parser) = PcapNgParser::new(input).map_err(|e| match e {
        PcapError::IncompleteBuffer => "truncated pcapng section header".to_string(),
        other => format!("bad pcapng section header: {other}"),
    })?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (tail, block) = match parser.next_block(rest) {
            Ok(ok) => ok,
            Err(PcapError::IncompleteBuffer) => {
                return Ok((out, Some("truncated pcapng: the last block runs past the end of the file".into())))
            }
            Err(other) => return Ok((out, Some(format!("bad pcapng block: {other}")))),
        };
        rest = tail;
        let (interface, ticks, data) = match block {
            Block::EnhancedPacket(p) => (p.interface_id, Some(p.timestamp.as_nanos()), p.data),
            Block::SimplePacket(p) => {
                // No captured length: the body's padding is not part of the packet.
                let len = usize::try_from(p.original_len).unwrap_or(usize::MAX).min(p.data.len());
                (0, None, std::borrow::Cow::Owned(p.data.get(..len).unwrap_or_default().to_vec()))
            }
            Block::Packet(p) => (u32::from(p.interface_id), Some(u128::from(p.timestamp)), p.data),
            _ => continue,
        };
        let Some(iface) = usize::try_from(interface).ok().and_then(|i| parser.interfaces().get(i)) else {
            return Ok((
                out,
                Some(format!("bad pcapng: a packet names interface {interface}, which is not described")),
            ));
        };
        let linktype = u32::from(iface.linktype);
        // pcap-file reads the raw timestamp as nanoseconds; its unit is the interface's
        // if_tsresol (default microseconds).
        let timestamp = ticks.map(|t| ts_from_ticks(t, &iface.options)).unwrap_or_default();
        let data = match link_supported(linktype) {
            Some(_) => network_layer(linktype, &data),
            None => FrameData::Skipped(format!("linktype {linktype}"), data.len()),
        };
        out.push(Frame { timestamp, data });
    }
    Ok((out, None))
}

fn ts_from_ticks(ticks: u128, options: &[InterfaceDescriptionOption]) -> Duration {
    let resol = options
        .iter()
        .find_map(|o| match o {
            InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
            _ => None,
        })
        .unwrap_or(6);
    let per_second: u128 = if resol & 0x80 != 0 {
        1u128.checked_shl(u32::from(resol & 0x7f)).unwrap_or(0)
    } else {
        10u128.checked_pow(u32::from(resol)).unwrap_or(0)
    };
    if per_second == 0 {
        return Duration::ZERO;
    }
    let secs = u64::try_from(ticks / per_second).unwrap_or(u64::MAX);
    let nanos = (ticks % per_second).saturating_mul(1_000_000_000) / per_second;
    Duration::from_secs(secs) + Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
}

const SUPPORTED_LINKS: &str = "supported: ETHERNET 1, RAW 101, LINUX_SLL 113, IPV4 228, IPV6 229, LINUX_SLL2 276";

/// The length of the link-layer header of a supported link type (Ethernet's varies).
fn link_supported(linktype: u32) -> Option<()> {
    matches!(linktype, 1 | 101 | 113 | 228 | 229 | 276).then_some(())
}

/// The IP packet inside a frame of the given link type.
fn network_layer(linktype: u32, frame: &[u8]) -> FrameData {
    let skipped = |why: String| FrameData::Skipped(why, frame.len());
    let (ethertype, offset) = match linktype {
        1 => {
            let mut offset = 12;
            let mut ethertype = be16(frame, offset);
            // 802.1Q / 802.1ad tags.
            while let Some(0x8100 | 0x88a8 | 0x9100) = ethertype {
                offset += 4;
                ethertype = be16(frame, offset);
            }
            (ethertype, offset + 2)
        }
        113 => (be16(frame, 14), 16),
        276 => (be16(frame, 0), 20),
        _ => return FrameData::Ip(frame.to_vec()),
    };
    match ethertype {
        None => skipped("short-frame".into()),
        Some(0x0800 | 0x86dd) => match frame.get(offset..) {
            Some(ip) => FrameData::Ip(ip.to_vec()),
            None => skipped("short-frame".into()),
        },
        Some(other) => skipped(format!("ethertype 0x{other:04x}")),
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at.checked_add(1)?)?]))
}

/// What happened to one packet.
#[derive(Debug)]
pub enum Outcome {
    /// Translated, encapsulated or decapsulated: the verb, the input family (4 or 6), the
    /// input's summary and the packet that came out.
    Translated { verb: &'static str, from: u8, input: Option<Summary>, packet: Vec<u8> },
    /// Dropped (no reply).
    Dropped { reason: &'static str, input: Option<Summary>, len: usize },
    /// Dropped, with an ICMP error back to the source.
    Reply { reply: IcmpReply, from: u8, input: Option<Summary>, len: usize },
    /// IPv4 without DF, too big: fragment to `mtu` first.
    Fragment { mtu: u16, input: Option<Summary>, len: usize },
    /// Not an IP packet.
    Skipped { why: String, len: usize },
}

/// Runs one packet through the domain.
pub fn process(domain: &Domain<'_>, mode: Mode, data: &FrameData, opts: &Options) -> Outcome {
    let packet = match data {
        FrameData::Ip(p) => p,
        FrameData::Skipped(why, len) => return Outcome::Skipped { why: why.clone(), len: *len },
    };
    let input = Summary::parse(packet);
    let len = packet.len();
    let version = packet.first().map(|b| b >> 4);
    let mut buf = vec![0u8; HEADROOM];
    buf.extend_from_slice(packet);
    let (result, verb) = match version {
        Some(4) => (
            domain.from_v4(&mut buf, HEADROOM, len, opts),
            if mode == Mode::MapE { "encapsulated" } else { "translated" },
        ),
        Some(6) => (
            domain.from_v6(&mut buf, HEADROOM, len, opts),
            if mode == Mode::MapE { "decapsulated" } else { "translated" },
        ),
        None => return Outcome::Dropped { reason: "truncated", input, len },
        Some(_) => return Outcome::Dropped { reason: "bad-version", input, len },
    };
    let from = version.unwrap_or(0);
    match result {
        Ok(t) => match buf.get(t.start..t.start.saturating_add(t.len)) {
            Some(out) => Outcome::Translated { verb, from, input, packet: out.to_vec() },
            None => Outcome::Dropped { reason: "internal", input, len },
        },
        Err(Verdict::Drop(reason)) => Outcome::Dropped { reason: reason.name(), input, len },
        Err(Verdict::Reply(reply)) => Outcome::Reply { reply, from, input, len },
        Err(Verdict::Fragment { mtu }) => Outcome::Fragment { mtu, input, len },
        // Only partial shapes ask for the whole packet; this one is whole.
        Err(Verdict::NeedWhole) => Outcome::Dropped { reason: "internal", input, len },
    }
}

/// The ICMP error `reply` about `input`, as the device sends it back: to the input's source,
/// in its family, from `source4` or `source6`, quoting as much of the input as fits in 576
/// bytes (ICMPv4, RFC 1812 §4.3.2.3) or 1280 (ICMPv6, RFC 4443 §2.4). IPv4 errors carry the
/// Internetwork Control precedence and no DF, as Linux's do; both have a TTL / hop limit of 64.
pub fn icmp_error(reply: IcmpReply, input: &[u8], source4: Ipv4Addr, source6: Option<Ipv6Addr>) -> Option<Vec<u8>> {
    use etherparse::{Icmpv4Header, Icmpv4Type, Icmpv6Header, Icmpv6Type, IpDscp, IpNumber, Ipv4Header, Ipv6Header};
    let version = input.first()? >> 4;
    let (type_u8, code_u8, info) = reply.for_family(version == 6);
    let bytes5to8 = info.to_be_bytes();
    let (mut out, icmp, quote) = if version == 4 {
        let to: [u8; 4] = input.get(12..16)?.try_into().ok()?;
        let quote = &input[..input.len().min(576 - 28)];
        let icmp = Icmpv4Header::with_checksum(Icmpv4Type::Unknown { type_u8, code_u8, bytes5to8 }, quote);
        let mut ip = Ipv4Header::new((8 + quote.len()) as u16, 64, IpNumber::ICMP, source4.octets(), to).ok()?;
        ip.dscp = IpDscp::try_new(0xc0 >> 2).ok()?;
        ip.dont_fragment = false;
        ip.header_checksum = ip.calc_header_checksum();
        (ip.to_bytes().to_vec(), icmp.to_bytes().to_vec(), quote)
    } else {
        let from = source6?.octets();
        let to: [u8; 16] = input.get(8..24)?.try_into().ok()?;
        let quote = &input[..input.len().min(1280 - 48)];
        let icmp = Icmpv6Header::with_checksum(Icmpv6Type::Unknown { type_u8, code_u8, bytes5to8 }, from, to, quote).ok()?;
        let ip = Ipv6Header {
            traffic_class: 0,
            flow_label: Default::default(),
            payload_length: (8 + quote.len()) as u16,
            next_header: IpNumber::IPV6_ICMP,
            hop_limit: 64,
            source: from,
            destination: to,
        };
        (ip.to_bytes().to_vec(), icmp.to_bytes().to_vec(), quote)
    };
    out.extend_from_slice(&icmp);
    out.extend_from_slice(quote);
    Some(out)
}

fn family(from: u8) -> &'static str {
    if from == 6 {
        "ipv6"
    } else {
        "ipv4"
    }
}

/// The name and parameter of an ICMP reply: (kind, Some(("mtu"|"pointer", value))).
fn reply_words(reply: IcmpReply) -> (&'static str, Option<(&'static str, u32)>) {
    match reply {
        IcmpReply::TimeExceeded => ("time-exceeded", None),
        IcmpReply::FragmentationNeeded { mtu } => ("fragmentation-needed", Some(("mtu", u32::from(mtu)))),
        IcmpReply::SourceRouteFailed => ("source-route-failed", None),
        IcmpReply::PacketTooBig { mtu } => ("packet-too-big", Some(("mtu", mtu))),
        IcmpReply::ParameterProblem { pointer } => ("parameter-problem", Some(("pointer", pointer))),
    }
}

impl Outcome {
    /// The verdict line.
    pub fn text(&self, number: usize) -> String {
        let mut s = format!("{number} ");
        let tail = |s: &mut String, fam: &str, input: &Option<Summary>, len: usize| {
            if let Some(sum) = input {
                let _ = write!(s, " {fam} {sum}");
            }
            let _ = write!(s, " ({len} bytes)");
        };
        match self {
            Outcome::Translated { verb, from, packet, .. } => {
                let dir = if *from == 6 { "ipv6->ipv4" } else { "ipv4->ipv6" };
                let _ = write!(s, "{verb} {dir}");
                if let Some(sum) = Summary::parse(packet) {
                    let _ = write!(s, " {sum}");
                }
                let _ = write!(s, " ({} bytes)", packet.len());
            }
            Outcome::Dropped { reason, input, len } => {
                let _ = write!(s, "dropped {reason}");
                let fam = input.as_ref().map_or("ipv4", |i| family(i.version));
                tail(&mut s, fam, input, *len);
            }
            Outcome::Reply { reply, from, input, len } => {
                let (kind, param) = reply_words(*reply);
                let _ = write!(s, "icmp-reply {kind}");
                if let Some((name, value)) = param {
                    let _ = write!(s, " {name} {value}");
                }
                tail(&mut s, family(*from), input, *len);
            }
            Outcome::Fragment { mtu, input, len } => {
                let _ = write!(s, "fragment mtu {mtu}");
                tail(&mut s, "ipv4", input, *len);
            }
            Outcome::Skipped { why, len } => {
                let _ = write!(s, "skipped {why} ({len} bytes)");
            }
        }
        s
    }

    /// The verdict as one JSON object.
    pub fn json(&self, number: usize) -> Value {
        let mut m = Map::new();
        m.insert("packet".into(), json!(number));
        let input_json = |m: &mut Map<String, Value>, input: &Option<Summary>, len: usize| {
            if let Some(sum) = input {
                m.insert("input".into(), sum.json());
            }
            m.insert("length".into(), json!(len));
        };
        match self {
            Outcome::Translated { verb, from, input, packet } => {
                m.insert("verdict".into(), json!(verb));
                let dir = if *from == 6 { "ipv6->ipv4" } else { "ipv4->ipv6" };
                m.insert("direction".into(), json!(dir));
                if let Some(sum) = input {
                    m.insert("input".into(), sum.json());
                }
                if let Some(sum) = Summary::parse(packet) {
                    m.insert("output".into(), sum.json());
                }
                m.insert("length".into(), json!(packet.len()));
            }
            Outcome::Dropped { reason, input, len } => {
                m.insert("verdict".into(), json!("dropped"));
                m.insert("reason".into(), json!(reason));
                input_json(&mut m, input, *len);
            }
            Outcome::Reply { reply, from, input, len } => {
                m.insert("verdict".into(), json!("icmp-reply"));
                let (kind, param) = reply_words(*reply);
                m.insert("icmp".into(), json!(kind));
                let (ty, code, _) = reply.for_family(*from == 6);
                m.insert("icmp_type".into(), json!(ty));
                m.insert("icmp_code".into(), json!(code));
                if let Some((name, value)) = param {
                    m.insert(name.into(), json!(value));
                }
                input_json(&mut m, input, *len);
            }
            Outcome::Fragment { mtu, input, len } => {
                m.insert("verdict".into(), json!("fragment"));
                m.insert("mtu".into(), json!(mtu));
                input_json(&mut m, input, *len);
            }
            Outcome::Skipped { why, len } => {
                m.insert("verdict".into(), json!("skipped"));
                m.insert("reason".into(), json!(why));
                m.insert("length".into(), json!(len));
            }
        }
        Value::Object(m)
    }
}

/// What a verdict line says about a packet: addresses, protocol, ports or ICMP type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub version: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    /// TCP/UDP ports.
    pub ports: Option<(u16, u16)>,
    /// ICMP / ICMPv6 type and code.
    pub icmp: Option<(u8, u8)>,
    /// ICMP echo identifier.
    pub echo_id: Option<u16>,
    /// Fragment offset in bytes, for a fragment.
    pub fragment: Option<u16>,
    /// MAP-E: the packet inside.
    pub inner: Option<Box<Summary>>,
}

impl Summary {
    /// Reads what it can of an IP packet's headers; None if it has no usable IP header.
    pub fn parse(p: &[u8]) -> Option<Summary> {
        Self::parse_depth(p, 0)
    }

    fn parse_depth(p: &[u8], depth: u8) -> Option<Summary> {
        let (version, src, dst, proto, l4, fragment) = match p.first()? >> 4 {
            4 => {
                let ihl = usize::from(p.first()? & 0x0f) * 4;
                let hdr = p.get(..20)?;
                let end = usize::from(be16(p, 2)?).min(p.len());
                let frag = be16(p, 6)?;
                let offset = (frag & 0x1fff) * 8;
                let fragment = (offset != 0 || frag & 0x2000 != 0).then_some(offset);
                let src = Ipv4Addr::new(hdr[12], hdr[13], hdr[14], hdr[15]);
                let dst = Ipv4Addr::new(hdr[16], hdr[17], hdr[18], hdr[19]);
                let l4 = if ihl >= 20 && offset == 0 { p.get(ihl..end) } else { None };
                (4, IpAddr::V4(src), IpAddr::V4(dst), hdr[9], l4, fragment)
            }
            6 => {
                let hdr = p.get(..40)?;
                let src = Ipv6Addr::from(<[u8; 16]>::try_from(&hdr[8..24]).ok()?);
                let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&hdr[24..40]).ok()?);
                let mut nh = hdr[6];
                let mut off = 40usize;
                let mut fragment = None;
                let mut l4_ok = true;
                for _ in 0..8 {
                    match nh {
                        0 | 43 | 60 => {
                            let len = (usize::from(*p.get(off + 1)?) + 1) * 8;
                            nh = *p.get(off)?;
                            off += len;
                        }
                        51 => {
                            let len = (usize::from(*p.get(off + 1)?) + 2) * 4;
                            nh = *p.get(off)?;
                            off += len;
                        }
                        44 => {
                            let fo = be16(p, off + 2)?;
                            nh = *p.get(off)?;
                            fragment = Some(fo & 0xfff8);
                            l4_ok = fo & 0xfff8 == 0;
                            off += 8;
                        }
                        _ => break,
                    }
                }
                let l4 = if l4_ok { p.get(off..) } else { None };
                (6, IpAddr::V6(src), IpAddr::V6(dst), nh, l4, fragment)
            }
            _ => return None,
        };
        let mut sum =
            Summary { version, src, dst, proto, ports: None, icmp: None, echo_id: None, fragment, inner: None };
        if let Some(l4) = l4 {
            match proto {
                6 | 17 => {
                    if let (Some(sp), Some(dp)) = (be16(l4, 0), be16(l4, 2)) {
                        sum.ports = Some((sp, dp));
                    }
                }
                1 | 58 => {
                    if let (Some(&ty), Some(&code)) = (l4.first(), l4.get(1)) {
                        sum.icmp = Some((ty, code));
                        let echo = if proto == 1 { matches!(ty, 0 | 8) } else { matches!(ty, 128 | 129) };
                        if echo {
                            sum.echo_id = be16(l4, 4);
                        }
                    }
                }
                4 | 41 if depth == 0 => sum.inner = Self::parse_depth(l4, 1).map(Box::new),
                _ => {}
            }
        }
        Some(sum)
    }

    fn proto_name(&self) -> Option<&'static str> {
        Some(match self.proto {
            6 => "tcp",
            17 => "udp",
            1 => "icmp",
            58 => "icmpv6",
            4 => "ipip",
            41 => "ipv6",
            _ => return None,
        })
    }

    /// A JSON object of the same facts.
    pub fn json(&self) -> Value {
        let mut m = Map::new();
        m.insert("src".into(), json!(self.src.to_string()));
        m.insert("dst".into(), json!(self.dst.to_string()));
        m.insert("proto".into(), self.proto_name().map_or(json!(self.proto), |n| json!(n)));
        if let Some((sp, dp)) = self.ports {
            m.insert("src_port".into(), json!(sp));
            m.insert("dst_port".into(), json!(dp));
        }
        if let Some((ty, code)) = self.icmp {
            m.insert("icmp_type".into(), json!(ty));
            m.insert("icmp_code".into(), json!(code));
        }
        if let Some(id) = self.echo_id {
            m.insert("echo_id".into(), json!(id));
        }
        if let Some(offset) = self.fragment {
            m.insert("fragment_offset".into(), json!(offset));
        }
        if let Some(inner) = &self.inner {
            m.insert("inner".into(), inner.json());
        }
        Value::Object(m)
    }
}

impl std::fmt::Display for Summary {
    /// `SRC -> DST PROTO [SPORT -> DPORT | type T code C [id I] | INNER] [fragment offset O]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} -> {} ", self.src, self.dst)?;
        match self.proto_name() {
            Some(name) => f.write_str(name)?,
            None => write!(f, "proto {}", self.proto)?,
        }
        if let Some((sp, dp)) = self.ports {
            write!(f, " {sp} -> {dp}")?;
        }
        if let Some((ty, code)) = self.icmp {
            write!(f, " type {ty} code {code}")?;
        }
        if let Some(id) = self.echo_id {
            write!(f, " id {id}")?;
        }
        if let Some(inner) = &self.inner {
            write!(f, " {inner}")?;
        }
        if let Some(offset) = self.fragment {
            write!(f, " fragment offset {offset}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap(linktype: u32, packets: &[&[u8]]) -> Vec<u8> {
        let mut out = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        out.extend_from_slice(&65535u32.to_le_bytes());
        out.extend_from_slice(&linktype.to_le_bytes());
        for p in packets {
            out.extend_from_slice(&[0; 8]);
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    const UDP4: [u8; 28] =
        [0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 8, 203, 0, 113, 56, 0xd8, 0, 0, 80, 0, 8, 0, 0];

    #[test]
    fn raw_input_is_split_by_length_fields() {
        let mut input = UDP4.to_vec();
        input.extend_from_slice(&UDP4);
        input.extend_from_slice(&[0x45, 0, 0, 0]); // a length that cannot be used: the rest
        let (frames, damage) = frames(&input).unwrap();
        assert!(damage.is_none());
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].data, FrameData::Ip(UDP4.to_vec()));
        assert_eq!(frames[2].data, FrameData::Ip(vec![0x45, 0, 0, 0]));
    }

    #[test]
    fn ethernet_frames_lose_their_header_and_other_ethertypes_are_skipped() {
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x81, 0x00, 0, 5, 0x08, 0x00]);
        eth.extend_from_slice(&UDP4);
        let arp = [vec![0u8; 12], vec![0x08, 0x06], vec![0; 28]].concat();
        let (frames, _) = frames(&pcap(1, &[&eth, &arp, &[0; 5]])).unwrap();
        assert_eq!(frames[0].data, FrameData::Ip(UDP4.to_vec()));
        assert_eq!(frames[1].data, FrameData::Skipped("ethertype 0x0806".into(), 42));
        assert_eq!(frames[2].data, FrameData::Skipped("short-frame".into(), 5));
    }

    #[test]
    fn summaries() {
        let s = Summary::parse(&UDP4).unwrap();
        assert_eq!(s.to_string(), "192.0.2.8 -> 203.0.113.56 udp 55296 -> 80");
        assert_eq!(Summary::parse(&UDP4[..10]), None);
        assert_eq!(Summary::parse(&[0x60; 39]), None);
        let mut frag = UDP4;
        frag[6] = 0x00;
        frag[7] = 0xb9; // offset 185 * 8
        assert_eq!(Summary::parse(&frag).unwrap().to_string(), "192.0.2.8 -> 203.0.113.56 udp fragment offset 1480");
    }

    /// A small deterministic generator for the no-panic test.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn mutated_and_cut_inputs_never_panic() {
        let config = ConfigFile::parse(
            "role ce\nmode t\nend-user-prefix 2001:db8:ce:11b::/64\nbmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0\ndmr 64:ff9b::/96\n",
        )
        .unwrap();
        let ident = AtomicU16::new(0);
        let domain = config.domain(&ident).unwrap();
        let seeds: Vec<Vec<u8>> = vec![
            pcap(101, &[&UDP4, &UDP4]),
            pcap(1, &[&[vec![0u8; 12], vec![0x86, 0xdd], vec![0x60; 60]].concat()]),
            pcap(113, &[&[vec![0u8; 14], vec![0x08, 0x00], UDP4.to_vec()].concat()]),
            pcap(276, &[&[vec![0x08, 0x00], vec![0u8; 18], UDP4.to_vec()].concat()]),
            UDP4.to_vec(),
            vec![
                0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 28, 0x1a, 0x2b, 0x3c, 0x4d, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff,
                0xff, 0xff, 0xff, 0, 0, 0, 28,
            ],
        ];
        let mut seeds = seeds;
        seeds.push(pcapng_seed());
        let mut state = 0x2545_f491_4f6c_dd1d;
        for seed in &seeds {
            for cut in 0..seed.len() {
                let _ = frames(&seed[..cut]);
            }
            for _ in 0..500 {
                let mut input = seed.clone();
                let flips = 1 + xorshift(&mut state) % 4;
                for _ in 0..flips {
                    let at = (xorshift(&mut state) as usize) % input.len();
                    input[at] = xorshift(&mut state) as u8;
                }
                if let Ok((frames, _)) = frames(&input) {
                    for (i, f) in frames.iter().enumerate() {
                        let outcome = process(&domain, Mode::MapT, &f.data, &Options::default());
                        let _ = (outcome.text(i + 1), outcome.json(i + 1));
                    }
                }
            }
        }
    }

    /// A little-endian pcapng: section header, an Ethernet interface with if_tsresol 9, an
    /// enhanced packet block with a comment option, a simple packet block.
    fn pcapng_seed() -> Vec<u8> {
        fn block(kind: u32, body: &[u8]) -> Vec<u8> {
            let mut body = body.to_vec();
            while !body.len().is_multiple_of(4) {
                body.push(0);
            }
            let len = (body.len() + 12) as u32;
            [kind.to_le_bytes().to_vec(), len.to_le_bytes().to_vec(), body, len.to_le_bytes().to_vec()].concat()
        }
        let shb = [0x1a2b_3c4du32.to_le_bytes().to_vec(), vec![1, 0, 0, 0], (-1i64).to_le_bytes().to_vec()].concat();
        let idb =
            [vec![1, 0, 0, 0], 65535u32.to_le_bytes().to_vec(), vec![9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]].concat();
        let frame = [vec![0u8; 12], vec![0x08, 0x00], UDP4.to_vec()].concat();
        let epb = [
            vec![0; 4],
            vec![0, 0, 0, 0, 1, 0, 0, 0],
            (frame.len() as u32).to_le_bytes().to_vec(),
            (frame.len() as u32).to_le_bytes().to_vec(),
            frame.clone(),
            vec![0, 0], // padding to 4
            vec![1, 0, 3, 0, b'h', b'i', b'!', 0, 0, 0, 0, 0],
        ]
        .concat();
        let spb = [(frame.len() as u32).to_le_bytes().to_vec(), frame].concat();
        [block(0x0a0d_0d0a, &shb), block(1, &idb), block(6, &epb), block(3, &spb)].concat()
    }

    #[test]
    fn pcapng_blocks_are_read() {
        let (frames, damage) = frames(&pcapng_seed()).unwrap();
        assert_eq!(damage, None);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].data, FrameData::Ip(UDP4.to_vec()));
        assert_eq!(frames[0].timestamp, Duration::from_nanos(1), "one tick of if_tsresol 9");
        assert_eq!(frames[1].data, FrameData::Ip(UDP4.to_vec()));
    }

    #[test]
    fn pcapng_timestamps_follow_if_tsresol() {
        assert_eq!(ts_from_ticks(1_500_000, &[]), Duration::from_millis(1500));
        let nanos = [InterfaceDescriptionOption::IfTsResol(9)];
        assert_eq!(ts_from_ticks(1_500_000_000, &nanos), Duration::from_millis(1500));
        let binary = [InterfaceDescriptionOption::IfTsResol(0x80 | 10)];
        assert_eq!(ts_from_ticks(1024 * 3 + 512, &binary), Duration::from_millis(3500));
    }
}
