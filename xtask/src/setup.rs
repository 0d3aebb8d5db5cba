//! Installs what the project needs, only when missing, and says what it does.
//!
//! Versions are pinned where they matter (see ../shared/TOOLCHAIN.md for why):
//! Trunk 0.21.14 (0.22 needs a newer rustc), wasm-bindgen-cli equal to the `wasm-bindgen` in
//! Cargo.lock, and wasm-opt from binaryen 132 (Debian's binaryen 108 produces broken wasm).
//! Trunk runs offline with these exact versions (Trunk.toml), so a build never downloads.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, run_cmd, step};

const TRUNK_VERSION: &str = "0.21.14";
const BINARYEN_VERSION: &str = "132";
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Debian packages the tests need: a real browser and its driver, ffmpeg as an MJPEG client,
/// openssl to make the TLS test's certificate.
const TEST_PACKAGES: &[(&str, &str)] = &[
    ("chromium", "chromium"),
    ("chromedriver", "chromium-driver"),
    ("ffmpeg", "ffmpeg"),
    ("openssl", "openssl"),
];

/// Debian 12's libclang, needed by bindgen when the server is built.
const LIBCLANG_PACKAGE: &str = "libclang1-14";

/// Whether the dynamic linker knows a library whose name starts with `prefix`.
fn has_shared_library(prefix: &str) -> bool {
    let listed = Command::new("ldconfig")
        .arg("-p")
        .output()
        .or_else(|_| Command::new("/sbin/ldconfig").arg("-p").output());
    match listed {
        Ok(out) => String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim_start().starts_with(prefix)),
        // No ldconfig to ask: let the build say what is missing.
        Err(_) => true,
    }
}

/// Installs Debian's libclang when the dynamic linker knows none: building the server needs it.
pub fn ensure_libclang() -> Result<()> {
    if has_shared_library("libclang") { Ok(()) } else { install_packages(&[LIBCLANG_PACKAGE]) }
}

/// What the tools are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Build and run.
    Run,
    /// Also run every test.
    Test,
}

/// Installed tools, and the PATH that finds them.
#[derive(Debug)]
pub struct Tools {
    path: std::ffi::OsString,
}

impl Tools {
    /// Installs whatever is missing for `want`.
    pub fn install(root: &Path, want: Want) -> Result<Tools> {
        let cargo_bin = cargo_home().join("bin");
        let binaryen_dir = cache_dir().join(format!("binaryen-{BINARYEN_VERSION}"));
        let mut dirs = vec![binaryen_dir.join("node_modules/.bin"), cargo_bin];
        dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
        let tools = Tools { path: std::env::join_paths(dirs).map_err(|e| e.to_string())? };

        let mut packages: Vec<&str> = Vec::new();
        if !tools.has("npm") {
            packages.push("npm");
        }
        // The USB camera support (nokhwa) generates its V4L2 bindings with libclang.
        if !has_shared_library("libclang") {
            packages.push(LIBCLANG_PACKAGE);
        }
        if want == Want::Test {
            packages.extend(TEST_PACKAGES.iter().filter(|(cmd, _)| !tools.has(cmd)).map(|(_, pkg)| *pkg));
        }
        install_packages(&packages)?;

        tools.ensure_wasm_target()?;
        let trunk_ok =
            tools.version_of("trunk").is_some_and(|v| v.contains(&format!("trunk {TRUNK_VERSION}")));
        if !trunk_ok {
            step(&format!("installing Trunk {TRUNK_VERSION} (once per machine, about 8 minutes)"), || {
                run_cmd(Command::new("cargo").args([
                    "install",
                    "trunk",
                    "--locked",
                    "--version",
                    TRUNK_VERSION,
                ]))
            })?;
        }
        let bindgen = wasm_bindgen_version(root)?;
        let bindgen_ok = tools
            .version_of("wasm-bindgen")
            .is_some_and(|v| v.split_whitespace().nth(1) == Some(bindgen.as_str()));
        if !bindgen_ok {
            // No --locked: its lockfile pins a crate version the registry no longer has.
            step(
                &format!("installing wasm-bindgen-cli {bindgen} (once per machine, about 2 minutes)"),
                || {
                    run_cmd(Command::new("cargo").args([
                        "install",
                        "wasm-bindgen-cli",
                        "--force",
                        "--version",
                        &bindgen,
                    ]))
                },
            )?;
        }
        let opt_ok =
            tools.version_of("wasm-opt").is_some_and(|v| v.contains(&format!("version_{BINARYEN_VERSION}")));
        if !opt_ok {
            step(&format!("installing wasm-opt (binaryen {BINARYEN_VERSION} from npm)"), || {
                std::fs::create_dir_all(&binaryen_dir)
                    .map_err(|e| format!("cannot create {}: {e}", binaryen_dir.display()))?;
                run_cmd(tools.command("npm").current_dir(&binaryen_dir).args([
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                    ".",
                    &format!("binaryen@{BINARYEN_VERSION}.0.0"),
                ]))
            })?;
        }
        // Trunk builds offline: fetch every crate first.
        run_cmd(Command::new("cargo").current_dir(root).args(["fetch", "--locked"]))?;
        Ok(tools)
    }

