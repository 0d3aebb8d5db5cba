//! `cargo xtask fresh-check [--test] [--keep]`: proves the README's commands on a truly new
//! machine of this project's kind, built here, because a machine that earlier sessions set up
//! by hand hides missing install steps (that is how the libclang failure slipped through CI).
//!
//! 1. `debootstrap --variant=minbase bookworm` with the mirror apt uses here (a minute).
//! 2. Into it, the Debian packages a new machine has ([`IMAGE_PACKAGES`], taken from the
//!    environment's package list), NodeSource's nodejs copied from this machine (a new machine
//!    has it from NodeSource, which apt cannot reach here), the machine's network settings
//!    (its certificate authorities and the settings pointing at them), the rustup toolchains copied
//!    from `~/.rustup` with every target but the host's removed again (a new machine has no
//!    wasm32 target). `CARGO_HOME` is empty apart from rustup's proxies.
//! 3. A fresh `git clone` of this repository's `HEAD`, then `cargo xtask build` (what
//!    `cargo xtask run` does before it starts the server) and, with `--test`, `cargo xtask
//!    test`, each timed; the steps' own `==>`/`done in` lines are kept in
//!    `target/fresh-check/report.txt`.
//! 4. Everything is unmounted and deleted (`--keep` keeps the tree for a look inside).
//!
//! The same chroot set-up serves `cargo xtask dist`'s install check ([`Chroot`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::{Result, run_cmd, setup, step};

/// The Debian packages of a new machine, one name per line (`#` comments).
const IMAGE_PACKAGES: &str = include_str!("../data/new-machine-packages.txt");

/// Packages a new machine has from elsewhere than Debian; copied from this machine instead.
const COPIED_FROM_HOST: &[&str] = &["nodejs"];

/// Folders copied whole with them: npm updates itself in place when a machine of this kind
/// starts (npm 11 over the package's npm 10), so the package's file list alone is not npm.
const COPIED_FOLDERS: &[&str] = &["/usr/lib/node_modules"];

/// The machine's own network settings, which every machine of this kind has whatever its
/// packages: the certificate authorities its registry connections are signed with, and the
/// pip, npm and apt settings that go with them.
const MACHINE_FILES: &[&str] = &[
    "/usr/local/share/ca-certificates",
    "/etc/pip.conf",
    "/root/.npmrc",
    "/etc/apt/apt.conf.d/99artifact-registry",
];

