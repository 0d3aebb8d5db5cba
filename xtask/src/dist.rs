//! `cargo xtask dist [--arch amd64,arm64,armhf] [--no-check]`: one Debian package per
//! architecture under `target/dist/`, `framecast_<version>_<arch>.deb`, for people who
//! should not have to build anything on a Raspberry Pi.
//!
//! Each package holds the one binary (the web client is embedded), the systemd unit, a
//! commented `/etc/default/framecast` (a conffile, so upgrades keep the user's edits) and
//! maintainer scripts that create the `framecast` system user in the `video` group and
//! enable the unit as debhelper would (`server/packaging/`). The tree is built here and
//! packed with `dpkg-deb` (always on Debian; cargo-deb would add a tool to compile for what
//! is one control file and a copy of five files).
//!
//! Cross builds use Debian's cross C toolchains (`gcc-aarch64-linux-gnu`,
//! `gcc-arm-linux-gnueabihf`, their libc headers for bindgen) and rustup targets; all of it
//! is installed when missing. Then, unless `--no-check`: the package's info and contents;
//! each foreign binary under `qemu-user-static` (`--version`, then the emulated camera on
//! 127.0.0.1:0 and a snapshot that must be a real 1280x720 JPEG); and the host's package
//! installed with `dpkg -i` into a fresh Debian chroot, its unit checked with
//! `systemd-analyze verify`, the binary started as the `framecast` user from the unit's own
//! settings and asked for a snapshot, then upgraded with an edited config and removed.
//!
//! The snapshot check has its own few lines to wait for `listening on`, fetch over plain
//! HTTP and read a JPEG's size, although the server and the test crate can do all three:
//! xtask has no dependencies on purpose. It is what a new machine builds first, in seconds,
//! and it installs the system packages (cmake, nasm, libclang) that building the server
//! needs, so it cannot depend on the server's crate or on the test crate built on it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::fresh::Chroot;
use crate::setup::{self, Tools, Want};
use crate::{Result, run_cmd, step};

/// One target architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arch {
    /// Debian's name (`dpkg --print-architecture`).
    pub deb: &'static str,
    /// Rust's target triple.
    pub triple: &'static str,
    /// GNU triple of Debian's cross toolchain (`aarch64-linux-gnu`).
    pub gnu: &'static str,
    /// qemu-user's name for the CPU (`qemu-aarch64-static`).
    pub qemu: &'static str,
}

/// The three architectures: PCs, 64-bit Raspberry Pi OS (Pi 3/4/5), 32-bit (Pi 2 and up).
pub const ARCHES: [Arch; 3] = [
    Arch { deb: "amd64", triple: "x86_64-unknown-linux-gnu", gnu: "x86_64-linux-gnu", qemu: "x86_64" },
    Arch { deb: "arm64", triple: "aarch64-unknown-linux-gnu", gnu: "aarch64-linux-gnu", qemu: "aarch64" },
    Arch { deb: "armhf", triple: "armv7-unknown-linux-gnueabihf", gnu: "arm-linux-gnueabihf", qemu: "arm" },
];

impl Arch {
    fn by_name(name: &str) -> Option<Arch> {
        ARCHES
            .iter()
            .copied()
            .find(|a| a.deb == name || a.triple == name || (name == "armv7" && a.deb == "armhf"))
    }

    /// Debian packages that cross-build for this architecture.
    fn cross_packages(&self) -> Vec<String> {
        vec![
            format!("gcc-{}", self.gnu.replace('_', "-")),
            // OpenH264 (the emulated camera's H.264, renditions) is C++.
            format!("g++-{}", self.gnu.replace('_', "-")),
            format!("libc6-dev-{}-cross", self.deb),
            format!("linux-libc-dev-{}-cross", self.deb),
        ]
    }

    /// Cargo's environment for cross-building: linker, C compiler, archiver, and bindgen's
    /// view of the target's headers.
    fn cross_env(&self) -> Vec<(String, String)> {
        let under = self.triple.replace('-', "_");
        vec![
            (format!("CARGO_TARGET_{}_LINKER", under.to_uppercase()), format!("{}-gcc", self.gnu)),
            (format!("CC_{under}"), format!("{}-gcc", self.gnu)),
            (format!("CXX_{under}"), format!("{}-g++", self.gnu)),
            (format!("AR_{under}"), format!("{}-ar", self.gnu)),
            (
                format!("BINDGEN_EXTRA_CLANG_ARGS_{under}"),
                format!("--sysroot=/usr/{0} -I/usr/{0}/include", self.gnu),
            ),
        ]
    }
}

