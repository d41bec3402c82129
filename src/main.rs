//! The `rebound` binary: parse the arguments, run the command, exit with its code.

/// mimalloc rather than the system allocator: `run` allocates on the
/// threads that prepare a batch and frees on the one that commits it, which
/// glibc's allocator handles slowly (a quarter of `run`'s time went to it).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = match rebound::cli::parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return std::process::ExitCode::from(code);
        }
    };
    let code = match rebound::cli::run(cli).map_err(anyhow::Error::from) {
        Ok(code) => code,
        // A closed pipe (`rebound … | head`) is not a failure of Rebound.
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) => {
            rebound::cli::Exit::Ok
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            rebound::cli::Exit::Internal
        }
    };
    std::process::ExitCode::from(code as u8)
}