/// Environment variables of this machine passed into the chroot: those that point tools at
/// the certificate bundle, and pip's settings.
fn machine_env() -> Vec<String> {
    std::env::vars()
        .filter(|(k, _)| {
            k.ends_with("_CA_BUNDLE")
                || k.ends_with("_CAINFO")
                || k.starts_with("SSL_CERT_")
                || k.ends_with("_CA_CERTS")
                || k.ends_with("_CA_CERTS_FILE")
                || k.starts_with("PIP_")
                || k == "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

pub fn fresh_check(root: &Path, args: &[String]) -> Result<()> {
    let mut with_tests = false;
    let mut keep = false;
    for arg in args {
        match arg.as_str() {
            "--test" => with_tests = true,
            "--keep" => keep = true,
            other => return Err(format!("fresh-check: unknown argument '{other}' (use --test, --keep)")),
        }
    }
    let work = root.join("target/fresh-check");
    let started = Instant::now();
    let chroot = Chroot::create(&work.join("root"), keep)?;
    step("installing what a new machine has (Debian packages, nodejs, rustup toolchains)", || {
        chroot.install_image()
    })?;
    chroot.copy_rust_toolchains()?;
    step("cloning this repository's HEAD into the chroot", || chroot.clone_repo(root))?;

    let mut report = vec![format!("fresh-check of {}", head_commit(root))];
    let mut run_timed = |what: &str, command: &str| -> Result<()> {
        println!("==> in the fresh machine: {command}");
        let began = Instant::now();
        let log = work.join(format!("{}.log", what.replace(' ', "-")));
        let result = chroot.run_logged(&format!("cd /root/framecast && {command}"), &log);
        let took = began.elapsed();
        report.push(format!(
            "{command}: {} in {:.1} min",
            if result.is_ok() { "ok" } else { "FAILED" },
            took.as_secs_f64() / 60.0
        ));
        report.extend(step_lines(&std::fs::read_to_string(&log).unwrap_or_default()));
        println!("    {command} took {:.1} min (log: {})", took.as_secs_f64() / 60.0, log.display());
        result
    };
    let mut result = run_timed("build", "cargo xtask build");
    if result.is_ok() && with_tests {
        result = run_timed("test", "cargo xtask test");
    }
    report.push(format!(
        "total, set-up of the chroot included: {:.1} min",
        started.elapsed().as_secs_f64() / 60.0
    ));
    let text = report.join("\n") + "\n";
    print!("\n{text}");
    std::fs::write(work.join("report.txt"), &text).map_err(|e| format!("cannot write the report: {e}"))?;
    drop(chroot);
    result
}

/// The `==> step` and `done in` lines of an xtask log, plus the final test count.
fn step_lines(log: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current: Option<String> = None;
    for line in log.lines() {
        if let Some(what) = line.strip_prefix("==> ") {
            current = Some(what.to_string());
        } else if let Some(took) = line.trim().strip_prefix("done in ")
            && let Some(what) = current.take()
        {
            lines.push(format!("    {took:>10}  {what}"));
        } else if line.starts_with("tests: ") {
            lines.push(format!("    {line}"));
        }
    }
    lines
}

fn head_commit(root: &Path) -> String {
    Command::new("git")
        .current_dir(root)
        .args(["log", "-1", "--format=%h %s"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// A fresh Debian 12 (minbase) with `proc`, `sys` and `dev` mounted; unmounted and deleted on
/// drop unless kept.
#[derive(Debug)]
pub struct Chroot {
    dir: PathBuf,
    mounted: Vec<PathBuf>,
    keep: bool,
}

impl Chroot {
    /// Bootstraps Debian 12 into `dir` (emptied first).
    pub fn create(dir: &Path, keep: bool) -> Result<Chroot> {
        if !is_root() {
            return Err("a fresh chroot needs root (debootstrap, mount, chroot)".into());
        }
        setup::ensure_packages(&["debootstrap"])?;
        if dir.exists() {
            unmount_below(dir);
            std::fs::remove_dir_all(dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
        }
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mirror = debian_mirror();
        step(&format!("debootstrap --variant=minbase bookworm ({mirror})"), || {
            run_cmd(Command::new("debootstrap").args(["--variant=minbase", "bookworm"]).arg(dir).arg(&mirror))
        })?;
        let mut chroot = Chroot { dir: dir.to_path_buf(), mounted: Vec::new(), keep };
        chroot.mount("proc", &["-t", "proc", "proc"])?;
        chroot.mount("sys", &["-t", "sysfs", "sysfs"])?;
        chroot.mount("dev", &["--bind", "/dev"])?;
        chroot.mount("dev/pts", &["--bind", "/dev/pts"])?;
        chroot.mount("dev/shm", &["-t", "tmpfs", "shm"])?;
        std::fs::copy("/etc/resolv.conf", dir.join("etc/resolv.conf"))
            .map_err(|e| format!("cannot copy resolv.conf: {e}"))?;
        // The same sources as this machine (main, updates, security).
        if Path::new("/etc/apt/sources.list.d/debian.sources").is_file() {
            std::fs::copy(
                "/etc/apt/sources.list.d/debian.sources",
                dir.join("etc/apt/sources.list.d/debian.sources"),
            )
            .map_err(|e| format!("cannot copy apt sources: {e}"))?;
            let _ = std::fs::remove_file(dir.join("etc/apt/sources.list"));
        }
        Ok(chroot)
    }

    /// The chroot's root folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn mount(&mut self, at: &str, args: &[&str]) -> Result<()> {
        let target = self.dir.join(at);
        std::fs::create_dir_all(&target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
        run_cmd(Command::new("mount").args(args).arg(&target))?;
        self.mounted.push(target);
        Ok(())
    }

    /// Runs `script` with bash inside the chroot, as root with a login-like environment.
    pub fn run(&self, script: &str) -> Result<()> {
        run_cmd(&mut self.command(script))
    }

    /// Like [`Chroot::run`], with stdout and stderr also written to `log`.
    pub fn run_logged(&self, script: &str, log: &Path) -> Result<()> {
        let result = self.run(&format!("set -o pipefail; ( {script} ) 2>&1 | tee /tmp/xtask-run.log"));
        std::fs::copy(self.dir.join("tmp/xtask-run.log"), log)
            .map_err(|e| format!("cannot keep the log as {}: {e}", log.display()))?;
        result
    }

    fn command(&self, script: &str) -> Command {
        let mut command = Command::new("chroot");
        command
            .arg(&self.dir)
            .args(["/usr/bin/env", "-i"])
            .args([
                "HOME=/root",
                "USER=root",
                "LANG=C.UTF-8",
                "TERM=dumb",
                "PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ])
            .args(machine_env())
            .args(["/bin/bash", "-c", script]);
        command
    }

    /// Copies [`MACHINE_FILES`] in and adds the certificate authorities to the chroot's bundle.
    fn copy_machine_settings(&self) -> Result<()> {
        for path in MACHINE_FILES {
            let from = Path::new(path);
            if !from.exists() {
                continue;
            }
            let to = self.dir.join(path.trim_start_matches('/'));
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            run_cmd(Command::new("cp").arg("-a").arg(from).arg(to.parent().unwrap_or(&self.dir)))?;
        }
        self.run("command -v update-ca-certificates >/dev/null && update-ca-certificates >/dev/null || true")
    }

    /// What a new machine has: [`IMAGE_PACKAGES`] that apt here can install, plus nodejs.
    fn install_image(&self) -> Result<()> {
        self.run("apt-get update -qq")?;
        let wanted: Vec<&str> = IMAGE_PACKAGES
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter(|p| !COPIED_FROM_HOST.contains(p))
            .collect();
        // Packages from other repositories (cloud tools and the like) have no candidate here.
        let list = wanted.join(" ");
        let script = format!(
            "avail=$(apt-cache policy {list} 2>/dev/null | awk '/^[^ ]/{{p=$1}} /Candidate:/{{if ($2 != \"(none)\") print p}}' | tr -d : ); \
             echo \"installing $(echo $avail | wc -w) of {} packages a new machine has\"; \
             DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $avail > /tmp/image-install.log 2>&1 \
               || {{ tail -30 /tmp/image-install.log; exit 1; }}",
            wanted.len()
        );
        self.run(&script)?;
        for package in COPIED_FROM_HOST {
            self.copy_package_from_host(package)?;
        }
        for folder in COPIED_FOLDERS.iter().filter(|f| Path::new(f).is_dir()) {
            let to = self.dir.join(folder.trim_start_matches('/'));
            let _ = std::fs::remove_dir_all(&to);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            run_cmd(Command::new("cp").arg("-a").arg(folder).arg(&to))?;
        }
        self.run("npm --version >/dev/null || { echo 'npm does not run in the chroot'; exit 1; }")?;
        self.copy_machine_settings()
    }

    /// Copies the files of an installed package of this machine into the chroot.
    fn copy_package_from_host(&self, package: &str) -> Result<()> {
        let listed = Command::new("dpkg").args(["-L", package]).output().map_err(|e| e.to_string())?;
        if !listed.status.success() {
            println!("    (this machine has no {package} to copy)");
            return Ok(());
        }
        let files: Vec<String> = String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter(|p| Path::new(p).symlink_metadata().is_ok_and(|m| !m.is_dir()))
            .map(|p| p.trim_start_matches('/').to_string())
            .collect();
        let list = self.dir.join("tmp/copied-files");
        std::fs::write(&list, files.join("\n")).map_err(|e| e.to_string())?;
        run_cmd(Command::new("sh").arg("-c").arg(format!(
            "tar -C / -cf - -T '{}' | tar -C '{}' -xf -",
            list.display(),
            self.dir.display()
        )))?;
        println!("    copied {package} ({} files) from this machine", files.len());
        Ok(())
    }

    /// rustup's toolchains as a new machine has them: the host toolchains without any target
    /// added since (such as wasm32), rustup's proxies in an otherwise empty `CARGO_HOME`.
    fn copy_rust_toolchains(&self) -> Result<()> {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| "/root".into());
        let rustup =
            std::env::var_os("RUSTUP_HOME").map(PathBuf::from).unwrap_or_else(|| home.join(".rustup"));
        let cargo_bin = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".cargo"))
            .join("bin");
        step("copying the rustup toolchains (a new machine has them)", || {
            run_cmd(Command::new("cp").arg("-a").arg(&rustup).arg(self.dir.join("root/.rustup")))?;
            std::fs::create_dir_all(self.dir.join("root/.cargo/bin")).map_err(|e| e.to_string())?;
            // Only rustup's own proxies: tools installed with `cargo install` stay behind.
            for name in [
                "rustup",
                "cargo",
                "rustc",
                "rustdoc",
                "rustfmt",
                "cargo-fmt",
                "cargo-clippy",
                "clippy-driver",
            ] {
                let from = cargo_bin.join(name);
                if from.exists() {
                    std::fs::copy(&from, self.dir.join("root/.cargo/bin").join(name))
                        .map_err(|e| format!("cannot copy {}: {e}", from.display()))?;
                }
            }
            self.run(
                "host=$(rustc -vV | sed -n 's/^host: //p'); \
                 for t in $(rustup target list --installed); do \
                   [ \"$t\" = \"$host\" ] || rustup target remove \"$t\"; done; \
                 rustup target list --installed",
            )
        })
    }

    /// `git clone` of this repository's committed HEAD to `/root/framecast`.
    fn clone_repo(&self, root: &Path) -> Result<()> {
        let into = self.dir.join("root/framecast");
        run_cmd(Command::new("git").args(["clone", "--quiet", "--no-hardlinks"]).arg(root).arg(&into))
    }
}

impl Drop for Chroot {
    fn drop(&mut self) {
        for target in self.mounted.iter().rev() {
            let _ = Command::new("umount").arg(target).status();
        }
        unmount_below(&self.dir);
        if self.keep {
            println!("==> kept the chroot at {}", self.dir.display());
        } else if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("xtask: cannot delete {}: {e}", self.dir.display());
        }
    }
}

/// Lazily unmounts whatever is still mounted under `dir` (an interrupted earlier run).
fn unmount_below(dir: &Path) {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else { return };
    let Ok(dir) = dir.canonicalize() else { return };
    let mut below: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|m| Path::new(m).starts_with(&dir))
        .collect();
    below.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in below {
        let _ = Command::new("umount").args(["-l", m]).status();
    }
}

/// The Debian mirror apt uses here (`URIs:` of debian.sources, or the first `deb` line).
fn debian_mirror() -> String {
    let sources = std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default();
    let list = std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    mirror_from(&sources, &list).unwrap_or_else(|| "http://deb.debian.org/debian".into())
}

fn mirror_from(sources: &str, list: &str) -> Option<String> {
    let deb822 = sources
        .lines()
        .filter_map(|l| l.trim().strip_prefix("URIs:"))
        .flat_map(str::split_whitespace)
        .find(|u| !u.contains("security"));
    let one_line = list
        .lines()
        .filter(|l| l.trim_start().starts_with("deb "))
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("http")))
        .find(|u| !u.contains("security"));
    deb822.or(one_line).map(str::to_string)
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mirror_is_the_one_apt_uses() {
        let sources = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n\n\
                       Types: deb\nURIs: http://deb.debian.org/debian-security\n";
        assert_eq!(mirror_from(sources, "").as_deref(), Some("http://deb.debian.org/debian"));
        let list = "deb http://security.debian.org/debian-security bookworm-security main\n\
                    deb [arch=amd64] http://ftp.de.debian.org/debian bookworm main\n";
        assert_eq!(mirror_from("", list).as_deref(), Some("http://ftp.de.debian.org/debian"));
        assert_eq!(mirror_from("", ""), None);
    }

    #[test]
    fn the_report_keeps_each_step_and_its_time() {
        let log = "==> installing Trunk 0.21.14\n    Compiling x\n    done in 452.1s\n==> building\n    done in 61.0s\ntests: 170 passed, 0 failed\n";
        assert_eq!(
            step_lines(log),
            vec![
                "        452.1s  installing Trunk 0.21.14",
                "         61.0s  building",
                "    tests: 170 passed, 0 failed"
            ]
        );
    }

    #[test]
    fn the_image_list_is_what_a_new_machine_has() {
        let names: Vec<&str> = IMAGE_PACKAGES.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(names.contains(&"libclang-cpp14"), "the package that fooled the old check is there");
        assert!(!names.contains(&"libclang1-14"), "and the one it hid is not");
        assert!(names.contains(&"gcc") && names.contains(&"git"));
    }
}