/// What `cargo xtask dist` made of one architecture.
#[derive(Debug)]
struct Built {
    arch: Arch,
    binary: PathBuf,
    deb: PathBuf,
    checks: Vec<String>,
}

pub fn dist(root: &Path, args: &[String]) -> Result<()> {
    let (arches, check) = parse_args(args)?;
    let host = host_triple()?;
    let mut packages = vec!["dpkg-dev"];
    let cross: Vec<String> =
        arches.iter().filter(|a| a.triple != host).flat_map(|a| a.cross_packages()).collect();
    packages.extend(cross.iter().map(String::as_str));
    if check && arches.iter().any(|a| a.triple != host) {
        packages.push("qemu-user-static");
    }
    setup::ensure_packages(&packages)?;
    let tools = Tools::install(root, Want::Run)?;
    crate::build_web(root, &tools)?;
    let version = workspace_version(root)?;
    let out = root.join("target/dist");
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;

    let mut built = Vec::new();
    for arch in &arches {
        let binary = build_binary(root, *arch, &host)?;
        let deb = crate::step_value(&format!("packaging framecast_{version}_{}.deb", arch.deb), || {
            package(root, *arch, &binary, &version, &out)
        })?;
        built.push(Built { arch: *arch, binary, deb, checks: Vec::new() });
    }
    if check {
        for b in &mut built {
            b.checks.push(step_value_note(&format!("dpkg-deb --info/--contents of {}", b.arch.deb), || {
                inspect_package(&b.deb, b.arch)
            })?);
            if b.arch.triple == host {
                b.checks
                    .push(step_value_note("installing the package into a fresh Debian 12 chroot", || {
                        install_check(root, &b.deb, b.arch, &version)
                    })?);
            } else {
                b.checks
                    .push(step_value_note(&format!("running the {} binary under qemu", b.arch.deb), || {
                        qemu_check(&b.binary, b.arch, &version)
                    })?);
            }
        }
    }
    println!("\npackages in {}:", out.display());
    for b in &built {
        println!(
            "  {:<36} {:>6.1} MB   binary {:>5.1} MB",
            file_name(&b.deb),
            size_mb(&b.deb),
            size_mb(&b.binary)
        );
        for c in &b.checks {
            println!("      {c}");
        }
    }
    Ok(())
}

fn step_value_note(what: &str, f: impl FnOnce() -> Result<String>) -> Result<String> {
    crate::step_value(what, f)
}

fn parse_args(args: &[String]) -> Result<(Vec<Arch>, bool)> {
    let mut arches = ARCHES.to_vec();
    let mut check = true;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--no-check" => check = false,
            "--arch" => {
                let list = args.next().ok_or("--arch needs a list, e.g. --arch arm64,armhf")?;
                arches = list
                    .split(',')
                    .map(|n| {
                        Arch::by_name(n.trim())
                            .ok_or_else(|| format!("unknown architecture '{n}'; use amd64, arm64, armhf"))
                    })
                    .collect::<Result<_>>()?;
            }
            other => return Err(format!("dist: unknown argument '{other}' (use --arch LIST, --no-check)")),
        }
    }
    Ok((arches, check))
}

