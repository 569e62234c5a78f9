//! This binary, started again as a child process (workers, the probe's clean process): with
//! spawn/exec, never fork — TensorFlow is not fork-safe.

use anyhow::{Context, Result};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

/// A command that starts this very binary. On Linux the program is `/proc/self/exe`, which
/// stays this process's executable even after the file on disk is replaced (a `cargo build`
/// during a long run): `current_exe()` would then name a deleted file, and every worker
/// restart would fail. Its argv[0] is still the binary's name, as `ps` shows it.
pub fn own_binary() -> Result<Command> {
    let path = std::env::current_exe().context("locating the tfdiff binary to start it again")?;
    let proc_exe = PathBuf::from("/proc/self/exe");
    let mut command = Command::new(if proc_exe.exists() { &proc_exe } else { &path });
    command.arg0(path.file_name().unwrap_or(path.as_os_str()));
    Ok(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_own_binary_is_this_executable() {
        let command = own_binary().unwrap();
        assert_eq!(
            std::fs::canonicalize(command.get_program()).unwrap(),
            std::fs::canonicalize(std::env::current_exe().unwrap()).unwrap()
        );
    }
}
