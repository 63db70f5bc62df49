//! `mapminctl stats`: an instance's counters (`STATS_GET`, see `mapcore::genl`): packets and
//! bytes translated each way, ICMP errors sent instead of a translation, and drops by reason
//! (`DropReason::name`, numbered in the `DROPS` nest by `DropReason::index() + 1`).

use clap::Args;
use mapcore::genl::{attr, cmd, stats_attr};
use mapcore::xlat::DropReason;
use serde_json::{json, Map, Value};

use crate::control::{bad_reply, ifindex_attr, string_of, take_dev, u32_of, usage, Failure, Outcome};
use crate::nl::{self, Attrs, Genl};

/// `mapminctl stats [dev NAME] [--all] [--all-devices]`.
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// dev NAME: the instance (default: mapmint).
    #[arg(value_name = "WORD")]
    pub words: Vec<String>,
    /// List every drop reason, not only those that happened (text; JSON always has every one).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Every instance in this network namespace (JSON: an array of objects).
    #[arg(short = 'A', long = "all-devices")]
    pub all_devices: bool,
    /// Print JSON.
    #[arg(short = 'j', long)]
    pub json: bool,
}

/// One instance's counters, as `STATS_GET` reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    pub ifindex: u32,
    pub name: String,
    pub v4_to_v6_packets: u64,
    pub v4_to_v6_bytes: u64,
    pub v6_to_v4_packets: u64,
    pub v6_to_v4_bytes: u64,
    pub icmp_errors: u64,
    /// Of the translated packets, those taken at receipt (translate-on-receive).
    pub on_receive_packets: u64,
    /// Every drop reason in `DropReason::ALL` order, then any the kernel knows and this
    /// mapminctl does not (named `reason-INDEX`).
    pub drops: Vec<(String, u64)>,
}

fn u64_of(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_ne_bytes(bytes.try_into().ok()?))
}

impl Stats {
    /// Reads a `STATS_GET` reply; `name` is the instance's (the reply carries only its index).
    pub fn from_attrs(attrs: &Attrs, name: &str) -> Result<Self, Failure> {
        let ifindex = nl::find(attrs, attr::IFINDEX).and_then(u32_of).ok_or_else(|| bad_reply("IFINDEX"))?;
        let nest = nl::nested(nl::find(attrs, attr::STATS).ok_or_else(|| bad_reply("STATS"))?);
        let counter = |kind, what: &str| nl::find(&nest, kind).and_then(u64_of).ok_or_else(|| bad_reply(what));
        let v4_to_v6_packets = counter(stats_attr::V4_TO_V6_PACKETS, "V4_TO_V6_PACKETS")?;
        let v4_to_v6_bytes = counter(stats_attr::V4_TO_V6_BYTES, "V4_TO_V6_BYTES")?;
        let v6_to_v4_packets = counter(stats_attr::V6_TO_V4_PACKETS, "V6_TO_V4_PACKETS")?;
        let v6_to_v4_bytes = counter(stats_attr::V6_TO_V4_BYTES, "V6_TO_V4_BYTES")?;
        let icmp_errors = counter(stats_attr::ICMP_ERRORS, "ICMP_ERRORS")?;
        // (a kernel module older than the counter sends none)
        let on_receive_packets = nl::find(&nest, stats_attr::ON_RECEIVE_PACKETS).and_then(u64_of).unwrap_or(0);
        let mut drops: Vec<(String, u64)> = DropReason::ALL.iter().map(|r| (r.name().to_string(), 0)).collect();
        let drop_nest = nl::find(&nest, stats_attr::DROPS).ok_or_else(|| bad_reply("DROPS"))?;
        for (kind, value) in nl::nested(drop_nest) {
            let count = u64_of(&value).ok_or_else(|| bad_reply("drop counter"))?;
            let Some(index) = usize::from(kind).checked_sub(1) else {
                continue;
            };
            match DropReason::ALL.get(index) {
                Some(reason) => drops[reason.index()].1 = count,
                None => drops.push((format!("reason-{index}"), count)),
            }
        }
        let name = name.to_string();
        Ok(Stats {
            ifindex,
            name,
            v4_to_v6_packets,
            v4_to_v6_bytes,
            v6_to_v4_packets,
            v6_to_v4_bytes,
            icmp_errors,
            on_receive_packets,
            drops,
        })
    }