fn host_triple() -> Result<String> {
    let out = Command::new("rustc").arg("-vV").output().map_err(|e| format!("cannot run rustc: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .ok_or_else(|| "rustc -vV names no host".into())
}

/// `version` of `[workspace.package]` in the root Cargo.toml.
fn workspace_version(root: &Path) -> Result<String> {
    let text = std::fs::read_to_string(root.join("Cargo.toml")).map_err(|e| e.to_string())?;
    let section = text.split("[workspace.package]").nth(1).ok_or("Cargo.toml has no [workspace.package]")?;
    section
        .lines()
        .find_map(|l| l.trim().strip_prefix("version = ").map(|v| v.trim_matches('"').to_string()))
        .ok_or_else(|| "[workspace.package] has no version".into())
}

/// The release binary for `arch` (the web client was built first, so it is embedded).
fn build_binary(root: &Path, arch: Arch, host: &str) -> Result<PathBuf> {
    if arch.triple == host {
        step("building the release server", || {
            run_cmd(Command::new("cargo").current_dir(root).args([
                "build",
                "--release",
                "--locked",
                "-p",
                "framecast",
            ]))
        })?;
        return Ok(root.join("target/release/framecast"));
    }
    setup::ensure_rust_target(arch.triple)?;
    step(&format!("cross-building the release server for {} ({})", arch.deb, arch.triple), || {
        let mut command = Command::new("cargo");
        command.current_dir(root).args([
            "build",
            "--release",
            "--locked",
            "-p",
            "framecast",
            "--target",
            arch.triple,
        ]);
        for (key, value) in arch.cross_env() {
            command.env(key, value);
        }
        run_cmd(&mut command)
    })?;
    Ok(root.join("target").join(arch.triple).join("release/framecast"))
}

/// The files of the package: (path in the package, mode, contents).
fn payload(binary: &Path, readme: &[u8]) -> Result<Vec<(&'static str, u32, Vec<u8>)>> {
    let binary = std::fs::read(binary).map_err(|e| format!("cannot read {}: {e}", binary.display()))?;
    Ok(vec![
        ("usr/bin/framecast", 0o755, binary),
        ("lib/systemd/system/framecast.service", 0o644, SERVICE.as_bytes().to_vec()),
        // Root-only: it may hold tokens. systemd reads it as root before dropping to the user.
        ("etc/default/framecast", 0o640, DEFAULTS.as_bytes().to_vec()),
        ("usr/share/doc/framecast/README.md", 0o644, readme.to_vec()),
        ("usr/share/doc/framecast/copyright", 0o644, COPYRIGHT.as_bytes().to_vec()),
    ])
}

const SERVICE: &str = include_str!("../../server/packaging/framecast.service");
const DEFAULTS: &str = include_str!("../../server/packaging/framecast.default");
const POSTINST: &str = include_str!("../../server/packaging/postinst");
const PRERM: &str = include_str!("../../server/packaging/prerm");
const POSTRM: &str = include_str!("../../server/packaging/postrm");
const COPYRIGHT: &str = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
Upstream-Name: framecast\n\nFiles: *\nLicense: MIT or Apache-2.0\n";

/// Builds the package tree and packs it with dpkg-deb; returns the `.deb`.
fn package(root: &Path, arch: Arch, binary: &Path, version: &str, out: &Path) -> Result<PathBuf> {
    let stage = out.join(format!("stage-{}", arch.deb));
    let _ = std::fs::remove_dir_all(&stage);
    let readme = std::fs::read(root.join("README.md")).map_err(|e| format!("cannot read README.md: {e}"))?;
    let mut installed_bytes = 0u64;
    for (path, mode, contents) in payload(binary, &readme)? {
        write_file(&stage.join(path), mode, &contents)?;
        installed_bytes += contents.len() as u64;
    }
    let depends = depends_of(binary)?;
    let control = control_file(arch, version, &depends, installed_bytes.div_ceil(1024));
    write_file(&stage.join("DEBIAN/control"), 0o644, control.as_bytes())?;
    write_file(&stage.join("DEBIAN/conffiles"), 0o644, b"/etc/default/framecast\n")?;
    write_file(&stage.join("DEBIAN/postinst"), 0o755, POSTINST.as_bytes())?;
    write_file(&stage.join("DEBIAN/prerm"), 0o755, PRERM.as_bytes())?;
    write_file(&stage.join("DEBIAN/postrm"), 0o755, POSTRM.as_bytes())?;
    let deb = out.join(format!("framecast_{version}_{}.deb", arch.deb));
    run_cmd(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(&stage)
            .arg(&deb)
            .stdout(Stdio::null()),
    )?;
    Ok(deb)
}

fn write_file(path: &Path, mode: u32, contents: &[u8]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())
}

/// The control file.
fn control_file(arch: Arch, version: &str, depends: &str, installed_kib: u64) -> String {
    format!(
        "Package: framecast\n\
         Version: {version}\n\
         Architecture: {}\n\
         Maintainer: framecast developers <framecast@localhost>\n\
         Installed-Size: {installed_kib}\n\
         Depends: {depends}\n\
         Suggests: rpicam-apps, ffmpeg, v4l-utils\n\
         Section: video\n\
         Priority: optional\n\
         Description: live camera server for browsers, MJPEG tools and snapshots\n \
         framecast captures frames from a camera (Raspberry Pi camera, USB webcam, any\n \
         MJPEG command, a remote camera pushing frames, or an emulated camera) and pushes\n \
         the newest one to every browser over WebSockets; it is also an MJPEG and\n \
         snapshot source for OctoPrint, Mainsail, Home Assistant, VLC or ffmpeg.\n \
         .\n \
         This package runs it as the framecast service; settings are in\n \
         /etc/default/framecast.\n",
        arch.deb
    )
}

/// `Depends:` from what the binary links: the C library at the newest symbol version it
/// uses, libgcc's unwinder, the C++ library (OpenH264), and adduser for the maintainer
/// scripts. Any other library is an error, so a new dependency cannot slip into the package
/// unnoticed.
fn depends_of(binary: &Path) -> Result<String> {
    let dynamic = readelf(binary, "-d")?;
    let symbols = readelf(binary, "--dyn-syms")?;
    depends_from(&dynamic, &symbols)
}

fn readelf(binary: &Path, what: &str) -> Result<String> {
    let out = Command::new("readelf")
        .args([what, "-W"])
        .arg(binary)
        .output()
        .map_err(|e| format!("cannot run readelf (binutils): {e}"))?;
    if !out.status.success() {
        return Err(format!("readelf {what} {} failed", binary.display()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn depends_from(dynamic: &str, symbols: &str) -> Result<String> {
    let mut depends = Vec::new();
    for line in dynamic.lines().filter(|l| l.contains("(NEEDED)")) {
        let lib = line.split('[').nth(1).and_then(|r| r.split(']').next()).unwrap_or("");
        let package = match lib {
            l if l.starts_with("libc.so")
                || l.starts_with("libm.so")
                || l.starts_with("libpthread.so")
                || l.starts_with("libdl.so")
                || l.starts_with("librt.so")
                || l.starts_with("ld-linux") =>
            {
                "libc6"
            }
            "libgcc_s.so.1" => "libgcc-s1",
            // OpenH264 is C++.
            "libstdc++.so.6" => "libstdc++6",
            other => {
                return Err(format!("the binary links {other}, which the package does not depend on yet"));
            }
        };
        if !depends.contains(&package) {
            depends.push(package);
        }
    }
    let glibc = symbols
        .split(|c: char| c.is_whitespace() || c == '@' || c == '(' || c == ')')
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
            Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
        })
        .max();
    let mut out: Vec<String> = depends
        .iter()
        .map(|p| match (p, glibc) {
            (&"libc6", Some((major, minor))) => format!("libc6 (>= {major}.{minor})"),
            (p, _) => p.to_string(),
        })
        .collect();
    out.push("adduser".into());
    Ok(out.join(", "))
}

/// `dpkg-deb --info` and `--contents` show what the package must hold.
fn inspect_package(deb: &Path, arch: Arch) -> Result<String> {
    let info = output(Command::new("dpkg-deb").arg("--info").arg(deb))?;
    let contents = output(Command::new("dpkg-deb").arg("--contents").arg(deb))?;
    check_package_listing(&info, &contents, arch)?;
    let depends = info.lines().find_map(|l| l.trim().strip_prefix("Depends: ")).unwrap_or("").to_string();
    Ok(format!(
        "info/contents ok: binary, unit, /etc/default/framecast (conffile), user scripts; Depends: {depends}"
    ))
}

fn check_package_listing(info: &str, contents: &str, arch: Arch) -> Result<()> {
    let field = |name: &str| info.lines().find_map(|l| l.trim().strip_prefix(&format!("{name}: ")[..]));
    if field("Package") != Some("framecast") {
        return Err("the package is not called framecast".into());
    }
    if field("Architecture") != Some(arch.deb) {
        return Err(format!("the package's architecture is {:?}, not {}", field("Architecture"), arch.deb));
    }
    for script in ["postinst", "prerm", "postrm", "conffiles"] {
        // " 1234 bytes,  40 lines   *  postinst   #!/bin/sh"
        if !info.lines().any(|l| l.contains(" bytes,") && l.split_whitespace().any(|w| w == script)) {
            return Err(format!("the package has no {script}"));
        }
    }
    for (path, mode) in [
        ("./usr/bin/framecast", "-rwxr-xr-x"),
        ("./lib/systemd/system/framecast.service", "-rw-r--r--"),
        ("./etc/default/framecast", "-rw-r-----"),
    ] {
        let line = contents
            .lines()
            .find(|l| l.split_whitespace().last() == Some(path))
            .ok_or_else(|| format!("the package does not contain {path}"))?;
        if !line.starts_with(mode) || !line.contains("root/root") {
            return Err(format!("{path} should be {mode} root/root: {line}"));
        }
    }
    Ok(())
}

fn output(command: &mut Command) -> Result<String> {
    let out = command.output().map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    if !out.status.success() {
        return Err(format!("{:?} failed: {}", command.get_program(), String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A foreign binary under qemu-user: `--version`, then a snapshot from the emulated camera.
fn qemu_check(binary: &Path, arch: Arch, version: &str) -> Result<String> {
    let qemu = format!("qemu-{}-static", arch.qemu);
    let sysroot = format!("/usr/{}", arch.gnu);
    let said = output(Command::new(&qemu).args(["-L", &sysroot]).arg(binary).arg("--version"))?;
    if said.trim() != format!("framecast {version}") {
        return Err(format!("{qemu} framecast --version said {said:?}"));
    }
    let mut command = Command::new(&qemu);
    command.args(["-L", &sysroot]).arg(binary).args(["--listen", "127.0.0.1:0", "--camera", "emulated"]);
    let shot = serve_and_snapshot(command, Duration::from_secs(60))?;
    // The emulated camera in H.264: OpenH264's C++ (and its NEON code) encodes, decodes for
    // the snapshot, and libjpeg-turbo encodes the JPEG.
    let mut command = Command::new(&qemu);
    command.args(["-L", &sysroot]).arg(binary).args([
        "--listen",
        "127.0.0.1:0",
        "--camera",
        "emulated",
        "--codec",
        "h264",
        "--size",
        "640x360",
        "--fps",
        "10",
    ]);
    let h264 = serve_and_snapshot(command, Duration::from_secs(90))?;
    if (h264.width, h264.height) != (640, 360) {
        return Err(format!(
            "{qemu}: the H.264 camera's snapshot is {}x{}, not 640x360",
            h264.width, h264.height
        ));
    }
    Ok(format!(
        "qemu ({qemu}): --version '{}', started in {:.1} s, {shot}; in H.264 (OpenH264 encoding and decoding), {h264}",
        said.trim(),
        shot.started.as_secs_f64()
    ))
}

/// What [`serve_and_snapshot`] got.
#[derive(Debug)]
struct Snapshot {
    started: Duration,
    bytes: usize,
    width: u16,
    height: u16,
    pid: u32,
}

impl std::fmt::Display for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "snapshot: a {}x{} JPEG of {} KB", self.width, self.height, self.bytes / 1024)
    }
}

/// Starts `command` (a framecast that prints `listening on http://ADDR`), fetches
/// `/snapshot.jpg`, checks it is a complete JPEG and stops the server.
fn serve_and_snapshot(command: Command, limit: Duration) -> Result<Snapshot> {
    serve_and_snapshot_with(command, limit, |_| Ok(()))
}

/// [`serve_and_snapshot`], calling `while_running` with the server's pid before stopping it.
fn serve_and_snapshot_with(
    mut command: Command,
    limit: Duration,
    while_running: impl FnOnce(u32) -> Result<()>,
) -> Result<Snapshot> {
    let began = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()))?;
    let result = (|| {
        let addr = wait_for_listening(&mut child, limit)?;
        let started = began.elapsed();
        let jpeg = http_get(&addr, "/snapshot.jpg", limit)?;
        let (width, height) = jpeg_size(&jpeg)?;
        while_running(child.id())?;
        Ok(Snapshot { started, bytes: jpeg.len(), width, height, pid: child.id() })
    })();
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn wait_for_listening(child: &mut Child, limit: Duration) -> Result<String> {
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            if let Some(addr) = line.trim().strip_prefix("listening on http://") {
                let _ = tx.send(addr.to_string());
            }
        }
    });
    rx.recv_timeout(limit).map_err(|_| format!("framecast did not say 'listening on' within {limit:?}"))
}