    /// A command that finds the installed tools.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.resolve(program).unwrap_or_else(|| PathBuf::from(program)));
        command.env("PATH", &self.path);
        command
    }

    fn resolve(&self, program: &str) -> Option<PathBuf> {
        std::env::split_paths(&self.path).map(|dir| dir.join(program)).find(|p| p.is_file())
    }

    fn has(&self, program: &str) -> bool {
        self.resolve(program).is_some()
    }

    /// First line of `program --version`, if it runs.
    fn version_of(&self, program: &str) -> Option<String> {
        self.resolve(program)?;
        let out = self.command(program).arg("--version").output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").to_string())
    }

    fn ensure_wasm_target(&self) -> Result<()> {
        let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
        match installed {
            Ok(out) if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == WASM_TARGET) => {
                Ok(())
            }
            Ok(_) => step(&format!("adding the Rust target {WASM_TARGET}"), || {
                run_cmd(Command::new("rustup").args(["target", "add", WASM_TARGET]))
            }),
            Err(_) => {
                // No rustup: the toolchain may still have the target (a distribution's Rust).
                let sysroot =
                    Command::new("rustc").args(["--print", "sysroot"]).output().map_err(|e| e.to_string())?;
                let lib = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim())
                    .join("lib/rustlib")
                    .join(WASM_TARGET);
                if lib.is_dir() {
                    Ok(())
                } else {
                    Err(format!("the Rust target {WASM_TARGET} is missing and there is no rustup to add it"))
                }
            }
        }
    }
}

/// Installs Debian packages when root; otherwise says exactly what to install.
fn install_packages(packages: &[&str]) -> Result<()> {
    if packages.is_empty() {
        return Ok(());
    }
    let list = packages.join(" ");
    if !is_root() {
        return Err(format!(
            "missing system packages: {list}\n    install them with: sudo apt-get install -y {list}"
        ));
    }
    if Command::new("apt-get").arg("--version").output().is_err() {
        return Err(format!("missing system packages: {list} (and no apt-get to install them with)"));
    }
    step(&format!("installing system packages: {list}"), || {
        run_cmd(Command::new("apt-get").args(["update", "-qq"]))?;
        run_cmd(
            Command::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["install", "-y", "-qq"])
                .args(packages),
        )
    })
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// The `wasm-bindgen` version in Cargo.lock, checked against Trunk.toml's pin.
fn wasm_bindgen_version(root: &Path) -> Result<String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock"))
        .map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let version = lock_version(&lock, "wasm-bindgen").ok_or("Cargo.lock has no wasm-bindgen package")?;
    let trunk = std::fs::read_to_string(root.join("Trunk.toml"))
        .map_err(|e| format!("cannot read Trunk.toml: {e}"))?;
    let pinned = trunk.lines().find_map(|l| {
        l.trim()
            .strip_prefix("wasm_bindgen")
            .map(|r| r.trim_start_matches([' ', '=']).trim_matches('"').to_string())
    });
    match pinned {
        Some(p) if p == version => Ok(version),
        Some(p) => Err(format!(
            "Trunk.toml pins wasm_bindgen = \"{p}\" but Cargo.lock has {version}; make them equal"
        )),
        None => Err("Trunk.toml does not pin [tools] wasm_bindgen".into()),
    }
}

/// Version of package `name` in a Cargo.lock text.
fn lock_version(lock: &str, name: &str) -> Option<String> {
    let wanted = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            let next = lines.next()?;
            return next.trim().strip_prefix("version = ").map(|v| v.trim_matches('"').to_string());
        }
    }
    None
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME").map(PathBuf::from).unwrap_or_else(|| home().join(".cargo"))
}

fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cache"))
        .join("framecast")
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_package_version_in_a_lockfile() {
        let lock = "[[package]]\nname = \"wasm-bindgen-macro\"\nversion = \"0.2.1\"\n\n[[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.130\"\n";
        assert_eq!(lock_version(lock, "wasm-bindgen").as_deref(), Some("0.2.130"));
        assert_eq!(lock_version(lock, "leptos"), None);
    }
}