    /// Every packet dropped, whatever the reason.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().fold(0u64, |sum, (_, n)| sum.saturating_add(*n))
    }

    /// `INDEX: NAME`, then indented lines; drop reasons that never happened only with `all`.
    pub fn to_text(&self, all: bool) -> String {
        let mut out = format!(
            "{}: {}\n    v4-to-v6 packets {} bytes {}\n    v6-to-v4 packets {} bytes {}\n    icmp-errors {}\n    translated-on-receive {}\n    drops {}\n",
            self.ifindex,
            self.name,
            self.v4_to_v6_packets,
            self.v4_to_v6_bytes,
            self.v6_to_v4_packets,
            self.v6_to_v4_bytes,
            self.icmp_errors,
            self.on_receive_packets,
            self.total_drops(),
        );
        for (reason, count) in &self.drops {
            if all || *count != 0 {
                out.push_str(&format!("        {reason} {count}\n"));
            }
        }
        out
    }

    /// One object; `drops` maps every reason's name to its count.
    pub fn to_json(&self) -> Value {
        let drops: Map<String, Value> = self.drops.iter().map(|(r, n)| (r.clone(), json!(n))).collect();
        json!({
            "ifname": self.name,
            "ifindex": self.ifindex,
            "v4_to_v6_packets": self.v4_to_v6_packets,
            "v4_to_v6_bytes": self.v4_to_v6_bytes,
            "v6_to_v4_packets": self.v6_to_v4_packets,
            "v6_to_v4_bytes": self.v6_to_v4_bytes,
            "icmp_errors": self.icmp_errors,
            "translated_on_receive": self.on_receive_packets,
            "drops": drops,
        })
    }
}

/// The counters of the instance `name` (index `ifindex`).
fn stats_get(genl: &Genl, ifindex: u32, name: &str) -> Result<Stats, Failure> {
    let replies = genl.get(cmd::STATS_GET, &[ifindex_attr(ifindex)])?;
    let reply = replies.first().ok_or_else(|| Failure::Failed("the kernel sent no reply".into()))?;
    Stats::from_attrs(reply, name)
}

/// What the words and flags ask for: one instance by name, or every one.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    One(String),
    Every,
}

fn parse_target(mut words: Vec<String>, all_devices: bool) -> Result<Target, Failure> {
    let named = words.iter().any(|w| w == "dev");
    let name = take_dev(&mut words)?;
    if let Some(extra) = words.first() {
        return Err(usage(format!("unexpected '{extra}' (expected dev NAME)")));
    }
    match (all_devices, named) {
        (true, true) => Err(usage("dev NAME and --all-devices exclude each other")),
        (true, false) => Ok(Target::Every),
        (false, _) => Ok(Target::One(name)),
    }
}

/// Formats the counters of `list`: one object (`single`) or an array in JSON, else text.
pub fn format_stats(list: &[Stats], json: bool, single: bool, all: bool) -> String {
    if !json {
        return list.iter().map(|s| s.to_text(all)).collect();
    }
    let value = match list {
        [one] if single => one.to_json(),
        _ => Value::Array(list.iter().map(Stats::to_json).collect()),
    };
    value.to_string() + "\n"
}