/// A plain HTTP/1.1 GET; the body of a 200 answer.
fn http_get(addr: &str, path: &str, limit: Duration) -> Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream.set_read_timeout(Some(limit)).map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(|e| format!("reading {path}: {e}"))?;
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no HTTP header end")?;
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("GET {path}: {}", head.lines().next().unwrap_or("")));
    }
    let body = &response[split + 4..];
    // The snapshot has a content-length; chunked answers are not expected here.
    Ok(body.to_vec())
}

/// Width and height from a complete JPEG's SOF segment (and SOI/EOI present).
fn jpeg_size(jpeg: &[u8]) -> Result<(u16, u16)> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) || !jpeg.ends_with(&[0xFF, 0xD9]) {
        return Err(format!("the snapshot ({} bytes) is not a complete JPEG", jpeg.len()));
    }
    let mut at = 2;
    while at + 9 < jpeg.len() {
        if jpeg[at] != 0xFF {
            return Err(format!("the snapshot's JPEG segments are broken at byte {at}"));
        }
        let marker = jpeg[at + 1];
        let len = u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]) as usize;
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let height = u16::from_be_bytes([jpeg[at + 5], jpeg[at + 6]]);
            let width = u16::from_be_bytes([jpeg[at + 7], jpeg[at + 8]]);
            return Ok((width, height));
        }
        at += 2 + len;
    }
    Err("the snapshot has no frame header (SOF)".into())
}

