//! A configuration and its FMRs kept as a userspace caller keeps them (in `Vec`s), for the
//! tests that run packets through a domain.
#![allow(dead_code)]

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::AtomicU16;

use mapcore::config::Config;
use mapcore::domain::{Derived, Domain};
use mapcore::index::{slots_needed, Fmrs};
use mapcore::xlat::{DropReason, Options, Shape, Translated, Verdict};
use mapcore::Rule;

pub type VecFmrs = Fmrs<Vec<Rule>, Vec<u32>>;

/// The FMRs `rules`, indexed.
pub fn fmrs(rules: Vec<Rule>) -> Result<VecFmrs, String> {
    let slots = vec![0; slots_needed(rules.len())];
    Fmrs::build(rules, slots, 0x6d61_706d).map_err(|e| e.to_string())
}

pub struct Instance {
    pub config: Config,
    pub fmrs: VecFmrs,
    derived: Derived,
}

impl Instance {
    /// A configuration file, parsed, its FMRs indexed; the error as `mapminctl` prints it.
    pub fn parse(text: &str) -> Result<Instance, String> {
        let mut rules = Vec::new();
        let config = Config::parse_with(text, |rule, _| {
            rules.push(rule);
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        let fmrs = fmrs(rules)?;
        let derived = Derived::of(&config, fmrs.len());
        Ok(Instance { config, fmrs, derived })
    }

    pub fn domain<'a>(&'a self, ident: &'a AtomicU16) -> Result<Domain<'a>, DropReason> {
        Domain::with_derived(&self.config, self.fmrs.index(), &self.derived, ident)
    }

    /// `packet` through the domain (from IPv6 if `from_v6`) with only its first `present`
    /// bytes in the buffer, as the device hands over headers alone: the result, and the
    /// viewed bytes after it (a domain that cannot be made: its reason, as a drop).
    pub fn through_view(
        &self,
        packet: &[u8],
        present: usize,
        from_v6: bool,
        opts: &Options,
    ) -> (Result<Translated, Verdict>, Vec<u8>) {
        const HEADROOM: usize = 64;
        let ident = AtomicU16::new(1);
        let mut buf = vec![0u8; HEADROOM];
        buf.extend_from_slice(&packet[..present]);
        let domain = match self.domain(&ident) {
            Ok(domain) => domain,
            Err(reason) => return (Err(Verdict::Drop(reason)), buf.split_off(HEADROOM)),
        };
        let shape = Shape { len: packet.len(), present, partial_checksum: false, segment: None };
        let result = if from_v6 {
            domain.from_v6_shaped(&mut buf, HEADROOM, &shape, opts)
        } else {
            domain.from_v4_shaped(&mut buf, HEADROOM, &shape, opts)
        };
        (result, buf.split_off(HEADROOM))
    }
}

impl Deref for Instance {
    type Target = Config;
    fn deref(&self) -> &Config {
        &self.config
    }
}

impl fmt::Display for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.config.text(self.fmrs.rules()))
    }
}
