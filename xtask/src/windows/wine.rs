//! Wine for the Windows runs: finding `wine64`, `wineserver` and the MinGW compiler, the
//! stand-in `bcryptprimitives.dll` built from `xtask/wine/`, a template Wine prefix booted
//! once per target directory, and a prefix of its own for each lab whose `wineserver` runs
//! inside the lab's LAN namespace.
//!
//! Wine's sockets are made by `wineserver`, not by the Windows process: a natctl.exe started
//! in a namespace talks through whichever server its prefix has, so each lab gets a prefix
//! (a hard-linked copy of the template: Wine replaces the files it changes rather than
//! writing into them) and a server started inside the namespace before anything else runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::shell::{root, run, say};

/// What runs Windows programs here.
pub(crate) struct Wine {
    wine64: PathBuf,
    wineserver: PathBuf,
    gcc: PathBuf,
}

/// Where Debian puts the 64-bit loader and server (not on `PATH`: `wine` picks the loader).
const WINE_LIB_DIR: &str = "/usr/lib/wine";

impl Wine {
    /// The programs, or the first missing one's name.
    pub(crate) fn find() -> std::result::Result<Wine, &'static str> {
        let wine_program = |name: &str| {
            natlab::find_program(name).or_else(|| {
                let path = Path::new(WINE_LIB_DIR).join(name);
                path.exists().then_some(path)
            })
        };
        Ok(Wine {
            wine64: wine_program("wine64").ok_or("wine64 (package wine64)")?,
            wineserver: wine_program("wineserver").ok_or("wineserver (package wine64)")?,
            gcc: natlab::find_program(GCC).ok_or("x86_64-w64-mingw32-gcc (package mingw-w64)")?,
        })
    }

    /// The loader, for `CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER`.
    pub(crate) fn loader(&self) -> &Path {
        &self.wine64
    }

    /// Builds the stand-in DLL and, unless it is there already, the template prefix in
    /// `dir/prefix` with the DLL in its `system32`.
    pub(crate) fn prepare(&self, dir: &Path) -> Result<Prefix> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let dll = dir.join(STAND_IN);
        run(Command::new(&self.gcc)
            .args(["-O2", "-shared", "-s", "-o"])
            .arg(&dll)
            .arg(root().join("xtask/wine/bcryptprimitives.c"))
            .arg("-ladvapi32"))?;
        let prefix = Prefix {
            path: dir.join("prefix"),
        };
        if !prefix.path.join("system.reg").exists() {
            say(&format!(
                "booting a Wine prefix in {}",
                prefix.path.display()
            ));
            let _ = std::fs::remove_dir_all(&prefix.path);
            run(self
                .command(&prefix, &self.wine64)
                .args(["wineboot", "--init"])
                .stdout(Stdio::null()))?;
            // The server writes the registry when it exits, a few seconds after its last
            // client: the copies the labs take must have it.
            run(self.command(&prefix, &self.wineserver).arg("-w"))?;
        }
        let system32 = prefix.path.join("drive_c/windows/system32");
        std::fs::copy(&dll, system32.join(STAND_IN))
            .with_context(|| format!("cannot copy the stand-in DLL into {}", system32.display()))?;
        Ok(prefix)
    }

    /// A command for `program` (the loader or the server) with `prefix`'s environment.
    pub(crate) fn command(&self, prefix: &Prefix, program: &Path) -> Command {
        let mut command = Command::new(program);
        prefix.apply(&mut command);
        command
    }

    /// Stops `prefix`'s server (and every Windows process it serves) and waits for it.
    pub(crate) fn stop_server(&self, prefix: &Prefix) {
        let _ = self
            .command(prefix, &self.wineserver)
            .arg("-k")
            .stderr(Stdio::null())
            .status();
    }

    /// A prefix for one lab: a hard-linked copy of `template` in `dir`, its server started in
    /// `host`'s namespace. Dropping it stops the server and removes the copy.
    pub(crate) fn lab_prefix<'a>(
        &'a self,
        template: &Prefix,
        dir: &Path,
        host: &natlab::Host,
    ) -> Result<LabPrefix<'a>> {
        let _ = std::fs::remove_dir_all(dir);
        run(Command::new("cp").arg("-al").arg(&template.path).arg(dir))?;
        let prefix = LabPrefix {
            wine: self,
            prefix: Prefix {
                path: dir.to_owned(),
            },
        };
        let mut server = host.command(&self.wineserver.to_string_lossy());
        prefix.prefix.apply(&mut server);
        // -p: the server stays until killed, so every natctl.exe of the lab uses this one.
        run(server.arg("-p"))?;
        // The first program in a prefix starts Wine's services (winedevice.exe), which live
        // as long as the server and keep the standard streams they were given: they get
        // none here, so no natctl.exe's output pipe stays open after it exits.
        let mut boot = host.command(&self.wine64.to_string_lossy());
        prefix.prefix.apply(&mut boot);
        run(boot
            .arg("wineboot")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()))?;
        Ok(prefix)
    }
}

/// The MinGW-w64 C compiler for 64-bit Windows.
const GCC: &str = "x86_64-w64-mingw32-gcc";

/// The stand-in DLL's file name.
const STAND_IN: &str = "bcryptprimitives.dll";

/// A Wine prefix (its `C:` drive and registry).
pub(crate) struct Prefix {
    path: PathBuf,
}

impl Prefix {
    /// Sets the environment every Wine command of this prefix gets: quiet, no Mono or Gecko
    /// installers asked for, no display.
    pub(crate) fn apply(&self, command: &mut Command) {
        command
            .env("WINEPREFIX", &self.path)
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
    }
}

/// A lab's prefix, its server running in the lab's LAN namespace.
pub(crate) struct LabPrefix<'a> {
    wine: &'a Wine,
    prefix: Prefix,
}

impl LabPrefix<'_> {
    /// natctl.exe (at `exe`) on `host` with this prefix.
    pub(crate) fn command(&self, host: &natlab::Host, exe: &Path) -> Command {
        let mut command = host.command(&self.wine.wine64.to_string_lossy());
        self.prefix.apply(&mut command);
        command.arg(exe);
        command
    }
}

impl Drop for LabPrefix<'_> {
    fn drop(&mut self) {
        self.wine.stop_server(&self.prefix);
        let _ = std::fs::remove_dir_all(&self.prefix.path);
    }
}

/// Fails when `path` is not a file (a build that did not leave what it said).
pub(crate) fn must_exist(path: &Path) -> Result<()> {
    if !path.is_file() {
        bail!("{} is missing", path.display());
    }
    Ok(())
}