/// The host's package in a fresh Debian 12: `dpkg -i`, the user, the unit, a snapshot from
/// the binary started as the service starts it, an upgrade that keeps an edited config, and
/// removal.
fn install_check(root: &Path, deb: &Path, arch: Arch, version: &str) -> Result<String> {
    let chroot = Chroot::create(&root.join("target/dist/chroot"), false)?;
    let inside = format!("/tmp/{}", file_name(deb));
    std::fs::copy(deb, chroot.dir().join(inside.trim_start_matches('/'))).map_err(|e| e.to_string())?;
    // What any real system has: systemd (and adduser, which the package depends on).
    chroot.run(
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
         systemd adduser > /tmp/apt.log 2>&1 || { tail -20 /tmp/apt.log; exit 1; }",
    )?;
    chroot.run(&format!("dpkg -i {inside}"))?;
    chroot.run(
        "set -e; getent passwd framecast; id -nG framecast | grep -qw video; \
         test -d /var/lib/framecast; stat -c '%U' /var/lib/framecast | grep -qx framecast; \
         test -f /etc/default/framecast; dpkg-query -W -f='${Conffiles}\\n' framecast | grep -q /etc/default/framecast",
    )?;
    chroot.run(
        "said=$(systemd-analyze verify --man=no /lib/systemd/system/framecast.service 2>&1) \
         && [ -z \"$said\" ] || { echo \"systemd-analyze verify: $said\"; exit 1; }",
    )?;
    let mut notes = vec![format!("dpkg -i ok; user framecast in video; systemd-analyze verify ok")];

    // Started as the unit starts it: its environment file, its user and groups, its command.
    let unit_user = unit_value(SERVICE, "User").ok_or("the unit names no User")?;
    let exec = unit_value(SERVICE, "ExecStart").ok_or("the unit has no ExecStart")?;
    let script = format!(
        "set -a; . /etc/default/framecast; set +a; cd /var/lib/framecast; \
         exec setpriv --reuid={unit_user} --regid={unit_user} --init-groups {exec} --listen 127.0.0.1:0"
    );
    let uid_inside = {
        let out = Command::new("chroot")
            .arg(chroot.dir())
            .args(["id", "-u", &unit_user])
            .output()
            .map_err(|e| e.to_string())?;
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let mut command = Command::new("chroot");
    command.arg(chroot.dir()).args(["/bin/bash", "-c", &script]);
    let shot = serve_and_snapshot_with(command, Duration::from_secs(30), |pid| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
        let uid =
            status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().next());
        if uid != Some(uid_inside.as_str()) {
            return Err(format!("the server runs as uid {uid:?}, not {unit_user} ({uid_inside})"));
        }
        Ok(())
    })?;
    notes.push(format!(
        "started as {unit_user} (uid {uid_inside}) in {:.1} s, {shot}",
        shot.started.as_secs_f64()
    ));
    let _ = shot.pid;

    // An upgrade keeps the edited config; removal leaves no running service behind.
    chroot.run("echo 'FRAMECAST_FPS=15  # edited by the user' >> /etc/default/framecast")?;
    let newer = format!("{version}+upgradetest");
    let stage = root.join(format!("target/dist/stage-{}", arch.deb));
    let control = std::fs::read_to_string(stage.join("DEBIAN/control")).map_err(|e| e.to_string())?;
    std::fs::write(
        stage.join("DEBIAN/control"),
        control.replace(&format!("Version: {version}\n"), &format!("Version: {newer}\n")),
    )
    .map_err(|e| e.to_string())?;
    let upgrade = chroot.dir().join("tmp/framecast-upgrade.deb");
    let packed = run_cmd(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(&stage)
            .arg(&upgrade)
            .stdout(Stdio::null()),
    );
    std::fs::write(stage.join("DEBIAN/control"), control).map_err(|e| e.to_string())?;
    packed?;
    chroot.run(&format!(
        "set -e; DEBIAN_FRONTEND=noninteractive dpkg -i /tmp/framecast-upgrade.deb; \
         dpkg-query -W -f='${{Version}}' framecast | grep -qx '{newer}'; \
         grep -q 'edited by the user' /etc/default/framecast"
    ))?;
    notes.push(format!("upgrade to {newer} kept the edited /etc/default/framecast"));
    chroot.run("set -e; dpkg --purge framecast; test ! -e /usr/bin/framecast; getent passwd framecast")?;
    notes.push("purge removed the files and kept the user (Debian's rule for system users)".into());
    Ok(notes.join("; "))
}

