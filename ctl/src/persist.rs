//! `mapminctl save` and `mapminctl restore`: the running instances survive a reboot.
//!
//! `save` writes one file per mapmint device of the network namespace, `DIR/NAME.conf`, in the
//! configuration syntax that `apply` reads (the kernel's settings and every rule). A device
//! that `provision --apply` set up (it has a state file) gets the line
//! `# restore: provision --apply --nat FRONTEND` at the top: `restore` then puts the whole CE
//! back (address, routes, NAPT, MSS clamping), not only the instance. `restore` runs at boot
//! (mapmint.service): for each file the device (created if missing), its configuration, up.
//! What else a BR needs (its routes) is the administrator's, as before the reboot.

use std::path::{Path, PathBuf};

use mapcore::config::mode_keyword;

use crate::config_file::ConfigFile;
use mapcore::genl::{self, attr, cmd};

use crate::control::{bad_reply, ifindex_attr, DevInfo, Failure, RuleInfo};
use crate::nl::{self, Genl};
use crate::setup::{self, Nat};

pub const DEFAULT_DIR: &str = "/etc/mapmint";
const RESTORE_MARK: &str = "# restore: provision --apply --nat ";

#[derive(clap::Args, Debug)]
pub struct SaveArgs {
    /// Where the files go.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DIR)]
    pub dir: PathBuf,
    /// Only these devices (default: every mapmint device of the namespace).
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// Where `save` put the files.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DIR)]
    pub dir: PathBuf,
}

fn failed(message: String) -> Failure {
    Failure::Failed(message)
}

/// The configuration text of one instance, as `apply` reads it; None for an incomplete one
/// (it carries no traffic, and `apply` would refuse it).
fn instance_text(genl: &Genl, dev: &DevInfo) -> Result<Option<String>, Failure> {
    if dev.missing.is_some() {
        return Ok(None);
    }
    let mut lines = vec![format!("role {}", dev.role.keyword()), format!("mode {}", mode_keyword(dev.mode))];
    let (before_fmrs, after_fmrs) = dev.setting_lines();
    lines.extend(before_fmrs);
    for reply in genl.dump(cmd::RULE_GET, &[ifindex_attr(dev.ifindex)])? {
        let kind = match nl::find(&reply, attr::RULE_KIND) {
            Some(&[k]) => k,
            _ => return Err(bad_reply("RULE_KIND")),
        };
        if kind == genl::RULE_KIND_FMR {
            let nest = nl::find(&reply, attr::RULE).ok_or_else(|| bad_reply("RULE"))?;
            lines.push(format!("fmr {}", RuleInfo::from_nest(kind, nest)?.text()));
        }
    }
    lines.extend(after_fmrs);
    let text = lines.join("\n") + "\n";
    // what restore will read must parse: a kernel answer this syntax cannot say is a bug here
    ConfigFile::parse(&text).map_err(|e| failed(format!("{}: the saved configuration does not read back: {e}", dev.name)))?;
    Ok(Some(text))
}

pub fn save(args: SaveArgs) -> Result<String, Failure> {
    let genl = Genl::connect()?;
    let devices: Vec<DevInfo> = genl.dump(cmd::DEV_GET, &[])?.iter().map(DevInfo::from_attrs).collect::<Result<_, _>>()?;
    for name in &args.names {
        if !devices.iter().any(|d| &d.name == name) {
            return Err(failed(format!("no mapmint device named '{name}'")));
        }
    }
    std::fs::create_dir_all(&args.dir).map_err(|e| failed(format!("{}: {e}", args.dir.display())))?;
    let mut report = String::new();
    for dev in devices.iter().filter(|d| args.names.is_empty() || args.names.contains(&d.name)) {
        let path = args.dir.join(format!("{}.conf", dev.name));
        let Some(config) = instance_text(&genl, dev)? else {
            eprintln!("mapminctl: save: {} is incomplete ({}): not saved", dev.name, dev.missing.as_deref().unwrap_or_default());
            continue;
        };
        let mut text = format!("# {}: saved by mapminctl save; `mapminctl restore` (mapmint.service) applies it at boot\n", dev.name);
        if let Some(nat) = setup::provisioned_nat(&setup::state_path(None, &dev.name)) {
            text.push_str(&format!("{RESTORE_MARK}{}\n", nat.name()));
        }
        text.push_str(&config);
        // written aside and renamed: a crash never leaves half a file for the next boot
        let tmp = path.with_extension("conf.tmp");
        std::fs::write(&tmp, &text).and_then(|()| std::fs::rename(&tmp, &path)).map_err(|e| failed(format!("{}: {e}", path.display())))?;
        report.push_str(&format!("saved {} to {}\n", dev.name, path.display()));
    }
    Ok(report)
}

/// The files `save` wrote, in name order.
fn saved_files(dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(failed(format!("{}: {e}", dir.display()))),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    Ok(files)
}

pub fn restore(args: RestoreArgs) -> Result<String, Failure> {
    let mut report = String::new();
    let mut errors = Vec::new();
    for path in saved_files(&args.dir)? {
        let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(String::from) else { continue };
        match restore_one(&path, &name) {
            Ok(done) => report.push_str(&done),
            // one bad file does not keep the others down
            Err(e) => errors.push(format!("{}: {}", path.display(), e.message())),
        }
    }
    if errors.is_empty() {
        Ok(report)
    } else {
        print!("{report}");
        Err(failed(errors.join("; ")))
    }
}

fn restore_one(path: &Path, name: &str) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
    let config = ConfigFile::parse(&text).map_err(Failure::Usage)?;
    let nat = text.lines().find_map(|l| l.strip_prefix(RESTORE_MARK)).map(|n| Nat::of(n.trim()).ok_or_else(|| Failure::Usage(format!("unknown NAT front end '{}'", n.trim())))).transpose()?;
    if let Some(nat) = nat {
        let done = setup::apply(&config, name, nat, &setup::state_path(None, name)).map_err(failed)?;
        return Ok(format!("restored {name} (the whole CE)\n{done}"));
    }
    if nl::ifindex(name).is_err() {
        nl::link_add(name)?;
    }
    crate::control::config_set(name, &config)?;
    setup::link_up(name, config.config.mtu).map_err(failed)?;
    Ok(format!("restored {name}\n"))
}
