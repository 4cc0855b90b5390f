//! What happens when a lab cannot run (not root, a program missing): a test skips with a
//! message, unless the environment variable `CI` is set, in which case it fails, so that a
//! CI run can never skip a lab test silently.

use std::path::PathBuf;

use crate::{Lab, LabConfig, LabError, Result};

/// Programs every lab needs.
const REQUIRED_TOOLS: [&str; 5] = ["ip", "nft", "miniupnpd", "unshare", "mount"];

impl Lab {
    /// Starts a lab for a test, or explains why it cannot and returns `None`.
    ///
    /// With the environment variable `CI` set, a lab that cannot run panics instead of
    /// skipping. A lab that fails to start although its prerequisites are met panics too.
    pub fn for_test(config: LabConfig) -> Option<Lab> {
        Lab::for_test_with_tools(config, &[])
    }

    /// Like [`Lab::for_test`], also requiring the named programs (e.g. `natpmpc`, `upnpc`).
    #[allow(clippy::print_stderr)]
    pub fn for_test_with_tools(config: LabConfig, tools: &[&'static str]) -> Option<Lab> {
        if let Err(reason) = check_prerequisites(tools) {
            let test = std::thread::current()
                .name()
                .unwrap_or("lab test")
                .to_owned();
            if std::env::var_os("CI").is_some() {
                panic!("{test}: the lab cannot run and CI is set: {reason}");
            }
            eprintln!("skipping {test}: the lab cannot run: {reason}");
            return None;
        }
        match Lab::start(config) {
            Ok(lab) => Some(lab),
            Err(e) => panic!("the lab did not start: {e}"),
        }
    }
}

pub(crate) fn check_prerequisites(extra: &[&'static str]) -> Result<()> {
    let uid = nix::unistd::geteuid();
    if !uid.is_root() {
        return Err(LabError::NotRoot { uid: uid.as_raw() });
    }
    for program in REQUIRED_TOOLS.iter().chain(extra) {
        if find_program(program).is_none() {
            return Err(LabError::MissingTool { program });
        }
    }
    Ok(())
}

/// Finds a program on `PATH` (and in the sbin directories root's `PATH` may lack).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
