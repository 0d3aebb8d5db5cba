//! Installs what the project needs, only when missing, and says what it does.
//!
//! Versions are pinned where they matter (see ../shared/TOOLCHAIN.md for why):
//! Trunk 0.21.14 (0.22 needs a newer rustc), wasm-bindgen-cli equal to the `wasm-bindgen` in
//! Cargo.lock, and wasm-opt from binaryen 132 (Debian's binaryen 108 produces broken wasm).
//! Trunk runs offline with these exact versions (Trunk.toml), so a build never downloads. For
//! the tests, kosoku (the Autobahn|Testsuite cases) goes into a venv in `~/.cache/framecast`
//! and geckodriver 0.37.1 (Firefox's WebDriver) into Cargo's bin folder.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, run_cmd, step};

const TRUNK_VERSION: &str = "0.21.14";
const BINARYEN_VERSION: &str = "132";
/// The Autobahn|Testsuite runner the tests use (PyPI, a wheel for this machine).
const KOSOKU_VERSION: &str = "0.1.0";
/// Firefox's WebDriver server (crates.io; Debian has none).
const GECKODRIVER_VERSION: &str = "0.37.1";
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Debian packages the tests need, by a command each provides: three browser engines and their
/// WebDriver servers (WebKitGTK's MiniBrowser needs an X display: Xvfb; Firefox's driver is
/// geckodriver, from crates.io), ffmpeg as an MJPEG client, openssl to make the TLS test's
/// certificate.
const TEST_PACKAGES: &[(&str, &str)] = &[
    ("chromium", "chromium"),
    ("chromedriver", "chromium-driver"),
    ("firefox-esr", "firefox-esr"),
    ("WebKitWebDriver", "webkit2gtk-driver"),
    ("Xvfb", "xvfb"),
    ("ffmpeg", "ffmpeg"),
    ("openssl", "openssl"),
];

/// Debian packages the tests need that bring no command to look for, asked of dpkg: a real
/// RTSP server for the IP camera tests (GStreamer's, run from Python) and x264 to encode its
/// H.264.
const TEST_LIBRARIES: &[&str] =
    &["gir1.2-gst-rtsp-server-1.0", "python3-gi", "gstreamer1.0-plugins-good", "gstreamer1.0-plugins-ugly"];

/// Debian 12's libclang, needed by bindgen when the server is built.
const LIBCLANG_PACKAGE: &str = "libclang1-14";

/// Debian packages building the server needs, by a command each provides: libjpeg-turbo is
/// compiled from the source bundled in `turbojpeg-sys`, with cmake, and with nasm for its x86
/// SIMD code (the build refuses to go on without SIMD).
const BUILD_PACKAGES: &[(&str, &str)] = &[("cmake", "cmake"), ("nasm", "nasm")];

/// Whether Debian package `name` is installed, asked of dpkg itself. Never guess from shared
/// library names: a new machine ships `libclang-cpp14` (`libclang-cpp.so.14`), which is not the
/// `libclang.so` bindgen loads, and a name-prefix match took one for the other.
fn package_installed(name: &str) -> bool {
    match Command::new("dpkg-query").args(["-W", "-f=${Status}", name]).output() {
        // dpkg-query exits 1 for a package it has never heard of.
        Ok(out) => status_says_installed(&String::from_utf8_lossy(&out.stdout)),
        // No dpkg (not Debian): let the build say what is missing.
        Err(_) => true,
    }
}

/// `dpkg-query -W -f='${Status}'` output → installed? Only "install ok installed" counts:
/// "deinstall ok config-files" (removed, config kept) and half-installed states do not.
fn status_says_installed(status: &str) -> bool {
    status.split_whitespace().collect::<Vec<_>>() == ["install", "ok", "installed"]
}

/// Installs what building the server needs (libclang, cmake, nasm) unless it is there.
pub fn ensure_build_packages() -> Result<()> {
    let mut packages: Vec<&str> = build_packages_missing(command_on_path);
    if !package_installed(LIBCLANG_PACKAGE) {
        packages.push(LIBCLANG_PACKAGE);
    }
    install_packages(&packages)
}