pub fn stats(args: StatsArgs, json_flag: bool) -> Outcome {
    let target = parse_target(args.words, args.all_devices)?;
    let genl = Genl::connect()?;
    let list = match &target {
        Target::One(name) => vec![stats_get(&genl, nl::ifindex(name)?, name)?],
        Target::Every => {
            let mut list = Vec::new();
            for dev in genl.dump(cmd::DEV_GET, &[])? {
                let ifindex = nl::find(&dev, attr::IFINDEX).and_then(u32_of).ok_or_else(|| bad_reply("IFINDEX"))?;
                let name = nl::find(&dev, attr::IFNAME).map(string_of).ok_or_else(|| bad_reply("IFNAME"))?;
                match genl.get(cmd::STATS_GET, &[ifindex_attr(ifindex)]) {
                    // Deleted since the dump.
                    Err(e) if e.errno == Some(libc::ENODEV) => continue,
                    Err(e) => return Err(e.into()),
                    Ok(replies) => {
                        let reply = replies.first().ok_or_else(|| Failure::Failed("the kernel sent no reply".into()))?;
                        list.push(Stats::from_attrs(reply, &name)?);
                    }
                }
            }
            list
        }
    };
    Ok(format_stats(&list, args.json || json_flag, target != Target::Every, args.all))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(attrs: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (kind, value) in attrs {
            out.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
            out.extend_from_slice(&kind.to_ne_bytes());
            out.extend_from_slice(value);
            while out.len() % 4 != 0 {
                out.push(0);
            }
        }
        out
    }

    fn u64_attr(kind: u16, value: u64) -> (u16, Vec<u8>) {
        (kind, value.to_ne_bytes().to_vec())
    }

    /// A reply as the kernel builds it: `drops[i]` is reason i's count.
    fn reply(counters: [u64; 6], drops: &[u64]) -> Attrs {
        let drop_attrs: Vec<(u16, Vec<u8>)> =
            drops.iter().enumerate().map(|(i, n)| u64_attr(i as u16 + 1, *n)).collect();
        let nest = pack(&[
            u64_attr(stats_attr::V4_TO_V6_PACKETS, counters[0]),
            u64_attr(stats_attr::V4_TO_V6_BYTES, counters[1]),
            u64_attr(stats_attr::V6_TO_V4_PACKETS, counters[2]),
            u64_attr(stats_attr::V6_TO_V4_BYTES, counters[3]),
            u64_attr(stats_attr::ICMP_ERRORS, counters[4]),
            u64_attr(stats_attr::ON_RECEIVE_PACKETS, counters[5]),
            (stats_attr::DROPS | 0x8000, pack(&drop_attrs)),
        ]);
        vec![(attr::IFINDEX, 3u32.to_ne_bytes().to_vec()), (attr::STATS, nest)]
    }

    fn traffic() -> Stats {
        let mut drops = [0u64; DropReason::COUNT];
        drops[DropReason::PortNotAllowed.index()] = 2;
        drops[DropReason::Truncated.index()] = 1;
        Stats::from_attrs(&reply([3, 252, 4, 312, 1, 5], &drops), "mapmint").unwrap()
    }

    #[test]
    fn reply_is_read_by_reason() {
        let stats = traffic();
        assert_eq!(
            (stats.ifindex, stats.v4_to_v6_packets, stats.v4_to_v6_bytes, stats.v6_to_v4_packets),
            (3, 3, 252, 4)
        );
        assert_eq!((stats.v6_to_v4_bytes, stats.icmp_errors, stats.total_drops()), (312, 1, 3));
        assert_eq!(stats.on_receive_packets, 5);
        assert_eq!(stats.drops.len(), DropReason::COUNT);
        assert_eq!(stats.drops[DropReason::PortNotAllowed.index()], ("port-not-allowed".into(), 2));
        assert_eq!(stats.drops[0], ("bad-buffer".into(), 0));
    }

    #[test]
    fn text_shows_nonzero_reasons_unless_all() {
        assert_eq!(
            traffic().to_text(false),
            "3: mapmint
    v4-to-v6 packets 3 bytes 252
    v6-to-v4 packets 4 bytes 312
    icmp-errors 1
    translated-on-receive 5
    drops 3
        truncated 1
        port-not-allowed 2
"
        );
        let all = traffic().to_text(true);
        assert_eq!(all.lines().count(), 6 + DropReason::COUNT);
        assert!(all.contains("\n        bad-buffer 0\n        truncated 1\n        bad-version 0\n"), "{all}");
        assert!(all.ends_with("        internal 0\n        no-memory 0\n        bad-offload 0\n"), "{all}");
        let fresh = Stats::from_attrs(&reply([0; 6], &[0; DropReason::COUNT]), "m0").unwrap();
        assert_eq!(
            fresh.to_text(false),
            "3: m0\n    v4-to-v6 packets 0 bytes 0\n    v6-to-v4 packets 0 bytes 0\n    icmp-errors 0\n    translated-on-receive 0\n    drops 0\n"
        );
    }

    #[test]
    fn json_has_every_key_and_reason() {
        let json = format_stats(&[traffic()], true, true, false);
        assert!(json.ends_with("}\n"), "{json}");
        let value: Value = serde_json::from_str(&json).unwrap();
        let object = value.as_object().unwrap();
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "drops",
                "icmp_errors",
                "ifindex",
                "ifname",
                "translated_on_receive",
                "v4_to_v6_bytes",
                "v4_to_v6_packets",
                "v6_to_v4_bytes",
                "v6_to_v4_packets"
            ]
        );
        assert_eq!(object["ifname"], "mapmint");
        assert_eq!(object["ifindex"], 3);
        assert_eq!(object["v6_to_v4_bytes"], 312);
        let drops = object["drops"].as_object().unwrap();
        assert_eq!(drops.len(), DropReason::COUNT);
        for reason in DropReason::ALL {
            assert!(drops.contains_key(reason.name()), "{}", reason.name());
        }
        assert_eq!(drops["port-not-allowed"], 2);
        assert_eq!(drops["internal"], 0);
        // Greppable without jq: no spaces.
        assert!(json.contains(r#""port-not-allowed":2"#), "{json}");
        // Every instance: an array, even of one.
        let every = format_stats(&[traffic(), traffic()], true, false, false);
        assert!(every.starts_with("[{") && every.ends_with("}]\n"), "{every}");
        assert!(format_stats(&[traffic()], true, false, false).starts_with("[{"));
        assert_eq!(format_stats(&[], true, false, false), "[]\n");
        assert_eq!(format_stats(&[], false, false, false), "");
    }

    #[test]
    fn malformed_replies_are_errors_and_unknown_reasons_kept() {
        let good = reply([1, 2, 3, 4, 5, 6], &[0; DropReason::COUNT]);
        let without = |kind| -> Attrs { good.iter().filter(|(k, _)| *k != kind).cloned().collect() };
        assert!(matches!(Stats::from_attrs(&without(attr::STATS), "m"), Err(Failure::Failed(_))));
        assert!(matches!(Stats::from_attrs(&without(attr::IFINDEX), "m"), Err(Failure::Failed(_))));
        let short = vec![
            (attr::IFINDEX, 3u32.to_ne_bytes().to_vec()),
            (attr::STATS, pack(&[(stats_attr::V4_TO_V6_PACKETS, vec![1, 2, 3, 4])])),
        ];
        let err = Stats::from_attrs(&short, "m").unwrap_err();
        assert_eq!(err.message(), "the kernel's reply has a bad or missing V4_TO_V6_PACKETS");
        // A newer kernel's extra reason, and an older one's missing reasons (zero).
        let mut drops = vec![0u64; DropReason::COUNT + 1];
        drops[DropReason::COUNT] = 7;
        let stats = Stats::from_attrs(&reply([0; 6], &drops), "m").unwrap();
        assert_eq!(stats.drops.last(), Some(&(format!("reason-{}", DropReason::COUNT), 7)));
        let stats = Stats::from_attrs(&reply([0; 6], &[4]), "m").unwrap();
        assert_eq!(stats.drops.len(), DropReason::COUNT);
        assert_eq!((stats.drops[0].1, stats.total_drops()), (4, 4));
    }

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn target_words() {
        assert_eq!(parse_target(vec![], false), Ok(Target::One("mapmint".into())));
        assert_eq!(parse_target(words("dev m0"), false), Ok(Target::One("m0".into())));
        assert_eq!(parse_target(vec![], true), Ok(Target::Every));
        for (bad, all_devices) in [("dev m0", true), ("m0", false), ("dev", false), ("dev a/b", false), ("dev a dev b", false)] {
            assert!(matches!(parse_target(words(bad), all_devices), Err(Failure::Usage(_))), "{bad}");
        }
    }
}