/// Runs `systemd-analyze verify`: it exits 0 even for settings it ignores, so anything it
/// says is a failure too.
fn verify_unit(command: &mut Command) -> Result<()> {
    let out = command.output().map_err(|e| format!("cannot run systemd-analyze: {e}"))?;
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !out.status.success() || !said.trim().is_empty() {
        return Err(format!("systemd-analyze verify of the unit: {}", said.trim()));
    }
    Ok(())
}

/// `Key=value` of a systemd unit (the first one).
fn unit_value(unit: &str, key: &str) -> Option<String> {
    unit.lines().find_map(|l| l.trim().strip_prefix(&format!("{key}=")[..]).map(str::to_string))
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn size_mb(path: &Path) -> f64 {
    std::fs::metadata(path).map(|m| m.len() as f64 / 1_000_000.0).unwrap_or(0.0)
}

/// `cargo xtask test`'s packaging check: the host's package from the binary the tests just
/// built, its listing, and its unit through `systemd-analyze verify` where that exists.
pub fn check_host_package(root: &Path) -> Result<()> {
    let host = host_triple()?;
    let arch =
        ARCHES.iter().copied().find(|a| a.triple == host).ok_or("no package for this machine's CPU")?;
    let binary = root.join("target/release/framecast");
    let version = workspace_version(root)?;
    let out = root.join("target/dist");
    let deb = package(root, arch, &binary, &version, &out)?;
    let note = inspect_package(&deb, arch)?;
    println!("    {note}");
    if Command::new("systemd-analyze").arg("--version").output().is_ok() {
        // The unit as installed, pointing at the staged binary (verify checks ExecStart).
        let stage = out.join(format!("stage-{}", arch.deb));
        let unit = stage.join("verify/framecast.service");
        let binary = stage.join("usr/bin/framecast").canonicalize().map_err(|e| e.to_string())?;
        write_file(
            &unit,
            0o644,
            SERVICE.replace("/usr/bin/framecast", &binary.display().to_string()).as_bytes(),
        )?;
        verify_unit(Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&unit))?;
        let _ = std::fs::remove_dir_all(stage.join("verify"));
        println!("    systemd-analyze verify: ok");
    } else {
        println!("    systemd-analyze: not on this machine, unit not verified");
    }
    let _ = std::io::stdout().flush();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architectures_have_their_debian_and_rust_names() {
        assert_eq!(Arch::by_name("arm64").unwrap().triple, "aarch64-unknown-linux-gnu");
        assert_eq!(Arch::by_name("armv7").unwrap().deb, "armhf");
        assert!(Arch::by_name("mips").is_none());
        let arm = Arch::by_name("armhf").unwrap();
        assert_eq!(
            arm.cross_packages(),
            [
                "gcc-arm-linux-gnueabihf",
                "g++-arm-linux-gnueabihf",
                "libc6-dev-armhf-cross",
                "linux-libc-dev-armhf-cross"
            ]
        );
        let env = arm.cross_env();
        assert!(env.contains(&(
            "CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER".into(),
            "arm-linux-gnueabihf-gcc".into()
        )));
        assert!(env.iter().any(|(k, v)| k == "BINDGEN_EXTRA_CLANG_ARGS_armv7_unknown_linux_gnueabihf"
            && v.contains("--sysroot=/usr/arm-linux-gnueabihf")));
    }

    #[test]
    fn depends_follow_what_the_binary_links() {
        let dynamic = " 0x0000000000000001 (NEEDED)             Shared library: [libgcc_s.so.1]\n \
                       0x0000000000000001 (NEEDED)             Shared library: [libm.so.6]\n \
                       0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]\n";
        let symbols = "  1: 0 0 FUNC GLOBAL DEFAULT UND memcpy@GLIBC_2.14 (3)\n  \
                       2: 0 0 FUNC GLOBAL DEFAULT UND getrandom@GLIBC_2.25 (4)\n  \
                       3: 0 0 FUNC GLOBAL DEFAULT UND free@GLIBC_2.2.5 (2)\n";
        assert_eq!(depends_from(dynamic, symbols).unwrap(), "libgcc-s1, libc6 (>= 2.25), adduser");
        let cpp =
            " 0x1 (NEEDED) Shared library: [libstdc++.so.6]\n 0x1 (NEEDED) Shared library: [libc.so.6]\n";
        assert_eq!(depends_from(cpp, "").unwrap(), "libstdc++6, libc6, adduser");
        let odd = " 0x1 (NEEDED) Shared library: [libv4l2.so.0]\n";
        assert!(depends_from(odd, "").unwrap_err().contains("libv4l2.so.0"));
    }

    #[test]
    fn the_package_listing_is_checked() {
        let info = " Package: framecast\n Architecture: arm64\n 100 bytes, 5 lines * postinst #!/bin/sh\n \
                    10 bytes, 1 lines * prerm\n 10 bytes, 1 lines * postrm\n 23 bytes, 1 lines conffiles\n";
        let contents = "-rwxr-xr-x root/root 8000000 2026-12-02 10:00 ./usr/bin/framecast\n\
                        -rw-r--r-- root/root 900 2026-12-02 10:00 ./lib/systemd/system/framecast.service\n\
                        -rw-r----- root/root 2000 2026-12-02 10:00 ./etc/default/framecast\n";
        let arm64 = Arch::by_name("arm64").unwrap();
        check_package_listing(info, contents, arm64).unwrap();
        assert!(check_package_listing(info, contents, Arch::by_name("amd64").unwrap()).is_err());
        let no_unit: String =
            contents.lines().filter(|l| !l.contains("service")).map(|l| format!("{l}\n")).collect();
        assert!(check_package_listing(info, &no_unit, arm64).unwrap_err().contains("framecast.service"));
        let world_readable = contents.replace("-rw-r----- root/root 2000", "-rw-r--r-- root/root 2000");
        assert!(check_package_listing(info, &world_readable, arm64).is_err());
    }

    #[test]
    fn the_unit_runs_as_the_framecast_user_from_the_defaults_file() {
        assert_eq!(unit_value(SERVICE, "User").as_deref(), Some("framecast"));
        assert_eq!(unit_value(SERVICE, "SupplementaryGroups").as_deref(), Some("video"));
        assert_eq!(unit_value(SERVICE, "EnvironmentFile").as_deref(), Some("-/etc/default/framecast"));
        assert!(unit_value(SERVICE, "ExecStart").unwrap().starts_with("/usr/bin/framecast"));
        assert!(POSTINST.contains("adduser --quiet --system") && POSTINST.contains("framecast video"));
    }

    #[test]
    fn jpeg_size_reads_the_frame_header() {
        // SOI, APP0 (len 4), SOF0 (len 11, 8-bit, 720 x 1280), EOI.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x02, 0xD0, 0x05,
            0x00, 0x01, 0x01, 0x11, 0x00, 0xFF, 0xD9,
        ];
        assert_eq!(jpeg_size(&jpeg).unwrap(), (1280, 720));
        assert!(jpeg_size(&jpeg[..jpeg.len() - 2]).is_err(), "a cut JPEG is no snapshot");
    }
}