/// Whether `program` is on PATH.
fn command_on_path(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
}

fn build_packages_missing(has_command: impl Fn(&str) -> bool) -> Vec<&'static str> {
    BUILD_PACKAGES.iter().filter(|(cmd, _)| !has_command(cmd)).map(|(_, pkg)| *pkg).collect()
}

/// The Debian packages `want` needs that are missing. A command-line tool counts as present
/// when its command is on PATH, whoever installed it (a new machine has NodeSource's npm);
/// a library only when dpkg says its package is installed.
fn missing_packages(
    want: Want,
    has_command: impl Fn(&str) -> bool,
    package_installed: impl Fn(&str) -> bool,
) -> Vec<&'static str> {
    let mut packages = Vec::new();
    if !has_command("npm") {
        packages.push("npm");
    }
    // The USB camera support (nokhwa) generates its V4L2 bindings with libclang.
    if !package_installed(LIBCLANG_PACKAGE) {
        packages.push(LIBCLANG_PACKAGE);
    }
    packages.extend(build_packages_missing(&has_command));
    if want == Want::Test {
        // Python with venv runs the Autobahn cases (kosoku).
        if !has_command("python3") {
            packages.extend(["python3", "python3-venv"]);
        }
        packages.extend(TEST_PACKAGES.iter().filter(|(cmd, _)| !has_command(cmd)).map(|(_, pkg)| *pkg));
        packages.extend(TEST_LIBRARIES.iter().filter(|pkg| !package_installed(pkg)));
    }
    packages
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
        let kosoku_dir = cache_dir().join(format!("kosoku-{KOSOKU_VERSION}"));
        let mut dirs = vec![binaryen_dir.join("node_modules/.bin"), kosoku_dir.join("bin"), cargo_bin];
        dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
        let tools = Tools { path: std::env::join_paths(dirs).map_err(|e| e.to_string())? };

        let packages = missing_packages(want, |cmd| tools.has(cmd), package_installed);
        install_packages(&packages)?;

        tools.ensure_wasm_target()?;
        let trunk_ok =
            tools.version_of("trunk").is_some_and(|v| v.contains(&format!("trunk {TRUNK_VERSION}")));
        if !trunk_ok {
            step(&format!("installing Trunk {TRUNK_VERSION} (once per machine, a few minutes)"), || {
                // Without its default features (the update check and TLS, 16 crates: rustls,
                // webpki, the crates.io client): framecast's Trunk runs offline with pinned
                // tools and never uses them.
                run_cmd(quick_release(&mut Command::new("cargo")).args([
                    "install",
                    "trunk",
                    "--locked",
                    "--no-default-features",
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
                    run_cmd(quick_release(&mut Command::new("cargo")).args([
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
        let geckodriver_ok = || {
            tools
                .version_of("geckodriver")
                .is_some_and(|v| v.split_whitespace().nth(1) == Some(GECKODRIVER_VERSION))
        };
        if want == Want::Test && !geckodriver_ok() {
            step(
                &format!(
                    "installing geckodriver {GECKODRIVER_VERSION} (Firefox's WebDriver, about 3 minutes)"
                ),
                || {
                    run_cmd(quick_release(&mut Command::new("cargo")).args([
                        "install",
                        "geckodriver",
                        "--locked",
                        "--version",
                        GECKODRIVER_VERSION,
                    ]))
                },
            )?;
        }
        if want == Want::Test && !kosoku_dir.join("bin/kosoku").is_file() {
            step(
                &format!("installing kosoku {KOSOKU_VERSION} (the Autobahn cases, from PyPI, into a venv)"),
                || {
                    run_cmd(Command::new("python3").args(["-m", "venv"]).arg(&kosoku_dir))?;
                    run_cmd(Command::new(kosoku_dir.join("bin/pip")).args([
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                        &format!("kosoku=={KOSOKU_VERSION}"),
                    ]))
                },
            )?;
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
        ensure_rust_target(WASM_TARGET)
    }
}

/// `cargo install` of a build tool with a release profile that compiles in a fraction of the
/// time: Trunk's own profile asks for fat LTO with one codegen unit, which made it most of a
/// new machine's first run, for a tool that mostly waits on cargo and wasm-bindgen.
fn quick_release(command: &mut Command) -> &mut Command {
    command
        .env("CARGO_PROFILE_RELEASE_LTO", "off")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "1")
}

/// Adds a Rust target with rustup when it is missing.
pub fn ensure_rust_target(target: &str) -> Result<()> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    match installed {
        Ok(out) if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == target) => Ok(()),
        Ok(_) => step(&format!("adding the Rust target {target}"), || {
            run_cmd(Command::new("rustup").args(["target", "add", target]))
        }),
        Err(_) => {
            // No rustup: the toolchain may still have the target (a distribution's Rust).
            let sysroot =
                Command::new("rustc").args(["--print", "sysroot"]).output().map_err(|e| e.to_string())?;
            let lib = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim())
                .join("lib/rustlib")
                .join(target);
            if lib.is_dir() {
                Ok(())
            } else {
                Err(format!("the Rust target {target} is missing and there is no rustup to add it"))
            }
        }
    }
}

/// Installs those of `packages` that dpkg does not list as installed.
pub fn ensure_packages(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !package_installed(p)).collect();
    install_packages(&missing)
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

    /// Regression (issue 10): a new machine has `libclang-cpp14`, whose `libclang-cpp.so.14`
    /// a library-name prefix match took for libclang; dpkg's word for `libclang1-14` decides.
    #[test]
    fn only_an_installed_status_counts_as_installed() {
        assert!(status_says_installed("install ok installed"));
        assert!(!status_says_installed("unknown ok not-installed"));
        assert!(!status_says_installed("deinstall ok config-files"));
        assert!(!status_says_installed("install ok half-installed"));
        assert!(!status_says_installed(""));
    }

    /// Regression (issue 10): a new machine has `libclang-cpp14` (`libclang-cpp.so.14`), which
    /// a library-name prefix match took for libclang, so `libclang1-14` was never installed and
    /// the build failed 18 minutes in. Only dpkg's word for `libclang1-14` itself counts.
    #[test]
    fn libclang_cpp_alone_does_not_count_as_libclang() {
        let new_machine = |pkg: &str| pkg == "libclang-cpp14";
        let missing = missing_packages(Want::Run, |cmd| cmd == "npm", new_machine);
        assert_eq!(missing, vec![LIBCLANG_PACKAGE, "cmake", "nasm"]);
        let with_libclang = |pkg: &str| pkg == "libclang-cpp14" || pkg == LIBCLANG_PACKAGE;
        let builds = |cmd: &str| ["npm", "cmake", "nasm"].contains(&cmd);
        assert!(missing_packages(Want::Run, builds, with_libclang).is_empty());
        let has = |cmd: &str| cmd == "npm" || cmd == "python3";
        let test = missing_packages(Want::Test, has, new_machine);
        assert_eq!(
            test,
            vec![
                LIBCLANG_PACKAGE,
                "cmake",
                "nasm",
                "chromium",
                "chromium-driver",
                "firefox-esr",
                "webkit2gtk-driver",
                "xvfb",
                "ffmpeg",
                "openssl",
                "gir1.2-gst-rtsp-server-1.0",
                "python3-gi",
                "gstreamer1.0-plugins-good",
                "gstreamer1.0-plugins-ugly"
            ]
        );
        let without_python = missing_packages(Want::Test, builds, with_libclang);
        assert_eq!(without_python[..2], ["python3", "python3-venv"]);
    }

    #[test]
    fn finds_a_package_version_in_a_lockfile() {
        let lock = "[[package]]\nname = \"wasm-bindgen-macro\"\nversion = \"0.2.1\"\n\n[[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.130\"\n";
        assert_eq!(lock_version(lock, "wasm-bindgen").as_deref(), Some("0.2.130"));
        assert_eq!(lock_version(lock, "leptos"), None);
    }
}
