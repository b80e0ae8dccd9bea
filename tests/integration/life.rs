//! Servers the tests start (PostgreSQL, the S3-compatible server) live as long as the
//! test process and no longer. Shared with benches/cluster.rs.

/// Spawns a server for the tests (PostgreSQL, moto) that stops with the test process: it
/// is spawned from a thread that lives as long as the process, with a parent-death
/// signal (Linux sends `signal` when that thread ends, so when the process ends, however
/// it ends). Returns once it is spawned.
pub fn spawn_for_life(
    name: &str,
    mut c: std::process::Command,
    signal: libc::c_int,
) -> Result<(), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let shown = name.to_string();
    std::thread::Builder::new()
        .name(format!("test-{name}"))
        .spawn(move || {
            use std::os::unix::process::CommandExt;
            // SAFETY: runs in the child between fork and exec, where only async-signal-safe
            // calls are allowed; prctl is one. It runs after the child changed user (std
            // sets uid/gid before these hooks), which would otherwise clear the signal.
            unsafe {
                c.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, signal) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            match c.spawn() {
                Ok(mut child) => {
                    let _ = tx.send(Ok(()));
                    let _ = child.wait();
                    // Stay: this thread's end would stop a server a later test may need
                    // (only reached if the server died on its own).
                    loop {
                        std::thread::park();
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(format!("{shown}: {e}")));
                }
            }
        })
        .map_err(|e| format!("a thread for {name}: {e}"))?;
    rx.recv().map_err(|_| format!("the {name} thread ended"))?
}
